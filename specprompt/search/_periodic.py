"""Periodic full-valset evaluations during the search, recorded so that a resumed study does the same ones.

Every ``full_eval_every`` trials the scorer scored (:func:`scored_trials`) the best candidate by
minibatch score that has no full-valset score yet is scored on the whole valset. In a
multi-fidelity search a trial the screen left out (``fidelity="screen"``) does not count: it adds
no candidate with a minibatch score, so counting it would spend the target's calls on ever weaker
candidates (measured: ``benchmarks/bench_multifidelity.py``). The choice is written first (study user
attribute ``periodic:<n>``, :data:`~specprompt.search._record.PERIODIC_PREFIX`), then the
scores (:class:`~specprompt.search._record.FullScore`): a process killed in between scores the
recorded candidate on resume, and a process killed after trial ``n`` but before its evaluation
started makes it on resume (:func:`catch_up`), from the same trials. So a killed and resumed
study scores the same candidates fully as an uninterrupted one.
"""

from __future__ import annotations

import logging

import optuna

from specprompt.errors import TransportError
from specprompt.search._context import SearchContext
from specprompt.search._objective import counts_toward_n_trials, finished_trials, full_score
from specprompt.search._record import PERIODIC_PREFIX, TrialRecord
from specprompt.search._result import best_row
from specprompt.search._scoring import Scorer
from specprompt.search._study import collect_rows, row_candidate

__all__ = ["catch_up", "counts_for_period", "periodic_full_eval", "scored_trials"]

logger = logging.getLogger("specprompt.search")


def counts_for_period(trial: optuna.trial.FrozenTrial) -> bool:
    """Whether ``trial`` advances the period: it counts toward ``n_trials`` and was not screened out."""
    return counts_toward_n_trials(trial) and TrialRecord.from_trial(trial).fidelity != "screen"


def scored_trials(study: optuna.Study) -> int:
    """Finished trials that advance the period (:func:`counts_for_period`); without a screen, every
    trial that counts toward ``n_trials``."""
    return sum(1 for t in finished_trials(study) if counts_for_period(t))


def periodic_full_eval(study: optuna.Study, ctx: SearchContext, scorer: Scorer, budget: float | None, n: int) -> None:
    """The evaluation after ``n`` finished trials: the recorded candidate, else the best unscored one.

    A transport failure postpones it (nothing is stored; a later evaluation scores it).
    """
    name = f"{PERIODIC_PREFIX}{n}"
    rows = collect_rows(study, ctx, budget)
    if name in study.user_attrs:
        key = study.user_attrs[name]
        row = next((r for r in rows if r.key == key), None)
    else:
        pending = [r for r in rows if not r.full]
        row = best_row(pending, minibatch=True) if pending else None
        study.set_user_attr(name, None if row is None else row.key)
    if row is None or row.full:
        return
    try:
        with scorer.counting("full-valset eval", enabled=ctx.config.progress):
            full_score(study, ctx, scorer, row.key, row_candidate(ctx, row), row.trial)
    except TransportError as exc:  # [faults] nothing stored: a later evaluation scores it
        logger.warning("full-valset evaluation of trial %d postponed: %s", row.trial, exc)


def catch_up(study: optuna.Study, ctx: SearchContext, scorer: Scorer, budget: float | None, every: int) -> None:
    """Makes the evaluation a killed process owed after its last finished trial, if any.

    Only for studies that record their evaluations (every earlier one is recorded): a study of
    an older version gets no evaluation it never had.
    """
    n = scored_trials(study)
    if n == 0 or n % every:
        return
    if any(f"{PERIODIC_PREFIX}{m}" not in study.user_attrs for m in range(every, n, every)):
        return
    periodic_full_eval(study, ctx, scorer, budget, n)
