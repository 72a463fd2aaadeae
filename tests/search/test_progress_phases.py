"""The long scoring phases of a compile show bars of their examples, as the trials show a bar of trials."""

from __future__ import annotations

import io
from typing import Any

import dspy
import pytest
from tqdm import tqdm

import specprompt._progress as progress
import specprompt.search._loop as loop
from specprompt.errors import SpecPromptWarning
from specprompt.search import BandOptimizer
from specprompt.tasks import Task

from .conftest import exact, options


def _record(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, bool, Any]]:
    """Every bar made, as ``(desc, unit, enabled, bar)``: real tqdm bars, shown into a buffer."""
    made: list[tuple[str, str, bool, Any]] = []

    def make(desc: str, *, total: int | None, unit: str, enabled: bool, initial: int = 0) -> Any:
        bar = tqdm(total=total, initial=initial, desc=desc, unit=unit, disable=False, file=io.StringIO())
        made.append((desc, unit, enabled, bar))
        return bar

    monkeypatch.setattr(progress, "progress_bar", make)
    monkeypatch.setattr(loop, "progress_bar", make)
    return made


def _compile(task: Task, **over: Any) -> BandOptimizer:
    opt = BandOptimizer(exact, **options(n_trials=3, token_budget=400, minibatch_size=2, **over))
    with pytest.warns(SpecPromptWarning, match="the test score is not a held-out score"):  # valset examples
        opt.compile(
            dspy.Predict(task.signature),
            trainset=task.trainset,
            valset=task.valset,
            testset=task.valset[:3],
            baselines=["full", "uniform", "text_only"],
        )
    return opt


def test_baselines_finalists_trim_and_test_set_show_bars_of_examples(
    colour_task: Task, lm: dspy.LM, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = _record(monkeypatch)
    opt = _compile(colour_task, progress=True)
    result = opt.last_result
    assert result is not None
    phases = {desc: bar for desc, unit, _, bar in made if unit == "example"}
    assert {"finalists", "trim", "test"} <= set(phases), sorted(phases)
    assert {"baseline full", "baseline text_only"} <= set(phases)  # uniform: the same prompt as full here
    assert all(enabled for _, _, enabled, _ in made)
    for desc, bar in phases.items():
        assert bar.n == bar.total, (desc, bar.n, bar.total)  # every example handed out was counted
    assert phases["test"].n == result.test_calls >= 3  # the program and its baselines, each key once
    assert phases["finalists"].n > 0
    assert [d for d, unit, _, _ in made if unit == "trial"] == ["band search"]


def test_no_bar_is_shown_without_progress(colour_task: Task, lm: dspy.LM, monkeypatch: pytest.MonkeyPatch) -> None:
    made = _record(monkeypatch)
    _compile(colour_task, progress=False)
    assert made and not any(enabled for _, _, enabled, _ in made)
