"""Optuna hooks of a remote search: failed trials are tried again, spend caps stop the study.

A trial whose scorer call still failed in transport ends ``FAIL`` with the reason in its
record's ``transport_error``. :func:`requeue_failed` enqueues the same parameters once more
(user attribute ``retry_of``), so the candidate is scored later; it reads only the storage, so a
resumed run (or another worker) requeues what an interrupted one left.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import optuna

from specprompt.search._objective import worker_tag
from specprompt.search._record import TRIM_ORIGIN, TrialRecord, read_outside_spend, write_outside_spend
from specprompt.search._spend import Spend, SpendReport, StudySpend, cap_reached, cost_of, repays_after

if TYPE_CHECKING:
    from specprompt.search._config import SearchConfig
    from specprompt.search._context import SearchContext
    from specprompt.search._scoring import Scorer

__all__ = ["SpendCap", "quiet_scoring_tracebacks", "requeue_failed", "warn_budget_holds_full"]

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
    """An Optuna callback that stops the study once its spend reaches a cap of ``config``; it also
    keeps the study's record of what the scorer billed outside trials.

    The study is the unit of spend: the caps apply to what its earlier compiles recorded
    (:attr:`earlier`, read when the study was opened: its trials' ``spend`` records, any state, and
    :data:`~specprompt.search._record.OUTSIDE_SPEND`) plus what ``scorer`` billed since, so a
    resumed or repeated compile does not start again from zero, and one whose study already reached
    a cap runs no trial. :meth:`record` adds this run's outside-trial spend to the study attribute;
    only the process that chooses (``compile``, ``records=True``) writes it: a ``work`` process's
    spend is in its trials' records.

    Args:
        scorer: the compile's scorer.
        config: the caps.
        study: the compile's study, or ``None`` (no earlier spend, nothing recorded).
        records: write :meth:`record` into ``study``.

    Attributes:
        reason: the cap that stopped the study (a sentence), or ``None``.
        earlier: the study's recorded spend when it was opened.
    """

    def __init__(
        self, scorer: Scorer, config: SearchConfig, study: optuna.Study | None = None, *, records: bool = False
    ) -> None:
        self.scorer = scorer
        self.config = config
        self.reason: str | None = None
        self.study = study
        self.records = records and study is not None
        self._search: Spend | None = None  # the scorer's spend when this run's search ended
        self._outside = StudySpend() if study is None else read_outside_spend(study)
        trials = [] if study is None else study.get_trials(deepcopy=False)
        #: the trials whose spend record ``earlier`` holds
        self._counted = frozenset(t.number for t in trials if TrialRecord.from_trial(t).spend is not None)
        self.earlier = self._outside + _by_part(trials)

    @property
    def total(self) -> Spend:
        """The study's spend: what earlier compiles recorded plus what this run billed."""
        return self.earlier.total + self.scorer.spend

    def reached(self) -> bool:
        """Whether a cap is reached (and records which)."""
        if self.reason is None:
            self.reason = cap_reached(self.total, self.config)
            before = self.earlier.total
            if self.reason is not None and (before.calls or before.tokens):
                self.reason += (
                    f" by the study, earlier runs included ({before.calls} billed calls, {before.tokens} tokens before)"
                )
                if self.scorer.spend == Spend():
                    logger.warning("the study had reached a spend cap before this run; no trial runs")
            if self.reason is not None:
                logger.warning("spend cap: %s; the search stops with the best program so far", self.reason)
        return self.reason is not None

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if self.reached():
            study.stop()

    def end_search(self) -> StudySpend:
        """Marks the end of this run's search (the scorer's later spend is the baselines' part), and
        :meth:`record` s."""
        self._search = self.scorer.spend
        return self.record()

    def record(self) -> StudySpend:
        """Writes (with ``records``) this run's spend that no trial record holds into the study, and
        returns the study's recorded spend (every trial's record, those of other processes included,
        and the outside-trial total); with no study, this run's spend."""
        search = self.scorer.spend if self._search is None else self._search
        run = StudySpend(search, self.scorer.spend - search)
        if self.study is None:
            return run
        trials = self.study.get_trials(deepcopy=False)
        outside = read_outside_spend(self.study)  # (a ``work`` process: as the compile wrote it)
        if self.records:
            me = worker_tag()
            mine = [t for t in trials if t.number not in self._counted and TrialRecord.from_trial(t).worker == me]
            stored, outside = outside, self._outside + run - _by_part(mine)
            if outside != stored:
                write_outside_spend(self.study, outside)
        return outside + _by_part(trials)

    def report(
        self, search: Spend, saved_tokens_per_call: int, below_full: float | None = None, test: Spend | None = None
    ) -> SpendReport:
        """The spend of this compile (``search``: its search's part) and of its study, after a last
        :meth:`record`, and when the chosen program (saving ``saved_tokens_per_call`` image tokens a
        call, at a valset score ``below_full`` under full demos') repays the study's search; ``test``:
        what the held-out scoring billed."""
        study, price = self.record(), self.config.price_per_million_tokens
        return SpendReport(
            search=search,
            baselines=self.scorer.spend - search,
            cost=cost_of(search, price),
            stopped_by=self.reason,
            saved_tokens_per_call=saved_tokens_per_call,
            repays_after_calls=repays_after(study.search.tokens, saved_tokens_per_call),
            study=study,
            study_cost=cost_of(study.total, price),
            below_full=below_full,
            test=test,
        )


def _by_part(trials: Iterable[optuna.trial.FrozenTrial]) -> StudySpend:
    """The sum of the trials' ``spend`` records; ``trim:<n>`` trials are the baselines' part."""
    out = StudySpend()
    for t in trials:
        rec = TrialRecord.from_trial(t)
        trim = (rec.origin or "").startswith(TRIM_ORIGIN)
        out = out + (StudySpend(baselines=rec.billed) if trim else StudySpend(search=rec.billed))
    return out


def warn_budget_holds_full(ctx: SearchContext) -> None:
    """Logs a warning when the token budget holds every demo at full resolution: the search can
    then save tokens only where a cheaper program scores as well, and the budget limits nothing.

    Demos an earlier compile compressed (:attr:`~specprompt.search._demos.DemoPlan.compressed`) are
    not at their full resolution: the warning then says the images as given, and why."""
    budget = ctx.config.token_budget
    full = ctx.tokens(ctx.full())
    if budget is None or full > budget:
        return
    n = ctx.plan.compressed
    given = "" if not n else f"; {n} demo(s) hold images an earlier compile compressed, so not at full resolution"
    logger.warning(
        "the token budget (%d image tokens per prompt) holds every demo image %s (%d tokens under %s%s): it limits "
        "nothing; give a budget below %d to trade tokens for accuracy",
        budget,
        "as given" if n else "at full resolution",
        full,
        ctx.config.cost_model,
        given,
        full,
    )
