"""Multi-fidelity search: a cheap judge screens every candidate, the target confirms the best.

Three fidelities, each a rung of successive halving over the same Optuna study:

==========  ==================================================================================
fidelity    what happens
==========  ==================================================================================
screen      every sampled candidate that fits the budget is scored by the screening judge
            (``screen=``, e.g. the local band VLM) on the minibatch; its calls are counted apart
            (:attr:`ScreenReport.screen_calls`), never as target spend
target      a candidate whose screen score ranks in the best ``screen_keep`` fraction of the
            candidates screened so far (:func:`promotes`) while the target has scored at most
            that fraction of them (:func:`within_quota`), and every baseline, is scored by the
            target (``dspy.settings.lm``) on the minibatch, as a target-only search would
full        the finalists by target minibatch score, and every baseline, are scored by the
            target on the full valset (:func:`~specprompt.search._study.finalize`)
==========  ==================================================================================

Why a quota besides the rank: a sampler that keeps improving keeps producing candidates in the
running best share, and early candidates rank against few; without it, 43% of the screened
candidates went on to the target at ``screen_keep=0.25`` (``benchmarks/README.md``). Baselines are
outside both counts.

A screened-out trial ends ``PRUNED`` with its screen score as the intermediate value at step
:data:`SCREEN_STEP` (a step the target never reports), so TPE still learns from it (Optuna ranks
pruned trials below complete ones) and the pruner's percentiles of later steps hold target scores
only. Its record has ``fidelity="screen"`` and ``screen_score``; a promoted trial has
``fidelity="target"``, ``screen_score`` and the target's ``example_scores``. Screen scores never
enter ``example_scores`` or full-valset scores, so the returned program is chosen by target
scores only, and the baselines' target scores keep the floor of :mod:`specprompt.search._select`.

Fallback: with ``calibrate=True`` the rank agreement of the screening judge with the target is
measured first (:func:`~specprompt.search._calibrate.calibrate_study`). When it is undefined,
below ``screen_min_agreement``, or its confidence interval reaches down to 0 or below,
:func:`screen_verdict` says so in one logged line and the search scores every candidate with the
target (target-only). Without ``calibrate=True`` the agreement is not measured and the screen is
used unchecked (also said in one line).

With ``calibration_mode="trials"`` there is no probe and no extra target call: the first
``calibration_probes`` non-baseline candidates that reach the objective are scored by both judges
(``fidelity="target"`` whatever their screen rank, never pruned on the way; they are outside the
quota). Once that many pairs are stored, :func:`trial_pairs` reads them back from the study's records (so a resumed
study reaches the same verdict) and :func:`trials_verdict` applies the rule of
:func:`screen_verdict` to them: the later candidates are screened, or all go to the target and the
screen is not called again. When those pairs leave the verdict open (:func:`settled`: rho is
undefined, or its interval holds both a screening and a falling-back outcome), the next
``calibration_probes`` candidates are scored by both judges too, up to :data:`TRIALS_ROUNDS`
rounds; the last round decides by the rule whatever its interval (under ``screen_rule="top"`` a
target that gave every pair of the last round one score screens: every candidate is one of its
best). A calibrating candidate costs
the target what a target-only search pays for it, so waiting for a clear verdict costs no extra
target call; looking at the pairs up to three times makes a chance agreement a little more likely
to pass than one look would (the rule's interval is a 95% one per look).

With ``screen_keep_min`` (``screen_rule="top"``), once the verdict screens, :meth:`Screen.tighten`
reads the same pairs at smaller shares and promotes only the smallest that still holds the
target's best (:func:`~specprompt.search._agreement.tighter_keep`).

The rules that read the pairs (``screen_rule``), and :func:`screen_verdict`, :func:`trial_pairs`,
:func:`trials_verdict` and :func:`settled`, are in :mod:`specprompt.search._agreement`.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import dspy
import optuna

from specprompt.errors import ConfigError
from specprompt.search._agreement import VerdictRule, settled, tighter_keep, trial_pairs, trials_verdict
from specprompt.search._objective import Objective
from specprompt.search._record import TrialRecord, write_record
from specprompt.search._scoring import Scorer
from specprompt.search._transport import model_name

if TYPE_CHECKING:
    from specprompt.search._context import Candidate

__all__ = [
    "SCREEN_CHECKPOINT",
    "SCREEN_STEP",
    "TRIALS_ROUNDS",
    "Screen",
    "ScreenReport",
    "ScreenedObjective",
    "check_screen",
    "promotes",
    "resolve_screen",
    "within_quota",
]

logger = logging.getLogger("specprompt.search")

#: The step at which a screened-out trial reports its screen score (the target reports at >= 1).
SCREEN_STEP = 0

#: ``calibration_mode="trials"``: at most this many rounds of ``calibration_probes`` pairs.
TRIALS_ROUNDS = 3

#: The shipped checkpoint of ``screen="local"``.
SCREEN_CHECKPOINT = "band-vlm-v2"

#: Names accepted for ``screen=`` besides a ``dspy.LM``.
SCREEN_NAMES = ("local", "nearest")


def check_screen(screen: object) -> None:
    """Raises :class:`ConfigError` unless ``screen`` is ``None``, ``"local"``, ``"nearest"`` or a ``dspy.LM``."""
    if screen is None or isinstance(screen, dspy.BaseLM) or (isinstance(screen, str) and screen in SCREEN_NAMES):
        return
    raise ConfigError(f"screen must be None, 'local', 'nearest' or a dspy.LM, got {screen!r:.80}")


def resolve_screen(screen: dspy.BaseLM | str) -> dspy.BaseLM:
    """The screening LM: ``"local"`` is the shipped band VLM :data:`SCREEN_CHECKPOINT`, ``"nearest"``
    the nearest-band engine.

    Why band-vlm-v2 and not the default scorer's band-vlm-v1: it reads 256 px and ranks band choices
    like the pixel-only judges far better (mean rank agreement 0.69 against 0.40 over the four
    real-photo tasks, ``benchmarks/README.md``), and every multi-fidelity measurement screens with it.
    """
    if isinstance(screen, dspy.BaseLM):
        return screen
    from specprompt.scorers import local_lm, nearest_lm

    return local_lm(SCREEN_CHECKPOINT) if screen == "local" else nearest_lm()


def _screened(study: optuna.Study, current: int, skip: int = 0) -> tuple[dict[str, tuple[float, int]], int, int]:
    """One pass over ``study``'s trials (any state): the screen score and tokens of every distinct
    prompt screened (the pool of :func:`promotes`, trial ``current`` included), and, of the
    candidates screened before trial ``current`` (baselines and the first ``skip``, which went to
    the target to calibrate, left out), how many went on to the target and how many were screened
    (the counts of :func:`within_quota`)."""
    pool: dict[str, tuple[float, int]] = {}
    promoted = screened = seen = 0
    for t in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
        rec = TrialRecord.from_trial(t)
        if rec.screen_score is not None and rec.key is not None and rec.tokens is not None:
            pool.setdefault(rec.key, (float(rec.screen_score), int(rec.tokens)))
        if t.number == current or rec.fidelity is None or rec.is_baseline:
            continue
        seen += 1
        if seen > skip:
            screened += 1
            promoted += rec.fidelity == "target"
    return pool, promoted, screened


def promotes(pool: dict[str, tuple[float, int]], key: str, keep: float) -> bool:
    """Whether ``key`` ranks in the best ``keep`` fraction of ``pool`` (its own entry included).

    The rank is the number of prompts strictly better: a higher screen score, or an equal one
    with fewer tokens; prompts tied on both pass together. At least one prompt passes.

    Example:
        >>> pool = {"a": (0.9, 10), "b": (0.5, 10), "c": (0.7, 10), "d": (0.1, 10)}
        >>> [k for k in pool if promotes(pool, k, 0.25)]
        ['a']
        >>> [k for k in pool if promotes(pool, k, 0.5)]
        ['a', 'c']
    """
    score, tokens = pool[key]
    better = sum(1 for s, t in pool.values() if (s, -t) > (score, -tokens))
    return better < max(1, math.ceil(keep * len(pool)))


def within_quota(promoted: int, screened: int, keep: float) -> bool:
    """Whether one more candidate may go on to the target: ``promoted`` of the ``screened``
    candidates before it did (baselines counted in neither), and at most ``keep`` of them all,
    this one included, may; the first screened candidate always may.

    Example:
        >>> [within_quota(p, n, 0.25) for p, n in ((0, 0), (1, 1), (1, 6), (1, 7), (2, 10), (2, 11))]
        [True, False, False, True, False, True]
    """
    return promoted < max(1, math.floor(keep * (screened + 1) + 1e-9))


@dataclass(frozen=True)
class ScreenReport:
    """What screening did in one compile.

    Attributes:
        judge: model string of the screening judge.
        keep: the best share promoted to the target: ``screen_keep``, or the smaller share the
            verdict chose with ``screen_keep_min`` (:meth:`Screen.tighten`).
        active: whether candidates were screened (``False``: fell back to target-only).
        note: the one line saying why (agreement and verdict, or unchecked).
        screened: trials of the study scored by the screen (baselines included).
        promoted: of those, the trials the target scored.
        screen_calls: screening-judge evaluations in this compile (not target spend).
    """

    judge: str
    keep: float
    active: bool
    note: str
    screened: int
    promoted: int
    screen_calls: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "judge": self.judge,
            "keep": self.keep,
            "active": self.active,
            "note": self.note,
            "screened": self.screened,
            "promoted": self.promoted,
            "screen_calls": self.screen_calls,
        }

    def summary(self) -> str:
        """One line: the judge, what it did, and the note."""
        if not self.active:
            return f"screening with {self.judge}: off ({self.note})"
        return (
            f"screening with {self.judge}: {self.screened} trials screened ({self.screen_calls} screen calls), "
            f"{self.promoted} scored by the target (keep {self.keep:g}); {self.note}"
        )


class Screen:
    """The screening judge of one compile (lives on the compile's stack).

    Args:
        lm: the screening LM.
        scorer: a :class:`Scorer` over the compile's valset (its own cache and call count).
        verdict: how the calibration pairs are read (:class:`VerdictRule`); its ``keep``
            (``screen_keep``) is also the share of screened candidates promoted to the target.
        active: whether to screen (see :func:`screen_verdict`).
        note: the verdict line.
        trials: with ``calibration_mode="trials"``, ``calibration_probes`` (the non-baseline
            trials both judges score before the verdict); 0 otherwise.
        target: model string of the target (for the verdict line).
    """

    def __init__(
        self,
        lm: dspy.BaseLM,
        scorer: Scorer,
        verdict: VerdictRule,
        active: bool = True,
        note: str = "",
        *,
        trials: int = 0,
        target: str = "the target",
    ) -> None:
        self.lm = lm
        self.scorer = scorer
        self.verdict = verdict
        self.active = active
        self.note = note
        #: ``calibration_mode="trials"``: non-baseline trials both judges score before the verdict
        #: (0: decided, or another mode); grows by ``trials`` per undecided round
        self.pending = int(trials)
        #: pairs per round (``calibration_probes``)
        self.round = int(trials)
        #: the first non-baseline trials that went to the target to calibrate (outside the quota)
        self.calibration_trials = int(trials)
        self.target = target

    @property
    def keep(self) -> float:
        """``screen_keep``: the best share of screened candidates that goes on to the target."""
        return self.verdict.keep

    @property
    def judge(self) -> str:
        """Model string of the screening judge."""
        return model_name(self.lm)

    def decide(self, study: optuna.Study, *, final: bool = False) -> bool:
        """``calibration_mode="trials"``: the verdict, once ``study`` has enough pairs (:func:`trial_pairs`).

        Sets :attr:`active` and :attr:`note` and logs the verdict line when it is decided now.
        Pairs that leave it open (:func:`settled`) wait for one more round of ``calibration_probes``
        pairs, up to :data:`TRIALS_ROUNDS` rounds. With ``final`` (the search is over) an
        undecided verdict ends as "not screened".

        Returns:
            whether the verdict is decided (always, outside ``"trials"`` mode).
        """
        if not self.pending:
            return True
        target = self.target
        pairs = trial_pairs(study, self.pending)
        # an open verdict waits for another round; a loop, so a resumed study catches up at once
        while pairs is not None and self.pending < TRIALS_ROUNDS * self.round and not settled(*pairs, self.verdict):
            logger.info(
                "multi-fidelity search: %s agreement of %s vs %s open after %d trials; %d more calibrate",
                self.verdict.rule,
                self.judge,
                target,
                self.pending,
                self.round,
            )
            self.pending += self.round
            self.calibration_trials = self.pending
            pairs = trial_pairs(study, self.pending)
        if pairs is not None:
            last = self.pending >= TRIALS_ROUNDS * self.round
            self.active, self.note = trials_verdict(*pairs, f"{self.judge} vs {target}", self.verdict, last=last)
            if self.active:
                self.tighten(*pairs)
        elif final:
            self.active = False
            self.note = (
                f"{self.verdict.rule} agreement of {self.judge} vs {target} not decided: fewer than {self.pending} "
                "trials were scored by both; every candidate went to the target"
            )
        else:
            return False
        self.pending = 0
        (logger.info if self.active else logger.warning)("multi-fidelity search: %s", self.note)
        return True

    def tighten(self, screen: Sequence[float], target: Sequence[float]) -> None:
        """With ``screen_keep_min``, once the verdict screens: screen with the smallest best share
        that the same pairs still show holding the target's best (:func:`tighter_keep`); the note
        says which. Nothing changes without ``screen_keep_min`` or when no smaller share passes."""
        keep, p = tighter_keep(screen, target, self.verdict)
        if p is None:
            return
        self.note += (
            f"; its best {keep:g} holds it in {p:.2f} of resamples: screening with the best {keep:g} "
            f"(screen_keep_min {self.verdict.keep_min:g})"
        )
        self.verdict = dataclasses.replace(self.verdict, keep=keep)

    def score(self, key: str, build: Callable[[], dspy.Module], indices: list[int]) -> float:
        """The screening judge's mean metric of candidate ``key`` on ``indices``."""
        with dspy.context(lm=self.lm):
            scores = self.scorer.score(key, build, indices)
        return sum(scores.values()) / len(scores)

    def report(self, study: optuna.Study) -> ScreenReport:
        """The :class:`ScreenReport` of ``study`` (counts of its finished trials)."""
        records = [TrialRecord.from_trial(t) for t in study.get_trials(deepcopy=False)]
        return ScreenReport(
            judge=self.judge,
            keep=self.keep,
            active=self.active,
            note=self.note,
            screened=sum(1 for r in records if r.fidelity is not None),
            promoted=sum(1 for r in records if r.fidelity == "target"),
            screen_calls=self.scorer.calls,
        )


class ScreenedObjective(Objective):
    """:class:`~specprompt.search._objective.Objective` with a screen before the target.

    Pricing, the budget, dedupe and reuse are the base objective's; only a feasible, new prompt
    reaches :meth:`_score`, which screens it and scores it with the target only when
    :func:`promotes` (or when it is a baseline). With ``calibration_mode="trials"``, until
    :meth:`Screen.decide` decides, a screened candidate always goes on to the target and its
    whole minibatch is scored (a pair for the verdict); after a fallback the screen is skipped.
    """

    def __init__(self, *args: Any, screen: Screen, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.screen = screen

    def _score(
        self, trial: optuna.Trial, cand: Candidate, key: str, tokens: int, prunable: bool
    ) -> float | tuple[float, float]:
        if self.screen.decide(trial.study) and not self.screen.active:  # fell back: target-only, no screen call
            return super()._score(trial, cand, key, tokens, prunable)
        calibrating = self.screen.pending > 0
        value = self.screen.score(key, lambda: self.ctx.build(cand), self.minibatch)
        write_record(trial, TrialRecord(screen_score=value))
        if prunable and not calibrating:  # a baseline, or a calibrating candidate, goes on to the target
            pool, promoted, screened = _screened(trial.study, trial.number, self.screen.calibration_trials)
            keep = self.screen.keep
            if not (promotes(pool, key, keep) and within_quota(promoted, screened, keep)):
                write_record(trial, TrialRecord(fidelity="screen"))
                if not self.multi_objective:
                    trial.report(value, SCREEN_STEP)
                raise optuna.TrialPruned(f"screened out: screen score {value:.4f} not in the best {keep:g}")
        write_record(trial, TrialRecord(fidelity="target"))
        return super()._score(trial, cand, key, tokens, prunable and not calibrating)
