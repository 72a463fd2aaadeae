"""Spend of a compile: counted per trial and per compile, capped, and repaid by production calls."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import dspy
import optuna
import pytest

from specprompt.search import BandOptimizer, CompileResult, Spend, StudySpend
from specprompt.search._record import OUTSIDE_SPEND
from specprompt.search._spend import repays_after
from specprompt.tasks import Task, get_task

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


# -- the study is the unit of spend: a compile run again or resumed adds to what its study recorded --


def _recorded(study: optuna.Study) -> StudySpend:
    """What ``study`` recorded: its trials' ``spend`` records (any state) and the outside-trial total."""
    trials = sum((Spend.from_dict(t.user_attrs.get("spend")) for t in study.get_trials(deepcopy=False)), Spend())
    return StudySpend.from_dict(study.user_attrs.get(OUTSIDE_SPEND)) + StudySpend(search=trials)


def test_a_first_compile_reports_its_own_spend_as_the_study_total(colour_task: Task, lm: dspy.LM) -> None:
    before = lm.engine.calls
    opt = BandOptimizer(exact, **options(n_trials=8, token_budget=36, max_calls=6))
    opt.compile(dspy.Predict(colour_task.signature), trainset=colour_task.trainset, valset=colour_task.valset)
    spend = opt.last_result.spend if opt.last_result is not None else None
    assert spend is not None and spend.study is not None
    assert spend.study == StudySpend(spend.search, spend.baselines)  # the numbers of a first run, unchanged
    assert spend.study.total.calls == lm.engine.calls - before > 0
    assert spend.repays_after_calls == repays_after(spend.search.tokens, spend.saved_tokens_per_call)
    assert spend.stopped_by == f"max_calls=6 reached ({spend.search.calls} billed calls)"  # no earlier runs
    data = json.loads(opt.last_result.to_json())["spend"] if opt.last_result is not None else {}
    assert data["study"]["total"] == spend.search.to_dict() and data["search"] == spend.search.to_dict()


def test_a_capped_study_run_again_makes_no_more_search_calls(colour_task: Task, lm: dspy.LM, tmp_path: Path) -> None:
    kw = options(n_trials=30, token_budget=36, max_calls=6, storage=f"sqlite:///{tmp_path / 'study.db'}")
    total, trials = 0, None
    for run in range(3):  # the same command three times: the cap holds for the study, not per run
        before = lm.engine.calls
        opt = BandOptimizer(exact, **kw)
        opt.compile(dspy.Predict(colour_task.signature), trainset=colour_task.trainset, valset=colour_task.valset)
        result = opt.last_result
        assert result is not None and result.spend is not None and result.spend.study is not None
        billed = lm.engine.calls - before
        total += billed
        spend = result.spend
        assert spend.search.calls + spend.baselines.calls == billed
        assert spend.study.total.calls == total == _recorded(result.study).total.calls
        assert f"study total (all runs): {total} billed calls" in spend.summary()
        assert spend.stopped_by is not None and spend.stopped_by.startswith("max_calls=6 reached")
        if run:
            assert spend.search.calls == 0 and billed == 0 and result.n_trials == trials
            assert "by the study, earlier runs included" in spend.stopped_by
        trials = result.n_trials
    assert 6 <= total < 12


class Killed(KeyboardInterrupt):
    """What the metric raises to stop a compile partway, as a kill would."""


def test_a_study_resumed_after_a_kill_reports_the_earlier_trials_spend(
    colour_task: Task, lm: dspy.LM, tmp_path: Path
) -> None:
    seen, kill_at = [], [10]  # in the third trial

    def metric(example: Any, pred: Any, trace: Any = None) -> float:
        seen.append(1)
        if len(seen) == kill_at[0]:
            raise Killed
        return exact(example, pred, trace)

    kw = options(n_trials=8, token_budget=36, storage=f"sqlite:///{tmp_path / 'study.db'}")
    program = dspy.Predict(colour_task.signature)
    before = lm.engine.calls
    with pytest.raises(Killed):
        BandOptimizer(metric, **kw).compile(program, trainset=colour_task.trainset, valset=colour_task.valset)
    killed = lm.engine.calls - before
    (name,) = optuna.get_all_study_names(kw["storage"])
    assert _recorded(optuna.load_study(study_name=name, storage=kw["storage"])).total.calls == killed > 0

    kill_at[0], before = 0, lm.engine.calls
    opt = BandOptimizer(metric, **kw)
    opt.compile(program, trainset=colour_task.trainset, valset=colour_task.valset)
    result = opt.last_result
    assert result is not None and result.spend is not None and result.spend.study is not None
    spend, again = result.spend, lm.engine.calls - before
    assert spend.search.calls + spend.baselines.calls == again
    assert spend.study.total.calls == killed + again == _recorded(result.study).total.calls
    assert f"search spend: {spend.search.calls} billed calls" in spend.summary()
    assert f"study total (all runs): {killed + again} billed calls" in spend.summary()
    assert spend.repays_after_calls == repays_after(spend.study.search.tokens, spend.saved_tokens_per_call)


def test_the_compile_records_only_its_own_outside_trial_spend_and_a_worker_none() -> None:
    """The study's total counts each call once: trials by their records (another worker's too),
    the rest of this process's spend in the study attribute, which a ``work`` process never writes."""
    from types import SimpleNamespace

    from specprompt.search import SearchConfig
    from specprompt.search._guards import SpendCap
    from specprompt.search._objective import worker_tag
    from specprompt.search._record import read_outside_spend

    study = optuna.create_study()
    other = {"host": "elsewhere", "pid": 1}

    def add(worker: dict[str, Any], calls: int, origin: str = "sampler") -> None:
        attrs = {"worker": worker, "origin": origin, "spend": Spend(calls=calls).to_dict()}
        study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.COMPLETE, value=0.0, user_attrs=attrs))

    add(other, 5)  # an earlier run's trial
    study.set_user_attr(OUTSIDE_SPEND, StudySpend(baselines=Spend(calls=2)).to_dict())  # and its baselines
    compile_scorer, worker_scorer = SimpleNamespace(spend=Spend()), SimpleNamespace(spend=Spend())
    cap = SpendCap(compile_scorer, SearchConfig(max_calls=20), study, records=True)  # type: ignore[arg-type]
    work = SpendCap(worker_scorer, SearchConfig(max_calls=20), study, records=False)  # type: ignore[arg-type]
    assert cap.earlier == work.earlier == StudySpend(Spend(calls=5), Spend(calls=2))
    add(worker_tag(), 3)  # this process's trial; 4 more calls outside trials (full-valset scores)
    add(other, 7)  # a worker's trial, beside it
    compile_scorer.spend, worker_scorer.spend = Spend(calls=7), Spend(calls=7)
    assert cap.total.calls == 2 + 5 + 7 and not cap.reached()
    assert work.record() == StudySpend(Spend(calls=15), Spend(calls=2))  # wrote nothing
    cap.end_search()
    compile_scorer.spend = Spend(calls=8)  # a baseline's call
    add(worker_tag(), 1, "trim:1")  # a trim variant's
    compile_scorer.spend = Spend(calls=9)
    assert read_outside_spend(study) == StudySpend(Spend(calls=4), Spend(calls=2))
    got = cap.record()
    assert read_outside_spend(study) == StudySpend(Spend(calls=4), Spend(calls=3))
    assert got == StudySpend(Spend(calls=19), Spend(calls=4))
    assert got.total.calls == 2 + 5 + 9 + 7  # earlier, this process, the worker: each call once
    compile_scorer.spend = Spend(calls=13)
    assert cap.reached() and cap.reason == (
        "max_calls=20 reached (20 billed calls) by the study, earlier runs included (7 billed calls, 0 tokens before)"
    )


def test_the_repay_point_says_what_accuracy_the_saved_tokens_cost(
    colour_task: Task, lm: dspy.LM, caplog: pytest.LogCaptureFixture
) -> None:
    from specprompt.search import SpendReport

    opt = BandOptimizer(exact, **options(n_trials=4, token_budget=36))
    student = dspy.Predict(colour_task.signature)
    test = get_task("colour-position", n_train=0, n_val=3, n_test=0, size=64, seed=1).valset  # other pictures
    with caplog.at_level(logging.INFO, "specprompt.search"):
        opt.compile(student, trainset=colour_task.trainset, valset=colour_task.valset, testset=test, baselines=["full"])
    result = opt.last_result
    assert result is not None and result.spend is not None and result.baselines is not None
    full = result.baselines["full"].score
    assert full is not None and result.best.full
    assert result.spend.below_full == pytest.approx(max(0.0, full - result.best.score))
    assert json.loads(result.to_json())["spend"]["below_full"] == result.spend.below_full
    calls = (
        f"scorer calls: {result.scorer_calls} search + {result.baseline_calls} baselines + {result.trim_calls} trim "
        f"+ {result.test_calls} test"
    )
    assert calls in caplog.text and result.test_calls > 0  # the log line counts what the summary counts
    # the held-out scoring's calls are reported beside the search's, and said to be outside the caps
    test_spend = result.spend.test
    assert test_spend is not None and test_spend.calls == result.test_calls > 0 and test_spend.tokens > 0
    held = f"held-out test: {test_spend.calls} billed calls, {test_spend.tokens} tokens (outside the caps)"
    assert held in result.spend.summary()
    from specprompt.reports import CompileReport

    assert held in CompileReport(result, student).html()
    # a program that saves tokens by losing accuracy says so next to its repay point
    lossy = SpendReport(Spend(), Spend(), None, None, 40, 3, below_full=0.7143)
    assert "repaid after 3 production calls (40 image tokens saved per call vs full demos, at a valset score " in (
        lossy.summary()
    )
    assert "0.7143 below theirs)" in lossy.summary()
    assert "below theirs" not in SpendReport(Spend(), Spend(), None, None, 40, 3, below_full=0.0).summary()
