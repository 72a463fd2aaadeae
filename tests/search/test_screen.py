"""Multi-fidelity search: a screening judge first, the target for the best share, target scores decide."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, cast

import dspy
import optuna
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from specprompt.errors import ConfigError
from specprompt.scorers import nearest_lm, pixel_lm
from specprompt.search import BandOptimizer, Calibration, CompileResult
from specprompt.search._agreement import (
    TOP_CONFIDENCE,
    VerdictRule,
    screen_verdict,
    settled,
    tighter_keep,
    trials_verdict,
)
from specprompt.search._rank import top_hit, top_hit_probability
from specprompt.search._record import FullScore, TrialRecord
from specprompt.search._screen import SCREEN_STEP, TRIALS_ROUNDS, Screen, promotes, within_quota
from specprompt.tasks import Task, get_task

from ..conftest import PG_URL, postgres_unreachable
from .conftest import exact, options

RANK = VerdictRule(min_agreement=0.5)  # the rank rule at screen_min_agreement 0.5
TOP = VerdictRule("top", keep=0.25)  # the top rule: the best quarter must hold the target's best
TOP_WITHIN_ONE = VerdictRule("top", keep=0.25, tolerance=0.125)  # ... or a pair one 8-example step behind it

BUDGET = 600  # openai:gpt-4.1-mini tokens of 6 demo images of 128 px: about a quarter of full resolution


@pytest.fixture(scope="module")
def photo() -> Task:
    return get_task("photo-tint", n_train=8, n_val=8, n_test=0, size=128, seed=0)


def _compile(task: Task, target: dspy.LM, **over: Any) -> tuple[CompileResult, int]:
    """Compiles with ``target`` as the scoring LM; returns the result and the target's engine calls."""
    opts = options(n_trials=16, k_demos=6, minibatch_size=4, token_budget=BUDGET, cost_model="openai:gpt-4.1-mini")
    opts.update(over)
    before = target.engine.calls
    with dspy.context(lm=target):
        opt = BandOptimizer(exact, **opts)
        opt.compile(dspy.Predict(task.signature), trainset=task.trainset, valset=task.valset)
    assert opt.last_result is not None
    return opt.last_result, target.engine.calls - before


def _records(result: CompileResult) -> list[tuple[optuna.trial.FrozenTrial, TrialRecord]]:
    return [(t, TrialRecord.from_trial(t)) for t in result.study.get_trials(deepcopy=False)]


def _calibration(rho: float | None, interval: tuple[float, float] | None) -> Calibration:
    return Calibration(
        local="screen",
        target="target",
        probes=(),
        local_scores=(),
        target_scores=(),
        examples=(),
        spearman=rho,
        interval=interval,
        confidence=0.95,
        n_bootstrap=100,
        target_calls=0,
        max_target_calls=0,
        threshold=0.5,
        seed=0,
    )


def test_promotes_the_best_share_ties_together() -> None:
    pool = {"a": (1.0, 10), "b": (1.0, 10), "c": (0.5, 5), "d": (0.5, 20), "e": (0.0, 1)}
    assert [k for k in pool if promotes(pool, k, 0.2)] == ["a", "b"]  # tied on score and tokens: both pass
    assert [k for k in pool if promotes(pool, k, 0.6)] == ["a", "b", "c"]  # c: fewer tokens than d
    assert promotes({"x": (0.0, 99)}, "x", 0.01)  # the first screened prompt always passes


def test_screen_verdict_falls_back_on_low_or_uncertain_agreement() -> None:
    assert screen_verdict(_calibration(0.8, (0.4, 0.95)), RANK)[0]
    ok, line = screen_verdict(_calibration(0.3, (0.1, 0.6)), RANK)
    assert not ok and "below 0.5" in line and "target-only" in line
    ok, line = screen_verdict(_calibration(0.7, (0.0, 0.9)), RANK)
    assert not ok and "includes 0" in line
    ok, line = screen_verdict(_calibration(None, None), RANK)
    assert not ok and "undefined" in line
    ok, line = screen_verdict(None, RANK)
    assert ok and "not measured" in line


def test_screening_costs_fewer_target_calls_and_target_scores_decide(photo: Task) -> None:
    plain, plain_calls = _compile(photo, pixel_lm("hist-hog"))
    assert plain.screening is None
    mf, mf_calls = _compile(photo, pixel_lm("hist-hog"), screen=nearest_lm(), screen_keep=0.25)
    rep = mf.screening
    assert rep is not None and rep.active and rep.judge == "specprompt/nearest-v1"
    assert mf_calls < plain_calls and mf.scorer_calls < plain.scorer_calls
    assert rep.screen_calls > 0 and rep.promoted < rep.screened
    records = _records(mf)
    out = [(t, r) for t, r in records if r.fidelity == "screen"]
    assert out, "some candidate was screened out"
    for t, r in out:  # PRUNED, the screen score at step 0, no target score anywhere
        assert t.state == optuna.trial.TrialState.PRUNED and r.example_scores is None and r.score is None
        assert t.intermediate_values == {SCREEN_STEP: r.screen_score}
        assert r.key is not None and FullScore.read(mf.study, r.key) is None
    for t, r in records:
        if r.is_baseline:  # baselines always go to the target
            assert r.fidelity == "target" and t.state == optuna.trial.TrialState.COMPLETE
    # the returned program and every candidate row were scored by the target
    by_trial = dict((t.number, r) for t, r in records)
    # every candidate was scored by the target: by the search (fidelity "target"), or as a variant of the
    # chosen program in the trim after it (origin trim:<n>, added outside the screen, no fidelity)
    searched = [row for row in mf.candidates if not row.origin.startswith("trim:")]
    assert {by_trial[row.trial].fidelity for row in searched} == {"target"}
    assert all(by_trial[row.trial].fidelity is None for row in mf.candidates if row not in searched)
    full = FullScore.read(mf.study, mf.best.key)
    assert full is not None and mf.best.full and mf.best.score == full.score
    # never below a baseline the compile scored; every candidate fits the budget
    assert mf.floor is not None and mf.best.score >= mf.floor
    assert all(row.tokens <= BUDGET for row in mf.candidates) and mf.best.tokens <= BUDGET
    assert mf.study_name != plain.study_name
    assert "screening with specprompt/nearest-v1" in mf.pareto_table()
    assert mf.to_dict()["screening"]["promoted"] == rep.promoted


def test_low_agreement_falls_back_to_target_only(photo: Task, caplog: pytest.LogCaptureFixture) -> None:
    over = {"calibrate": True, "calibration_probes": 4, "calibration_examples": 2}
    with caplog.at_level(logging.WARNING, logger="specprompt.search"):
        mf, _ = _compile(photo, pixel_lm("hist-hog"), screen=nearest_lm(), screen_min_agreement=1.0, **over)
    rep, cal = mf.screening, mf.calibration
    assert rep is not None and cal is not None and not rep.active
    assert cal.local == "specprompt/nearest-v1" and cal.target == "specprompt/pixel-hist-hog-v1"
    assert [r.message for r in caplog.records if "falling back to target-only" in r.message]
    assert rep.screen_calls == 0 and rep.screened == 0
    assert all(r.fidelity is None for _, r in _records(mf))
    assert "screening with specprompt/nearest-v1: off (" in mf.pareto_table()


def test_screen_argument_errors() -> None:
    with pytest.raises(ConfigError, match=r"screen must be None, 'local', 'nearest' or a dspy\.LM"):
        BandOptimizer(exact, screen="remote")
    with pytest.raises(ConfigError, match="give target= or screen=, not both"):
        BandOptimizer(exact, screen="nearest", target=nearest_lm())
    with pytest.raises(ConfigError, match=r"screen_keep must be a number in \(0, 1\]"):
        BandOptimizer(exact, screen="nearest", screen_keep=0.0)
    with pytest.raises(ConfigError, match=r"screen_min_agreement must be a number in \[-1, 1\]"):
        BandOptimizer(exact, screen_min_agreement=2)
    BandOptimizer(exact, screen="nearest", calibrate=True)  # calibrate needs target= or screen=


def test_screen_on_a_shared_postgresql_study_is_refused(photo: Task) -> None:
    reason = postgres_unreachable()
    if reason is not None:
        pytest.skip(reason)
    opts = options(n_trials=2, k_demos=6, token_budget=BUDGET, cost_model="openai:gpt-4.1-mini")
    opts["storage"] = PG_URL
    with dspy.context(lm=pixel_lm("hist-hog")):
        opt = BandOptimizer(exact, screen=nearest_lm(), **opts)
        with pytest.raises(ConfigError, match="does not run on a shared PostgreSQL study"):
            opt.compile(dspy.Predict(photo.signature), trainset=photo.trainset, valset=photo.valset)


def test_the_target_scores_at_most_the_keep_share_of_screened_candidates(photo: Task) -> None:
    keep = 0.25
    mf, _ = _compile(photo, pixel_lm("hist-hog"), screen=nearest_lm(), screen_keep=keep, n_trials=24)
    seen = promoted = 0
    for t, r in sorted(_records(mf), key=lambda tr: tr[0].number):
        if r.fidelity is None or r.is_baseline:
            continue
        seen += 1
        promoted += r.fidelity == "target"
        assert promoted <= max(1, int(keep * seen + 1e-9)), (t.number, promoted, seen)  # never ahead of the quota
    assert seen >= 8 and promoted >= 2  # enough candidates to exercise it; the quota refills as more are screened


def test_within_quota_counts_this_candidate() -> None:
    assert within_quota(0, 0, 0.01)  # the first screened candidate always may go on
    assert not within_quota(1, 1, 0.5)  # 2 of 2 would be above one half
    assert not within_quota(1, 2, 0.5) and within_quota(1, 3, 0.5) and not within_quota(2, 4, 0.5)
    assert all(within_quota(n, n, 1.0) for n in range(5))  # keep 1.0: every candidate


TRIALS = {"calibrate": True, "calibration_mode": "trials", "calibration_probes": 4}


def _in_order(result: CompileResult) -> list[TrialRecord]:
    """The records of the search's trials that reached the scoring step, in trial order."""
    trials = sorted(result.study.get_trials(deepcopy=False), key=lambda t: t.number)
    return [r for r in (TrialRecord.from_trial(t) for t in trials) if r.example_scores or r.screen_score is not None]


def test_trials_mode_measures_agreement_on_the_search_own_trials(photo: Task, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="specprompt.search"):
        # the target as its own screen: the rank agreement is perfect (without the sharpened warm start,
        # which ties the uniform one on the first trials and so leaves the verdict open for 4 more)
        mf, calls = _compile(
            photo, pixel_lm("hist-hog"), screen=pixel_lm("hist-hog"), trim=False, sharpen=False, **TRIALS
        )
    rep = mf.screening
    assert rep is not None and rep.active and rep.note.endswith(": screening with it")
    assert "rank agreement of specprompt/pixel-hist-hog-v1 vs specprompt/pixel-hist-hog-v1 over " in rep.note
    verdicts = [r.message for r in caplog.records if "rank agreement of" in r.message]
    assert verdicts == [f"multi-fidelity search: {rep.note}"]
    searched = [r for r in _in_order(mf) if not r.is_baseline and r.screen_score is not None]
    first, later = searched[:4], searched[4:]
    assert [r.fidelity for r in first] == ["target"] * 4  # scored by both, whatever their screen rank
    assert all(r.score is not None for r in first)  # the whole minibatch: never pruned on the way
    assert "screen" in {r.fidelity for r in later}  # the later candidates are screened
    seen = promoted = 0
    for r in later:  # the quota counts from the verdict on: the calibrating trials are outside it
        seen, promoted = seen + 1, promoted + (r.fidelity == "target")
        assert promoted <= max(1, int(0.25 * seen + 1e-9))
    assert promoted >= 1
    # no probe: no extra target call (a probe-mode compile spends calibration_probes x examples more)
    assert mf.calibration is None and "specprompt:calibration" not in mf.study.user_attrs
    probe, probe_calls = _compile(
        photo, pixel_lm("hist-hog"), screen=pixel_lm("hist-hog"), trim=False, calibrate=True, calibration_probes=4
    )
    assert probe.calibration is not None and probe.calibration.target_calls > 0
    assert probe_calls == probe.scorer_calls + probe.calibration.target_calls
    assert calls == mf.scorer_calls
    assert mf.study_name != probe.study_name


def test_trials_mode_falls_back_and_stops_screening(photo: Task, caplog: pytest.LogCaptureFixture) -> None:
    screen = nearest_lm()
    with caplog.at_level(logging.WARNING, logger="specprompt.search"):
        mf, _ = _compile(photo, pixel_lm("hist-hog"), screen=screen, screen_min_agreement=1.0, n_trials=24, **TRIALS)
    rep = mf.screening
    assert rep is not None and not rep.active and "falling back to target-only" in rep.note
    assert [r.message for r in caplog.records if "over " in r.message] == [f"multi-fidelity search: {rep.note}"]
    records = _in_order(mf)
    assert f"over {sum(1 for r in records if r.screen_score is not None and not r.is_baseline)} trials" in rep.note
    screened = [i for i, r in enumerate(records) if r.screen_score is not None]
    pairs = sum(1 for i in screened if not records[i].is_baseline)
    assert pairs in (4, 8, 12)  # rounds of calibration_probes pairs (an open verdict waits), then no screen call
    after = records[screened[-1] + 1 :]
    assert after and all(r.screen_score is None and r.fidelity is None for r in after)
    assert all(r.fidelity != "screen" for r in records)  # nothing was screened out
    assert rep.screen_calls == screen.engine.calls == 4 * len(screened)  # minibatch 4 per screened prompt


def test_trials_mode_resumes_to_the_same_verdict(photo: Task, tmp_path: Any) -> None:
    over = {**TRIALS, "storage": f"sqlite:///{tmp_path / 'study.db'}"}
    first, _ = _compile(photo, pixel_lm("hist-hog"), screen=nearest_lm(), **over)
    again, calls = _compile(photo, pixel_lm("hist-hog"), screen=nearest_lm(), **over)
    assert first.screening is not None and again.screening is not None
    assert "over " in first.screening.note and calls == 0
    assert (again.screening.active, again.screening.note) == (first.screening.active, first.screening.note)


def test_calibration_mode_is_checked() -> None:
    with pytest.raises(ConfigError, match=r"calibration_mode must be one of probe, trials, got 'online'"):
        BandOptimizer(exact, screen="nearest", calibrate=True, calibration_mode="online")


def test_periodic_evaluations_count_only_the_trials_the_target_scored(photo: Task) -> None:
    from specprompt.search._objective import searched_trials
    from specprompt.search._periodic import scored_trials
    from specprompt.search._record import PERIODIC_PREFIX

    every = 3
    over = {"screen": nearest_lm(), "screen_keep": 0.25, "n_trials": 24, "full_eval_every": every}
    mf, _ = _compile(photo, pixel_lm("hist-hog"), **over)
    scored, searched = scored_trials(mf.study), searched_trials(mf.study)
    assert scored < searched  # the screen left some trials out: they do not advance the period
    made = sorted(int(k.removeprefix(PERIODIC_PREFIX)) for k in mf.study.user_attrs if k.startswith(PERIODIC_PREFIX))
    assert made == list(range(every, scored + 1, every))
    plain, _ = _compile(photo, pixel_lm("hist-hog"), n_trials=9, full_eval_every=every)
    made = sorted(int(k.removeprefix(PERIODIC_PREFIX)) for k in plain.study.user_attrs if k.startswith(PERIODIC_PREFIX))
    assert scored_trials(plain.study) == searched_trials(plain.study) == 9 and made == [3, 6, 9]


def _paired_study(pairs: list[tuple[float, float]]) -> optuna.Study:
    """A study of complete non-baseline trials scored by both judges, in order."""
    study = optuna.create_study()
    for screen, target in pairs:
        attrs = TrialRecord(origin="sampler", screen_score=screen, score=target, fidelity="target").to_attrs()
        study.add_trial(optuna.trial.create_trial(value=target, user_attrs=attrs))
    return study


def _trials_screen(probes: int) -> Screen:
    return Screen(nearest_lm(), cast(Any, None), RANK, False, "", trials=probes, target="t")


OPEN = [(0.1, 0.3), (0.2, 0.1), (0.3, 0.4), (0.4, 0.2)]  # rho 0.0, interval [-1, 1]: open
AGREE = [(0.5, 0.5), (0.6, 0.6), (0.7, 0.7), (0.8, 0.8)]


def test_settled_waits_while_the_interval_holds_both_verdicts() -> None:
    assert not settled([a for a, _ in OPEN], [b for _, b in OPEN], RANK)
    both = OPEN + AGREE
    assert settled([a for a, _ in both], [b for _, b in both], RANK)  # rho 0.88, CI above 0
    assert settled([0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1], RANK)  # CI [-1, -1]: below 0.5 for sure
    assert not settled([0.1, 0.2, 0.3], [0.5, 0.5, 0.5], RANK)  # undefined


def test_trials_mode_waits_a_round_when_the_first_pairs_leave_it_open() -> None:
    screen = _trials_screen(4)
    assert not screen.decide(_paired_study(OPEN))  # open: four more candidates calibrate
    assert screen.pending == screen.calibration_trials == 8 and not screen.active
    assert screen.decide(_paired_study(OPEN + AGREE)) and screen.active and "over 8 trials" in screen.note
    assert screen.pending == 0 and screen.calibration_trials == 8
    # a resumed study with every pair stored decides in one call
    again = _trials_screen(4)
    assert again.decide(_paired_study(OPEN + AGREE + OPEN)) and again.calibration_trials == 8


def test_trials_mode_decides_after_the_last_round_whatever_the_interval() -> None:
    screen = _trials_screen(4)
    study = _paired_study(OPEN * TRIALS_ROUNDS)
    assert screen.decide(study) and not screen.active  # three open rounds: the rule decides (falls back)
    assert screen.calibration_trials == 4 * TRIALS_ROUNDS and f"over {4 * TRIALS_ROUNDS} trials" in screen.note


def _given(rho: float, interval: tuple[float, float]) -> Calibration:
    return dataclasses.replace(
        _calibration(rho, interval), local="specprompt/nearest-v1", target="specprompt/pixel-hist-hog-v1"
    )


def test_a_given_calibration_decides_with_no_target_call(photo: Task, tmp_path: Any) -> None:
    good = _given(0.9, (0.6, 1.0))
    mf, calls = _compile(photo, pixel_lm("hist-hog"), screen=nearest_lm(), calibration=good, trim=False)
    assert mf.calibration == good and mf.screening is not None and mf.screening.active
    assert calls == mf.scorer_calls  # no probe: the target answered the search only
    assert mf.screening.note == screen_verdict(good, RANK)[1]
    assert mf.calibration_given and "calibration (given: measured before this compile" in mf.pareto_table()
    assert mf.to_dict()["calibration_given"] is True
    # from a JSON file (specprompt calibrate --json), a low agreement: target-only
    path = tmp_path / "cal.json"
    path.write_text(_given(0.1, (-0.5, 0.6)).to_json())
    low, _ = _compile(photo, pixel_lm("hist-hog"), screen=nearest_lm(), calibration=str(path), trim=False)
    assert low.screening is not None and not low.screening.active and "falling back" in low.screening.note
    assert low.calibration is not None and low.calibration.spearman == 0.1


def test_a_given_calibration_must_match_the_judges(photo: Task, tmp_path: Any) -> None:
    other = dataclasses.replace(_given(0.9, (0.6, 1.0)), target="openai/gpt-4.1-mini")
    with pytest.raises(
        ConfigError, match=r"measured with local judge 'specprompt/nearest-v1' and target 'openai/gpt"
    ) as e:
        _compile(photo, pixel_lm("hist-hog"), screen=nearest_lm(), calibration=other)
    assert "the same judge with other options" not in str(e.value)
    # the same engine with another cost model has another model string: the message says why
    priced = nearest_lm(cost_model="openai:gpt-4o")
    with pytest.raises(ConfigError, match=r"the same judge with other options.*--cost-model\): measure it again"):
        _compile(photo, pixel_lm("hist-hog"), screen=priced, calibration=_given(0.9, (0.6, 1.0)))
    with pytest.raises(ConfigError, match="calibration= needs screen="):
        BandOptimizer(exact, calibration=_given(0.9, (0.6, 1.0)))
    with pytest.raises(ConfigError, match="give calibration= or calibration_mode='trials', not both"):
        BandOptimizer(exact, screen="nearest", calibration=_given(0.9, (0.6, 1.0)), **TRIALS)
    with pytest.raises(ConfigError, match="cannot read the calibration file"):
        BandOptimizer(exact, screen="nearest", calibration=str(tmp_path / "missing.json"))
    (tmp_path / "bad.json").write_text('{"local": "x"}')
    with pytest.raises(ConfigError, match="is not a calibration: a calibration lacks the key "):
        BandOptimizer(exact, screen="nearest", calibration=tmp_path / "bad.json")
    with pytest.raises(ConfigError, match="calibration must be a Calibration or the path"):
        BandOptimizer(exact, screen="nearest", calibration=3)


def test_a_given_calibration_of_a_local_only_search(photo: Task) -> None:
    """target= (a search scored by the local judge): the calibration's local judge is the scoring LM."""
    given = dataclasses.replace(_given(0.9, (0.6, 1.0)), local="specprompt/nearest-v1")
    target = pixel_lm("hist-hog")
    with dspy.context(lm=nearest_lm()):
        opt = BandOptimizer(exact, target=target, calibration=given, **options(n_trials=4, k_demos=6))
        opt.compile(dspy.Predict(photo.signature), trainset=photo.trainset, valset=photo.valset)
    result = opt.last_result
    assert result is not None and result.calibration == given and result.calibration_given
    assert target.engine.calls == 0  # no probe: the target was never called


# -- screen_rule="top": the screen's best share must hold the target's best --------------------------


def test_top_hit_asks_whether_the_best_share_holds_the_target_best() -> None:
    # the screen's best quarter of 8 is 2 pairs; the target's best (0.9) is in it, though the order is poor
    screen, target = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2], [0.9, 0.1, 0.8, 0.2, 0.7, 0.3, 0.6, 0.4]
    assert top_hit(screen, target, 0.25) is True
    assert top_hit(screen[::-1], target, 0.25) is False  # the best pair is now the screen's worst
    assert top_hit([0.5, 0.5, 0.1, 0.1], [0.0, 0.0, 0.0, 1.0], 0.25) is False
    assert top_hit([0.5, 0.5, 0.1, 0.1], [0.0, 1.0, 0.0, 0.0], 0.25) is True  # ties on the screen pass together
    assert top_hit([0.1, 0.2], [0.5, 0.5], 0.5) is None and top_hit([], [], 0.5) is None
    with pytest.raises(ConfigError, match="top_hit needs two equal-length score lists, got 2 and 1"):
        top_hit([0.1, 0.2], [0.5], 0.5)


def test_top_hit_probability_is_seeded_and_tracks_the_evidence() -> None:
    screen, target = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2], [0.9, 0.1, 0.8, 0.2, 0.7, 0.3, 0.6, 0.4]
    p = top_hit_probability(screen, target, 0.25, seed=3)
    assert p == top_hit_probability(screen, target, 0.25, seed=3) and p is not None and 0.5 < p < 1.0
    assert top_hit_probability(screen[::-1], target, 0.25, seed=3) < 0.5  # type: ignore[operator]
    assert top_hit_probability(screen, screen, 0.25) == 1.0  # the target as its own screen
    assert top_hit_probability([0.1, 0.2, 0.3], [0.5, 0.5, 0.5], 0.25) is None


def test_the_top_rule_screens_where_the_rank_rule_falls_back() -> None:
    # poor overall order, but the screen's best quarter holds the target's best in most resamples
    screen = [0.9, 0.85, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.15, 0.1, 0.05, 0.0]
    target = [1.0, 1.0, 0.2, 0.6, 0.5, 0.1, 0.6, 0.4, 0.3, 0.5, 0.2, 0.4]
    rank = trials_verdict(screen, target, "s vs t", RANK)
    top = trials_verdict(screen, target, "s vs t", TOP)
    assert not rank[0] and top[0]
    assert top[1] == (
        "top agreement of s vs t over 12 trials: the screen's best 0.25 holds the target's best in 0.97 of "
        "resamples: screening with it"
    )
    low = trials_verdict(screen[::-1], target, "s vs t", TOP)
    assert not low[0] and low[1].endswith(f", below {TOP_CONFIDENCE:g}: falling back to target-only scoring")
    flat = trials_verdict(screen, [0.5] * 12, "s vs t", TOP)
    assert flat == (
        False,
        "top agreement of s vs t over 12 trials is undefined (one target score): falling back to target-only scoring",
    )
    assert settled(screen, target, TOP) and settled(screen[::-1], target, TOP)
    assert not settled(screen, [0.5] * 12, TOP)
    last = trials_verdict(screen, [0.5] * 12, "s vs t", TOP, last=True)
    assert last[0] and last[1].startswith("top agreement of s vs t over 12 trials is undefined after the last round")
    assert not trials_verdict(screen, [0.5] * 12, "s vs t", RANK, last=True)[0]  # the rank rule still falls back


def test_a_trials_screen_with_the_top_rule_decides_by_it() -> None:
    screen = Screen(nearest_lm(), cast(Any, None), TOP, False, "", trials=4, target="t")
    assert screen.decide(_paired_study(AGREE)) and screen.active and screen.note.startswith("top agreement of ")
    anti = Screen(nearest_lm(), cast(Any, None), TOP, False, "", trials=4, target="t")
    assert anti.decide(_paired_study([(a, 1.3 - b) for a, b in AGREE])) and not anti.active


def test_a_top_rule_screen_waits_on_a_constant_target_then_screens_after_the_last_round() -> None:
    flat = [(0.1, 0.5), (0.9, 0.5), (0.4, 0.5), (0.6, 0.5)]  # the target gave every pair one score
    screen = Screen(nearest_lm(), cast(Any, None), TOP, False, "", trials=4, target="t")
    assert not screen.decide(_paired_study(flat))  # undefined: another round calibrates
    assert not screen.decide(_paired_study(flat * (TRIALS_ROUNDS - 1))) and not screen.active
    assert screen.decide(_paired_study(flat * TRIALS_ROUNDS)) and screen.active
    assert f"over {4 * TRIALS_ROUNDS} trials is undefined after the last round" in screen.note
    # one target score that differs is evidence, read by the rule as before
    mixed = flat * (TRIALS_ROUNDS - 1) + [(0.1, 0.5), (0.9, 0.5), (0.4, 0.5), (0.6, 0.6)]
    again = Screen(nearest_lm(), cast(Any, None), TOP, False, "", trials=4, target="t")
    assert again.decide(_paired_study(mixed)) and "after the last round" not in again.note


def test_a_given_calibration_is_read_by_the_chosen_rule() -> None:
    given = dataclasses.replace(
        _calibration(0.31, (-0.4, 0.8)),
        local_scores=(0.9, 0.85, 0.1, 0.2, 0.3, 0.15, 0.05, 0.25),
        target_scores=(0.9, 0.9, 0.3, 0.1, 0.2, 0.4, 0.35, 0.1),
    )
    assert not screen_verdict(given, RANK)[0]  # rank: rho 0.31
    active, note = screen_verdict(given, TOP)
    assert active and note.startswith("top agreement of screen vs target: the screen's best 0.25 holds")


# seed 2 of photo-tint judged by hist-hog in benchmarks/README.md, in small: the screen's best share
# holds several 7/8 pairs but not the one 8/8 pair
NEAR = [(0.93, 0.875), (0.92, 0.875), (0.9, 0.75), (0.8, 1.0), (0.7, 0.5), (0.6, 0.625), (0.5, 0.5), (0.4, 0.75)]


def test_top_hit_with_a_tolerance_counts_pairs_near_the_best() -> None:
    screen, target = [a for a, _ in NEAR], [b for _, b in NEAR]
    assert top_hit(screen, target, 0.25) is False
    assert top_hit(screen, target, 0.25, tolerance=0.125) is True  # 7/8 is within one example of 8/8
    assert top_hit(screen, target, 0.25, tolerance=0.12) is False
    assert top_hit(screen, target, 0.25, tolerance=0.5) is True
    assert top_hit([0.1, 0.2], [0.5, 0.5], 0.5, tolerance=0.125) is None  # a constant target is still undefined
    p0 = top_hit_probability(screen, target, 0.25, seed=1)
    p1 = top_hit_probability(screen, target, 0.25, tolerance=0.125, seed=1)
    assert p0 is not None and p1 is not None and p0 < TOP_CONFIDENCE <= p1


@settings(max_examples=200, deadline=None)
@given(
    pairs=st.lists(st.tuples(st.integers(0, 8), st.integers(0, 8)), min_size=1, max_size=16),
    keep=st.sampled_from([0.1, 0.2, 0.25, 0.5, 1.0]),
    steps=st.tuples(st.integers(0, 8), st.integers(0, 8)),
)
def test_a_wider_tolerance_never_turns_a_top_hit_into_a_miss(
    pairs: list[tuple[int, int]], keep: float, steps: tuple[int, int]
) -> None:
    screen, target = [a / 8 for a, _ in pairs], [b / 8 for _, b in pairs]
    low, high = sorted(x / 8 for x in steps)
    hits = top_hit(screen, target, keep, tolerance=low), top_hit(screen, target, keep, tolerance=high)
    if max(target) == min(target):
        assert hits == (None, None)  # a constant target is undefined whatever the tolerance
    else:
        assert hits[0] is not None and hits[1] is not None and (not hits[0] or hits[1])
        if high >= max(target) - min(target):
            assert hits[1]  # every pair is within the tolerance of the best
        if keep == 1.0:
            assert hits[0]  # the share is every pair


def test_a_top_rule_screen_with_a_tolerance_screens_where_it_fell_back() -> None:
    strict = Screen(nearest_lm(), cast(Any, None), TOP, False, "", trials=8, target="t")
    assert not strict.decide(_paired_study(NEAR))  # open: another round calibrates
    assert strict.decide(_paired_study(NEAR * TRIALS_ROUNDS)) and not strict.active  # the last round decides
    assert "holds the target's best in " in strict.note and strict.note.endswith("falling back to target-only scoring")
    loose = Screen(nearest_lm(), cast(Any, None), TOP_WITHIN_ONE, False, "", trials=8, target="t")
    assert loose.decide(_paired_study(NEAR)) and loose.active
    assert "holds the target's best (within 0.125) in 0.98 of resamples: screening with it" in loose.note
    # the tolerance is the top rule's: the rank rule reads the same pairs as before
    rank = trials_verdict([a for a, _ in NEAR], [b for _, b in NEAR], "s vs t", VerdictRule(tolerance=0.125))
    assert rank == trials_verdict([a for a, _ in NEAR], [b for _, b in NEAR], "s vs t", RANK)
    assert settled([a for a, _ in NEAR], [b for _, b in NEAR], TOP_WITHIN_ONE)


def test_a_given_calibration_is_read_with_the_tolerance() -> None:
    given = dataclasses.replace(
        _calibration(0.31, (-0.4, 0.8)), local_scores=tuple(a for a, _ in NEAR), target_scores=tuple(b for _, b in NEAR)
    )
    assert not screen_verdict(given, TOP)[0]
    active, note = screen_verdict(given, TOP_WITHIN_ONE)
    assert active and "the target's best (within 0.125)" in note


@pytest.mark.parametrize("bad", [-0.1, 1.0, True, "0.1", float("nan")])
def test_screen_tolerance_is_checked(bad: object) -> None:
    with pytest.raises(ConfigError, match=r"SearchConfig.screen_tolerance must be a number in \[0, 1\), got "):
        BandOptimizer(exact, screen="nearest", calibrate=True, screen_rule="top", screen_tolerance=bad)


def test_screen_rule_is_checked_and_reaches_the_compile(photo: Task) -> None:
    with pytest.raises(ConfigError, match=r"screen_rule must be one of rank, top, got 'spearman'"):
        BandOptimizer(exact, screen="nearest", calibrate=True, screen_rule="spearman")
    mf, _ = _compile(photo, pixel_lm("hist-hog"), screen=pixel_lm("hist-hog"), trim=False, screen_rule="top", **TRIALS)
    assert mf.screening is not None and mf.screening.active and mf.screening.note.startswith("top agreement of ")
    assert mf.to_dict()["config"]["screen_rule"] == "top"


# the screen's order is the target's: its best pair alone holds the target's best in every resample
SHARP = [(0.9, 1.0), (0.8, 0.5), (0.7, 0.5), (0.6, 0.25), (0.5, 0.25), (0.4, 0.0), (0.3, 0.0), (0.2, 0.0)]
TIGHT = VerdictRule("top", keep=0.25, keep_min=0.1)


def test_tighter_keep_walks_down_to_the_smallest_share_that_still_holds_the_best() -> None:
    screen, target = [a for a, _ in SHARP], [b for _, b in SHARP]
    assert tighter_keep(screen, target, TOP) == (0.25, None)  # no keep_min: screen_keep only
    assert tighter_keep(screen, target, VerdictRule("rank", keep=0.25, keep_min=0.1)) == (0.25, None)
    keep, p = tighter_keep(screen, target, TIGHT)
    assert keep == 0.1 and p is not None and p >= TOP_CONFIDENCE
    # the target's best second on the screen: the best 2 of 8 hold it (shares 0.25 to 0.15), the best 1 does not
    second = [0.5, 1.0, *target[2:]]
    assert tighter_keep(screen, second, VerdictRule("top", keep=0.25, keep_min=0.05))[0] == 0.15
    assert tighter_keep(screen, [0.5] * 8, TIGHT) == (0.25, None)  # one target score: nothing to hold


def test_a_screen_with_keep_min_promotes_the_smaller_share_it_passed() -> None:
    tight = Screen(nearest_lm(), cast(Any, None), TIGHT, False, "", trials=8, target="t")
    assert tight.decide(_paired_study(SHARP)) and tight.active and tight.keep == 0.1
    assert "the screen's best 0.25 holds the target's best in 1.00 of resamples: screening with it; " in tight.note
    assert tight.note.endswith(
        "its best 0.1 holds it in 1.00 of resamples: screening with the best 0.1 (screen_keep_min 0.1)"
    )
    plain = Screen(nearest_lm(), cast(Any, None), TOP, False, "", trials=8, target="t")
    assert plain.decide(_paired_study(SHARP)) and plain.keep == 0.25 and "screen_keep_min" not in plain.note
    # a screen that falls back keeps its share and its note
    anti = Screen(nearest_lm(), cast(Any, None), TIGHT, False, "", trials=8, target="t")
    assert anti.decide(_paired_study([(a, 1.0 - b) for a, b in SHARP] * TRIALS_ROUNDS)) and not anti.active
    assert anti.keep == 0.25 and "screen_keep_min" not in anti.note


def test_a_given_calibration_with_keep_min_sends_fewer_candidates_to_the_target(photo: Task) -> None:
    given = dataclasses.replace(
        _given(0.9, (0.6, 1.0)), local_scores=tuple(a for a, _ in SHARP), target_scores=tuple(b for _, b in SHARP)
    )
    over: dict[str, Any] = {"screen": nearest_lm(), "calibration": given, "trim": False, "screen_rule": "top"}
    wide, wide_calls = _compile(photo, pixel_lm("hist-hog"), screen_keep=0.5, **over)
    tight, tight_calls = _compile(photo, pixel_lm("hist-hog"), screen_keep=0.5, screen_keep_min=0.1, **over)
    assert wide.screening is not None and tight.screening is not None
    assert wide.screening.keep == 0.5 and tight.screening.keep == 0.1 and tight.screening.active
    assert "screening with the best 0.1 (screen_keep_min 0.1)" in tight.screening.note
    assert tight.screening.promoted < wide.screening.promoted and tight_calls < wide_calls
    assert tight.study.study_name != wide.study.study_name  # a resume never mixes the two


@pytest.mark.parametrize(
    ("over", "message"),
    [
        (
            {"screen_keep": 0.2, "screen_keep_min": 0.3},
            r"screen_keep_min must be None or a number in \(0, screen_keep=0.2\]",
        ),
        ({"screen_keep_min": 0.0}, r"screen_keep_min must be None or a number in \(0, screen_keep=0.25\]"),
        ({"screen_keep_min": True}, r"screen_keep_min must be None or a number in"),
        ({"screen_keep_min": "0.1"}, r"screen_keep_min must be None or a number in"),
        ({"screen_keep_min": 0.1, "screen_rule": "rank"}, r"screen_keep_min needs screen_rule='top'"),
    ],
)
def test_screen_keep_min_is_checked(over: dict[str, Any], message: str) -> None:
    opts: dict[str, Any] = {"screen": "nearest", "calibrate": True, "screen_rule": "top"} | over
    with pytest.raises(ConfigError, match=message):
        BandOptimizer(exact, **opts)
