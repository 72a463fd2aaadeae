"""A local judge scoring alone returns a baseline unless a calibration trusts it (local_departures)."""

from __future__ import annotations

import json
from typing import Any

import dspy
import pytest

from specprompt.errors import ConfigError
from specprompt.reports import CompileReport, report_data
from specprompt.scorers import local_lm, nearest_lm, pixel_lm
from specprompt.search import BandOptimizer, Calibration, ParetoRow, SearchConfig
from specprompt.search._departures import local_judge, may_depart
from specprompt.search._select import choose
from specprompt.tasks import Task
from specprompt.types import SpectralImage

from .conftest import options

PRICED = "openai:gpt-4.1-mini"


def _row(trial: int, score: float, tokens: int, origin: str = "sampler") -> ParetoRow:
    return ParetoRow(trial, score, tokens, True, score, "{}", "{}", f"k{trial}", origin)


def _calibration(local: str, target: str, interval: tuple[float, float]) -> Calibration:
    probes = tuple({"name": f"p{i}", "key": f"p{i}", "tokens": 10 * i, "selections": []} for i in range(4))
    return Calibration(
        local=local,
        target=target,
        probes=probes,
        local_scores=(0.1, 0.2, 0.3, 0.4),
        target_scores=(0.1, 0.3, 0.2, 0.4),
        examples=(0, 1, 2, 3),
        spearman=0.8,
        interval=interval,
        confidence=0.95,
        n_bootstrap=200,
        target_calls=16,
        max_target_calls=16,
        threshold=0.3,
        seed=0,
    )


def test_local_judge_names_the_in_process_band_judges_only() -> None:
    assert local_judge(nearest_lm()) == "specprompt/nearest-v1"
    assert (local_judge(local_lm()) or "").startswith("specprompt/local-")
    assert local_judge(pixel_lm("lbp-dct")) is None  # sees the sent pixels: a stand-in for the target
    assert local_judge(dspy.LM("openai/gpt-4.1-mini")) is None
    assert local_judge(None) is None


def test_may_depart_holds_only_an_uncalibrated_local_judge_priced_for_another_model() -> None:
    judge = "specprompt/nearest-v1"
    held, why = may_depart("calibrated", judge, False, False, None)
    assert not held and judge in why and "no calibration against the target" in why and "calibrate=True" in why
    assert may_depart("always", judge, False, False, None) == (True, "")
    assert may_depart("calibrated", None, False, False, None) == (True, "")  # a remote LM or a pixel judge
    assert may_depart("calibrated", judge, True, False, None) == (True, "")  # priced for the local model
    assert may_depart("calibrated", judge, False, True, None) == (True, "")  # screen=: the target scores
    trusted = _calibration(judge, "gpt", (0.5, 0.9))
    assert may_depart("calibrated", judge, False, False, trusted) == (True, "")
    untrusted = _calibration(judge, "gpt", (-0.1, 0.9))
    held, why = may_depart("calibrated", judge, False, False, untrusted)
    assert not held and "its calibration against gpt does not trust it" in why


def test_choose_returns_the_best_baseline_when_held() -> None:
    n = 12
    rows = [_row(0, 0.5, 200, "baseline:uniform"), _row(1, 1.0, 90), _row(2, 0.0, 0, "baseline:text_only")]
    scores = {"k0": {i: float(i % 2 == 0) for i in range(n)}, "k1": dict.fromkeys(range(n), 1.0), "k2": {}}
    scores["k2"] = dict.fromkeys(range(n), 0.0)
    free = choose(rows, scores, 0.8, 0)
    assert free.row.trial == 1 and free.holdback is None
    held = choose(rows, scores, 0.8, 0, hold="a reason")
    assert held.row.trial == 0 and held.leader.trial == 1 and held.p_leader_better > 0.99
    h = held.holdback
    assert h is not None and h.pick.trial == 1 and h.fallback.trial == 0 and h.reason == "a reason"
    assert h.to_dict() == {
        "pick": 1,
        "pick_origin": "sampler",
        "pick_score": 1.0,
        "pick_tokens": 90,
        "fallback": 0,
        "reason": "a reason",
    }
    assert "held back: trial 1 (sampler, 90 tokens, valset 1.0000)" in h.summary()
    # nothing to hold when the rule picks a baseline, or when no baseline is in the pool
    assert choose(rows[:1], scores, 0.8, 0, hold="r").holdback is None
    only = choose(rows[1:2], scores, 0.8, 0, hold="r")
    assert only.row.trial == 1 and only.holdback is None


def test_local_departures_config() -> None:
    assert SearchConfig().local_departures == "calibrated"
    assert SearchConfig(local_departures="always").local_departures == "always"
    for bad in ("never", None, 1):
        with pytest.raises(ConfigError, match="local_departures must be one of calibrated, always"):
            SearchConfig(local_departures=bad)  # type: ignore[arg-type]


class Uneven(dspy.Module):
    """Right on every example when the shown images are sent at unequal sizes (as the search's
    candidates may be, never a baseline), on even indices when they share one size, never without
    images: a candidate that leaves the baselines is truly better."""

    def __init__(self, signature: Any) -> None:
        super().__init__()
        self.p = dspy.Predict(signature)

    def forward(self, image: Any, idx: int) -> dspy.Prediction:
        shown = [d.image for d in self.p.demos if isinstance(d.image, dspy.Image)]
        sizes = {i.render_size if isinstance(i, SpectralImage) else None for i in shown}
        ok = bool(shown) and (len(sizes) > 1 or idx % 2 == 0)
        return dspy.Prediction(label="yes" if ok else "no")


def _yes(example: Any, pred: Any, trace: Any = None) -> float:
    return float(pred.label == "yes")


def _compile(task: Task, scorer: dspy.LM, **over: Any) -> tuple[Any, Any]:
    image = task.trainset[0].image
    val = [dspy.Example(image=image, idx=i, label="yes").with_inputs("image", "idx") for i in range(12)]
    settings = options(token_budget=36, n_trials=6, minibatch_size=4, trim=False, cost_model=PRICED)
    settings.update(over)
    target = settings.pop("target", None)
    calibration = settings.pop("calibration", None)
    opt = BandOptimizer(_yes, target=target, calibration=calibration, **settings)
    with dspy.context(lm=scorer):
        program = opt.compile(Uneven(task.signature), trainset=task.trainset, valset=val)
    assert opt.last_result is not None
    return program, opt.last_result


def test_a_local_judge_alone_returns_the_baseline_and_reports_its_pick(
    colour_task: Task, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", logger="specprompt.search"):
        program, result = _compile(colour_task, nearest_lm())
    h = result.holdback
    assert h is not None and not h.pick.origin.startswith("baseline:") and h.pick.score == 1.0
    assert result.best.origin.startswith("baseline:") and result.best.key == h.fallback.key
    assert result.best.score < h.pick.score  # returned although the judge scored the pick higher
    assert "specprompt/nearest-v1" in h.reason and any("held back" in r.getMessage() for r in caplog.records)
    data = json.loads(result.to_json())
    assert data["holdback"] == h.to_dict()
    assert "held back: trial" in result.pareto_table() and "which no calibration trusts" in result.summary()
    page = CompileReport(report_data(result), program).html()
    assert "<h2>Held back</h2>" in page and "no calibration against the target" in page
    # every candidate stays on offer at its budget
    assert result.program_for_budget(h.pick.tokens) is not None


@pytest.mark.parametrize(
    "case", ["always", "pixel judge", "priced locally", "trusted calibration", "untrusted calibration"]
)
def test_the_pick_is_returned_where_the_rule_does_not_hold_it(colour_task: Task, case: str) -> None:
    scorer: dspy.LM = nearest_lm()
    over: dict[str, Any] = {}
    if case == "always":
        over["local_departures"] = "always"
    elif case == "pixel judge":
        scorer = pixel_lm("hist-hog")
    elif case == "priced locally":
        over["cost_model"] = "local"
        over["token_budget"] = 60
    else:
        target = pixel_lm("lbp-dct")
        interval = (0.6, 0.95) if case == "trusted calibration" else (-0.2, 0.95)
        over["target"] = target
        over["calibration"] = _calibration(scorer.model, target.model, interval)
    _, result = _compile(colour_task, scorer, **over)
    if case == "untrusted calibration":
        assert result.holdback is not None and "does not trust it" in result.holdback.reason
        assert result.best.origin.startswith("baseline:")
        return
    assert result.holdback is None and not result.best.origin.startswith("baseline:")
