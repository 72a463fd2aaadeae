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
5. If a baseline that sends images (every demo Lanczos-resized to the budget, sharpened or not,
   full resolution, ``detail="low"``) is among the tied candidates, it is returned (the
   best-scoring such baseline, then the one with more tokens, then the earlier trial: plain
   resizing is enqueued before its sharpened copy): the search replaces plain resizing only when the valset shows it
   better. Otherwise the cheapest tied candidate (fewest tokens) is returned; at equal tokens a
   baseline, then the higher score, then the earlier trial.
6. If steps 2-5 picked a candidate that is not a baseline, the pick must survive a check that
   sees the selection (``confirm_splits``, default 200; 0 skips it): over that many seeded random
   halvings of the valset, steps 2-5 choose on one half and the pick is compared with the best
   baseline (highest full-valset score; then one that sends images, then more tokens) on the
   other half. Unless the mean of those held-out differences is above 0 and amounts to at least
   ``confirm_min_examples`` examples of a held-out half, the best baseline is returned instead
   (:class:`Confirmation`). No candidate is scored again: the check reads the
   per-example scores steps 2-5 read.
7. If a local judge scored the search for a program priced for another model
   (``local_departures="confirmed"``, the default; :mod:`specprompt.search._departures`) and the
   pick is not a baseline that sends images (a search candidate, or the text-only demos: a judge
   that cannot read the images may score them as high as images), the best baseline that sends
   images is returned unless the target (``target=``) scores the pick better on the valset; the
   pick is reported either way (:class:`~specprompt.search._departures.LocalPick`).

After this rule, the compile trims the chosen program (``trim=True``, the default;
:mod:`specprompt.search._trim`): its cheapest variant (fewer images per label, smaller images)
that loses no valset example it got is returned. Variants the trim scored are never in the pool
of this rule (study attribute ``trim:scored``), so a resumed compile chooses the same program.

The chosen program's valset score comes with a 95% confidence interval (:data:`INTERVAL_LEVEL`,
:func:`score_interval`): Wilson's score interval when every per-example score is 0 or 1 (the common
exact-match metric; a percentile bootstrap of 30 of 30 correct is the empty-width ``[1, 1]``, while
Wilson's is ``[0.886, 1]``), a percentile bootstrap of the mean otherwise.

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

Why step 6: the leader is the best of tens of candidates on one small valset, so its edge over the
baseline is partly the luck that made it the leader (the winner's curse), and the bootstrap of
step 4 cannot see that: it compares two fixed candidates. On the real-photo benchmark
(``benchmarks/bench_realphoto.py``, seeds 5-9, 24-example valsets) the compiles that left the
resizing baseline gained on the held-out split on average, but in 12-17 of 48 rows the search's
mean was below plain resizing, where the losing departures clustered. Choosing on half the valset
and scoring the choice on the other half measures the rule itself on examples it did not choose
with; averaging many halvings makes that estimate use every example.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Literal

import numpy as np

from specprompt.search._departures import LocalPick
from specprompt.search._record import TrialRecord
from specprompt.search._result import INTERVAL_LEVEL, ParetoRow, sends_images

__all__ = [
    "BOOTSTRAP_SAMPLES",
    "INTERVAL_LEVEL",
    "MIN_SPLIT_EXAMPLES",
    "SPLIT_SAMPLES",
    "Confirmation",
    "Decision",
    "IntervalMethod",
    "bootstrap_interval",
    "choose",
    "interval_method",
    "p_better",
    "score_interval",
    "wilson_interval",
]

#: Resamples of the valset per bootstrap.
BOOTSTRAP_SAMPLES = 2000
#: Resamples of the bootstrap inside each split of step 6 (one per split, shared by the candidates).
SPLIT_SAMPLES = 500
#: Fewest examples shared by every candidate for step 6 to run (each half holds at least 3).
MIN_SPLIT_EXAMPLES = 6
#: How :func:`score_interval` computed an interval.
IntervalMethod = Literal["wilson", "bootstrap"]


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


def wilson_interval(successes: int, n: int, level: float) -> tuple[float, float]:
    """Wilson's score interval of a proportion ``successes / n`` at ``level`` (e.g. 0.95).

    Unlike a bootstrap or the normal approximation, it keeps a positive width at 0 or ``n``
    successes: all of 30 correct gives ``[0.886, 1]`` at 95%.

    Example:
        >>> tuple(round(v, 4) for v in wilson_interval(30, 30, 0.95))
        (0.8865, 1.0)
        >>> tuple(round(v, 4) for v in wilson_interval(15, 30, 0.95))
        (0.3315, 0.6685)
    """
    if n <= 0:
        return (float("nan"), float("nan"))
    z = NormalDist().inv_cdf(0.5 + level / 2.0)
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2.0 * n)) / denom
    half = z * float(np.sqrt(p * (1.0 - p) / n + z * z / (4.0 * n * n))) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def interval_method(scores: Mapping[int, float]) -> IntervalMethod:
    """``"wilson"`` when every score is 0 or 1 (and there is one), else ``"bootstrap"``."""
    values = list(scores.values())
    return "wilson" if values and all(v in (0.0, 1.0) for v in values) else "bootstrap"


def score_interval(scores: Mapping[int, float], level: float, seed: int) -> tuple[float, float]:
    """The confidence interval of the mean of per-example ``scores`` at ``level``.

    Wilson's score interval (:func:`wilson_interval`) for 0/1 scores, else the seeded percentile
    bootstrap (:func:`bootstrap_interval`) of the mean; :func:`interval_method` says which.

    Example:
        >>> tuple(round(v, 4) for v in score_interval({i: 1.0 for i in range(30)}, 0.95, 0))
        (0.8865, 1.0)
        >>> score_interval({0: 0.5, 1: 0.5}, 0.95, 0)  # not 0/1: the bootstrap, which cannot widen
        (0.5, 0.5)
    """
    if interval_method(scores) == "wilson":
        return wilson_interval(sum(1 for v in scores.values() if v == 1.0), len(scores), level)
    return bootstrap_interval(scores, level, seed)


@dataclass(frozen=True)
class _Kinds:
    """What the rule needs to know of each row, read once from the rows' origins."""

    baseline: tuple[bool, ...]
    #: a baseline prompt that sends demo images (not text-only)
    sends_images: tuple[bool, ...]

    @classmethod
    def of(cls, rows: Sequence[ParetoRow]) -> _Kinds:
        return cls(tuple(TrialRecord(origin=r.origin).is_baseline for r in rows), tuple(map(sends_images, rows)))


@dataclass(frozen=True)
class Confirmation:
    """The selection-aware check of leaving the best baseline (step 6 of the rule).

    Attributes:
        gain: mean over the splits of (score of the rule's pick on the half-valset it did not
            see) minus (the fallback's score on that half): an estimate of what leaving the
            fallback gains on examples the choice never saw.
        splits: random half-splits of the valset the estimate averages.
        fallback: the best baseline, returned unless ``gain`` is above 0.
        departed: whether the rule's own pick was returned (``gain > 0``).
    """

    gain: float
    splits: int
    fallback: ParetoRow
    departed: bool
    #: examples in each held-out half
    unseen: int = 0
    #: ``confirm_min_examples``: the least mean gain, in examples of a held-out half, to leave
    min_examples: float = 0.0

    @property
    def gain_examples(self) -> float:
        """:attr:`gain` in examples of a held-out half (``gain * unseen``)."""
        return self.gain * self.unseen

    def to_dict(self) -> dict[str, Any]:
        return {
            "gain": self.gain,
            "splits": self.splits,
            "fallback": self.fallback.trial,
            "departed": self.departed,
            "unseen": self.unseen,
            "min_examples": self.min_examples,
        }

    def summary(self) -> str:
        verdict = "kept" if self.departed else f"not kept: the baseline trial {self.fallback.trial} is returned"
        need = "above 0" if self.min_examples <= 0 else f"at least {self.min_examples:g} example(s)"
        return (
            f"leaving the best baseline gains {100 * self.gain:+.1f} points on held-out halves of the valset "
            f"({self.gain_examples:+.2f} of {self.unseen} examples, {self.splits} splits; needed: {need}); "
            f"the search's pick is {verdict}"
        )


@dataclass(frozen=True)
class Decision:
    """The chosen row and why.

    Attributes:
        row: the returned candidate.
        interval: confidence interval of its full-valset score (:func:`score_interval`).
        leader: the best candidate by full-valset score (may be ``row``).
        p_leader_better: bootstrap probability that the leader beats ``row`` (0 when equal).
        floor: the best baseline full-valset score in the pool (``None`` without baselines).
        confirmation: the check of step 6 when it ran (the rule picked a non-baseline and a
            baseline is in the pool), else ``None``.
        local_pick: the pick of steps 2-6 when step 7 returned the best baseline instead
            (the optimizer may still return the pick once the target confirms it), else ``None``.
    """

    row: ParetoRow
    interval: tuple[float, float]
    leader: ParetoRow
    p_leader_better: float
    floor: float | None
    confirmation: Confirmation | None = None
    local_pick: LocalPick | None = None


#: ``(leader index, candidate index) -> bootstrap probability the leader is better``.
_Prob = Callable[[int, int], float]


def _rule(
    rows: Sequence[ParetoRow], kinds: _Kinds, means: Sequence[float], prob: _Prob, confidence: float
) -> tuple[int, int, float, float | None]:
    """Steps 2-5 on ``rows`` scored by ``means``: (index of the pick, of the leader, P(leader
    better), the floor)."""
    idx = range(len(rows))
    baselines = [i for i in idx if kinds.baseline[i]]
    floor = max(means[i] for i in baselines) if baselines else None
    eligible = [i for i in idx if floor is None or means[i] >= floor]
    leader = max(eligible, key=lambda i: (means[i], -rows[i].tokens, -rows[i].trial))
    probs = {i: 0.0 if i == leader else prob(leader, i) for i in eligible}
    tied = [i for i in eligible if probs[i] < confidence]
    references = [i for i in tied if kinds.sends_images[i]]
    if references:
        pick = max(references, key=lambda i: (means[i], rows[i].tokens, -rows[i].trial))
    else:
        pick = min(tied, key=lambda i: (rows[i].tokens, not kinds.baseline[i], -means[i], rows[i].trial))
    return pick, leader, probs[pick], floor


def _fallback(rows: Sequence[ParetoRow], kinds: _Kinds, images: bool = False) -> int | None:
    """Index of the best baseline: highest score, then one that sends images, then more tokens
    (``images``: of the baselines that send images only)."""
    baselines = [i for i in range(len(rows)) if (kinds.sends_images if images else kinds.baseline)[i]]
    if not baselines:
        return None
    return max(baselines, key=lambda i: (rows[i].score, kinds.sends_images[i], rows[i].tokens, -rows[i].trial))


def _confirm(
    rows: Sequence[ParetoRow],
    kinds: _Kinds,
    fb: int,
    scores: Mapping[str, Mapping[int, float]],
    confidence: float,
    seed: int,
    splits: int,
    min_examples: float = 0.0,
) -> Confirmation | None:
    """Step 6: cross-validates the whole rule against the best baseline ``rows[fb]`` (``None``
    when it cannot).

    Each of ``splits`` seeded random splits halves the examples every row was scored on; steps
    2-5 choose on one half (bootstrap of :data:`SPLIT_SAMPLES` resamples), and the pick's score on
    the other half is compared with the best baseline's there. The pick is kept when the mean
    difference is above 0 and amounts to at least ``min_examples`` examples of a held-out half.
    ``None`` with fewer than :data:`MIN_SPLIT_EXAMPLES` shared examples.
    """
    shared = sorted(set.intersection(*(set(scores[r.key]) for r in rows)))
    n = len(shared)
    if n < MIN_SPLIT_EXAMPLES:
        return None
    table = np.array([[scores[r.key][i] for i in shared] for r in rows], dtype=np.float64)
    rng = np.random.default_rng([seed, n, splits])
    half = n // 2
    gains = np.empty(splits, dtype=np.float64)
    for s in range(splits):
        order = rng.permutation(n)
        seen, unseen = table[:, order[:half]], table[:, order[half:]]
        boot = seen[:, rng.integers(0, half, size=(SPLIT_SAMPLES, half))].mean(axis=2)

        def prob(a: int, b: int, boot: np.ndarray = boot) -> float:
            return float((boot[a] - boot[b] > 1e-12).mean())

        pick = _rule(rows, kinds, seen.mean(axis=1).tolist(), prob, confidence)[0]
        gains[s] = unseen[pick].mean() - unseen[fb].mean()
    gain = float(gains.mean())
    n_unseen = n - half
    departed = gain > 1e-12 and gain * n_unseen >= min_examples - 1e-9
    return Confirmation(gain, splits, rows[fb], departed, unseen=n_unseen, min_examples=float(min_examples))


def choose(
    rows: Sequence[ParetoRow],
    scores: Mapping[str, Mapping[int, float]],
    confidence: float,
    seed: int,
    *,
    splits: int = 0,
    min_examples: float = 0.0,
    hold: str = "",
) -> Decision:
    """Applies the rule of this module to full-valset ``rows``.

    Args:
        rows: candidates with full-valset scores (``row.full``).
        scores: candidate key -> per-example full-valset scores.
        confidence: ``tie_confidence``.
        seed: bootstrap seed.
        splits: ``confirm_splits`` (step 6; 0 skips it).
        min_examples: ``confirm_min_examples`` (step 6).
        hold: step 7: when not empty, the reason why a pick that is not a baseline sending images
            is replaced by the best such baseline
            (:func:`~specprompt.search._departures.departure_policy`).

    Raises:
        ValueError: ``rows`` is empty.
    """
    if not rows:
        raise ValueError("no candidate with a full-valset score to choose from")

    def prob(a: int, b: int) -> float:
        return p_better(scores[rows[a].key], scores[rows[b].key], seed)

    kinds = _Kinds.of(rows)
    pick, leader, p_pick, floor = _rule(rows, kinds, [r.score for r in rows], prob, confidence)
    confirmation = None
    fb = _fallback(rows, kinds)
    if splits > 0 and fb is not None and not kinds.baseline[pick]:
        confirmation = _confirm(rows, kinds, fb, scores, confidence, seed, splits, min_examples)
        if confirmation is not None and not confirmation.departed:
            pick, p_pick = fb, 0.0 if fb == leader else prob(leader, fb)
    local_pick = None
    resized = _fallback(rows, kinds, images=True) if hold else None
    if resized is not None and not kinds.sends_images[pick]:  # a search candidate, or text-only demos
        local_pick = LocalPick(rows[pick], rows[resized], hold)
        pick, p_pick = resized, 0.0 if resized == leader else prob(leader, resized)
    row = rows[pick]
    interval = score_interval(scores[row.key], INTERVAL_LEVEL, seed)
    return Decision(row, interval, rows[leader], p_pick, floor, confirmation, local_pick)
