"""Candidates proposed without the sampler: warm starts and neighbours of the incumbent.

Warm starts are the first trials of a new study; each fits the budget by construction.

=====================  ===========================================================================
name                   what the demo images are
=====================  ===========================================================================
``uniform``            every image coarsened by the same number of steps, the finest that fits
``uniform-sharp``      (when the search chooses an unsharp mask) ``uniform`` sharpened by
                       ``SHARPEN_LEVELS[SHARP_START]`` percent (200; the ``sharpened``
                       baseline has 100): the same pixels per token
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
``demos+<m>``          (``search_demos`` with a trainset pool) the program's demos plus the first
                       ``m`` pooled demos of every answer, every image resized by one common factor,
                       the largest that fits: more, smaller demos (``m`` is 1 and all the pool's
                       rounds)
=====================  ===========================================================================

With a ``size`` dimension the two ``round-scaled`` starts come right after ``uniform`` (and
``uniform-sharp``): they
spend the whole budget on images of one size per answer, where the full-resolution starts
(``greedy``, ``stratified``) spend it on a few images at full size and starve the rest.
All but ``demos+<m>`` keep the program's own demos (pooled demos left out).

Under a tight budget several of them often show the same prompt; each prompt is enqueued once.

A stratified order needs no labels from the user: demos are grouped by the values of their
predictor's output fields (see :func:`answer_rounds`).

:func:`neighbour` is the local step the :class:`~specprompt.search._sampler.BandSampler` proposes:
the incumbent (best feasible complete trial) with one or two images moved to another level,
unseen and within the budget; with ``search_demos`` most of its moves (:data:`DEMO_MOVES`) change
which demos are shown instead (swap one for a hidden demo of the same answer, add one, or leave
one out).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import replace
from typing import Literal

import dspy

from specprompt.search._budget import fits
from specprompt.search._context import Candidate, SearchContext
from specprompt.search._demos import DemoPlan
from specprompt.search._labels import answers as _answers
from specprompt.search._labels import group as _group
from specprompt.search._moves import rebalance, scaled_subset, sized_move
from specprompt.search._space import SIZE_DIM

__all__ = [
    "SIZED_ONLY",
    "WARM_STARTS",
    "answer_rounds",
    "neighbour",
    "pool_fit",
    "round_scaled",
    "stratified_fit",
    "warm_starts",
]

#: Warm-start names, in the order they are enqueued.
WARM_STARTS: tuple[str, ...] = (
    "uniform",
    "uniform-sharp",
    "round-scaled",
    "round-scaled-rest",
    "greedy",
    "stratified",
    "stratified-one",
    "stratified-coarse",
)
#: Warm starts made only when the spaces have a ``size`` dimension (``uniform-sharp``: only when
#: the context also searches the unsharp mask).
SIZED_ONLY: tuple[str, ...] = ("uniform-sharp", "round-scaled", "round-scaled-rest")
#: Level of :data:`~specprompt.search._context.SHARPEN_LEVELS` of the ``uniform-sharp`` warm start.
SHARP_START = 3

#: Random draws :func:`neighbour` tries before it gives up.
NEIGHBOUR_TRIES = 64
#: With ``search_demos``: share of the neighbour draws that change which demos are shown.
DEMO_MOVES = 0.75
#: Weights of the demo moves (swap, add, remove): a swap keeps the prompt's size and so its budget.
DEMO_MOVE_WEIGHTS = (0.6, 0.2, 0.2)


def answer_rounds(student: dspy.Module, plan: DemoPlan, excluded: frozenset[str] = frozenset()) -> list[list[str]]:
    """Demo ids (of demos holding images) in rounds: round ``r`` has the ``r``-th demo of every answer.

    Demos in ``excluded`` are left out.

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
            ids = [d for i in members if (d := f"{name}/demo{i}") in with_images and d not in excluded]
            for r, demo_id in enumerate(ids):
                if r == len(rounds):
                    rounds.append([])
                rounds[r].append(demo_id)
    return rounds


def _finest(ctx: SearchContext, values: dict[str, Mapping[str, int]], slot_id: str, budget: float | None) -> None:
    """Sets ``slot_id`` to the finest rung of its ladder that keeps ``values`` within budget."""
    for rung in ctx.spaces[slot_id].ladder():
        if fits(ctx.tokens(Candidate({**values, slot_id: rung}, excluded=ctx.pool)), budget):
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
    rounds = answer_rounds(ctx.student, ctx.plan, ctx.pool)
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
                if fits(ctx.tokens(Candidate({**values, sid: rung}, excluded=ctx.pool)), budget):
                    values[sid] = rung
    return Candidate(values, excluded=ctx.pool)


def pool_fit(ctx: SearchContext, budget: float | None, rounds: int) -> Candidate:
    """The ``demos+<rounds>`` warm start: the program's demos and ``rounds`` rounds of pooled demos.

    Pooled demos come in :func:`answer_rounds` (the first pooled demo of every answer, then the
    second, ...); every shown image is resized by one common factor, the largest that fits
    (:meth:`SearchContext.uniform_fit`).
    """
    pooled = answer_rounds(ctx.student, ctx.plan, frozenset(ctx.plan.demo_ids) - ctx.pool)
    shown = {d for r in pooled[:rounds] for d in r}
    return ctx.uniform_fit(budget, ctx.pool - shown)


def round_scaled(ctx: SearchContext, budget: float | None, rest: bool = False) -> Candidate:
    """The ``round-scaled`` (``rest=False``) or ``round-scaled-rest`` warm start (needs a ``size`` dimension).

    The images of the first round of :func:`answer_rounds` (one demo per answer) keep every band
    and share one scale, the largest that fits; with ``rest`` every other image is shown too, at
    half their side (the same common scale then applies to both).
    """
    rounds = answer_rounds(ctx.student, ctx.plan, ctx.pool)
    first = set(rounds[0]) if rounds else set()
    chosen = [s.id for s in ctx.plan.slots if s.demo_id in first]
    if not rest:
        return scaled_subset(ctx, chosen, budget)
    values = {sid: dict(v) for sid, v in ctx.dropped().values.items()}
    own = [s for s in ctx.plan.slots if s.demo_id not in ctx.pool]  # pooled demos stay left out
    for s in own:
        values[s.id] = ctx.spaces[s.id].full()
        dim = ctx.spaces[s.id].size_dim
        if dim is not None and s.demo_id not in first:
            values[s.id][SIZE_DIM] = max(dim.low, dim.high // 2)
    found = rebalance(ctx, values, [s.id for s in own], budget, ctx.dropped())
    return ctx.dropped() if found is None else Candidate(found, excluded=ctx.pool)


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
    if ctx.sharpens:
        made["uniform-sharp"] = replace(made["uniform"], sharpen=SHARP_START)
    if ctx.sized:
        made["round-scaled"] = round_scaled(ctx, budget)
        made["round-scaled-rest"] = round_scaled(ctx, budget, rest=True)
    names = list(WARM_STARTS)
    if ctx.pool:
        n = len(answer_rounds(ctx.student, ctx.plan, frozenset(ctx.plan.demo_ids) - ctx.pool))
        for m in dict.fromkeys((1, n)):
            made[f"demos+{m}"] = pool_fit(ctx, budget, m)
            names.append(f"demos+{m}")
    out: dict[str, tuple[str, Candidate]] = {}
    for name in names:
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

    Only the image dimensions move (demo inclusion and crops stay), except with ``search_demos``:
    then a :data:`DEMO_MOVES` share of the steps changes which demos are shown instead
    (:func:`_demo_move`). When the cost model prices pixels (a ``size`` dimension), an image step
    is a budget-aware move of :func:`~specprompt.search._moves.sized_move` (one image resized,
    refined, dropped or shown again, the others rescaled to spend the budget); otherwise one or
    two images get another value of one dimension. Returns ``None`` when :data:`NEIGHBOUR_TRIES`
    draws found nothing new.
    """
    if ctx.demo_dims and rng.random() < DEMO_MOVES:
        for _ in range(NEIGHBOUR_TRIES):
            values = {sid: dict(v) for sid, v in incumbent.values.items()}
            excluded = set(incumbent.excluded)
            _demo_move(ctx, values, excluded, budget, rng)
            cand = incumbent.moved(values, excluded=frozenset(excluded))
            if ctx.key(cand) not in seen and fits(ctx.tokens(cand), budget) and ctx.covers_labels(cand):
                return cand
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
        cand = incumbent.moved(values)
        key = ctx.key(cand)
        if key not in seen and fits(ctx.tokens(cand), budget) and ctx.covers_labels(cand):
            return cand
    return None


def _demo_slots(ctx: SearchContext) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for s in ctx.plan.slots:
        out.setdefault(s.demo_id, []).append(s.id)
    return out


def _resize_shown(ctx: SearchContext, values: dict[str, dict[str, int]], excluded: set[str], factor: float) -> None:
    """Multiplies the ``size`` of every shown image by ``factor`` (within its dimension's range)."""
    from specprompt.search._space import SIZE_DIM

    for demo_id, sids in _demo_slots(ctx).items():
        if demo_id in excluded:
            continue
        for sid in sids:
            dim = ctx.spaces[sid].size_dim
            if dim is not None:
                values[sid][SIZE_DIM] = min(dim.high, max(dim.low, round(values[sid][SIZE_DIM] * factor)))


def _demo_move(
    ctx: SearchContext,
    values: dict[str, dict[str, int]],
    excluded: set[str],
    budget: float | None,
    rng: random.Random,
) -> None:
    """Changes which demos are shown, in place: a swap, an addition or a removal.

    - swap: a shown demo is left out and a hidden one (of the same answer where there is one)
      shows its images at the same values;
    - add: a hidden demo is shown at the values of a shown one; over budget, every shown image
      is resized by ``sqrt(n / (n + 1))`` (more, smaller demos);
    - remove: a shown demo is left out; where it fits, every other image grows by
      ``sqrt(n / (n - 1))`` (fewer, sharper demos).
    """
    by_demo = _demo_slots(ctx)
    demos = [d for d in ctx.demo_dims if d in by_demo]
    shown = [d for d in demos if d not in excluded]
    hidden = [d for d in demos if d in excluded]
    move = rng.choices(("swap", "add", "remove"), DEMO_MOVE_WEIGHTS)[0]
    n = len(shown)
    if move == "remove" or not hidden or not shown:
        if n > 1:
            excluded.add(rng.choice(shown))
            if ctx.sized:
                grown = {sid: dict(v) for sid, v in values.items()}
                _resize_shown(ctx, grown, excluded, (n / (n - 1)) ** 0.5)
                if fits(ctx.tokens(Candidate(grown, excluded=frozenset(excluded))), budget):
                    values.update(grown)
        return
    like = rng.choice(shown)
    cls = {d: c for c, ids in ctx.class_demos.items() for d in ids}
    same = [d for d in hidden if cls.get(d) is not None and cls.get(d) == cls.get(like)]
    new = rng.choice(same or hidden)
    source = by_demo[like]
    for i, sid in enumerate(by_demo[new]):
        space = ctx.spaces[sid]
        src = values[source[min(i, len(source) - 1)]]
        values[sid] = {d.name: min(d.high, max(d.low, int(src.get(d.name, space.full()[d.name])))) for d in space.dims}
    excluded.discard(new)
    if move == "swap":
        excluded.add(like)
    elif ctx.sized and not fits(ctx.tokens(Candidate(values, excluded=frozenset(excluded))), budget):
        _resize_shown(ctx, values, excluded, (n / (n + 1)) ** 0.5)
