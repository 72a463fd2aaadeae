"""An over-budget candidate coarsened until it fits: the budget repair of model-based proposals.

A sampler that proposes the optimum of a model it fits on every call (Optuna's ``GPSampler``)
gains little from being asked again when its proposal is over budget, and each call refits the
model (:mod:`specprompt.search._sampler`). Its proposal is instead moved into the budget here, a
step at a time, with no sampler call: deterministic, and close to what the model proposed.

Convention:
    A step takes one shown image one rung down its ladder (:meth:`ImageSpace.ladder`), kept no
    finer in any dimension than it is (a rung merged with the image's values: the coarser value
    of each dimension), to the first such rung that costs fewer tokens; or takes away its detail
    crop. Of the possible steps, the one taken keeps an image of every label where one does
    (:meth:`SearchContext.covers_labels`), then saves the most tokens, then comes first in slot
    order. Every step lowers the tokens and dropping every image costs 0, so the loop ends.
"""

from __future__ import annotations

from collections.abc import Mapping

from specprompt.search._budget import fits
from specprompt.search._context import Candidate, SearchContext
from specprompt.search._space import ImageSpace

__all__ = ["coarsen_to_fit"]


def _coarser(space: ImageSpace, values: Mapping[str, int], rung: Mapping[str, int]) -> dict[str, int]:
    """Per dimension, the coarser of ``values`` and ``rung`` (a smaller side; fewer kept bands)."""
    out: dict[str, int] = {}
    for d in space.dims:
        a, b = int(values[d.name]), int(rung[d.name])
        out[d.name] = max(a, b) if d.name in space.reverse else min(a, b)
    return out


def _steps(ctx: SearchContext, cand: Candidate) -> list[Candidate]:
    """Each shown image one step coarser (in slot order), the others as they are."""
    out: list[Candidate] = []
    for slot in ctx.plan.slots:
        now = ctx.slot_tokens(cand, slot)
        if slot.demo_id in cand.excluded or now == 0:
            continue
        if slot.id in cand.crops:
            out.append(cand.moved(crops=cand.crops - {slot.id}))
            continue
        space = ctx.spaces[slot.id]
        for rung in space.ladder():
            values = {**cand.values, slot.id: _coarser(space, cand.values[slot.id], rung)}
            step = cand.moved(values)
            if ctx.slot_tokens(step, slot) < now:
                out.append(step)
                break
    return out


def coarsen_to_fit(ctx: SearchContext, cand: Candidate, budget: float | None) -> Candidate:
    """``cand`` coarsened a step at a time until it fits ``budget`` (unchanged when it fits).

    Example:
        >>> import dspy
        >>> from PIL import Image
        >>> from specprompt.search import SearchConfig
        >>> from specprompt.search._demos import plan_demos
        >>> student = dspy.Predict("image: dspy.Image -> label")
        >>> student.demos = [dspy.Example(image=dspy.Image(Image.new("RGB", (64, 64), (90 * i, 40, 9))), label="ab"[i])
        ...                  for i in range(2)]
        >>> ctx = SearchContext(student, plan_demos(student, [], None, 0), SearchConfig())
        >>> fitted = coarsen_to_fit(ctx, ctx.full(), 60)  # 64 px images: 44, 28, 12 or 0 local tokens
        >>> ctx.tokens(ctx.full()), ctx.tokens(fitted), [v["keep_from"] for v in fitted.values.values()]
        (88, 56, [2, 0])
    """
    tokens = ctx.tokens(cand)
    while not fits(tokens, budget):
        steps = [(ctx.covers_labels(s), tokens - ctx.tokens(s), -i, s) for i, s in enumerate(_steps(ctx, cand))]
        if not steps:  # nothing left to coarsen (a budget below 0)
            return cand
        _, saved, _, cand = max(steps, key=lambda x: x[:3])
        tokens -= saved
    return cand
