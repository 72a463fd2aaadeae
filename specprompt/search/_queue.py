"""The first guesses of a guided study (baselines, then warm starts), enqueued one at a time.

The baselines that fit (:func:`~specprompt.search._reference.reference_candidates`, origin
``baseline:<name>``) and the warm starts (:func:`~specprompt.search._warm.warm_starts`,
``warm:<name>``), one per prompt, at most ``n_trials``, are the first trials of the study. They go
in through ``study.enqueue_trial``, but one at a time: the next one is enqueued when no trial
waits (before the search starts and after each trial). A trial interrupted by a kill, or failed in
transport, is enqueued again (:mod:`specprompt.search._stale`); since no first guess waits
before it, it runs next, and the trial numbers keep the order in which the uninterrupted study
ran its candidates (the sampler and every tie-break read trials in that order).

A trial another process runs shows its guess, whether that process is alive or was killed on
another host and Optuna's heartbeat has not retired the trial yet: the guess is not enqueued
again. On a storage with heartbeat such a trial also holds its place toward ``n_trials``
(:func:`~specprompt.search._stale.running_elsewhere`), so once it is retired its candidate,
enqueued again, still runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import optuna

from specprompt.search._context import Candidate, SearchContext
from specprompt.search._record import TrialRecord
from specprompt.search._reference import BASELINE_ORIGIN, reference_candidates
from specprompt.search._warm import warm_starts

__all__ = ["enqueue_next_guess", "first_guesses"]


def first_guesses(ctx: SearchContext, n_trials: int) -> list[tuple[str, Candidate]]:
    """The first guesses as ``(origin, candidate)``, baselines first, one per prompt, at most ``n_trials``."""
    first: dict[str, tuple[str, Candidate]] = {}
    for name, cand in reference_candidates(ctx):
        first.setdefault(ctx.key(cand), (BASELINE_ORIGIN + name, cand))
    for name, cand in warm_starts(ctx, ctx.config.token_budget):
        first.setdefault(ctx.key(cand), (f"warm:{name}", cand))
    return list(first.values())[:n_trials]


def enqueue_next_guess(
    study: optuna.Study, ctx: SearchContext, guesses: Sequence[tuple[str, Candidate]], worker: Any
) -> str | None:
    """Enqueues the first guess no trial has shown yet, unless a trial waits; returns its origin.

    A guess is shown once any trial carries its origin (a trial killed before it drew its
    parameters included: :func:`~specprompt.search._stale.requeue` runs it again).
    """
    trials = study.get_trials(deepcopy=False)
    if any(t.state == optuna.trial.TrialState.WAITING for t in trials):
        return None
    shown = {TrialRecord.from_trial(t).origin for t in trials}
    for origin, cand in guesses:
        if origin not in shown:
            study.enqueue_trial(ctx.to_params(cand), user_attrs=TrialRecord(origin=origin, worker=worker).to_attrs())
            return origin
    return None
