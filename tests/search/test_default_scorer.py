"""The band optimizer's default scorer (the local band VLM) and its warning about invisible bands."""

from __future__ import annotations

import logging
import warnings

import dspy
import pytest

from specprompt.errors import SpecPromptWarning
from specprompt.search import BandOptimizer
from specprompt.search._context import SearchContext
from specprompt.search._demos import plan_demos
from specprompt.search._invisible import invisible_report, local_canvas, warn_invisible, warn_local_price
from specprompt.tasks import Task, get_task

from .conftest import exact, options


@pytest.fixture(scope="module")
def big_task() -> Task:
    return get_task("colour-position", n_train=6, n_val=4, n_test=0, size=256, seed=0)


def _ctx(task: Task, **over: object) -> SearchContext:
    opt = BandOptimizer(exact, **options(**{"token_budget": 800, "cost_model": "openai:gpt-4o", **over}))
    student = dspy.Predict(task.signature)
    return SearchContext(student, plan_demos(student, task.trainset, 3, 0), opt.config)


def test_compile_without_an_lm_scores_with_the_local_vlm(colour_task: Task, caplog: pytest.LogCaptureFixture) -> None:
    opt = BandOptimizer(exact, **options(n_trials=3, token_budget=60))
    with dspy.context(lm=None), caplog.at_level(logging.INFO, logger="specprompt.search"):
        program = opt.compile(dspy.Predict(colour_task.signature), trainset=colour_task.trainset)
        assert dspy.settings.lm is None  # the default LM is not left configured
    assert "scoring with the local band VLM specprompt/local-" in caplog.text
    result = opt.last_result
    assert result is not None and result.scorer_calls > 0 and result.best.tokens <= 60
    assert len(program.demos) == 3


def test_invisible_bands_are_reported_for_large_demo_images(big_task: Task, colour_task: Task) -> None:
    report = invisible_report(_ctx(big_task))
    assert report and all(names == ("L0", "L1") for names in report.values())
    assert invisible_report(_ctx(colour_task)) == {}  # 64 px: the model sees every band
    assert invisible_report(_ctx(big_task), 256) == {}  # a 256 px model (band-vlm-v2) sees them all


def test_warning_names_the_bands_only_for_the_local_vlm(big_task: Task) -> None:
    from specprompt.scorers import nearest_lm
    from specprompt.vlm import local_lm

    ctx = _ctx(big_task)
    with pytest.warns(SpecPromptWarning, match=r"band\(s\) L0, L1 of \d+ of \d+ demo image") as record:
        warn_invisible(ctx, local_lm())
    assert record[0].filename == __file__  # points at the caller outside specprompt and dspy
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_invisible(ctx, nearest_lm())
        warn_invisible(ctx, None)  # no LM configured: nothing to say


def test_compile_warns_at_the_users_call(big_task: Task) -> None:
    """The warning is raised inside compile (behind dspy's callback wrapper) but names the caller's line."""
    from specprompt.vlm import local_lm

    opt = BandOptimizer(exact, **options(token_budget=800, cost_model="openai:gpt-4o", n_trials=2))
    with dspy.context(lm=local_lm()), pytest.warns(SpecPromptWarning, match="64 px") as record:
        opt.compile(dspy.Predict(big_task.signature), trainset=big_task.trainset, valset=big_task.valset)
    assert [w.filename for w in record if issubclass(w.category, SpecPromptWarning)] == [__file__]


@pytest.fixture(scope="module")
def huge_task() -> Task:
    return get_task("colour-position", n_train=4, n_val=2, n_test=0, size=512, seed=0)


def test_v2_sees_bands_down_to_a_256th_of_the_image(big_task: Task, huge_task: Task) -> None:
    from specprompt.scorers import local_lm

    v2 = local_lm("band-vlm-v2")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_invisible(_ctx(big_task), v2)  # 256 px images: every band is visible to the 256 px model
    report = invisible_report(_ctx(huge_task), 256)
    assert report and all(names == ("L0",) for names in report.values())  # 512 px: L0 is finer than 1/256
    assert all(names == ("L0", "L1", "L2") for names in invisible_report(_ctx(huge_task)).values())  # v1: 1/64
    with pytest.warns(SpecPromptWarning, match=r"at 256 px: band\(s\) L0 of") as record:
        warn_invisible(_ctx(huge_task), v2)
    assert record[0].filename == __file__


def test_local_canvas_is_the_scoring_checkpoints() -> None:
    from specprompt.scorers import local_lm, nearest_lm

    assert local_canvas(local_lm()) == 64
    assert local_canvas(local_lm("band-vlm-v2")) == 256
    assert local_canvas(nearest_lm()) is None
    with dspy.context(lm=None):
        assert local_canvas() is None
    with dspy.context(lm=local_lm("band-vlm-v2")):
        assert local_canvas() == 256


@pytest.mark.parametrize(
    ("checkpoint", "cost_model", "hint"),
    [("band-vlm-v2", "local", "local:band-vlm-v2"), ("band-vlm-v1", "local:band-vlm-v2", "local")],
)
def test_a_local_cost_model_of_another_checkpoint_warns(
    colour_task: Task, checkpoint: str, cost_model: str, hint: str
) -> None:
    from specprompt.scorers import local_lm

    lm = local_lm(checkpoint)
    with pytest.warns(SpecPromptWarning, match=f"cost_model={hint!r}") as record:
        warn_local_price(_ctx(colour_task, cost_model=cost_model, token_budget=200), lm)
    assert record[0].filename == __file__
    assert f"cost_model {cost_model!r} prices a" in str(record[0].message)


def test_the_matching_or_a_non_local_cost_model_does_not_warn(colour_task: Task) -> None:
    from specprompt.scorers import local_lm, nearest_lm

    cases = [
        ("band-vlm-v1", "local"),
        ("band-vlm-v1", "local:band-vlm-v1"),
        ("band-vlm-v2", "local:band-vlm-v2"),
        ("band-vlm-v2", "openai:gpt-4o"),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for checkpoint, cost_model in cases:
            warn_local_price(_ctx(colour_task, cost_model=cost_model, token_budget=800), local_lm(checkpoint))
        warn_local_price(_ctx(colour_task, cost_model="local", token_budget=200), nearest_lm())
        with dspy.context(lm=None):
            warn_local_price(_ctx(colour_task, cost_model="local", token_budget=200))


def test_compile_scored_by_v2_warns_about_the_v1_price(colour_task: Task) -> None:
    from specprompt.scorers import local_lm

    opt = BandOptimizer(exact, **options(token_budget=200, cost_model="local", n_trials=2))
    with dspy.context(lm=local_lm("band-vlm-v2")), pytest.warns(SpecPromptWarning, match="local:band-vlm-v2") as record:
        opt.compile(dspy.Predict(colour_task.signature), trainset=colour_task.trainset, valset=colour_task.valset)
    assert [w.filename for w in record if issubclass(w.category, SpecPromptWarning)] == [__file__]
