"""Optuna hooks of a remote search: failed trials are tried again, spend caps stop the study.

A trial whose scorer call still failed in transport ends ``FAIL`` with the reason in its
record's ``transport_error``. :func:`requeue_failed` enqueues the same parameters once more
(user attribute ``retry_of``), so the candidate is scored later; it reads only the storage, so a
resumed run (or another worker) requeues what an interrupted one left.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import optuna

from specprompt.search._spend import cap_reached

if TYPE_CHECKING:
    from specprompt.search._config import SearchConfig
    from specprompt.search._scoring import Scorer

__all__ = ["SpendCap", "quiet_scoring_tracebacks", "requeue_failed"]

logger = logging.getLogger("specprompt.search")


class _NoScoringTraceback(logging.Filter):
    """Keeps Optuna's "Trial N failed" line for a scoring failure but drops its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        from specprompt.errors import ScoringError

        if record.exc_info and isinstance(record.exc_info[1], ScoringError):
            record.exc_info = None
            record.exc_text = None
        return True


_FILTER = _NoScoringTraceback()


def quiet_scoring_tracebacks() -> None:
    """Installs (once) the filter that keeps scoring failures out of Optuna's trial tracebacks.

    A transport failure is an expected event of remote scoring, reported in one line.
    """
    log = logging.getLogger("optuna.study._optimize")
    if _FILTER not in log.filters:
        log.addFilter(_FILTER)


def requeue_failed(study: optuna.Study, worker: Any = None) -> int:
    """Enqueues, once each, the parameters of trials that failed in transport or were interrupted
    by a killed process; returns how many.

    Each goes through :func:`~specprompt.search._stale.requeue` (the same retry record as an
    interrupted trial's), and is the next trial to run when no other trial waits.

    Args:
        study: the study.
        worker: the ``worker`` of the new trials' records (the process tag, JSON), or ``None``.
    """
    from specprompt.search._record import TrialRecord
    from specprompt.search._stale import requeue

    records = [(t, TrialRecord.from_trial(t)) for t in study.get_trials(deepcopy=False)]
    taken = {r.retry_of for _, r in records}
    added = 0
    for t, r in records:
        why = r.transport_error or r.interrupted
        if t.state != optuna.trial.TrialState.FAIL or why is None or t.number in taken:
            continue
        # (no parameters: killed before its candidate was drawn; the sampler draws anew)
        if requeue(study, t, worker):
            logger.info("trial %d failed (%s); its candidate is queued again", t.number, why)
            added += 1
    return added


class SpendCap:
    """An Optuna callback that stops the study once the scorer's spend reaches a cap of ``config``.

    Attributes:
        reason: the cap that stopped the study (a sentence), or ``None``.
    """

    def __init__(self, scorer: Scorer, config: SearchConfig) -> None:
        self.scorer = scorer
        self.config = config
        self.reason: str | None = None

    def reached(self) -> bool:
        """Whether a cap is reached (and records which)."""
        if self.reason is None:
            self.reason = cap_reached(self.scorer.spend, self.config)
            if self.reason is not None:
                logger.warning("spend cap: %s; the search stops with the best program so far", self.reason)
        return self.reason is not None

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if self.reached():
            study.stop()
