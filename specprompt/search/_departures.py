"""Whether the returned program may leave the baselines when a local judge scores the search alone.

A local judge (the band VLM of :func:`~specprompt.scorers.local_lm`, or the nearest-band engine
of :func:`~specprompt.scorers.nearest_lm`) is not the model the compiled program will answer
with when its images are priced for another one (``cost_model`` other than ``local``). Its pick
of a band selection over plain resizing is then a guess about that model, and on real photos the
guess lost more often than it won: in ``benchmarks/bench_multifidelity.py --screens local-only``
(6 seeds, 4 photo tasks, both shipped checkpoints, commit ad46e61) the programs that left the
resizing baseline for a local judge's pick were below uniform Lanczos resizing on the held-out
split in 9 of 12 (program, pixel judge) pairs, where the same search scored by the pixel judge
itself left it 8 times, 6 of them above Lanczos and 1 below. Trims of a baseline (smaller images
that lose no validation example) fared better (14 above, 6 below).

So with ``local_departures="calibrated"`` (the default) such a search returns its best baseline,
trimmed as usual, unless a calibration against the target (``target=`` with ``calibrate=True``,
or ``calibration=``) trusts the local judge (:attr:`~specprompt.search.Calibration.trusted`).
The candidate it held back is reported (:class:`Holdback`); the Pareto front and
``CompileResult.program_for_budget`` still offer every candidate. ``"always"`` lets the local
judge's pick be returned as before. Nothing changes for a search scored by a remote LM or a
pixel judge (they see what the target sees), for a multi-fidelity search (``screen=``: the target
scores the finalists), or for ``cost_model="local"`` (the local model is the target).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from specprompt.search._calibrate import Calibration
    from specprompt.search._config import LocalDepartures
    from specprompt.search._result import ParetoRow

__all__ = ["Holdback", "local_judge", "may_depart"]


def local_judge(lm: Any) -> str | None:
    """The model string of ``lm`` when it runs a local band judge in this process, else ``None``.

    Example:
        >>> from specprompt.scorers import nearest_lm, pixel_lm
        >>> local_judge(nearest_lm()), local_judge(pixel_lm("hist-hog"))
        ('specprompt/nearest-v1', None)
    """
    engine = getattr(lm, "engine", None)
    if engine is None:
        return None
    from specprompt.scorers import LocalVLMEngine, NearestBandEngine

    if isinstance(engine, LocalVLMEngine | NearestBandEngine):
        return str(getattr(lm, "model", engine))
    return None


def may_depart(
    mode: LocalDepartures, judge: str | None, priced_locally: bool, screened: bool, calibration: Calibration | None
) -> tuple[bool, str]:
    """Whether the selection may return a candidate that is not a baseline, and why not.

    Args:
        mode: ``SearchConfig.local_departures``.
        judge: :func:`local_judge` of the scoring LM.
        priced_locally: the cost model prices the local band VLM (``cost_model="local..."``).
        screened: a multi-fidelity search (``screen=``), whose scoring LM is the target.
        calibration: the compile's calibration of the scoring LM against the target, if any.

    Returns:
        ``(True, "")``, or ``(False, reason)`` naming the judge and what would lift the rule.

    Example:
        >>> may_depart("calibrated", "specprompt/nearest-v1", False, False, None)[0]
        False
        >>> may_depart("always", "specprompt/nearest-v1", False, False, None)
        (True, '')
    """
    if mode == "always" or judge is None or priced_locally or screened:
        return True, ""
    if calibration is not None and calibration.trusted:
        return True, ""
    why = (
        "no calibration against the target"
        if calibration is None
        else f"its calibration against {calibration.target} does not trust it ({calibration.verdict})"
    )
    return False, (
        f"scored by the local judge {judge} alone, with {why}: a local judge's pick over the baselines is "
        "returned only once a calibration trusts it (target= with calibrate=True, or calibration=; "
        "local_departures='always' returns it anyway)"
    )


@dataclass(frozen=True)
class Holdback:
    """A candidate the selection rule picked but did not return (:func:`may_depart` said no).

    Attributes:
        pick: the candidate the rule picked (not a baseline).
        fallback: the best baseline, returned instead (before the trim).
        reason: why, naming the local judge.
    """

    pick: ParetoRow
    fallback: ParetoRow
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "pick": self.pick.trial,
            "pick_origin": self.pick.origin,
            "pick_score": self.pick.score,
            "pick_tokens": self.pick.tokens,
            "fallback": self.fallback.trial,
            "reason": self.reason,
        }

    def summary(self) -> str:
        p = self.pick
        return (
            f"held back: trial {p.trial} ({p.origin}, {p.tokens} tokens, valset {p.score:.4f}) was picked over the "
            f"baselines but the baseline trial {self.fallback.trial} is returned; {self.reason}"
        )
