"""Every class keeps a voice: the one-image-per-label rule and the budget and class warnings."""

from __future__ import annotations

import json
import math
import warnings
from typing import Any

import dspy
import optuna
import pytest
from PIL import Image

from specprompt import SpecPromptWarning
from specprompt.search import BandOptimizer, SearchConfig
from specprompt.search._context import Candidate, SearchContext
from specprompt.search._demos import plan_demos
from specprompt.search._record import TrialRecord
from specprompt.search._study import collect_rows
from specprompt.search._warm import neighbour, warm_starts
from specprompt.tasks import Task

from .conftest import exact, options


def _img(shade: int) -> dspy.Image:
    return dspy.Image(Image.new("RGB", (64, 64), (shade, 255 - shade, 40)))


def _ctx(labels: str, train: str = "", **cfg: Any) -> SearchContext:
    student = dspy.Predict("image: dspy.Image -> label")
    student.demos = [dspy.Example(image=_img(10 * i), label=x).with_inputs("image") for i, x in enumerate(labels)]
    trainset = [dspy.Example(image=_img(200 + i), label=x).with_inputs("image") for i, x in enumerate(train)]
    return SearchContext(student, plan_demos(student, trainset, None, 0), SearchConfig(**cfg))


def _drop(ctx: SearchContext, *demos: int) -> Candidate:
    full, drop = ctx.full().values, ctx.dropped().values
    return Candidate(
        {sid: drop[sid] if int(sid.split("demo")[1].split("/")[0]) in demos else v for sid, v in full.items()}
    )


def test_a_candidate_must_keep_an_image_of_every_label() -> None:
    ctx = _ctx("aabc")
    assert ctx.must_cover and ctx.class_demos == {
        'self:label="a"': ("self/demo0", "self/demo1"),
        'self:label="b"': ("self/demo2",),
        'self:label="c"': ("self/demo3",),
    }
    assert ctx.covers_labels(ctx.full()) and ctx.covers_labels(_drop(ctx, 0))
    assert not ctx.covers_labels(_drop(ctx, 0, 1)) and ctx.missing_classes(_drop(ctx, 0, 1)) == ['self:label="a"']
    assert ctx.missing_classes(ctx.dropped()) == list(ctx.class_demos)
    excluded = Candidate(ctx.full().values, excluded=frozenset({"self/demo2"}))
    assert not ctx.covers_labels(excluded)


def test_free_text_answers_carry_no_rule() -> None:
    ctx = _ctx("abcd")  # every answer once and no trainset: not classes
    assert ctx.class_demos == {} and ctx.covers_labels(ctx.dropped())
    assert _ctx("abcd", train="aabbcd").class_demos.keys() == {f'self:label="{x}"' for x in "abcd"}


def test_warm_starts_and_neighbours_keep_every_label() -> None:
    ctx = _ctx("aabbc", token_budget=48)  # 64 px: 44 (full), 28 (L1+), 12 (residual) local tokens
    starts = dict(warm_starts(ctx, 48))
    assert "greedy" not in starts  # 44 tokens for demo0 leaves nothing for labels b and c
    assert starts and all(ctx.covers_labels(c) for c in starts.values())
    import random

    rng, seen = random.Random(0), set()
    for cand in starts.values():
        for _ in range(20):
            step = neighbour(ctx, cand, 48, seen, rng)
            if step is None:
                break
            seen.add(ctx.key(step))
            assert ctx.covers_labels(step) and ctx.tokens(step) <= 48
    assert seen


def test_budget_that_cannot_hold_one_image_per_label_warns_and_lifts_the_rule() -> None:
    with pytest.warns(
        SpecPromptWarning, match=r"token_budget 30 cannot hold one image per label: .* 3 labels costs 36"
    ):
        ctx = _ctx("aabc", token_budget=30)
    assert not ctx.must_cover and ctx.covers_labels(ctx.dropped())


@pytest.mark.parametrize(("budget", "model"), [(0, "local"), (11, "local"), (200, "openai:gpt-4o")])
def test_budget_below_every_image_warns_text_only(budget: int, model: str) -> None:
    with pytest.warns(SpecPromptWarning, match=rf"token_budget {budget} is below the price of the cheapest demo image"):
        _ctx("aabc", token_budget=budget, cost_model=model)


def test_single_class_demos_warn() -> None:
    with pytest.warns(SpecPromptWarning, match=r"all 3 demos of predictor 'self' have the same answer \(label=\"a\"\)"):
        _ctx("aaa", train="aa")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _ctx("ab", train="ab", token_budget=24)  # two classes, 12 tokens each: nothing to say
        _ctx("a")  # one demo: nothing to say


def test_compile_never_drops_every_image_of_a_label(colour_task: Task, lm: dspy.LM) -> None:
    student = dspy.Predict(colour_task.signature)
    opt = BandOptimizer(exact, **options(token_budget=48, k_demos=4, n_trials=20, local_search=0.0))
    program = opt.compile(student, trainset=colour_task.trainset, valset=colour_task.valset)
    result = opt.last_result
    assert result is not None
    labels = {d.label for d in program.demos}
    assert labels == {d.label for d in program.demos if isinstance(d.image, dspy.Image)}
    assert len(labels) == len({ex.label for ex in colour_task.trainset})
    searched = [t for t in result.study.trials if not str(t.user_attrs.get("origin")).startswith("baseline:")]
    feasible = [t for t in searched if t.user_attrs.get("feasible")]  # baselines (text-only...) are exempt
    infeasible_in_budget = [t for t in searched if not t.user_attrs.get("feasible") and t.user_attrs["tokens"] <= 48]
    assert feasible and infeasible_in_budget, "the sampler should have proposed a prompt that drops a label"
    plan = plan_demos(student, colour_task.trainset, 4, 0)  # the compile's demos (same seed)
    label_of = {f"self/demo{i}/image": d.label for i, d in enumerate(plan.demos[0])}
    for t in feasible:
        shown = {label_of[sid] for sid, e in t.user_attrs["selections"].items() if e.get("bands")}
        assert shown == labels, t.number
    for t in infeasible_in_budget:
        shown = {label_of[sid] for sid, e in t.user_attrs["selections"].items() if e.get("bands")}
        assert shown != labels, t.number
        # stored infeasible for Optuna too (its samplers and study.best_trials read the constraints)
        assert t.constraints["tokens"] <= 0 < t.constraints["labels"] == len(labels - shown), t.number
        assert t.user_attrs["constraint"] == t.constraints and t.values == [-math.inf]
    for t in result.study.trials:
        if t.state == optuna.trial.TrialState.COMPLETE:
            assert set(t.constraints) == {"tokens", "labels"}, t.number  # the same names on every trial
            assert (max(t.constraints.values()) <= 0) == t.user_attrs["feasible"], t.number
    assert all(
        t.constraints["labels"] == 0 for t in result.study.trials if t.number not in {x.number for x in searched}
    )
    assert set(json.loads(result.best.selections)) == set(label_of)


def test_rows_of_stored_trials_keep_an_image_of_every_label() -> None:
    ctx = _ctx("aabc")
    study = optuna.create_study(direction="maximize")
    shown = {"sampler": _drop(ctx, 0, 1), "baseline:text_only": ctx.dropped(), "fallback:text_only": ctx.dropped()}
    for origin, cand in [*shown.items(), ("warm:greedy", ctx.full())]:
        record = TrialRecord(origin=origin, key=ctx.key(cand), tokens=ctx.tokens(cand), feasible=True, score=1.0)
        study.add_trial(
            optuna.trial.create_trial(
                params=ctx.to_params(cand), distributions=ctx.distributions(), value=1.0, user_attrs=record.to_attrs()
            )
        )
    # a trial scored before the rule (or resumed from another budget) that drops label "a" is no candidate;
    # baselines and the fallback are exempt (the fallback's key is the text_only baseline's: one row)
    assert [r.origin for r in collect_rows(study, ctx, None)] == ["baseline:text_only", "warm:greedy"]

    def binds(origin: str) -> bool:
        return TrialRecord(origin=origin).label_rule_binds

    assert [r.origin for r in collect_rows(study, ctx, None) if binds(r.origin)] == ["warm:greedy"]
    assert not binds("fallback:uniform") and binds("neighbour:3")


def test_fallback_keeps_an_image_of_every_label(colour_task: Task, lm: dspy.LM) -> None:
    storage = optuna.storages.InMemoryStorage()
    kw = {**options(n_trials=3, study_name="fallback-labels"), "storage": storage}
    student = dspy.Predict(colour_task.signature)
    BandOptimizer(exact, **kw).compile(student, trainset=colour_task.trainset, valset=colour_task.valset)
    # other scheme options: no stored trial shows these prompts and none is left to run; a 64 px demo
    # costs 28 local tokens at its coarsest, so 90 holds one image of each of the 3 labels
    opt = BandOptimizer(exact, **{**kw, "scheme_options": {"levels": 1}, "token_budget": 90})
    program = opt.compile(student, trainset=colour_task.trainset, valset=colour_task.valset)
    result = opt.last_result
    assert result is not None and result.n_trials == 3  # the fallback is not a searched trial
    # a compile with no trial left to run enqueues nothing: no first guess is left WAITING
    assert not [t for t in result.study.trials if t.state == optuna.trial.TrialState.WAITING]
    last = result.study.trials[-1]
    assert last.user_attrs["origin"].startswith("fallback:") and last.user_attrs["origin"] != "fallback:text_only"
    assert result.best.trial == last.number and 0 < result.best.tokens <= 90
    assert last.constraints == {"tokens": result.best.tokens - 90.0, "labels": 0.0}
    labels = {d.label for d in program.demos}
    assert len(labels) == 3 and labels == {d.label for d in program.demos if isinstance(d.image, dspy.Image)}


def test_a_study_begun_with_the_tokens_constraint_alone_keeps_that_layout(
    colour_task: Task, lm: dspy.LM, tmp_path: Any
) -> None:
    # a study begun before the `labels` constraint: its trials carry `tokens` only, and GPSampler
    # refuses a study whose trials differ in constraint names, so a resumed search writes `tokens` only
    import sqlite3

    db = tmp_path / "s.db"
    student = dspy.Predict(colour_task.signature)

    def compile_with_gp(n_trials: int) -> Any:
        opt = BandOptimizer(
            exact,
            **options(
                token_budget=48,
                k_demos=4,
                n_trials=n_trials,
                storage=f"sqlite:///{db}",
                study_name="old",
                sampler=optuna.samplers.GPSampler(seed=0, n_startup_trials=2),
            ),
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Optuna's GP warnings (experimental, clipped -inf values)
            opt.compile(student, trainset=colour_task.trainset, valset=colour_task.valset)
        assert opt.last_result is not None
        return opt.last_result.study

    study = compile_with_gp(6)
    assert {frozenset(t.constraints) for t in study.trials} == {frozenset({"tokens", "labels"})}  # a new study
    with sqlite3.connect(db) as con:  # what the trials of an earlier version hold
        con.execute("DELETE FROM trial_system_attributes WHERE key = 'constraints:labels'")
    study = compile_with_gp(12)  # raised "The constraint names must be the same for all trials." before
    finished = [t for t in study.trials if t.state.is_finished()]
    assert len(finished) >= 12 and {frozenset(t.constraints) for t in finished} == {frozenset({"tokens"})}
    # specprompt's own record keeps both, and its feasible flag follows the label rule as before
    late = [t for t in finished if t.number >= 6 and t.user_attrs.get("constraint")]
    assert late and all(set(t.user_attrs["constraint"]) == {"tokens", "labels"} for t in late)
