"""Agreement of two score vectors (pure math).

Spearman's rank correlation with its bootstrap interval, and the *top hit*: whether the best share
of one side (the screen's) holds the best of the other (the target's), with its bootstrap
probability.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from specprompt.errors import ConfigError

__all__ = ["bootstrap_interval", "spearman", "top_hit", "top_hit_probability"]


def _ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks (ties share the mean of their positions), 0-based."""
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), np.float64)
    sx = x[order]
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and sx[j + 1] == sx[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0
        i = j + 1
    return ranks


def spearman(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float | None:
    """Spearman's rank correlation of ``a`` and ``b`` (average ranks for ties).

    Returns ``None`` when it is undefined: fewer than 2 values, or either side constant.

    Raises:
        ConfigError: ``a`` and ``b`` differ in length.

    Example:
        >>> spearman([0.1, 0.5, 0.9], [1, 2, 3]), spearman([1, 2, 3], [3, 2, 1]), spearman([1, 1], [1, 2])
        (1.0, -1.0, None)
    """
    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ConfigError(f"spearman needs two equal-length score lists, got {len(x)} and {len(y)}")
    if len(x) < 2:
        return None
    rx, ry = _ranks(x), _ranks(y)
    dx, dy = rx - rx.mean(), ry - ry.mean()
    den = math.sqrt(float((dx * dx).sum()) * float((dy * dy).sum()))
    if den == 0.0:
        return None
    return max(-1.0, min(1.0, float((dx * dy).sum()) / den))


def bootstrap_interval(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    *,
    confidence: float = 0.95,
    n_bootstrap: int = 2000,
    seed: int = 0,
) -> tuple[float, float] | None:
    """Seeded percentile-bootstrap interval of :func:`spearman` over resampled pairs (probes).

    Resamples where the correlation is undefined (a constant side) are skipped; ``None`` when
    fewer than half of them are defined.
    """
    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if len(x) < 2 or spearman(x, y) is None:
        return None
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n_bootstrap):
        idx = rng.integers(0, len(x), len(x))
        r = spearman(x[idx], y[idx])
        if r is not None:
            values.append(r)
    if len(values) < n_bootstrap / 2:
        return None
    tail = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(np.asarray(values), [tail, 1.0 - tail])
    return float(lo), float(hi)


def top_hit(
    screen: Sequence[float] | np.ndarray,
    target: Sequence[float] | np.ndarray,
    keep: float,
    tolerance: float = 0.0,
) -> bool | None:
    """Whether the best ``keep`` share of ``screen`` holds a pair with the best ``target`` score.

    The share is ``max(1, ceil(keep * n))`` pairs by screen score; pairs tied on it pass together
    (as :func:`~specprompt.search._screen.promotes` lets them). A pair counts as best when its
    target score is within ``tolerance`` of the best one (0: only the best). ``None`` when it is
    undefined: no pairs, or ``target`` constant (every pair is best, so nothing is tested).

    Raises:
        ConfigError: ``screen`` and ``target`` differ in length.

    Example:
        >>> top_hit([0.9, 0.1, 0.5, 0.2], [1.0, 0.0, 0.5, 0.5], 0.25), top_hit([0.1, 0.9], [1.0, 0.0], 0.5)
        (True, False)
        >>> top_hit([0.1, 0.9], [0.5, 0.5], 0.5) is None
        True
        >>> top_hit([0.9, 0.1, 0.5, 0.2], [0.875, 1.0, 0.5, 0.5], 0.25, tolerance=0.125)
        True
    """
    x, y = np.asarray(screen, np.float64), np.asarray(target, np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ConfigError(f"top_hit needs two equal-length score lists, got {len(x)} and {len(y)}")
    if len(x) == 0 or float(y.max()) == float(y.min()):
        return None
    k = max(1, math.ceil(keep * len(x)))
    better = (x[None, :] > x[:, None]).sum(axis=1)  # pairs with a strictly higher screen score
    margin = float(tolerance) + (1e-9 if tolerance > 0 else 0.0)  # 7/8 is within 1/8 of 1 whatever the rounding
    return bool(float(y[better < k].max()) >= float(y.max()) - margin)


def top_hit_probability(
    screen: Sequence[float] | np.ndarray,
    target: Sequence[float] | np.ndarray,
    keep: float,
    *,
    tolerance: float = 0.0,
    n_bootstrap: int = 2000,
    seed: int = 0,
) -> float | None:
    """Seeded bootstrap probability of :func:`top_hit` (with ``tolerance``) over resampled pairs.

    Resamples where it is undefined (a constant target) are skipped; ``None`` when fewer than half
    of them are defined.

    Example:
        >>> top_hit_probability([0.1, 0.2, 0.3, 0.4], [0.0, 0.2, 0.3, 0.9], 0.25)
        1.0
    """
    x, y = np.asarray(screen, np.float64), np.asarray(target, np.float64)
    if top_hit(x, y, keep, tolerance) is None:
        return None
    rng = np.random.default_rng(seed)
    hits = defined = 0
    for _ in range(n_bootstrap):
        idx = rng.integers(0, len(x), len(x))
        h = top_hit(x[idx], y[idx], keep, tolerance)
        if h is not None:
            defined += 1
            hits += h
    if defined < n_bootstrap / 2:
        return None
    return hits / defined
