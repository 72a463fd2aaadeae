"""Budget-aware local moves on the ``size`` dimension: the neighbour step when the cost model prices pixels.

When every image space has a ``size`` dimension (any provider cost model), a neighbour of the
incumbent is one move on one image, after which the other shown images are rescaled by one
common factor so that the prompt spends as much of the budget as still fits
(:func:`rebalance`): tokens one image gives up go to the others, and tokens it takes come from
them.

==========  =====================================================================================
move        what changes on the chosen image
==========  =====================================================================================
``resize``  its longest side times a factor of :data:`SIZE_FACTORS`
``level``   its finest kept band one level finer or coarser (what it keeps, not its size)
``drop``    it is dropped (when every label still keeps an image)
``show``    a dropped image is shown again, every band, at the median side of the shown ones
``sharpen`` (every image, when the context searches it) the unsharp mask one level up or down
==========  =====================================================================================

The uniform-scale warm start of a subset of the demos (:func:`scaled_subset`) uses the same
rescaling: the chosen images at one common scale, the largest that fits, the others dropped.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import replace

from specprompt.search._budget import fits
from specprompt.search._context import SHARPEN_LEVELS, Candidate, SearchContext
from specprompt.search._space import SIZE_DIM

__all__ = ["MOVES", "SIZE_FACTORS", "rebalance", "scaled_subset", "sized_move"]

#: Factors a ``resize`` move multiplies one image's longest side by.
SIZE_FACTORS: tuple[float, ...] = (0.5, 0.7, 0.85, 1.2, 1.4, 2.0)
#: The moves, as drawn (``resize`` twice as often as the others); ``sharpen`` joins them when the
#: context searches the unsharp mask (:attr:`SearchContext.sharpens`).
MOVES: tuple[str, ...] = ("resize", "resize", "level", "drop", "show")
#: Bisection steps of :func:`rebalance` (on the log of the common factor).
_STEPS = 14

Values = dict[str, dict[str, int]]


def _shown(ctx: SearchContext, values: Mapping[str, Mapping[str, int]], excluded: frozenset[str]) -> list[str]:
    return [
        s.id
        for s in ctx.plan.slots
        if s.demo_id not in excluded and ctx.spaces[s.id].selection(values[s.id]).bands != frozenset()
    ]


def _scaled(ctx: SearchContext, values: Values, slots: Iterable[str], factor: float) -> Values:
    out = {sid: dict(v) for sid, v in values.items()}
    for sid in slots:
        dim = ctx.spaces[sid].size_dim
        if dim is not None:
            out[sid][SIZE_DIM] = min(dim.high, max(dim.low, round(values[sid][SIZE_DIM] * factor)))
    return out


def rebalance(
    ctx: SearchContext, values: Values, movable: list[str], budget: float | None, cand: Candidate
) -> Values | None:
    """``values`` with the ``movable`` images rescaled by the largest common factor that fits ``budget``.

    The factor may be below 1 (the prompt was over budget) or above (it left room). Returns
    ``None`` when even the smallest sides do not fit; ``values`` unchanged without a budget or
    without movable images.
    """
    if budget is None or not movable:
        return values if fits(ctx.tokens(cand.moved(values)), budget) else None

    def ok(log_f: float) -> bool:
        return fits(ctx.tokens(cand.moved(_scaled(ctx, values, movable, math.exp(log_f)))), budget)

    spans = []
    for sid in movable:
        dim = ctx.spaces[sid].size_dim
        if dim is not None:
            side = max(1, values[sid][SIZE_DIM])
            spans.append((math.log(dim.low / side), math.log(dim.high / side)))
    if not spans:
        return values if ok(0.0) else None
    lo, hi = min(a for a, _ in spans), max(b for _, b in spans)
    if ok(hi):
        return _scaled(ctx, values, movable, math.exp(hi))
    if not ok(lo):
        return None
    for _ in range(_STEPS):  # invariant: ok(lo), not ok(hi) (fewer pixels never cost more)
        mid = (lo + hi) / 2
        if ok(mid):
            lo = mid
        else:
            hi = mid
    return _scaled(ctx, values, movable, math.exp(lo))


def sized_move(ctx: SearchContext, incumbent: Candidate, budget: float | None, rng: random.Random) -> Candidate | None:
    """One move of :data:`MOVES` on one image of ``incumbent``, the other shown images rebalanced.

    Returns ``None`` when the drawn move does not apply (nothing to drop or show, a level
    already at its end) or nothing fits.
    """
    values: Values = {sid: dict(v) for sid, v in incumbent.values.items()}
    shown = _shown(ctx, values, incumbent.excluded)
    hidden = [s.id for s in ctx.plan.slots if s.id not in shown and s.demo_id not in incumbent.excluded]
    move = rng.choice((*MOVES, "sharpen") if ctx.sharpens else MOVES)
    if move == "sharpen":
        level = incumbent.sharpen + rng.choice((-1, 1))
        if not 0 <= level < len(SHARPEN_LEVELS) or not shown:
            return None
        return replace(incumbent, sharpen=level, overrides={})
    if move == "show" and hidden:
        sid = rng.choice(hidden)
        sides = [values[s][SIZE_DIM] for s in shown]
        values[sid] = ctx.spaces[sid].full()
        dim = ctx.spaces[sid].size_dim
        if sides and dim is not None:
            values[sid][SIZE_DIM] = min(dim.high, max(dim.low, round(statistics.median(sides))))
        return _fitted(ctx, incumbent, values, shown, budget)
    if not shown:
        return None
    sid = rng.choice(shown)
    others = [s for s in shown if s != sid]
    space = ctx.spaces[sid]
    if move == "drop":
        values[sid] = space.ladder()[-1]
        return _fitted(ctx, incumbent, values, others, budget)
    if move == "level":
        band = [d for d in space.band_dims if d.name in space.reverse]
        if not band:
            return None
        d = band[0]
        step = rng.choice((-1, 1))
        new = values[sid][d.name] + step
        if not d.low <= new < d.high:  # d.high drops the image: that is the drop move
            return None
        values[sid][d.name] = new
        return _fitted(ctx, incumbent, values, [], budget)
    dim = space.size_dim
    if dim is None:
        return None
    side = values[sid][SIZE_DIM]
    new_side = min(dim.high, max(dim.low, round(side * rng.choice(SIZE_FACTORS))))
    if new_side == side:
        return None
    values[sid][SIZE_DIM] = new_side
    return _fitted(ctx, incumbent, values, others, budget)


def _fitted(
    ctx: SearchContext, incumbent: Candidate, values: Values, movable: list[str], budget: float | None
) -> Candidate | None:
    found = rebalance(ctx, values, movable, budget, incumbent)
    return None if found is None else incumbent.moved(found)


def scaled_subset(ctx: SearchContext, slots: Iterable[str], budget: float | None) -> Candidate:
    """The images of ``slots`` at one common scale (every band), the largest that fits; the others dropped.

    Without a ``size`` dimension or a budget the images are at full size. When even the
    smallest sides do not fit, every image is dropped.
    """
    dropped = ctx.dropped()
    values: Values = {sid: dict(v) for sid, v in dropped.values.items()}
    chosen = list(dict.fromkeys(slots))
    for sid in chosen:
        values[sid] = ctx.spaces[sid].full()
    found = rebalance(ctx, values, chosen if ctx.sized else [], budget, dropped)
    return dropped if found is None else dropped.moved(found)
