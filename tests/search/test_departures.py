"""A local judge's pick over the baselines, and its trim, are returned only when the target agrees."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import dspy
import pytest

from specprompt.errors import ConfigError, ScoringError
from specprompt.reports import CompileReport, report_data
from specprompt.scorers import local_lm, nearest_lm, pixel_lm
from specprompt.search import BandOptimizer, ParetoRow, SearchConfig
from specprompt.search._departures import LocalPick, TargetCheck, TrimCheck, departure_policy, local_judge
from specprompt.search._select import choose
from specprompt.tasks import Task
from specprompt.types import SpectralImage

from .conftest import options

PRICED = "openai:gpt-4.1-mini"


def _row(trial: int, score: float, tokens: int, origin: str = "sampler") -> ParetoRow:
    return ParetoRow(trial, score, tokens, True, score, "{}", "{}", f"k{trial}", origin)


def test_local_judge_names_the_in_process_band_judges_only() -> None:
    assert local_judge(nearest_lm()) == "specprompt/nearest-v1"
    assert (local_judge(local_lm()) or "").startswith("specprompt/local-")
    assert local_judge(pixel_lm("lbp-dct")) is None  # sees the sent pixels: a stand-in for the target
    assert local_judge(dspy.LM("openai/gpt-4.1-mini")) is None
    assert local_judge(None) is None


def test_departure_policy_confirms_or_holds_only_a_local_judge_priced_for_another_model() -> None:
    judge = "specprompt/nearest-v1"
    policy, why = departure_policy("confirmed", judge, False, False, None)
    assert policy == "hold" and judge in why and "no target to confirm" in why and "target=" in why
    policy, why = departure_policy("confirmed", judge, False, False, "openai/gpt-4.1-mini")
    assert policy == "confirm" and judge in why and "openai/gpt-4.1-mini" in why
    assert departure_policy("always", judge, False, False, None) == ("free", "")
    assert departure_policy("confirmed", None, False, False, None) == ("free", "")  # a remote LM or a pixel judge
    assert departure_policy("confirmed", judge, True, False, None) == ("free", "")  # priced for the local model
    assert departure_policy("confirmed", judge, False, True, None) == ("free", "")  # screen=: the target scores


def test_target_check_and_local_pick_records() -> None:
    pick, fallback = _row(3, 0.9, 40), _row(0, 0.7, 60, "baseline:uniform")
    yes = TargetCheck("t", 0.8, 0.6, 0.93, 0.8, 12, 24)
    no = dataclasses.replace(yes, p_better=0.5)
    assert yes.confirmed and not no.confirmed
    assert yes.to_dict() == {
        "target": "t",
        "pick": 0.8,
        "fallback": 0.6,
        "p_better": 0.93,
        "confidence": 0.8,
        "examples": 12,
        "calls": 24,
        "confirmed": True,
    }
    held = LocalPick(pick, fallback, "no target")
    assert not held.returned and held.to_dict()["check"] is None and not held.to_dict()["returned"]
    assert held.summary().startswith("held back: trial 3 (sampler, 40 tokens, valset 0.9000)")
    assert "no target; the baseline trial 0 is returned" in held.summary()
    kept = dataclasses.replace(held, check=yes)
    assert kept.returned and kept.to_dict()["check"] == yes.to_dict()
    assert kept.summary().startswith("confirmed:") and "P(better) 0.93 >= 0.8; 24 target calls" in kept.summary()
    refused = dataclasses.replace(held, check=no)
    assert not refused.returned and "P(better) 0.50 < 0.8" in refused.summary()
    assert refused.summary().endswith("the baseline trial 0 is returned")


def test_choose_returns_the_best_baseline_when_held() -> None:
    n = 12
    rows = [_row(0, 0.5, 200, "baseline:uniform"), _row(1, 1.0, 90), _row(2, 0.0, 0, "baseline:text_only")]
    scores = {"k0": {i: float(i % 2 == 0) for i in range(n)}, "k1": dict.fromkeys(range(n), 1.0), "k2": {}}
    scores["k2"] = dict.fromkeys(range(n), 0.0)
    free = choose(rows, scores, 0.8, 0)
    assert free.row.trial == 1 and free.local_pick is None
    held = choose(rows, scores, 0.8, 0, hold="a reason")
    assert held.row.trial == 0 and held.leader.trial == 1 and held.p_leader_better > 0.99
    h = held.local_pick
    assert h is not None and h.pick.trial == 1 and h.fallback.trial == 0 and h.reason == "a reason"
    assert h.check is None and not h.returned
    assert h.to_dict() == {
        "pick": 1,
        "pick_origin": "sampler",
        "pick_score": 1.0,
        "pick_tokens": 90,
        "fallback": 0,
        "reason": "a reason",
        "check": None,
        "returned": False,
    }
    # text-only demos are held too: a judge that cannot read the images may score them no better than none
    blind = {"k0": dict.fromkeys(range(n), 0.25), "k1": dict.fromkeys(range(n), 0.25)}
    blind["k2"] = {i: float(i % 2 == 0) for i in range(n)}
    rows2 = [_row(0, 0.25, 200, "baseline:uniform"), _row(1, 0.25, 90), _row(2, 0.5, 0, "baseline:text_only")]
    assert choose(rows2, blind, 0.8, 0).row.trial == 2
    none = choose(rows2, blind, 0.8, 0, hold="r")
    assert none.row.trial == 0 and none.local_pick is not None and none.local_pick.pick.trial == 2
    assert none.local_pick.fallback.trial == 0
    # nothing to hold when the rule picks a baseline, or when no baseline is in the pool
    assert choose(rows[:1], scores, 0.8, 0, hold="r").local_pick is None
    only = choose(rows[1:2], scores, 0.8, 0, hold="r")
    assert only.row.trial == 1 and only.local_pick is None


def test_local_departures_config() -> None:
    assert SearchConfig().local_departures == "confirmed"
    assert SearchConfig(local_departures="always").local_departures == "always"
    for bad in ("never", None, 1):
        with pytest.raises(ConfigError, match="local_departures must be one of confirmed, always"):
            SearchConfig(local_departures=bad)  # type: ignore[arg-type]


class Uneven(dspy.Module):
    """Right on every example when the shown images are sent at unequal sizes (as the search's
    candidates may be, never a baseline), on even indices when they share one size, never without
    images. Under an LM named in ``contrary`` it is the other way round (unequal sizes right on
    even indices only, one size everywhere): a target that disagrees with the local judge."""

    def __init__(self, signature: Any, contrary: str = "") -> None:
        super().__init__()
        self.p = dspy.Predict(signature)
        self.contrary = contrary

    def forward(self, image: Any, idx: int) -> dspy.Prediction:
        shown = [d.image for d in self.p.demos if isinstance(d.image, dspy.Image)]
        uneven = len({i.render_size if isinstance(i, SpectralImage) else None for i in shown}) > 1
        if self.contrary and getattr(dspy.settings.lm, "model", None) == self.contrary:
            uneven = not uneven
        ok = bool(shown) and (uneven or idx % 2 == 0)
        return dspy.Prediction(label="yes" if ok else "no")


def _yes(example: Any, pred: Any, trace: Any = None) -> float:
    return float(pred.label == "yes")


def _run(task: Task, scorer: dspy.LM, student: dspy.Module, **over: Any) -> tuple[Any, Any]:
    """Compiles ``student`` scored by ``scorer`` on 12 validation examples (``over``: options, ``target=``)."""
    image = task.trainset[0].image
    val = [dspy.Example(image=image, idx=i, label="yes").with_inputs("image", "idx") for i in range(12)]
    settings = options(token_budget=36, n_trials=6, minibatch_size=4, cost_model=PRICED)
    settings.update(over)
    target = settings.pop("target", None)
    opt = BandOptimizer(_yes, target=target, **settings)
    with dspy.context(lm=scorer):
        program = opt.compile(student, trainset=task.trainset, valset=val)
    assert opt.last_result is not None
    return program, opt.last_result


def _compile(task: Task, scorer: dspy.LM, contrary: str = "", **over: Any) -> tuple[Any, Any]:
    return _run(task, scorer, Uneven(task.signature, contrary), **{"trim": False, **over})


def test_a_local_judge_alone_returns_the_baseline_and_reports_its_pick(
    colour_task: Task, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", logger="specprompt.search"):
        program, result = _compile(colour_task, nearest_lm())
    lp = result.local_pick
    assert lp is not None and not lp.pick.origin.startswith("baseline:") and lp.pick.score == 1.0
    assert lp.check is None and not lp.returned
    assert result.best.origin.startswith("baseline:") and result.best.key == lp.fallback.key
    assert result.best.score < lp.pick.score  # returned although the judge scored the pick higher
    assert "specprompt/nearest-v1" in lp.reason and any("held back" in r.getMessage() for r in caplog.records)
    data = json.loads(result.to_json())
    assert data["local_pick"] == lp.to_dict()
    assert "held back: trial" in result.pareto_table() and "with no target to confirm it" in result.summary()
    page = CompileReport(report_data(result), program).html()
    assert "<h2>Held back</h2>" in page and "no target to confirm its pick" in page
    assert "over the baselines. The search was scored by the local judge" in page
    # every candidate stays on offer at its budget
    assert result.program_for_budget(lp.pick.tokens) is not None


@pytest.mark.parametrize("agrees", [True, False])
def test_the_target_confirms_or_refuses_the_pick_once(colour_task: Task, tmp_path: Any, agrees: bool) -> None:
    target = pixel_lm("lbp-dct")
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    contrary = "" if agrees else target.model
    program, result = _compile(colour_task, nearest_lm(), contrary, target=target, storage=storage)
    lp = result.local_pick
    assert lp is not None and lp.check is not None and lp.check.target == target.model
    assert lp.check.calls == 24 and lp.check.examples == 12  # both prompts on the 12 validation examples
    assert result.target_calls == {"pick check": 24}  # trim=False: no trim check
    if agrees:  # the target scores the pick 1.0 against the baseline's 0.5
        assert lp.returned and lp.check.pick == 1.0 and lp.check.fallback == 0.5
        assert result.best.key == lp.pick.key and "confirmed by the target" in result.summary()
        title = "<h2>Confirmed by the target</h2>"
    else:  # the target scores the pick 0.5 against the baseline's 1.0
        assert not lp.returned and lp.check.pick == 0.5 and lp.check.fallback == 1.0
        assert result.best.key == lp.fallback.key and "not confirmed by the target" in result.summary()
        title = "<h2>Held back</h2>"
    page = CompileReport(report_data(result), program).html()
    assert title in page and f"The target {target.model} scored it" in page
    again = _compile(colour_task, nearest_lm(), contrary, target=target, storage=storage)[1]
    assert again.local_pick is not None and again.local_pick.check is not None
    assert again.local_pick.check.calls == 0  # the stored target scores are read back
    assert again.best.key == result.best.key


@pytest.mark.parametrize("case", ["always", "pixel judge", "priced locally"])
def test_the_pick_is_returned_where_the_rule_does_not_apply(colour_task: Task, case: str) -> None:
    scorer: dspy.LM = nearest_lm()
    over: dict[str, Any] = {}
    if case == "always":
        over["local_departures"] = "always"
    elif case == "pixel judge":
        scorer = pixel_lm("hist-hog")
    else:
        over["cost_model"] = "local"
        over["token_budget"] = 60
    _, result = _compile(colour_task, scorer, **over)
    assert result.local_pick is None and not result.best.origin.startswith("baseline:")


def test_trim_check_records() -> None:
    kept = TrimCheck("t", 6, 1.0, 1.0, (), 12, 24)
    lost = dataclasses.replace(kept, trimmed=0.0, lost=(0, 1, 2, 3), examples=4, calls=16)
    assert kept.confirmed and not lost.confirmed
    assert lost.to_dict() == {
        "target": "t",
        "tokens": 6,
        "trimmed": 0.0,
        "chosen": 1.0,
        "lost": [0, 1, 2, 3],
        "examples": 4,
        "calls": 16,
        "confirmed": False,
    }
    assert "loses no example (24 target calls)" in kept.summary()
    assert "(6 tokens) 0.0000 on 4 validation examples against 1.0000" in lost.summary()
    assert "loses validation example(s) [0, 1, 2, 3]" in lost.summary()


class Sized(dspy.Module):
    """Right whenever images are shown, except OpenAI's ``detail="low"`` (so that the resizing
    baselines are chosen and trimmed). Under an LM named ``strict`` only when every shown image
    is sent at ``side`` px or more on its longer side: a target that sees what smaller images lose."""

    def __init__(self, signature: Any, strict: str = "", side: int = 0) -> None:
        super().__init__()
        self.p = dspy.Predict(signature)
        self.strict, self.side = strict, side

    def forward(self, image: Any, idx: int) -> dspy.Prediction:
        shown = [d.image for d in self.p.demos if isinstance(d.image, dspy.Image)]
        ok = bool(shown) and all(getattr(i, "detail", None) != "low" for i in shown)
        if self.strict and getattr(dspy.settings.lm, "model", None) == self.strict:
            sides = [max(i.render_size or (0,)) if isinstance(i, SpectralImage) else 0 for i in shown]
            ok = ok and min(sides) >= self.side
        return dspy.Prediction(label="yes" if ok else "no")


def _trimmed(task: Task, strict: str = "", **over: Any) -> tuple[Any, Any]:
    program, result = _run(task, nearest_lm(), Sized(task.signature, strict, 40), **{"trim_baselines": "tie", **over})
    assert result.trim is not None
    return program, result


@pytest.mark.parametrize("agrees", [True, False])
def test_the_target_checks_a_local_judges_trim(colour_task: Task, tmp_path: Any, agrees: bool) -> None:
    target = pixel_lm("lbp-dct")
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    strict = "" if agrees else target.model
    program, result = _trimmed(colour_task, strict, target=target, storage=storage)
    tr = result.trim
    assert tr.steps and tr.steps[0].accepted  # the local judge loses nothing at the smaller size
    check = tr.check
    assert check is not None and check.target == target.model and check.tokens == tr.steps[-1].tokens < 21
    assert json.loads(result.to_json())["trim"]["check"] == check.to_dict()
    page = CompileReport(report_data(result), program).html()
    assert f"the target {target.model} checked its trim" in page
    assert f"<th>target calls outside the search</th><td>{check.calls} (trim check {check.calls})</td>" in page
    assert result.target_calls == {"trim check": check.calls}  # the judge picked a baseline: no pick check
    assert json.loads(result.to_json())["target_calls"] == {"trim check": check.calls}
    if agrees:  # both prompts scored on the 12 validation examples
        assert check.confirmed and check.calls == 24 and check.examples == 12
        assert result.best.tokens == tr.tokens_after == check.tokens and "(the target agreed)" in result.summary()
        assert "the trimmed program is returned" in page
        assert tr.outcomes()[-1] == "returned" and "<td>accepted and returned</td>" in page
    else:  # the chosen program on 12 examples, the trimmed one on its first chunk of 4, which it loses
        assert not check.confirmed and check.calls == 16 and check.examples == 4 and check.lost == (0, 1, 2, 3)
        assert result.best.trial == tr.chosen and result.best.tokens == tr.tokens_after == tr.tokens_before == 21
        assert "lost validation examples under the target: not trimmed" in result.summary()
        assert "the program before the trim is returned" in page
        assert tr.outcomes()[-1] == "refused by the target" and "accepted and returned" not in page
        assert "accepted by the local judge, not returned: the target finds it loses valset example(s) 0, 1" in page
    again = _trimmed(colour_task, strict, target=target, storage=storage)[1]
    assert again.trim is not None and again.trim.check is not None
    assert again.trim.check.calls == 0 and again.best.key == result.best.key  # the stored scores are read back


def test_a_trim_needs_no_check_without_a_target_or_by_a_judge_of_the_sent_pixels(colour_task: Task) -> None:
    alone = _trimmed(colour_task)[1]  # no target: the local judge's trim stays
    assert alone.target_calls == {} and alone.trim.check is None
    assert alone.best.tokens == alone.trim.tokens_after < alone.trim.tokens_before
    free = _trimmed(colour_task, pixel_lm("lbp-dct").model, target=pixel_lm("lbp-dct"), local_departures="always")[1]
    assert free.trim.check is None and free.best.tokens < free.trim.tokens_before


class Flaky(Sized):
    """:class:`Sized` whose calls under the LM named ``down`` time out on validation example 5."""

    def __init__(self, signature: Any, down: str) -> None:
        super().__init__(signature)
        self.down = down

    def forward(self, image: Any, idx: int) -> dspy.Prediction:
        if idx == 5 and getattr(dspy.settings.lm, "model", None) == self.down:
            raise TimeoutError("read timed out")
        return super().forward(image, idx)


def test_a_check_cut_short_by_the_target_keeps_what_it_scored(colour_task: Task, tmp_path: Any) -> None:
    target = pixel_lm("lbp-dct")
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    flaky = Flaky(colour_task.signature, target.model)
    with pytest.raises(ScoringError):
        _run(colour_task, nearest_lm(), flaky, trim_baselines="tie", retries=0, target=target, storage=storage)
    # the same program resumed with the target up again (a module of other code would be another study)
    flaky.down = "nobody"
    again = _run(colour_task, nearest_lm(), flaky, trim_baselines="tie", retries=0, target=target, storage=storage)[1]
    assert again.trim is not None
    check = again.trim.check
    # the 11 examples of the program before the trim were kept: 1 more call, then 12 for the trimmed one
    assert check is not None and check.confirmed and check.calls == 13
