"""Choosing the returned program among the finalists: full-valset scores and a paired bootstrap.

The rule (also in the README):

1. Every candidate with a full-valset score is in the pool: the ``finalists`` best by minibatch
   score, every baseline that fits the budget (origin ``baseline:<name>``), the periodic
   full-valset evaluations and, in multi-objective mode, the Pareto front.
2. The floor is the best full-valset score of a baseline in the pool; candidates below it are
   out, so the returned program never scores below a baseline the compile scored.
3. The leader is the best remaining candidate (:func:`~specprompt.search._result.rank`).
4. A candidate ties with the leader unless a paired bootstrap over the valset examples (seeded,
   :data:`BOOTSTRAP_SAMPLES` resamples) finds the leader better with probability >=
   ``tie_confidence`` (default 0.8).
5. If a baseline that sends images (every demo Lanczos-resized to the budget, full resolution,
   ``detail="low"``) is among the tied candidates, it is returned (the best-scoring such baseline,
   then the one with more tokens): the search replaces plain resizing only when the valset shows it
   better. Otherwise the cheapest tied candidate (fewest tokens) is returned; at equal tokens a
   baseline, then the higher score, then the earlier trial.

After this rule, the compile trims the chosen program (``trim=True``, the default;
:mod:`specprompt.search._trim`): its cheapest variant (fewer images per label, smaller images)
that loses no valset example it got is returned. Variants the trim scored are never in the pool
of this rule (study attribute ``trim:scored``), so a resumed compile chooses the same program.

The chosen program's valset score comes with a 95% percentile-bootstrap confidence interval
(:data:`INTERVAL_LEVEL`).

Why 0.8 and not 0.95: on a 20-example valset a candidate right on two more examples than a
cheaper one (never worse) is better with bootstrap probability about 0.88. At 0.95 the cheaper one
would be returned, 10 points lower; ``benchmarks/bench_optimizer.py`` (fine-texture, 50% budget)
measured exactly that: the uniform baseline at 90% valset / 83.3% test was returned instead of a
100% / 100% candidate. At 0.8 a one-example edge (probability about 0.64) is still a tie.

Why step 5 prefers the resizing baseline: on small valsets many cheaper candidates tie with it,
and returning the cheapest of them lost held-out accuracy against plain resizing
(``benchmarks/bench_realphoto.py``: below uniform Lanczos in 35 of 48 rows; ``bench_optimizer.py``
colour-position: 86.7% test for a 10-token prompt tied on the valset with the 208-token uniform
baseline at 96.7%). The budget is what the user chose to spend; ``CompileResult.program_for_budget``
and the Pareto table still offer the cheaper candidates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from specprompt.search._record import TrialRecord
from specprompt.search._result import ParetoRow, best_row

__all__ = ["BOOTSTRAP_SAMPLES", "INTERVAL_LEVEL", "Decision", "bootstrap_interval", "choose", "p_better"]

#: Resamples of the valset per bootstrap.
BOOTSTRAP_SAMPLES = 2000
#: Level of the reported confidence interval of the chosen program's valset score.
INTERVAL_LEVEL = 0.95


def _draws(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng([seed, n]).integers(0, n, size=(BOOTSTRAP_SAMPLES, n))


def p_better(a: Mapping[int, float], b: Mapping[int, float], seed: int) -> float:
    """Probability under a paired bootstrap that ``a``'s mean exceeds ``b``'s.

    Both map valset indices to per-example scores; only shared indices count.

    Example:
        >>> p_better({0: 1.0, 1: 1.0, 2: 1.0}, {0: 1.0, 1: 1.0, 2: 1.0}, 0)
        0.0
        >>> p_better({i: 1.0 for i in range(30)}, {i: 0.0 for i in range(30)}, 0)
        1.0
    """
    shared = sorted(set(a) & set(b))
    if not shared:
        return 0.0
    diffs = np.array([a[i] - b[i] for i in shared], dtype=np.float64)
    means = diffs[_draws(len(shared), seed)].mean(axis=1)
    return float((means > 1e-12).mean())


def bootstrap_interval(scores: Mapping[int, float], level: float, seed: int) -> tuple[float, float]:
    """Percentile-bootstrap interval of the mean of ``scores`` at ``level`` (e.g. 0.95)."""
    values = np.array([scores[i] for i in sorted(scores)], dtype=np.float64)
    if values.size == 0:
        return (float("nan"), float("nan"))
    means = values[_draws(values.size, seed)].mean(axis=1)
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [tail, 1.0 - tail])
    return (float(lo), float(hi))


def _sends_images(row: ParetoRow) -> bool:
    """Whether ``row`` is a baseline prompt that sends demo images (not text-only)."""
    return TrialRecord(origin=row.origin).is_baseline and row.tokens > 0


@dataclass(frozen=True)
class Decision:
    """The chosen row and why.

    Attributes:
        row: the returned candidate.
        interval: bootstrap confidence interval of its full-valset score.
        leader: the best candidate by full-valset score (may be ``row``).
        p_leader_better: bootstrap probability that the leader beats ``row`` (0 when equal).
        floor: the best baseline full-valset score in the pool (``None`` without baselines).
    """

    row: ParetoRow
    interval: tuple[float, float]
    leader: ParetoRow
    p_leader_better: float
    floor: float | None


def choose(
    rows: Sequence[ParetoRow], scores: Mapping[str, Mapping[int, float]], confidence: float, seed: int
) -> Decision:
    """Applies the rule of this module to full-valset ``rows``.

    Args:
        rows: candidates with full-valset scores (``row.full``).
        scores: candidate key -> per-example full-valset scores.
        confidence: ``tie_confidence``.
        seed: bootstrap seed.

    Raises:
        ValueError: ``rows`` is empty.
    """
    if not rows:
        raise ValueError("no candidate with a full-valset score to choose from")
    baselines = [r for r in rows if TrialRecord(origin=r.origin).is_baseline]
    floor = max(r.score for r in baselines) if baselines else None
    eligible = [r for r in rows if floor is None or r.score >= floor]
    leader = best_row(eligible)
    probs = {r.key: 0.0 if r.key == leader.key else p_better(scores[leader.key], scores[r.key], seed) for r in eligible}
    tied = [r for r in eligible if probs[r.key] < confidence]
    references = [r for r in tied if _sends_images(r)]
    if references:
        row = max(references, key=lambda r: (r.score, r.tokens, -r.trial))
    else:
        row = min(tied, key=lambda r: (r.tokens, not TrialRecord(origin=r.origin).is_baseline, -r.score, r.trial))
    return Decision(row, bootstrap_interval(scores[row.key], INTERVAL_LEVEL, seed), leader, probs[row.key], floor)
