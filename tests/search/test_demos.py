"""Finding demo images: existing demos, seeded demos, input fields only, matching demos to examples, errors."""

from __future__ import annotations

from pathlib import Path

import dspy
import pytest

from specprompt import ConfigError, SpecPromptWarning
from specprompt.search._demos import ImageSlot, default_valset, plan_demos, replace_field
from specprompt.search._examples import example_hash
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


class _TwoStep(dspy.Module):
    """An image step and a text-only step: only the first sends images."""

    def __init__(self) -> None:
        super().__init__()
        self.describe = dspy.Predict("image: dspy.Image -> label")
        self.polish = dspy.Predict("label -> answer")

    def forward(self, image: dspy.Image) -> dspy.Prediction:
        label = self.describe(image=image).label
        return dspy.Prediction(label=label, answer=self.polish(label=label).answer)


def test_only_images_in_input_fields_are_slots(colour_task: Task) -> None:
    # DSPy sends a demo's input fields only: an image elsewhere is neither searched nor priced
    train = [
        dspy.Example(image=ex.image, label=ex.label, raw_scan=ex.image).with_inputs("image")
        for ex in colour_task.trainset
    ]
    plan = plan_demos(dspy.Predict(colour_task.signature), train, k_demos=2, seed=0)
    assert [s.id for s in plan.slots] == ["self/demo0/image", "self/demo1/image"]
    assert all("raw_scan" in dict(d.items()) for d in plan.demos[0])  # the demos themselves stay whole


def test_text_only_predictors_get_no_trainset_demos(
    colour_task: Task, caplog: pytest.LogCaptureFixture, recwarn: pytest.WarningsRecorder
) -> None:
    with caplog.at_level("INFO", logger="specprompt.search"):
        plan = plan_demos(_TwoStep(), colour_task.trainset, k_demos=4, seed=0)
    assert plan.names == ("describe", "polish") and plan.seeded == ("describe",)
    assert [len(per) for per in plan.demos] == [4, 0]
    assert {s.predictor_name for s in plan.slots} == {"describe"}
    assert "no trainset demos for predictor(s) whose input fields hold no trainset image: polish" in caplog.text
    assert not [w for w in recwarn if "same answer" in str(w.message)]


def test_a_demo_without_the_output_fields_shows_no_class(colour_task: Task) -> None:
    from specprompt.search._labels import class_keys

    student = dspy.Predict("image: dspy.Image -> answer")  # the trainset has `label`, not `answer`
    assert class_keys(student, colour_task.trainset[:3], colour_task.trainset[3:]) == (None, None, None)


def test_bootstrapped_demos_are_matched_to_their_examples_by_inputs(colour_task: Task) -> None:
    # BootstrapFewShot marks its demos augmented=True and may hold the teacher's (wrong) output
    student = dspy.Predict(colour_task.signature)
    student.demos = [ex.copy(augmented=True, label="teacher's guess") for ex in colour_task.trainset[:2]]
    plan = plan_demos(student, colour_task.trainset, k_demos=None, seed=0)
    val = default_valset(colour_task.trainset, plan)
    assert [example_hash(ex) for ex in val] == [example_hash(ex) for ex in colour_task.trainset[2:]]
    assert example_hash(colour_task.trainset[0]) == example_hash(colour_task.trainset[0].copy())


def test_a_trainset_without_inputs_is_refused_as_the_default_valset(colour_task: Task) -> None:
    bare = [dspy.Example(image=ex.image, label=ex.label) for ex in colour_task.trainset]
    plan = plan_demos(dspy.Predict(colour_task.signature), bare, k_demos=2, seed=0)
    with pytest.raises(ConfigError, match=r"trainset\[\d\] has no inputs, and with valset=None .*\.with_inputs\("):
        default_valset(bare, plan)


def test_a_program_loaded_with_plain_dspy_load_is_told_to_restore_its_images(colour_task: Task, tmp_path: Path) -> None:
    saved = dspy.Predict(colour_task.signature)
    saved.demos = list(colour_task.trainset[:2])
    saved.save(str(tmp_path / "p.json"))
    loaded = dspy.Predict(colour_task.signature)
    loaded.load(str(tmp_path / "p.json"))
    with pytest.raises(
        ConfigError, match=r"demo 0 of predictor 'self': field 'image' holds a saved image as text .*load_program"
    ):
        plan_demos(loaded, colour_task.trainset, None, 0)


def test_a_raw_pil_image_is_told_to_be_wrapped(colour_task: Task) -> None:
    from specprompt.io import as_array
    from specprompt.spectral import to_pil

    pil = [
        dspy.Example(image=to_pil(as_array(ex.image)), label=ex.label).with_inputs("image")
        for ex in colour_task.trainset
    ]
    with pytest.raises(ConfigError, match=r"trainset\[0\] field 'image' .*holds a PIL image.*wrap it as dspy\.Image"):
        plan_demos(dspy.Predict(colour_task.signature), pil, None, 0)
    student = dspy.Predict(colour_task.signature)
    student.demos = [*colour_task.trainset[:1], pil[1]]
    with pytest.raises(ConfigError, match=r"demo 1 of predictor 'self': field 'image' holds a PIL image"):
        plan_demos(student, colour_task.trainset, None, 0)


def test_demos_an_earlier_compile_compressed_are_counted_and_warned_about(colour_task: Task) -> None:
    from specprompt.io import as_array
    from specprompt.spectral import decompose
    from specprompt.types import DROPPED_IMAGE, SpectralImage

    small = SpectralImage.from_spectrum(decompose(as_array(colour_task.trainset[0].image)), size=(16, 16))
    student = dspy.Predict(colour_task.signature)
    student.demos = [
        colour_task.trainset[0].copy(image=small),
        colour_task.trainset[1].copy(image=DROPPED_IMAGE),
        colour_task.trainset[2],
    ]
    with pytest.warns(SpecPromptWarning, match=r"^2 of the 3 demos hold images an earlier compile compressed"):
        plan = plan_demos(student, colour_task.trainset, None, 0)
    assert plan.compressed == 2 and len(plan.slots) == 2
