"""The trim after the choice: cheaper variants that lose no validation example (specprompt.search._trim)."""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Iterator
from typing import Any

import dspy
import optuna
import pytest

from specprompt import ConfigError
from specprompt.search import BandOptimizer, SearchConfig
from specprompt.search._record import FullScore, TrialRecord
from specprompt.search._trim import TIE_RUN, TRIM_ORIGIN, loses_nothing
from specprompt.tasks import Task, get_task

from .conftest import exact, options

BUDGET = 64

#: Image tokens of the full-resolution demos of :func:`tint` under qwen2-vl (measured in the test).
PRICING = "qwen2-vl"


@pytest.fixture
def lm() -> Iterator[dspy.LM]:
    """The pixel judge of ``benchmarks/bench_realphoto.py`` (sees the PNG an API would receive)."""
    from specprompt.scorers import pixel_lm

    model = pixel_lm("hist-hog")
    with dspy.context(lm=model):
        yield model


@pytest.fixture(scope="module")
def tint() -> Task:
    """Colour alone decides the label (the mean colour of a tinted photo): two demos per label."""
    return get_task("photo-tint", n_train=12, n_val=6, n_test=0, size=112, seed=0)


def _student(task: Task) -> dspy.Predict:
    student = dspy.Predict(task.signature)
    per = [[ex for ex in task.trainset if ex.label == label][:2] for label in task.labels]
    student.demos = [per[c][i] for i in range(2) for c in range(len(per))]
    return student


def _compile(task: Task, **over: Any) -> BandOptimizer:
    kw = options(
        cost_model=PRICING, token_budget=BUDGET, n_trials=5, minibatch_size=6, k_demos=None, trim_baselines="tie"
    )
    kw.update(over)
    opt = BandOptimizer(exact, **kw)
    opt.compile(_student(task), trainset=task.trainset, valset=task.valset)
    return opt


def _scores(opt: BandOptimizer, key: str) -> dict[int, float]:
    result = opt.last_result
    assert result is not None
    entry = FullScore.read(result.study, key)
    assert entry is not None
    return dict(entry.example_scores)


def test_loses_nothing_is_paired_per_example() -> None:
    assert loses_nothing({0: 1.0, 1: 1.0, 2: 0.0}, {0: 1.0, 1: 0.0, 2: 0.0}) == ()
    # the same mean, one example traded for another: a loss
    assert loses_nothing({0: 0.0, 1: 1.0}, {0: 1.0, 1: 0.0}) == (0,)
    assert loses_nothing({0: 1.0}, {0: 1.0, 1: 1.0}) == (1,)  # a missing example counts as lost


def test_trim_returns_a_cheaper_program_that_loses_nothing(tint: Task, lm: dspy.LM) -> None:
    off_opt = _compile(tint, trim=False)
    off = off_opt.last_result
    on_opt = _compile(tint)
    on = on_opt.last_result
    assert off is not None and on is not None and off.trim is None and on.trim is not None
    report = on.trim
    # without trim the chosen program is the one trim started from
    assert report.tokens_before == off.best.tokens
    assert on.best.tokens == report.tokens_after <= BUDGET
    assert report.steps and report.steps[0].move.startswith("drop")
    assert on.best.tokens < off.best.tokens, on.pareto_table()
    chosen = _scores(off_opt, off.best.key)
    trimmed = _scores(on_opt, on.best.key)
    assert all(trimmed[i] >= chosen[i] for i in chosen)
    for step in report.steps:
        assert step.tokens < report.tokens_before and step.accepted == (not step.lost)
        trial = on.study.trials[step.trial] if step.trial is not None else None
        assert trial is not None and TrialRecord.from_trial(trial).origin == f"{TRIM_ORIGIN}{step.step}"
    # every label keeps an image (the photo-tint demos: two per label, four labels)
    images = [d for d in _returned_demos(on_opt) if isinstance(d.image, dspy.Image)]
    assert {d.label for d in images} == set(tint.labels)
    assert "trim:" in on.pareto_table() and on.to_dict()["trim"]["tokens_after"] == on.best.tokens
    # the summary names the trial trimmed from with its origin (the trim's own trial is another origin)
    before = f"trimmed from trial {report.chosen} ({report.tokens_before} tokens, {off.best.origin}), losing no"
    assert before in on.summary() and off.best.trial == report.chosen


def test_a_chosen_baseline_is_trimmed_only_to_a_variant_that_gains(tint: Task, lm: dspy.LM) -> None:
    tie = _compile(tint).last_result  # trim_baselines="tie": the cheapest variant that loses nothing
    off = _compile(tint, trim_baselines="off").last_result
    gain = _compile(tint, trim_baselines="gain").last_result
    assert tie is not None and off is not None and gain is not None
    assert tie.trim is not None and off.trim is not None and gain.trim is not None
    chosen = next(r for r in off.candidates if r.trial == off.trim.chosen)
    assert chosen.origin.startswith("baseline:") and tie.best.tokens < tie.trim.tokens_before
    # off: returned as it is, nothing scored
    assert off.best == chosen and not off.trim.steps and off.trim.tokens_after == chosen.tokens
    assert "baselines are not trimmed (trim_baselines='off')" in off.pareto_table()
    # gain: the same chain as tie; the returned variant is the cheapest accepted one above the baseline's score
    assert [(s.move, s.tokens, s.accepted) for s in gain.trim.steps] == [
        (s.move, s.tokens, s.accepted) for s in tie.trim.steps
    ]
    above = [s for s in gain.trim.steps if s.accepted and s.score > chosen.score + 1e-9]
    if above:
        assert gain.best.tokens == min(s.tokens for s in above) and gain.best.score > chosen.score
    else:
        assert gain.best.key == chosen.key and "scored above it (trim_baselines='gain')" in gain.trim.note
    assert SearchConfig().trim_baselines == "scale"
    for bad in ("yes", True, None):
        with pytest.raises(ConfigError, match="trim_baselines"):
            SearchConfig(trim_baselines=bad)  # type: ignore[arg-type]


def _returned_demos(opt: BandOptimizer) -> list[Any]:
    result = opt.last_result
    assert result is not None and result._build is not None
    program = result._build(json.loads(result.best.params), result.best.origin)
    return [d for _, p in program.named_predictors() for d in p.demos]


def test_resume_scores_no_trim_trial_again(tint: Task, lm: dspy.LM) -> None:
    storage = optuna.storages.InMemoryStorage()
    kw = options(
        cost_model=PRICING, token_budget=BUDGET, n_trials=5, minibatch_size=6, k_demos=None, trim_baselines="tie"
    )
    kw.pop("storage")
    first = BandOptimizer(exact, storage=storage, **kw)
    first.compile(_student(tint), trainset=tint.trainset, valset=tint.valset)
    calls = lm.engine.calls
    again = BandOptimizer(exact, storage=storage, **kw)
    again.compile(_student(tint), trainset=tint.trainset, valset=tint.valset)
    a, b = first.last_result, again.last_result
    assert a is not None and b is not None and b.trim is not None and a.trim is not None
    assert lm.engine.calls == calls and b.scorer_calls == 0
    assert b.best.key == a.best.key and b.n_trials == a.n_trials
    assert [s.to_dict() for s in b.trim.steps] == [s.to_dict() for s in a.trim.steps]


def test_trim_options_are_validated() -> None:
    assert SearchConfig().trim is True and SearchConfig().trim_steps >= 1
    with pytest.raises(ConfigError, match="trim must be True or False"):
        SearchConfig(trim="yes")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="trim_steps"):
        SearchConfig(trim_steps=0)


def _ctx(task: Task, model: str) -> Any:
    from specprompt.search._context import SearchContext
    from specprompt.search._demos import plan_demos

    student = _student(task)
    return SearchContext(student, plan_demos(student, [], None, 0), SearchConfig(token_budget=None, cost_model=model))


@pytest.mark.parametrize("model", ["openai:gpt-4.1-mini", "qwen2-vl", "local"])
def test_chain_stops_each_branch_at_its_first_rejection(tint: Task, model: str) -> None:
    from specprompt.search._trim import trim

    ctx = _ctx(tint, model)
    reference = {0: 1.0, 1: 0.0, 2: 1.0}
    tried: list[Any] = []

    def score(cand: Any, origin: str, chunks: Any) -> tuple[dict[int, float], int | None]:
        tried.append(cand)
        # the 4th variant (a drop) and the 6th (a scale step) trade example 0 for example 1: equal
        # mean, but a lost example, so both are rejected; every other variant ties per example
        return ({0: 0.0, 1: 1.0, 2: 1.0} if len(tried) in (4, 6) else dict(reference)), None

    cand, report = trim(ctx, ctx.full(), reference, 8, score, 0)
    assert [s.move.split()[0] for s in report.steps] == ["drop"] * 4 + ["scale"] * 2
    assert [s.accepted for s in report.steps] == [True, True, True, False, True, False]
    assert report.steps[3].lost == (0,) and report.steps[5].lost == (0,)
    # the scale branch starts from the last accepted drop; the returned program is the last accepted step
    assert tried[4].values != tried[2].values and ctx.shown_demos(tried[4]) == ctx.shown_demos(tried[2])
    assert ctx.key(cand) == ctx.key(tried[4]) and report.tokens_after == report.steps[4].tokens
    tokens = [report.tokens_before, *(report.steps[i].tokens for i in (0, 1, 2, 4))]
    assert all(a > b for a, b in itertools.pairwise(tokens))
    assert len(ctx.shown_demos(cand)) == 2 * len(tint.labels) - 3 and ctx.covers_labels(cand)


@pytest.mark.parametrize("gains_at", [(2,), ()])
def test_require_gain_returns_the_cheapest_variant_above_the_chosen_score(
    tint: Task, gains_at: tuple[int, ...]
) -> None:
    from specprompt.search._trim import trim

    ctx = _ctx(tint, "openai:gpt-4.1-mini")
    reference = {0: 1.0, 1: 0.0, 2: 1.0}
    tried: list[Any] = []

    def score(cand: Any, origin: str, chunks: Any) -> tuple[dict[int, float], int | None]:
        tried.append(cand)  # every variant loses nothing; those in gains_at also get example 1
        return ({0: 1.0, 1: 1.0, 2: 1.0} if len(tried) in gains_at else dict(reference)), None

    plain, report = trim(ctx, ctx.full(), reference, 4, score, 0)
    tried.clear()
    cand, gained = trim(ctx, ctx.full(), reference, 4, score, 0, require_gain=True)
    assert [s.tokens for s in gained.steps] == [s.tokens for s in report.steps] and all(
        s.accepted for s in gained.steps
    )
    assert ctx.key(plain) == ctx.key(tried[-1])  # without require_gain: the last (cheapest) variant
    if gains_at:  # only the 2nd variant scored above the chosen program: it is returned
        assert ctx.key(cand) == ctx.key(tried[1]) and gained.tokens_after == gained.steps[1].tokens
    else:
        assert ctx.key(cand) == ctx.key(ctx.full()) and gained.tokens_after == gained.tokens_before
        assert "trim_baselines='gain'" in gained.note


@pytest.mark.parametrize("gains_at", [(2,), ()])
def test_without_drops_only_smaller_common_sizes_are_tried(tint: Task, gains_at: tuple[int, ...]) -> None:
    from specprompt.search._trim import _scaled, trim

    ctx = _ctx(tint, "openai:gpt-4.1-mini")
    reference = {0: 1.0, 1: 0.0, 2: 1.0}
    tried: list[Any] = []

    def score(cand: Any, origin: str, chunks: Any) -> tuple[dict[int, float], int | None]:
        tried.append(cand)
        return ({0: 1.0, 1: 1.0, 2: 1.0} if len(tried) in gains_at else dict(reference)), None

    full = ctx.full()
    cand, report = trim(ctx, full, reference, 4, score, 0, require_gain=True, drops=False)
    assert len(report.steps) >= 2 and all(s.move == "scale" and s.accepted for s in report.steps)
    shown = ctx.shown_demos(full)
    assert all(ctx.shown_demos(c) == shown for c in tried)  # every image stays, each one smaller
    tokens = [report.tokens_before, *(s.tokens for s in report.steps)]
    assert all(a > b for a, b in itertools.pairwise(tokens))
    if gains_at:
        assert ctx.key(cand) == ctx.key(tried[1]) and report.tokens_after == report.steps[1].tokens
    else:
        assert ctx.key(cand) == ctx.key(full) and "trim_baselines='scale'" in report.note
    # nothing to try: every image already at its smallest size
    smallest = tried[-1]
    while (smaller := _scaled(ctx, smallest)) is not None:
        smallest = smaller
    same, empty = trim(ctx, smallest, reference, 4, score, 0, require_gain=True, drops=False)
    assert same is smallest and not empty.steps and "every image at its smallest size" in empty.note


def test_a_smaller_step_prices_a_cropped_image_with_its_crop(tint: Task) -> None:
    # the local cost model has no sizes: each shown image steps down its band ladder; a slot's
    # current price includes its detail crop, so each rung must be priced with the crop too
    from specprompt.search._context import SearchContext
    from specprompt.search._demos import plan_demos
    from specprompt.search._trim import _scaled

    student = dspy.Predict(dspy.Signature("images: list[dspy.Image] -> label: str"))
    pair = [next(ex for ex in tint.trainset if ex.label == label) for label in tint.labels[:2]]
    student.demos = [dspy.Example(images=[ex.image], label=ex.label).with_inputs("images") for ex in pair]
    config = SearchConfig(token_budget=None, cost_model="local", detail_crops=True)
    ctx = SearchContext(student, plan_demos(student, [], None, 0), config)
    assert len(ctx.crop_slots) == 2
    cropped = ctx.full().moved(crops=frozenset(ctx.crop_slots))
    smaller = _scaled(ctx, cropped)
    assert smaller is not None and smaller.crops == cropped.crops
    for slot in ctx.plan.slots:  # every image one rung smaller, its crop kept
        assert 0 < ctx.slot_tokens(smaller, slot) < ctx.slot_tokens(cropped, slot)


@pytest.mark.parametrize(("rejected_at", "returned"), [(None, 3), (3, 2), (2, 0), (1, 0)])
def test_ties_at_two_sizes_in_a_row_return_the_cheapest_without_a_gain(
    tint: Task, rejected_at: int | None, returned: int
) -> None:
    from specprompt.search._trim import trim

    ctx = _ctx(tint, "openai:gpt-4.1-mini")
    reference = {0: 1.0, 1: 0.0, 2: 1.0}
    tried: list[Any] = []

    def score(cand: Any, origin: str, chunks: Any) -> tuple[dict[int, float], int | None]:
        tried.append(cand)  # every variant ties per example (no gain), except a rejected one
        return ({0: 0.0, 1: 1.0, 2: 1.0} if len(tried) == rejected_at else dict(reference)), None

    full = ctx.full()
    cand, report = trim(ctx, full, reference, 3, score, 0, require_gain=True, drops=False, tie_run=TIE_RUN)
    assert [s.accepted for s in report.steps] == [i != rejected_at for i in range(1, len(report.steps) + 1)]
    assert len(report.steps) == (3 if rejected_at is None else rejected_at)
    if returned:  # two or more ties in a row: the cheapest of them, without a gain
        assert (
            ctx.key(cand) == ctx.key(tried[returned - 1]) and report.tokens_after == report.steps[returned - 1].tokens
        )
    else:  # one tie (or none) is not enough: the baseline itself
        assert ctx.key(cand) == ctx.key(full) and "2 sizes in a row (trim_baselines='scale')" in report.note
    tried.clear()
    untied, _ = trim(ctx, full, reference, 3, score, 0, require_gain=True, drops=False)  # tie_run=0: a gain only
    assert ctx.key(untied) == ctx.key(full)


def test_a_chosen_baseline_trimmed_by_scale_keeps_every_image(tint: Task, lm: dspy.LM) -> None:
    # a budget the full-resolution demos fit: the chosen baseline has sizes left to shrink
    gain = _compile(tint, trim_baselines="gain", token_budget=200).last_result
    scale = _compile(tint, trim_baselines="scale", token_budget=200).last_result
    assert gain is not None and scale is not None and gain.trim is not None and scale.trim is not None
    assert scale.trim.chosen == gain.trim.chosen  # the same search and choice, another chain
    assert gain.trim.steps[0].move.startswith("drop")  # "gain" drops images first, "scale" never
    assert scale.trim.steps and all(s.move == "scale" for s in scale.trim.steps)
    chosen = next(r for r in scale.candidates if r.trial == scale.trim.chosen)
    assert chosen.origin.startswith("baseline:")
    above = [s for s in scale.trim.steps if s.accepted and s.score > chosen.score + 1e-9]
    accepted = [s for s in scale.trim.steps if s.accepted]  # in a row: the chain stops at a rejection
    if len(accepted) >= TIE_RUN:  # ties at two smaller sizes in a row: the cheapest is returned
        assert scale.best.tokens == accepted[-1].tokens
    elif above:
        assert scale.best.tokens == min(s.tokens for s in above)
    else:
        assert scale.best.key == chosen.key and "trim_baselines='scale'" in scale.trim.note


def test_chain_shrinks_after_the_drops_to_one_image_per_label(tint: Task) -> None:
    from specprompt.search._trim import trim

    ctx = _ctx(tint, "openai:gpt-4.1-mini")
    reference = {0: 1.0}
    cand, report = trim(ctx, ctx.full(), reference, 12, lambda c, o, k: (dict(reference), None), 0)
    moves = [s.move for s in report.steps]
    assert moves[:4] == [m for m in moves if m.startswith("drop")] and len(moves) > 4
    assert set(moves[4:]) == {"scale"} and all(s.accepted for s in report.steps)
    assert len(ctx.shown_demos(cand)) == len(tint.labels) and ctx.covers_labels(cand)
    tokens = [report.tokens_before, *(s.tokens for s in report.steps)]
    assert all(a > b for a, b in itertools.pairwise(tokens))


def test_a_rejected_variant_stops_scoring_at_its_first_loss(lm: dspy.LM) -> None:
    texture = get_task("photo-texture", n_train=12, n_val=12, n_test=0, size=96, seed=0)
    storage = optuna.storages.InMemoryStorage()
    opt = _compile(texture, trim_steps=12, minibatch_size=12, n_trials=4, token_budget=None, storage=storage)
    result = opt.last_result
    assert result is not None and result.trim is not None
    reference = _scores(opt, result.study.trials[result.trim.chosen].user_attrs["key"])
    rejected = [s for s in result.trim.steps if not s.accepted]
    assert rejected, result.trim.summary()
    for step in rejected:
        assert step.trial is not None
        trial = result.study.trials[step.trial]
        held = TrialRecord.from_trial(trial).example_scores or {}
        assert step.examples == len(held) and set(step.lost) <= set(held)
        assert all(held[i] < reference[i] for i in step.lost)
        if step.examples < len(reference):  # stopped at a loss: a PRUNED trial, no full-valset score
            assert trial.state == optuna.trial.TrialState.PRUNED
            assert FullScore.read(result.study, TrialRecord.from_trial(trial).key or "") is None
            assert f"stopped after {step.examples} examples" in result.trim.summary()
    assert any(s.examples < len(reference) for s in rejected), result.trim.summary()
    for step in result.trim.steps:
        if step.accepted:
            assert step.examples == len(reference)
        # its record holds what its scoring cost: one call per example scored, as a search trial's does
        assert step.trial is not None
        spend = TrialRecord.from_trial(result.study.trials[step.trial]).spend or {}
        assert spend.get("calls") == step.examples, (step, spend)
    # resumed: the PRUNED variants are rejected again from their stored scores, with no call
    calls = lm.engine.calls
    again = _compile(texture, trim_steps=12, minibatch_size=12, n_trials=4, token_budget=None, storage=storage)
    assert again.last_result is not None and again.last_result.trim is not None and lm.engine.calls == calls
    assert [s.to_dict() for s in again.last_result.trim.steps] == [s.to_dict() for s in result.trim.steps]


def test_partial_scores_reject_a_variant(tint: Task) -> None:
    from specprompt.search._trim import scoring_order, trim

    ctx = _ctx(tint, "openai:gpt-4.1-mini")
    reference = {0: 1.0, 1: 0.0, 2: 1.0, 3: 1.0, 4: 1.0, 5: 0.0}
    assert scoring_order(reference, 4) == [[0, 2, 3, 4], [1, 5]]
    seen: list[Any] = []

    def score(cand: Any, origin: str, chunks: Any) -> tuple[dict[int, float], int | None]:
        seen.append(chunks)
        return {0: 1.0, 2: 0.0, 3: 1.0, 4: 1.0}, None  # the first chunk loses example 2: no more scored

    cand, report = trim(ctx, ctx.full(), reference, 3, score, 0, chunk=4)
    assert ctx.key(cand) == ctx.key(ctx.full()) and len(report.steps) == 2  # one rejection per branch
    assert all(not s.accepted and s.lost == (2,) and s.examples == 4 for s in report.steps)
    assert seen[0] == [[0, 2, 3, 4], [1, 5]]
    assert "stopped after 4 examples" in report.summary()


def test_each_step_says_what_became_of_it() -> None:
    from specprompt.search._departures import TrimCheck
    from specprompt.search._trim import TrimReport, TrimStep

    drop3, drop2 = TrimStep(1, "drop d3", 30, 1.0, True, (), 7), TrimStep(2, "drop d2", 20, 1.0, True, (), 8)
    scale = TrimStep(3, "scale", 12, 0.75, True, (), 9)
    lost = TrimStep(4, "scale", 8, 0.5, False, (4,), 10, 4)
    # a search candidate: the cheapest accepted step is returned, the earlier ones are superseded
    report = TrimReport(0, 40, 12, (drop3, drop2, scale, lost))
    assert report.outcomes() == ("superseded", "superseded", "returned", "rejected")
    assert [s["outcome"] for s in report.to_dict()["steps"]] == list(report.outcomes())
    lines = report.summary().splitlines()
    assert "accepted, then superseded by a cheaper accepted step" in lines[1] and lines[3].endswith("returned")
    assert "rejected (loses valset example(s) [4]; stopped after 4 examples)" in lines[4]
    # an accepted step's score is a full-valset mean; a rejected one's covers the examples scored before the loss
    assert "valset 0.7500  accepted" in lines[3] and "valset 0.5000 over 4 examples  rejected" in lines[4]
    # a chosen baseline that needs a gain: the first step gained, the next two did not
    gain = TrimReport(0, 40, 30, (dataclasses.replace(drop3, score=1.1), drop2, scale))
    assert gain.outcomes() == ("returned", "no gain", "no gain")
    assert "not returned: no gain over the chosen baseline" in gain.summary().splitlines()[2]
    # a local judge's trim that the target refused: nothing is returned, the checked step says why
    check = TrimCheck("target", 12, 0.5, 1.0, (0, 1), 4, 16)
    refused = TrimReport(0, 40, 40, (drop3, drop2, scale), check=check)
    assert refused.outcomes() == ("superseded", "superseded", "refused by the target")
    assert "returned" not in refused.outcomes() and "the target found it loses" in refused.summary()


def test_a_baseline_sent_as_made_is_not_trimmed_and_the_note_says_why(tint: Task) -> None:
    from specprompt.search._trim import trim

    ctx = _ctx(tint, "openai:gpt-4o")
    low = ctx.low_detail()  # detail="low" images: overrides, not a point of the searched choices
    scored: list[Any] = []
    cand, report = trim(ctx, low, {0: 1.0}, 8, lambda c, o, k: scored.append(c) or ({0: 1.0}, None), 3)
    assert cand is low and not scored and report.steps == () and report.tokens_after == report.tokens_before
    assert report.note.startswith("skipped: the chosen baseline's images are sent as it made them (detail='low'")
