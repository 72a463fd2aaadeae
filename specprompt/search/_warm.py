"""Candidates proposed without the sampler: warm starts and neighbours of the incumbent.

Warm starts are the first trials of a new study; each fits the budget by construction.

=====================  ===========================================================================
name                   what the demo images are
=====================  ===========================================================================
``uniform``            every image coarsened by the same number of steps, the finest that fits
``greedy``             images at full resolution in slot order while they fit, the rest as fine
                       as still fits (few sharp images instead of many coarse ones)
``stratified``         like ``greedy``, but demos taken round-robin over their answers: the first
                       demo of every answer, then the second of every answer, ...
``stratified-one``     the first demo of every answer as fine as fits, every other demo dropped
``stratified-coarse``  the first demo of every answer as fine as fits, every other demo at its
                       coarsest kept level where that still fits (else dropped)
``round-scaled``       (cost models that price pixels) the first demo of every answer, every band,
                       all at one common scale, the largest that fits; the others dropped
``round-scaled-rest``  (cost models that price pixels) like ``round-scaled``, with every other
                       demo shown too at half the side of the first ones (one common scale)
=====================  ===========================================================================

With a ``size`` dimension the two ``round-scaled`` starts come right after ``uniform``: they
spend the whole budget on images of one size per answer, where the full-resolution starts
(``greedy``, ``stratified``) spend it on a few images at full size and starve the rest.

Under a tight budget several of them often show the same prompt; each prompt is enqueued once.

A stratified order needs no labels from the user: demos are grouped by the values of their
predictor's output fields (see :func:`answer_rounds`).

:func:`neighbour` is the local step the :class:`~specprompt.search._sampler.BandSampler` proposes:
the incumbent (best feasible complete trial) with one or two images moved to another level,
unseen and within the budget.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Literal

import dspy

from specprompt.search._budget import fits
from specprompt.search._context import Candidate, SearchContext
from specprompt.search._demos import DemoPlan
from specprompt.search._labels import answers as _answers
from specprompt.search._labels import group as _group
from specprompt.search._moves import rebalance, scaled_subset, sized_move
from specprompt.search._space import SIZE_DIM

__all__ = ["SIZED_ONLY", "WARM_STARTS", "answer_rounds", "round_scaled", "neighbour", "stratified_fit", "warm_starts"]

#: Warm-start names, in the order they are enqueued.
WARM_STARTS: tuple[str, ...] = (
    "uniform",
    "round-scaled",
    "round-scaled-rest",
    "greedy",
    "stratified",
    "stratified-one",
    "stratified-coarse",
)
#: Warm starts made only when the spaces have a ``size`` dimension.
SIZED_ONLY: tuple[str, ...] = ("round-scaled", "round-scaled-rest")

#: Random draws :func:`neighbour` tries before it gives up.
NEIGHBOUR_TRIES = 64


def answer_rounds(student: dspy.Module, plan: DemoPlan) -> list[list[str]]:
    """Demo ids (of demos holding images) in rounds: round ``r`` has the ``r``-th demo of every answer.

    Convention:
        A demo's answer is the JSON of its predictor's output-field values (the non-input fields
        of a ``dspy.Example`` when the predictor has no signature; image fields never count).
        When that makes every demo of a predictor distinct (a free-text ``reasoning`` field, say),
        the output field with the fewest distinct values that still repeats is used alone.
        Answers are per predictor and ordered by their first demo; demos keep their order.

    Example:
        >>> from PIL import Image
        >>> from specprompt.search._demos import plan_demos
        >>> img = dspy.Image(Image.new("RGB", (8, 8)))
        >>> p = dspy.Predict("image: dspy.Image -> label")
        >>> p.demos = [dspy.Example(image=img, label=x) for x in "aab"]
        >>> answer_rounds(p, plan_demos(p, [], None, 0))
        [['self/demo0', 'self/demo2'], ['self/demo1']]
    """
    preds = [p for _, p in student.named_predictors()]
    with_images = set(plan.demo_ids)
    rounds: list[list[str]] = []
    for pi, (name, demos) in enumerate(zip(plan.names, plan.demos, strict=True)):
        for members in _group(_answers(preds[pi], demos)).values():
            ids = [f"{name}/demo{i}" for i in members if f"{name}/demo{i}" in with_images]
            for r, demo_id in enumerate(ids):
                if r == len(rounds):
                    rounds.append([])
                rounds[r].append(demo_id)
    return rounds


def _finest(ctx: SearchContext, values: dict[str, Mapping[str, int]], slot_id: str, budget: float | None) -> None:
    """Sets ``slot_id`` to the finest rung of its ladder that keeps ``values`` within budget."""
    for rung in ctx.spaces[slot_id].ladder():
        if fits(ctx.tokens(Candidate({**values, slot_id: rung})), budget):
            values[slot_id] = rung
            return


def stratified_fit(
    ctx: SearchContext, budget: float | None, rest: Literal["fine", "drop", "coarse"] = "fine"
) -> Candidate:
    """The ``stratified`` (``rest="fine"``), ``stratified-one`` (``"drop"``) or
    ``stratified-coarse`` (``"coarse"``) warm start.

    Demos of :func:`answer_rounds` are sharpened in order (every image of a demo as fine as
    still fits, leaving room for the cheapest image of every later demo of the first round, so
    every answer keeps an image when the budget allows). With ``"drop"`` or ``"coarse"`` only
    the first round is sharpened; with ``"coarse"`` the other demos' images then get their
    coarsest kept level, in order, where that still fits.
    """
    values: dict[str, Mapping[str, int]] = dict(ctx.dropped().values)
    rounds = answer_rounds(ctx.student, ctx.plan)
    by_demo: dict[str, list[str]] = {}
    for s in ctx.plan.slots:
        by_demo.setdefault(s.demo_id, []).append(s.id)
    sharp = rounds if rest == "fine" else rounds[:1]
    first = rounds[0] if rounds else []
    for i, demo_id in enumerate(d for r in sharp for d in r):
        # keep room for the cheapest image of every later demo of the first round (one per answer)
        reserve = sum(min(ctx.cheapest(sid) for sid in by_demo[d]) for d in first[i + 1 :])
        for sid in by_demo[demo_id]:
            _finest(ctx, values, sid, None if budget is None else budget - reserve)
    if rest == "coarse":
        for demo_id in (d for r in rounds[1:] for d in r):
            for sid in by_demo[demo_id]:
                ladder = ctx.spaces[sid].ladder()
                rung = ladder[-2] if len(ladder) > 1 else ladder[-1]
                if fits(ctx.tokens(Candidate({**values, sid: rung})), budget):
                    values[sid] = rung
    return Candidate(values)


def round_scaled(ctx: SearchContext, budget: float | None, rest: bool = False) -> Candidate:
    """The ``round-scaled`` (``rest=False``) or ``round-scaled-rest`` warm start (needs a ``size`` dimension).

    The images of the first round of :func:`answer_rounds` (one demo per answer) keep every band
    and share one scale, the largest that fits; with ``rest`` every other image is shown too, at
    half their side (the same common scale then applies to both).
    """
    rounds = answer_rounds(ctx.student, ctx.plan)
    first = set(rounds[0]) if rounds else set()
    chosen = [s.id for s in ctx.plan.slots if s.demo_id in first]
    if not rest:
        return scaled_subset(ctx, chosen, budget)
    values = {sid: dict(v) for sid, v in ctx.dropped().values.items()}
    for s in ctx.plan.slots:
        values[s.id] = ctx.spaces[s.id].full()
        dim = ctx.spaces[s.id].size_dim
        if dim is not None and s.demo_id not in first:
            values[s.id][SIZE_DIM] = max(dim.low, dim.high // 2)
    found = rebalance(ctx, values, [s.id for s in ctx.plan.slots], budget, ctx.dropped())
    return ctx.dropped() if found is None else Candidate(found)


def warm_starts(ctx: SearchContext, budget: float | None) -> list[tuple[str, Candidate]]:
    """The warm starts of :data:`WARM_STARTS` that fit, as ``(name, candidate)``, one per prompt.

    The :data:`SIZED_ONLY` ones are made only when the spaces have a ``size`` dimension.
    """
    made = {
        "uniform": ctx.uniform_fit(budget),
        "greedy": ctx.greedy_fit(budget),
        "stratified": stratified_fit(ctx, budget),
        "stratified-one": stratified_fit(ctx, budget, "drop"),
        "stratified-coarse": stratified_fit(ctx, budget, "coarse"),
    }
    if ctx.sized:
        made["round-scaled"] = round_scaled(ctx, budget)
        made["round-scaled-rest"] = round_scaled(ctx, budget, rest=True)
    out: dict[str, tuple[str, Candidate]] = {}
    for name in WARM_STARTS:
        cand = made.get(name)
        if cand is not None and fits(ctx.tokens(cand), budget) and ctx.covers_labels(cand):
            out.setdefault(ctx.key(cand), (name, cand))
    return list(out.values())


def neighbour(
    ctx: SearchContext,
    incumbent: Candidate,
    budget: float | None,
    seen: set[str],
    rng: random.Random,
) -> Candidate | None:
    """``incumbent`` with one or two images at another value, fitting ``budget``, key not in ``seen``.

    Only the image dimensions move (demo inclusion and crops stay). When the cost model prices
    pixels (a ``size`` dimension), the step is a budget-aware move of
    :func:`~specprompt.search._moves.sized_move` (one image resized, refined, dropped or shown
    again, the others rescaled to spend the budget); otherwise one or two images get another
    value of one dimension. Returns ``None`` when :data:`NEIGHBOUR_TRIES` draws found nothing new.
    """
    slots = [s.id for s in ctx.plan.slots]
    for _ in range(NEIGHBOUR_TRIES if ctx.sized else 0):
        found = sized_move(ctx, incumbent, budget, rng)
        if found is not None and ctx.key(found) not in seen and ctx.covers_labels(found):
            return found
    for _ in range(NEIGHBOUR_TRIES):
        values = {sid: dict(v) for sid, v in incumbent.values.items()}
        for sid in rng.sample(slots, min(len(slots), rng.choice((1, 2)))):
            dim = rng.choice(ctx.spaces[sid].dims)
            others = [v for v in range(dim.low, dim.high + 1) if v != values[sid][dim.name]]
            if others:
                values[sid][dim.name] = rng.choice(others)
        cand = Candidate(values, incumbent.crops, incumbent.excluded)
        key = ctx.key(cand)
        if key not in seen and fits(ctx.tokens(cand), budget) and ctx.covers_labels(cand):
            return cand
    return None
