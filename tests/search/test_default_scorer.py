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
from specprompt.search._invisible import invisible_report, warn_invisible
from specprompt.tasks import Task, get_task

from .conftest import exact, options


@pytest.fixture(scope="module")
def big_task() -> Task:
    return get_task("colour-position", n_train=6, n_val=4, n_test=0, size=256, seed=0)


def _ctx(task: Task, **over: object) -> SearchContext:
    opt = BandOptimizer(exact, **options(token_budget=800, cost_model="openai:gpt-4o", **over))
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
