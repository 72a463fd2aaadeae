"""Whether to screen: the rules that read the agreement of a screen with the target.

The pairs are a probe's (:func:`~specprompt.search._calibrate.calibrate_context`: both judges
score the same prompts) or the search's own first candidates, scored by both
(``calibration_mode="trials"``, :func:`trial_pairs`). :func:`screen_verdict` and
:func:`trials_verdict` apply the rule; :func:`settled` says whether more pairs could change it.

Two rules (``screen_rule``) read the pairs (probe or trials). ``"rank"`` (the default): Spearman's
rho at least ``screen_min_agreement``, its bootstrap interval above 0. ``"top"`` asks only what
screening must not lose: the screen's best ``screen_keep`` share of the pairs (ties on the screen
score pass together, as :func:`~specprompt.search._screen.promotes` lets them) holds a pair with
the target's best score, in at least :data:`TOP_CONFIDENCE` of seeded bootstrap resamples of the
pairs (:func:`~specprompt.search._rank.top_hit_probability`). Its open verdicts (probability
between ``1 - TOP_CONFIDENCE`` and :data:`TOP_CONFIDENCE`) wait for more rounds, as the rank
rule's open intervals do (:data:`~specprompt.search._screen.TRIALS_ROUNDS`). Undefined (the target
gave every pair one score) waits too; after the last round of the search's own pairs
(``calibration_mode="trials"``) it screens, since every candidate is then one of the target's best
and the screen cannot lose it, while a probe's undefined verdict falls back (the probe's designed
selections range from all bands to a few, so a target that scores them all alike tells nothing).

``screen_keep_min`` reads the same pairs once more when the ``"top"`` rule screens: the smaller
shares ``screen_keep - 0.05``, ``- 0.10``, ... down to it (:func:`tighter_keep`), each by the same
rule, and the search screens with the smallest that passes (the first that does not stops the walk).
The shares are nested (a smaller best share holds the target's best only if every larger one does),
so this asks no new question of a screen that fails, and a screen that passes with a margin sends
fewer candidates to the target.

``screen_tolerance`` widens "the target's best" of the ``"top"`` rule to every pair within that
much of it (0, the default: only the best). Minibatch scores are coarse: with 8 examples and a 0/1
metric they move in steps of 1/8, and a candidate one example behind the best is not told apart
from it on the minibatch (the full valset decides between the finalists). A screen whose best
share misses the one pair that scored 8/8 but holds several at 7/8 loses nothing the minibatch can
show; with ``screen_tolerance=0.125`` it screens.

Why a second rule: the search's own candidates are close to each other and 8-example minibatch
scores take few values, so the two judges' full orders of them agree little (rho 0.12-0.44 after
24-36 pairs in the compiles that fell back, ``benchmarks/README.md``) even where the screen's best
share keeps the target's best.

Why more rounds: twelve pairs of 8-example minibatch scores left 8 of 16 compiles of
``benchmarks/bench_multifidelity.py`` open (rho between 0.06 and 0.55 with intervals 1.0-1.4 wide),
and all of them fell back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import optuna

from specprompt.search._rank import bootstrap_interval, spearman, top_hit_probability
from specprompt.search._record import TrialRecord

if TYPE_CHECKING:
    from collections.abc import Sequence

    from specprompt.search._calibration import Calibration
    from specprompt.search._config import ScreenRule, SearchConfig

__all__ = [
    "KEEP_STEP",
    "TOP_CONFIDENCE",
    "VerdictRule",
    "screen_verdict",
    "settled",
    "tighter_keep",
    "trial_pairs",
    "trials_verdict",
]

#: ``screen_rule="top"``: the least bootstrap probability that the screen's best share holds the target's best.
TOP_CONFIDENCE = 0.8

#: ``screen_keep_min``: the step between the shares :func:`tighter_keep` tries below ``screen_keep``.
KEEP_STEP = 0.05


@dataclass(frozen=True)
class VerdictRule:
    """How the pairs of a screen and the target are read: the ``SearchConfig`` fields of the verdict.

    Built once per compile (:meth:`from_config`, from a validated config) and handed to
    :func:`screen_verdict`, :func:`trials_verdict`, :func:`settled` and the
    :class:`~specprompt.search._screen.Screen`. The defaults are ``SearchConfig``'s.

    Attributes:
        rule: ``screen_rule``: ``"rank"`` or ``"top"``.
        min_agreement: ``screen_min_agreement`` (the ``"rank"`` rule's least rho).
        keep: ``screen_keep`` (the ``"top"`` rule's best share; also the screen's promotion share).
        keep_min: ``screen_keep_min``: the least share :func:`tighter_keep` tries (None: none).
        tolerance: ``screen_tolerance`` (the ``"top"`` rule's, :func:`~specprompt.search._rank.top_hit`).
        seed: seed of the bootstrap resamples (``SearchConfig.seed``).

    Example:
        >>> from specprompt.search._config import SearchConfig
        >>> VerdictRule.from_config(SearchConfig()) == VerdictRule()
        True
    """

    rule: ScreenRule = "rank"
    min_agreement: float = 0.5
    keep: float = 0.25
    keep_min: float | None = None
    tolerance: float = 0.0
    seed: int = 0

    @classmethod
    def from_config(cls, cfg: SearchConfig) -> VerdictRule:
        """The verdict fields of ``cfg`` (validated there)."""
        return cls(
            rule=cfg.screen_rule,
            min_agreement=float(cfg.screen_min_agreement),
            keep=float(cfg.screen_keep),
            keep_min=None if cfg.screen_keep_min is None else float(cfg.screen_keep_min),
            tolerance=float(cfg.screen_tolerance),
            seed=int(cfg.seed),
        )


def screen_verdict(calibration: Calibration | None, verdict: VerdictRule = VerdictRule()) -> tuple[bool, str]:
    """Whether to screen, and one line saying why (logged by the optimizer).

    Screen when no calibration was measured (unchecked). Otherwise by ``verdict.rule``:
    ``"rank"``, when Spearman's rho is defined, at least ``verdict.min_agreement``, and its
    bootstrap interval's lower end is above 0; ``"top"``, when the screen's best ``verdict.keep``
    share of the probes holds the target's best probe (or one within ``verdict.tolerance`` of it)
    with bootstrap probability at least :data:`TOP_CONFIDENCE` (``verdict.seed``).

    Example:
        >>> screen_verdict(None)[0]
        True
    """
    if calibration is None:
        return True, "agreement with the target not measured (calibrate=False): screening unchecked"
    who = f"{calibration.local} vs {calibration.target}"
    if verdict.rule == "top":
        p = _top_probability(calibration.local_scores, calibration.target_scores, verdict)
        return _top_verdict(who, p, verdict)
    return _verdict(who, calibration.spearman, calibration.interval, verdict.min_agreement)


def _top_probability(
    screen: Sequence[float], target: Sequence[float], verdict: VerdictRule, keep: float | None = None
) -> float | None:
    """The ``"top"`` rule's bootstrap probability of a top hit on these pairs (share ``keep``,
    default ``verdict.keep``)."""
    share = verdict.keep if keep is None else keep
    return top_hit_probability(screen, target, share, tolerance=verdict.tolerance, seed=verdict.seed)


def _shares(keep: float, keep_min: float) -> list[float]:
    """``keep``, then :data:`KEEP_STEP` less at a time while at least ``keep_min``, and ``keep_min``.

    Example:
        >>> _shares(0.2, 0.1), _shares(0.25, 0.12), _shares(0.2, 0.2)
        ([0.2, 0.15, 0.1], [0.25, 0.2, 0.15, 0.12], [0.2])
    """
    out = [keep]
    while round(out[-1] - KEEP_STEP, 9) >= keep_min - 1e-9:
        out.append(round(out[-1] - KEEP_STEP, 9))
    if out[-1] > keep_min + 1e-9:
        out.append(keep_min)
    return out


def tighter_keep(screen: Sequence[float], target: Sequence[float], verdict: VerdictRule) -> tuple[float, float | None]:
    """The smallest best share of the screen that still holds the target's best, by the ``"top"`` rule.

    Walks :func:`_shares` below ``verdict.keep`` down to ``verdict.keep_min``; each share passes when
    the bootstrap probability of a top hit (within ``verdict.tolerance``) is at least
    :data:`TOP_CONFIDENCE`, and the first that does not stops the walk. Called once the rule
    screens at ``verdict.keep``.

    Returns:
        the share and its probability; ``(verdict.keep, None)`` when ``keep_min`` is None, the rule
        is not ``"top"``, or no smaller share passes (a constant target included).

    Example:
        >>> screen, target = [0.9, 0.8, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6], [0.5, 1, 0, 0, 0, 0, 0, 0.5]
        >>> keep, p = tighter_keep(screen, target, VerdictRule("top", keep=0.25, keep_min=0.1))
        >>> keep, round(p, 2)  # the best 2 of 8 hold the target's best; the best 1 does not
        (0.15, 0.84)
    """
    chosen: tuple[float, float | None] = (verdict.keep, None)
    if verdict.rule != "top" or verdict.keep_min is None:
        return chosen
    for share in _shares(verdict.keep, verdict.keep_min)[1:]:
        p = _top_probability(screen, target, verdict, share)
        if p is None or p < TOP_CONFIDENCE:
            break
        chosen = (share, p)
    return chosen


def _top_verdict(who: str, p: float | None, verdict: VerdictRule) -> tuple[bool, str]:
    """The ``"top"`` rule on the bootstrap probability ``p`` of a top hit (within ``verdict.tolerance``)."""
    if p is None:
        return False, f"top agreement of {who} is undefined (one target score): falling back to target-only scoring"
    tolerance = verdict.tolerance
    best = "the target's best" if tolerance == 0 else f"the target's best (within {tolerance:g})"
    text = f"top agreement of {who}: the screen's best {verdict.keep:g} holds {best} in {p:.2f} of resamples"
    if p < TOP_CONFIDENCE:
        return False, f"{text}, below {TOP_CONFIDENCE:g}: falling back to target-only scoring"
    return True, f"{text}: screening with it"


def _verdict(who: str, rho: float | None, ci: tuple[float, float] | None, min_agreement: float) -> tuple[bool, str]:
    """The ``"rank"`` rule of :func:`screen_verdict` on a measured ``rho`` and its interval ``ci``."""
    if rho is None or ci is None:
        return False, f"rank agreement of {who} is undefined: falling back to target-only scoring"
    text = f"rank agreement of {who}: {rho:.2f}, CI [{ci[0]:.2f}, {ci[1]:.2f}]"
    if rho < min_agreement:
        return False, f"{text} is below {min_agreement:g}: falling back to target-only scoring"
    if ci[0] <= 0.0:
        return False, f"{text} includes 0: falling back to target-only scoring"
    return True, f"{text}: screening with it"


def trial_pairs(study: optuna.Study, n: int) -> tuple[list[float], list[float]] | None:
    """Screen and target minibatch scores of the complete non-baseline trials that both judges scored.

    In trial order, the first ``n``, so the pairs do not change once they exist; ``None`` while
    fewer exist. Baselines are left out: the text-only one scores near zero with any judge and
    would make a screen that ranks nothing else look like it agrees.
    """
    screen: list[float] = []
    target: list[float] = []
    found = 0
    complete = (optuna.trial.TrialState.COMPLETE,)
    for t in sorted(study.get_trials(deepcopy=False, states=complete), key=lambda t: t.number):
        rec = TrialRecord.from_trial(t)
        if rec.is_baseline or rec.screen_score is None or rec.score is None or not math.isfinite(rec.score):
            continue
        screen.append(float(rec.screen_score))
        target.append(float(rec.score))
        found += 1
        if found >= n:
            return screen, target
    return None


def trials_verdict(
    screen: list[float],
    target: list[float],
    who: str,
    verdict: VerdictRule = VerdictRule(),
    *,
    last: bool = False,
) -> tuple[bool, str]:
    """:func:`screen_verdict`'s rule on the pairs of :func:`trial_pairs` (``who``: "screen vs target").

    Spearman's rho and its bootstrap interval are computed as the probe's
    (:func:`~specprompt.search._calibrate.calibrate_context`: 95%, 2000 resamples,
    ``verdict.seed``); the ``"top"`` rule's probability with 2000 resamples and that seed too. With
    ``last`` (the last round) the ``"top"`` rule screens when the target gave every pair one score:
    every candidate is one of its best, so the screen's best share cannot miss it.

    Example:
        >>> trials_verdict([0.1, 0.2, 0.3, 0.4, 0.5], [0.2, 0.3, 0.5, 0.6, 0.9], "s vs t")
        (True, 'rank agreement of s vs t over 5 trials: 1.00, CI [1.00, 1.00]: screening with it')
        >>> top = VerdictRule("top")
        >>> trials_verdict([0.9, 0.1, 0.2, 0.3], [0.5, 0.6, 0.5, 0.5], "s vs t", top)[0]
        False
        >>> trials_verdict([0.9, 0.1, 0.2, 0.3], [0.5, 0.5, 0.5, 0.5], "s vs t", top, last=True)[0]
        True
    """
    who = f"{who} over {len(screen)} trials"
    if verdict.rule == "top":
        if last and target and min(target) == max(target):
            return True, (
                f"top agreement of {who} is undefined after the last round: the target gave every pair one "
                "score, so every candidate is one of its best and the screen cannot lose it: screening with it"
            )
        return _top_verdict(who, _top_probability(screen, target, verdict), verdict)
    rho = spearman(screen, target)
    ci = bootstrap_interval(screen, target, seed=verdict.seed)
    return _verdict(who, rho, ci, verdict.min_agreement)


def settled(screen: list[float], target: list[float], verdict: VerdictRule = VerdictRule()) -> bool:
    """Whether the pairs decide :func:`trials_verdict` clearly.

    ``"rank"``: rho is defined and either the rule screens, or the interval's upper end is below
    ``verdict.min_agreement`` (more pairs would not make it screen). ``"top"``: the probability is
    defined and at least :data:`TOP_CONFIDENCE` or below ``1 - TOP_CONFIDENCE``.

    Example:
        >>> settled([0.1, 0.2, 0.3, 0.4, 0.5], [0.2, 0.3, 0.5, 0.6, 0.9])
        True
        >>> settled([0.1, 0.2, 0.3], [0.5, 0.5, 0.5])  # undefined: the target gave one score
        False
        >>> settled([0.1, 0.2, 0.3], [0.5, 0.5, 0.5], VerdictRule("top"))
        False
    """
    if verdict.rule == "top":
        p = _top_probability(screen, target, verdict)
        return p is not None and (p >= TOP_CONFIDENCE or p < 1.0 - TOP_CONFIDENCE)
    rho = spearman(screen, target)
    ci = bootstrap_interval(screen, target, seed=verdict.seed)
    if rho is None or ci is None:
        return False
    return (rho >= verdict.min_agreement and ci[0] > 0.0) or ci[1] < verdict.min_agreement
