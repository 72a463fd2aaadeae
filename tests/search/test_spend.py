"""Spend of a compile: counted per trial and per compile, capped, and repaid by production calls."""

from __future__ import annotations

import json

import dspy
import pytest

from specprompt.search import BandOptimizer, CompileResult
from specprompt.tasks import Task

from .conftest import exact, options


def test_spend_is_counted_per_trial_and_per_compile(colour_task: Task, lm: dspy.LM) -> None:
    opt = BandOptimizer(exact, **options(n_trials=6, token_budget=36, price_per_million_tokens=0.5))
    program = opt.compile(dspy.Predict(colour_task.signature), trainset=colour_task.trainset, valset=colour_task.valset)
    result = opt.last_result
    assert isinstance(result, CompileResult) and result.spend is not None
    spend = result.spend
    per_trial = [t.user_attrs["spend"] for t in result.study.trials]
    assert spend.search.calls >= sum(s["calls"] for s in per_trial) > 0  # + full-valset evaluations
    assert spend.search.tokens >= sum(s["tokens"] for s in per_trial) > 0
    assert spend.cost == pytest.approx(spend.search.tokens * 0.5 / 1e6)
    assert spend.stopped_by is None and spend.saved_tokens_per_call >= 0
    data = json.loads(result.to_json())["spend"]
    assert data["search"]["calls"] == spend.search.calls and data["repays_after_calls"] == spend.repays_after_calls
    assert "search spend:" in spend.summary() and "billed calls" in spend.summary()
    from specprompt.reports import CompileReport

    page = CompileReport(result, program).html()
    assert f"{spend.search.calls} billed calls, {spend.search.tokens} tokens" in page


def test_max_calls_stops_the_search_with_the_best_program_so_far(colour_task: Task, lm: dspy.LM) -> None:
    opt = BandOptimizer(exact, **options(n_trials=30, token_budget=36, max_calls=6))
    program = opt.compile(dspy.Predict(colour_task.signature), trainset=colour_task.trainset, valset=colour_task.valset)
    result = opt.last_result
    assert result is not None and result.spend is not None and program is not None
    assert result.spend.stopped_by is not None and result.spend.stopped_by.startswith("max_calls=6 reached")
    assert result.n_trials < 30
    assert result.best.tokens <= 36
