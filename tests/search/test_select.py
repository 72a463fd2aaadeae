"""Never worse than a computed baseline; the paired-bootstrap tie rule; held-out test scores."""

from __future__ import annotations

import json
import math
import random
from typing import Any

import dspy
import pytest

from specprompt.errors import ConfigError
from specprompt.reports import CompileReport, report_data
from specprompt.search import BandOptimizer, ParetoRow, SearchConfig
from specprompt.search._record import FullScore, TrialRecord
from specprompt.search._result import best_row
from specprompt.search._select import (
    bootstrap_interval,
    choose,
    interval_method,
    p_better,
    score_interval,
    wilson_interval,
)
from specprompt.tasks import Task
from specprompt.types import SpectralImage

from .conftest import exact, options


class Rigged(dspy.Module):
    """Answers without an LM, by what its demos show: band renders are right exactly on the
    search minibatch, resized images right everywhere but one minibatch example, no images
    never. The minibatch favourite is then worse on the full valset than a baseline."""

    def __init__(self, signature: Any, minibatch: list[int]) -> None:
        super().__init__()
        self.p = dspy.Predict(signature)
        self.minibatch = minibatch

    def forward(self, image: Any, idx: int) -> dspy.Prediction:
        shown = [d.image for d in self.p.demos if isinstance(d.image, dspy.Image)]  # not DROPPED_IMAGE
        if not shown:
            ok = False
        elif all(isinstance(i, SpectralImage) for i in shown):
            ok = idx in self.minibatch
        else:
            ok = idx != self.minibatch[0]
        return dspy.Prediction(label="yes" if ok else "no")


def _yes(example: Any, pred: Any, trace: Any = None) -> float:
    return float(pred.label == "yes")


def _rigged_task(task: Task, n_val: int, seed: int, minibatch_size: int) -> tuple[Rigged, list[Any], list[int]]:
    order = list(range(n_val))
    random.Random(seed).shuffle(order)  # the optimizer's minibatch: the first minibatch_size of this order
    minibatch = order[:minibatch_size]
    image = task.trainset[0].image
    val = [dspy.Example(image=image, idx=i, label="yes").with_inputs("image", "idx") for i in range(n_val)]
    return Rigged(task.signature, minibatch), val, minibatch


def test_returned_program_is_never_below_a_computed_baseline(colour_task: Task, lm: dspy.LM) -> None:
    # seed 4: its random search (10 trials over 64 band choices, few within the budget) finds a
    # feasible prompt, so the random baseline is computed too
    student, val, _ = _rigged_task(colour_task, 12, 4, 4)
    opt = BandOptimizer(_yes, **options(token_budget=36, n_trials=10, minibatch_size=4, finalists=1, seed=4))
    program = opt.compile(student, trainset=colour_task.trainset, valset=val, baselines=True)
    result = opt.last_result
    assert result is not None and result.baselines is not None
    rows = list(result.candidates)
    favourite = best_row([r for r in rows if not r.origin.startswith("baseline:")], minibatch=True)
    uniform = next(r for r in rows if r.origin == "baseline:uniform")
    # the case the rule exists for: the minibatch favourite loses on the full valset
    assert favourite.minibatch_score == 1.0 > uniform.minibatch_score == 0.75
    assert favourite.full and favourite.score == pytest.approx(4 / 12)
    assert uniform.full and uniform.score == pytest.approx(11 / 12)
    assert result.best.key == uniform.key and result.best.score == pytest.approx(11 / 12)
    for b in result.baselines.values():
        if b.score is not None and b.fits:
            assert result.best.score >= b.score, b.name
    assert result.baselines["random"].score is not None  # random search ran and was added as a trial
    assert any(r.origin == "baseline:random" for r in rows) or result.baselines["random"].key in {r.key for r in rows}
    assert not any(isinstance(d.image, SpectralImage) for d in program.p.demos)  # the resized images
    lo, hi = result.interval or (0.0, 0.0)
    assert lo <= result.best.score <= hi < 1.0 + 1e-9
    assert "chosen: trial" in result.pareto_table() and "] 95% Wilson CI" in result.pareto_table()
    data = json.loads(result.to_json())
    assert data["interval"] == [lo, hi] and data["best"]["origin"] == "baseline:uniform"
    assert data["floor"] == pytest.approx(11 / 12) and data["leader"] == uniform.trial


def test_compile_reports_held_out_scores(colour_task: Task, lm: dspy.LM) -> None:
    student, val, _ = _rigged_task(colour_task, 12, 0, 4)
    image = colour_task.trainset[0].image
    test = [dspy.Example(image=image, idx=100 + i, label="yes").with_inputs("image", "idx") for i in range(3)]
    opt = BandOptimizer(_yes, **options(token_budget=36, n_trials=6, minibatch_size=4))
    opt.compile(student, trainset=colour_task.trainset, valset=val, testset=test)
    result = opt.last_result
    assert result is not None and result.baselines is not None  # testset: baselines reported
    assert list(result.baselines) == [
        "full",
        "uniform",
        "sharpened",
        "low_detail",
        "text_only",
    ]  # testset: baselines reported
    assert result.test_score == 1.0  # resized images are right on every index outside the minibatch
    assert result.baselines["text_only"].test_score == 0.0 and result.baselines["uniform"].test_score == 1.0
    assert result.baselines["full"].test_score == 0.0 and result.baselines["low_detail"].test_score is None
    assert result.baselines["sharpened"].score is None  # the local cost model: no sent size to sharpen
    assert result.test_calls == 3 * 3  # chosen (= uniform, shared cache), full, text_only
    assert ", test 1.0000" in result.summary() and "test 0.0000" in result.pareto_table()
    # 3 of 3 right: an interval of positive width, with its n (a bootstrap of it is [1, 1])
    assert (result.test_n, result.test_interval_method) == (3, "wilson")
    assert result.test_interval == wilson_interval(3, 3, 0.95) == (pytest.approx(0.4385, abs=1e-4), 1.0)
    assert ", test 1.0000 (n 3) [0.4385, 1.0000] 95% Wilson CI" in result.summary()
    assert (result.interval_n, result.interval_method) == (len(val), "wilson")
    data = json.loads(result.to_json())
    assert (data["test_n"], data["interval_n"], data["test_interval"]) == (3, len(val), list(result.test_interval))
    assert json.loads(result.to_json())["baselines"]["uniform"]["test_score"] == 1.0
    with pytest.raises(Exception, match="testset must be a non-empty list"):
        opt.compile(student, trainset=colour_task.trainset, valset=val, testset=[])


def test_run_baselines_without_an_lm_scores_with_the_local_vlm(colour_task: Task) -> None:
    opt = BandOptimizer(exact, **options(k_demos=1, token_budget=30))
    with dspy.context(lm=None):
        base = opt.run_baselines(dspy.Predict(colour_task.signature), trainset=colour_task.trainset, which=["full"])
        assert dspy.settings.lm is None
    assert base["full"].score is not None and base["full"].tokens == 44


def _row(trial: int, score: float, tokens: int, origin: str = "sampler") -> ParetoRow:
    return ParetoRow(trial, score, tokens, True, score, "{}", "{}", f"k{trial}", origin)


def test_paired_bootstrap_and_interval() -> None:
    a = {i: 1.0 for i in range(40)}
    b = {i: float(i % 10 != 0) for i in range(40)}  # 4 of 40 worse, always paired with a success
    assert p_better(a, b, 0) > 0.95 and p_better(b, a, 0) == 0.0
    assert p_better(a, a, 0) == 0.0
    assert p_better(a, b, 0) == p_better(a, b, 0)  # seeded
    lo, hi = bootstrap_interval(b, 0.95, 0)
    assert lo < 0.9 < hi <= 1.0
    assert bootstrap_interval({i: 1.0 for i in range(5)}, 0.95, 0) == (1.0, 1.0)


def test_a_score_interval_of_0_1_scores_never_collapses() -> None:
    """30 of 30 right is not a certainty: Wilson's interval, not the bootstrap's [1, 1]."""
    right = {i: 1.0 for i in range(30)}
    assert interval_method(right) == "wilson" and score_interval(right, 0.95, 0) == wilson_interval(30, 30, 0.95)
    lo, hi = score_interval(right, 0.95, 0)
    assert hi == 1.0 and lo == pytest.approx(30 / (30 + 1.959964**2), abs=1e-6)  # 1 / (1 + z^2 / n)
    lo0, hi0 = score_interval({i: 0.0 for i in range(30)}, 0.95, 0)
    assert lo0 == 0.0 and hi0 == pytest.approx(1 - lo, abs=1e-9)  # symmetric
    half = wilson_interval(15, 30, 0.95)
    assert half[0] == pytest.approx(1 - half[1]) and half[0] < 0.5 < half[1]
    assert wilson_interval(15, 30, 0.99)[0] < half[0]  # a higher level is wider
    # the textbook values (Wilson 1927; e.g. Newcombe 1998, table I): 81 of 263 -> 0.2553 .. 0.3662
    assert wilson_interval(81, 263, 0.95) == (pytest.approx(0.2553, abs=1e-4), pytest.approx(0.3662, abs=1e-4))
    assert all(math.isnan(v) for v in wilson_interval(0, 0, 0.95))
    # scores that are not 0/1 keep the bootstrap
    partial = {i: (i % 4) / 3 for i in range(40)}
    assert interval_method(partial) == "bootstrap" and interval_method({}) == "bootstrap"
    assert score_interval(partial, 0.95, 0) == bootstrap_interval(partial, 0.95, 0)


def test_tie_rule_prefers_the_cheaper_unless_the_leader_is_surely_better() -> None:
    n = 30
    leader = {i: 1.0 for i in range(n)}
    near = {i: float(i != 0) for i in range(n)}  # one example worse: a near tie
    poor = {i: float(i % 2 == 0) for i in range(n)}  # clearly worse
    rows = [_row(0, 1.0, 100), _row(1, 29 / 30, 40), _row(2, 0.5, 10)]
    scores = {"k0": leader, "k1": near, "k2": poor}
    decision = choose(rows, scores, 0.95, 0)
    assert decision.row.trial == 1 and decision.leader.trial == 0  # cheaper and not surely worse
    assert decision.p_leader_better < 0.95
    # a baseline sets a floor: nothing below its full-valset score is returned
    with_base = [*rows, _row(3, 1.0, 60, "baseline:uniform")]
    decision = choose(with_base, {**scores, "k3": leader}, 0.95, 0)
    assert decision.floor == 1.0 and decision.row.trial == 3  # the leader ties it; the baseline is cheaper
    # at equal tokens a baseline wins the tie
    same = [_row(4, 1.0, 60), _row(5, 1.0, 60, "baseline:uniform")]
    assert choose(same, {"k4": leader, "k5": leader}, 0.95, 0).row.trial == 5
    with pytest.raises(ValueError, match="no candidate"):
        choose([], {}, 0.95, 0)


def test_tie_rule_keeps_the_resizing_baseline_unless_the_search_is_surely_better() -> None:
    n = 30
    perfect = {i: 1.0 for i in range(n)}
    one_off = {i: float(i != 0) for i in range(n)}
    rows = [_row(0, 1.0, 10), _row(1, 29 / 30, 208, "baseline:uniform"), _row(2, 0.25, 0, "baseline:text_only")]
    scores = {"k0": perfect, "k1": one_off, "k2": {i: float(i % 4 == 0) for i in range(n)}}
    decision = choose(rows, scores, 0.95, 0)
    assert decision.row.trial == 1 and decision.leader.trial == 0  # a cheaper near-tie does not replace it
    clearly = {i: float(i >= 10) for i in range(n)}  # the baseline 10 examples worse: the search wins
    rows[1] = _row(1, 20 / 30, 208, "baseline:uniform")
    assert choose(rows, {**scores, "k1": clearly}, 0.95, 0).row.trial == 0
    # a text-only baseline is no reference: ties among the rest go to the cheapest
    tied = [_row(3, 1.0, 50), _row(4, 1.0, 20), _row(5, 1.0, 0, "baseline:text_only")]
    same = {"k3": perfect, "k4": perfect, "k5": perfect}
    assert choose(tied, same, 0.95, 0).row.trial == 5


def test_default_tie_confidence_separates_one_from_two_examples() -> None:
    conf = SearchConfig().tie_confidence
    n = 20
    best = {i: 1.0 for i in range(n)}
    rows = [_row(0, 1.0, 416), _row(1, 19 / 20, 328), _row(2, 18 / 20, 300)]
    one = {i: float(i != 0) for i in range(n)}
    two = {i: float(i > 1) for i in range(n)}
    assert 0.5 < p_better(best, one, 0) < conf < p_better(best, two, 0) < 0.95
    assert choose(rows[:2], {"k0": best, "k1": one}, conf, 0).row.trial == 1  # a one-example edge is a tie
    assert choose([rows[0], rows[2]], {"k0": best, "k2": two}, conf, 0).row.trial == 0  # two examples are not


def test_trial_record_round_trip() -> None:
    rec = TrialRecord(
        origin="neighbour:3",
        worker={"host": "h", "pid": 1},
        key="k",
        tokens=12,
        feasible=True,
        constraint={"tokens": -3.0, "labels": 0.0},
        selections={"s": {"tokens": 12}},
        example_scores={0: 1.0, 5: 0.0},
        score=0.5,
        reused_from=2,
    )
    attrs = rec.to_attrs()
    assert json.loads(json.dumps(attrs)) == attrs and attrs["example_scores"] == {"0": 1.0, "5": 0.0}
    assert TrialRecord.from_attrs({**attrs, "other": 1}) == rec
    assert TrialRecord(origin="x").to_attrs() == {"origin": "x"}
    assert TrialRecord(origin="baseline:uniform").is_baseline and not rec.is_baseline
    assert TrialRecord.from_attrs({"constraint": [4.0]}).constraint == {"tokens": 4.0}  # as older versions stored it


def test_full_score_record() -> None:
    import optuna

    study = optuna.create_study()
    assert FullScore.read(study, "k") is None
    FullScore(0.5, 3, {0: 1.0, 1: 0.0}).write(study, "k")
    assert FullScore.read(study, "k") == FullScore(0.5, 3, {0: 1.0, 1: 0.0})
    assert study.user_attrs["full:k"]["example_scores"] == {"0": 1.0, "1": 0.0}
    study.set_user_attr("other", 1)
    assert FullScore.read_all(study) == {"k": FullScore(0.5, 3, {0: 1.0, 1: 0.0})}


def _lucky(seed: int, n: int = 24) -> tuple[list[ParetoRow], dict[str, dict[int, float]]]:
    """A resizing baseline right on 18 of 24 examples and 15 cheaper candidates of the same accuracy
    in truth: each redraws about 30% of the baseline's outcomes at its rate. Any edge one of them
    shows over the baseline is luck."""
    rnd = random.Random(seed)
    base = {i: float(i >= 6) for i in range(n)}
    rows, scores = [_row(0, 18 / n, 200, "baseline:uniform")], {"k0": base}
    for t in range(1, 16):
        c = {i: (float(rnd.random() < 0.75) if rnd.random() < 0.3 else v) for i, v in base.items()}
        rows.append(_row(t, sum(c.values()) / n, 100 + t))
        scores[f"k{t}"] = c
    return rows, scores


def test_confirmation_returns_the_baseline_when_the_edge_is_the_selection() -> None:
    rows, scores = _lucky(5)
    old = choose(rows, scores, 0.8, 0)
    assert old.row.trial != 0 and old.row.score > rows[0].score and old.confirmation is None  # steps 2-5 leave it
    new = choose(rows, scores, 0.8, 0, splits=200)
    c = new.confirmation
    assert c is not None and c.splits == 200 and c.fallback.trial == 0
    assert c.gain <= 0 and not c.departed
    assert new.row.trial == 0 and new.leader.trial == old.leader.trial  # the best baseline is returned
    assert new.p_leader_better == pytest.approx(p_better(scores[f"k{new.leader.trial}"], scores["k0"], 0))
    assert choose(rows, scores, 0.8, 0, splits=200) == new  # seeded
    assert c.to_dict() == {
        "gain": c.gain,
        "splits": 200,
        "fallback": 0,
        "departed": False,
        "unseen": 12,
        "min_examples": 0.0,
    }
    assert "not kept: the baseline trial 0 is returned" in c.summary()


def test_confirmation_keeps_a_pick_that_gains_on_unseen_halves() -> None:
    n = 24
    base = {i: float(i >= 8) for i in range(n)}  # 16 of 24
    better = {i: float(i >= 2) for i in range(n)}  # right wherever the baseline is, and on 6 more
    rows = [_row(0, 16 / n, 200, "baseline:uniform"), _row(1, 22 / n, 90), _row(2, 0.25, 0, "baseline:text_only")]
    scores = {"k0": base, "k1": better, "k2": {i: float(i % 4 == 0) for i in range(n)}}
    decision = choose(rows, scores, 0.8, 0, splits=200)
    c = decision.confirmation
    assert decision.row.trial == 1 and c is not None and c.departed and c.fallback.trial == 0
    assert c.gain == pytest.approx(6 / n, abs=0.05)  # about the true edge: the pick is the same on every half
    # no check when the rule picks a baseline, when there is none, or with splits=0
    assert choose(rows[:1] + rows[2:], scores, 0.8, 0, splits=200).confirmation is None
    assert choose(rows[1:2], scores, 0.8, 0, splits=200).confirmation is None
    assert choose(rows, scores, 0.8, 0).confirmation is None


def test_confirmation_needs_the_gain_in_whole_examples_when_asked() -> None:
    n = 24
    base = {i: float(i >= 8) for i in range(n)}  # 16 of 24
    rows = [_row(0, 16 / n, 200, "baseline:uniform")]
    scores = {"k0": base}
    for t, extra in ((1, 6), (2, 2)):  # right wherever the baseline is, and on `extra` more examples
        rows.append(_row(t, (16 + extra) / n, 100 - t))
        scores[f"k{t}"] = {i: float(i >= 8 - extra) for i in range(n)}
    big = choose(rows[:2], scores, 0.8, 0, splits=200, min_examples=1.0)
    assert big.row.trial == 1 and big.confirmation is not None and big.confirmation.departed
    assert big.confirmation.gain_examples == pytest.approx(3.0, abs=0.6)  # 6 more of 24: about 3 of a 12-example half
    # a two-example edge, left for at tie_confidence 0.5: on a held-out half it is worth about half an example
    pair = [rows[0], rows[2]]
    loose = choose(pair, scores, 0.5, 0, splits=200)
    c = loose.confirmation
    assert loose.row.trial == 2 and c is not None and c.departed and 0.2 < c.gain_examples < 0.9
    strict = choose(pair, scores, 0.5, 0, splits=200, min_examples=1.0)
    s = strict.confirmation
    assert strict.row.trial == 0 and s is not None and not s.departed and s.gain == c.gain
    assert "needed: at least 1 example(s)" in s.summary() and "needed: above 0" in c.summary()


def test_confirm_min_examples_config() -> None:
    assert SearchConfig().confirm_min_examples == 0.0
    assert SearchConfig(confirm_min_examples=1).confirm_min_examples == 1
    for bad in (-1, float("nan"), True, "1"):
        with pytest.raises(ConfigError, match="confirm_min_examples"):
            SearchConfig(confirm_min_examples=bad)  # type: ignore[arg-type]


def test_confirmation_needs_enough_shared_examples() -> None:
    few = {i: 1.0 for i in range(5)}
    rows = [_row(0, 0.2, 200, "baseline:uniform"), _row(1, 1.0, 10)]
    scores = {"k0": {i: float(i == 0) for i in range(5)}, "k1": few}
    decision = choose(rows, scores, 0.8, 0, splits=200)
    assert decision.row.trial == 1 and decision.confirmation is None  # 5 < MIN_SPLIT_EXAMPLES: steps 2-5 decide


def test_confirm_splits_config() -> None:
    assert SearchConfig().confirm_splits == 200 and SearchConfig(confirm_splits=0).confirm_splits == 0
    for bad in (-1, 1.5, True, "200"):
        with pytest.raises(ConfigError, match="confirm_splits"):
            SearchConfig(confirm_splits=bad)  # type: ignore[arg-type]


class Sharp(dspy.Module):
    """Right on every example when every shown image is a band render, on even indices with
    resized images, never without images: the search's candidates are truly better."""

    def __init__(self, signature: Any) -> None:
        super().__init__()
        self.p = dspy.Predict(signature)

    def forward(self, image: Any, idx: int) -> dspy.Prediction:
        shown = [d.image for d in self.p.demos if isinstance(d.image, dspy.Image)]
        ok = bool(shown) and (all(isinstance(i, SpectralImage) for i in shown) or idx % 2 == 0)
        return dspy.Prediction(label="yes" if ok else "no")


@pytest.mark.parametrize(("splits", "need"), [(200, 0.0), (0, 0.0), (200, 4.0)])
def test_compile_reports_the_confirmation(colour_task: Task, lm: dspy.LM, splits: int, need: float) -> None:
    image = colour_task.trainset[0].image
    val = [dspy.Example(image=image, idx=i, label="yes").with_inputs("image", "idx") for i in range(12)]
    settings = options(token_budget=36, n_trials=6, minibatch_size=4, confirm_splits=splits, trim=False)
    opt = BandOptimizer(_yes, **settings, confirm_min_examples=need)
    program = opt.compile(Sharp(colour_task.signature), trainset=colour_task.trainset, valset=val)
    result = opt.last_result
    assert result is not None
    data = json.loads(result.to_json())
    if need > 0:  # the pick gains 3 of the 6 examples of a held-out half: not the 4 asked for
        c = result.confirmation
        assert c is not None and not c.departed and c.gain_examples == pytest.approx(3.0, abs=0.5)
        assert result.best.origin.startswith("baseline:") and data["confirmation"]["min_examples"] == 4.0
        page = CompileReport(report_data(result), program).html()
        assert "leaving needs at least 4 example(s)" in page and "is not kept" in page
        return
    assert not result.best.origin.startswith("baseline:") and result.best.score == 1.0
    if splits == 0:
        assert result.confirmation is None and data["confirmation"] is None
        return
    c = result.confirmation
    assert c is not None and c.departed and c.gain > 0.3 and c.fallback.origin.startswith("baseline:")
    assert data["confirmation"] == c.to_dict() and "held-out halves of the valset" in result.pareto_table()
    page = CompileReport(report_data(result), program).html()
    assert "<h2>Leaving the baseline</h2>" in page and "the search&#x27;s pick is kept" in page
