"""The answers (labels) of demos: grouping, stratified demo picks and the one-image-per-label rule.

A demo's answer is the JSON of its predictor's output-field values (the non-input fields of a
``dspy.Example`` when the predictor has no signature; image fields never count). When that makes
every demo distinct (a free-text ``reasoning`` field beside the label), the output field with the
fewest distinct values that still repeats is used alone. No labels are asked of the user.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from typing import Any

import dspy

__all__ = ["answer_fields", "answers", "class_keys", "group", "stratified_pick", "unshown_answers"]


def answer_fields(pred: Any, demo: Any) -> list[str]:
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


def group(values: Sequence[tuple[str, ...]]) -> dict[tuple[str, ...], list[int]]:
    """Indices of equal values, groups in order of first appearance."""
    groups: dict[tuple[str, ...], list[int]] = {}
    for i, v in enumerate(values):
        groups.setdefault(v, []).append(i)
    return groups


def answers(pred: Any, demos: Sequence[Any]) -> list[tuple[str, ...]]:
    """One answer per demo (see the module docstring)."""
    fields = [answer_fields(pred, d) for d in demos]
    joint = [tuple(f"{n}={_value(d, n)}" for n in names) for d, names in zip(demos, fields, strict=True)]
    if len(group(joint)) < len(demos):
        return joint
    best: list[tuple[str, ...]] | None = None
    for name in dict.fromkeys(n for names in fields for n in names):
        single: list[tuple[str, ...]] = [
            (f"{name}={_value(d, name)}",) if name in names else () for d, names in zip(demos, fields, strict=True)
        ]
        n = len(group(single))
        if 1 < n < len(demos) and (best is None or n < len(group(best))):
            best = single
    return joint if best is None else best


def class_keys(pred: Any, demos: Sequence[Any], trainset: Sequence[Any]) -> tuple[str | None, ...]:
    """Per demo, its class: the text of its answer, or ``None`` for every demo when answers are not classes
    (and for a demo that holds none of the predictor's output fields: it shows no answer).

    Answers count as classes when some answer repeats among ``demos`` and ``trainset`` together
    (a free-text answer that every example has its own of is not a class). ``trainset`` must not
    hold the demos again.

    Example:
        >>> p = dspy.Predict("image: dspy.Image -> label")
        >>> train = [dspy.Example(label=x) for x in "abab"]
        >>> class_keys(p, train[:2], train[2:]), class_keys(p, train[:2], [])
        (('label="a"', 'label="b"'), (None, None))
    """
    pool = [*demos, *trainset]
    keys = answers(pred, pool) if pool else []
    if len(group(keys)) == len(pool):
        return tuple(None for _ in demos)
    return tuple(", ".join(k) or None for k in keys[: len(demos)])  # (a demo without answer fields shows none)


def stratified_pick(pred: Any, trainset: Sequence[Any], k: int, rng: random.Random) -> list[Any]:
    """``k`` examples of ``trainset`` spread over its answers, drawn with ``rng``.

    Convention:
        Answers are shuffled, and so are the examples of each answer; then the first example of
        every answer is taken, then the second of every answer, ... until ``k`` are taken. With
        ``k`` at least the number of answers every answer gets a demo; with fewer, ``k`` answers
        get one each. Answers that never repeat (free text) make this a plain seeded sample.

    Example:
        >>> p = dspy.Predict("image: dspy.Image -> label")
        >>> train = [dspy.Example(label=x) for x in "aaaaaabbc"]
        >>> sorted(ex.label for ex in stratified_pick(p, train, 3, random.Random(0)))
        ['a', 'b', 'c']
    """
    pool = list(trainset)
    k = min(k, len(pool))
    groups = [list(g) for g in group(answers(pred, pool)).values()]
    rng.shuffle(groups)
    for g in groups:
        rng.shuffle(g)
    picked: list[int] = []
    r = 0
    while len(picked) < k:
        for g in groups:
            if r < len(g) and len(picked) < k:
                picked.append(g[r])
        r += 1
    return [pool[i] for i in picked]


def unshown_answers(pred: Any, demos: Sequence[Any], examples: Sequence[Any]) -> list[int]:
    """Indices of ``examples`` whose answer (class) no demo in ``demos`` shows.

    Answers as :func:`answers` reads them over demos and examples together; the caller knows
    they are classes (:func:`class_keys` of the demos is not ``None``). ``[]`` without demos.

    Example:
        >>> p = dspy.Predict("image: dspy.Image -> label")
        >>> demos = [dspy.Example(label=x) for x in "ab"]
        >>> unshown_answers(p, demos, [dspy.Example(label=x) for x in "abcc"])
        [2, 3]
    """
    if not demos or not examples:
        return []
    keys = answers(pred, [*demos, *examples])
    shown = set(keys[: len(demos)])
    return [i for i, k in enumerate(keys[len(demos) :]) if k not in shown]
