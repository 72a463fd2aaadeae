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
=====================  ===========================================================================

Under a tight budget several of them often show the same prompt; each prompt is enqueued once.

A stratified order needs no labels from the user: demos are grouped by the values of their
predictor's output fields (see :func:`answer_rounds`).

:func:`neighbour` is the local step the :class:`~specprompt.search._sampler.BandSampler` proposes:
the incumbent (best feasible complete trial) with one or two images moved to another level,
unseen and within the budget.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import dspy

from specprompt.search._budget import fits
from specprompt.search._context import Candidate, SearchContext
from specprompt.search._demos import DemoPlan

__all__ = ["WARM_STARTS", "answer_rounds", "neighbour", "stratified_fit", "warm_starts"]

#: Warm-start names, in the order they are enqueued.
WARM_STARTS: tuple[str, ...] = ("uniform", "greedy", "stratified", "stratified-one", "stratified-coarse")

#: Random draws :func:`neighbour` tries before it gives up.
NEIGHBOUR_TRIES = 64


def _answer_fields(pred: Any, demo: Any) -> list[str]:
    """Names of the fields of ``demo`` that hold its answer (the predictor's output fields)."""
    items = dict(demo.items()) if isinstance(demo, dspy.Example) else dict(demo)
    sig = getattr(pred, "signature", None)
    outputs = getattr(sig, "output_fields", None)
    if outputs:
        names = [n for n in outputs if n in items]
    elif isinstance(demo, dspy.Example) and demo._input_keys:
        names = [n for n in items if n not in demo._input_keys]
    else:
        names = list(items)
    return [n for n in names if not _has_image(items[n])]


def _has_image(value: object) -> bool:
    if isinstance(value, dspy.Image):
        return True
    return isinstance(value, (list, tuple)) and any(isinstance(v, dspy.Image) for v in value)


def _value(demo: Any, name: str) -> str:
    value = demo[name] if isinstance(demo, dspy.Example) else dict(demo)[name]
    return json.dumps(value, sort_keys=True, default=repr)


def _group(values: Sequence[tuple[str, ...]]) -> dict[tuple[str, ...], list[int]]:
    groups: dict[tuple[str, ...], list[int]] = {}
    for i, v in enumerate(values):
        groups.setdefault(v, []).append(i)
    return groups


def _answers(pred: Any, demos: Sequence[Any]) -> list[tuple[str, ...]]:
    """One answer per demo: all answer fields together, or, when every demo has its own
    combination (a ``reasoning`` field beside the label), the single field with the fewest
    distinct values that still has more than one and repeats."""
    fields = [_answer_fields(pred, d) for d in demos]
    joint = [tuple(f"{n}={_value(d, n)}" for n in names) for d, names in zip(demos, fields, strict=True)]
    if len(_group(joint)) < len(demos):
        return joint
    best: list[tuple[str, ...]] | None = None
    for name in dict.fromkeys(n for names in fields for n in names):
        single: list[tuple[str, ...]] = [
            (f"{name}={_value(d, name)}",) if name in names else () for d, names in zip(demos, fields, strict=True)
        ]
        n = len(_group(single))
        if 1 < n < len(demos) and (best is None or n < len(_group(best))):
            best = single
    return joint if best is None else best


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
    still fits). With ``"drop"`` or ``"coarse"`` only the first round is sharpened; with
    ``"coarse"`` the other demos' images then get their coarsest kept level, in order, where
    that still fits.
    """
    values: dict[str, Mapping[str, int]] = dict(ctx.dropped().values)
    rounds = answer_rounds(ctx.student, ctx.plan)
    by_demo: dict[str, list[str]] = {}
    for s in ctx.plan.slots:
        by_demo.setdefault(s.demo_id, []).append(s.id)
    sharp = rounds if rest == "fine" else rounds[:1]
    for demo_id in (d for r in sharp for d in r):
        for sid in by_demo[demo_id]:
            _finest(ctx, values, sid, budget)
    if rest == "coarse":
        for demo_id in (d for r in rounds[1:] for d in r):
            for sid in by_demo[demo_id]:
                ladder = ctx.spaces[sid].ladder()
                rung = ladder[-2] if len(ladder) > 1 else ladder[-1]
                if fits(ctx.tokens(Candidate({**values, sid: rung})), budget):
                    values[sid] = rung
    return Candidate(values)


def warm_starts(ctx: SearchContext, budget: float | None) -> list[tuple[str, Candidate]]:
    """The warm starts of :data:`WARM_STARTS` that fit, as ``(name, candidate)``, one per prompt."""
    made = {
        "uniform": ctx.uniform_fit(budget),
        "greedy": ctx.greedy_fit(budget),
        "stratified": stratified_fit(ctx, budget),
        "stratified-one": stratified_fit(ctx, budget, "drop"),
        "stratified-coarse": stratified_fit(ctx, budget, "coarse"),
    }
    out: dict[str, tuple[str, Candidate]] = {}
    for name in WARM_STARTS:
        cand = made[name]
        if fits(ctx.tokens(cand), budget):
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

    Only the image dimensions move (demo inclusion and crops stay). Returns ``None`` when
    :data:`NEIGHBOUR_TRIES` draws found nothing new.
    """
    slots = [s.id for s in ctx.plan.slots]
    for _ in range(NEIGHBOUR_TRIES):
        values = {sid: dict(v) for sid, v in incumbent.values.items()}
        for sid in rng.sample(slots, min(len(slots), rng.choice((1, 2)))):
            dim = rng.choice(ctx.spaces[sid].dims)
            others = [v for v in range(dim.low, dim.high + 1) if v != values[sid][dim.name]]
            if others:
                values[sid][dim.name] = rng.choice(others)
        cand = Candidate(values, incumbent.crops, incumbent.excluded)
        key = ctx.key(cand)
        if key not in seen and fits(ctx.tokens(cand), budget):
            return cand
    return None
