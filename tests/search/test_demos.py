"""Finding demo images: existing demos, seeded demos, list fields, default valset, errors."""

from __future__ import annotations

import dspy
import pytest

from specprompt import ConfigError
from specprompt.search._demos import ImageSlot, default_valset, example_hash, plan_demos, replace_field
from specprompt.tasks import Task


def test_existing_demos_are_used_and_listed(colour_task: Task) -> None:
    student = dspy.Predict("images: list[dspy.Image], note -> label")
    a, b = colour_task.trainset[0].image, colour_task.trainset[1].image
    student.demos = [
        {"images": [a, "not an image", b], "note": "x", "label": "l"},
        dspy.Example(images=[], note="y", label="m"),
    ]
    plan = plan_demos(student, colour_task.trainset, k_demos=None, seed=0)
    assert plan.seeded == ()
    assert [s.id for s in plan.slots] == ["self/demo0/images[0]", "self/demo0/images[2]"]
    assert plan.images["self/demo0/images[2]"] is b
    assert plan.demo_ids == ("self/demo0",)


def test_predictors_without_demos_get_seeded_trainset_demos(colour_task: Task) -> None:
    plan = plan_demos(dspy.Predict(colour_task.signature), colour_task.trainset, k_demos=2, seed=5)
    again = plan_demos(dspy.Predict(colour_task.signature), colour_task.trainset, k_demos=2, seed=5)
    other = plan_demos(dspy.Predict(colour_task.signature), colour_task.trainset, k_demos=2, seed=6)
    assert plan.seeded == ("self",) and len(plan.demos[0]) == 2
    assert [example_hash(d) for d in plan.demos[0]] == [example_hash(d) for d in again.demos[0]]
    assert [example_hash(d) for d in plan.demos[0]] != [example_hash(d) for d in other.demos[0]]
    default = plan_demos(dspy.Predict(colour_task.signature), colour_task.trainset, k_demos=None, seed=0)
    assert len(default.demos[0]) == 4
    assert plan.slots[0] == ImageSlot(0, "self", 0, "image", None)


def test_default_valset_excludes_the_demos(colour_task: Task) -> None:
    plan = plan_demos(dspy.Predict(colour_task.signature), colour_task.trainset, k_demos=2, seed=0)
    val = default_valset(colour_task.trainset, plan)
    assert len(val) == len(colour_task.trainset) - 2
    copies = [dspy.Example(**dict(d.items())).with_inputs("image") for d in plan.demos[0]]
    with pytest.raises(ConfigError, match=r"no validation examples: all 2 trainset examples are demos"):
        default_valset(copies, plan)


def test_errors(colour_task: Task) -> None:
    with pytest.raises(ConfigError, match="no predictors"):
        plan_demos(dspy.Module(), colour_task.trainset, None, 0)
    with pytest.raises(ConfigError, match=r"no demo holds a dspy\.Image"):
        plan_demos(dspy.Predict(colour_task.signature), colour_task.trainset, k_demos=0, seed=0)
    bad = dspy.Predict(colour_task.signature)
    bad.demos = ["a string demo"]
    with pytest.raises(ConfigError, match=r"a demo must be a dspy.Example or a dict, got str"):
        plan_demos(bad, colour_task.trainset, None, 0)


def test_replace_field_keeps_the_type() -> None:
    ex = dspy.Example(image=None, label="a").with_inputs("image")
    new = replace_field(ex, "label", "b")
    assert isinstance(new, dspy.Example) and new.label == "b" and ex.label == "a"
    assert new.inputs().keys() == ["image"]
    assert replace_field({"label": "a"}, "label", "c") == {"label": "c"}


@pytest.mark.parametrize("seed", range(8))
def test_default_demos_cover_every_label(seed: int) -> None:
    from specprompt.tasks import get_task

    task = get_task("colour-position", n_train=24, n_val=1, n_test=0, size=32, seed=seed)
    labels = set(task.labels)
    assert {ex.label for ex in task.trainset} == labels
    for k in (4, 6, 9):
        plan = plan_demos(dspy.Predict(task.signature), task.trainset, k_demos=k, seed=seed)
        shown = [d.label for d in plan.demos[0]]
        assert len(shown) == k and set(shown) == labels, (k, shown)
        counts = [shown.count(x) for x in labels]
        assert max(counts) - min(counts) <= 1  # round-robin over the labels
        assert plan.classes == (tuple(f'label="{x}"' for x in shown),)
    few = plan_demos(dspy.Predict(task.signature), task.trainset, k_demos=3, seed=seed)
    assert len({d.label for d in few.demos[0]}) == 3  # fewer demos than labels: no label twice


def test_free_text_answers_are_not_classes(colour_task: Task) -> None:
    student = dspy.Predict("image: dspy.Image -> caption")
    train = [
        dspy.Example(image=ex.image, caption=f"caption {i}").with_inputs("image")
        for i, ex in enumerate(colour_task.trainset)
    ]
    plan = plan_demos(student, train, k_demos=3, seed=0)
    assert len(plan.demos[0]) == 3 and plan.classes == ((None, None, None),)


def test_the_log_says_how_many_demos_were_taken(colour_task: Task, caplog: pytest.LogCaptureFixture) -> None:
    n = len(colour_task.trainset)
    with caplog.at_level("INFO", logger="specprompt.search"):
        plan = plan_demos(dspy.Predict(colour_task.signature), colour_task.trainset, 100, seed=0)
    assert len(plan.demos[0]) == n
    messages = [r.getMessage() for r in caplog.records]
    assert f"took {n} trainset demo(s) for predictor(s) without demos: self" in messages
    assert f"k_demos 100 is more than the {n} trainset examples: every one of them is a demo" in messages
