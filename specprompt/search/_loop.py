"""The trial loop of a band search: ``study.optimize`` until the study has ``n_trials`` trials.

:func:`search` runs (or resumes) one study of a compile's :class:`~specprompt.search._prepare.Run`
and returns its candidate rows: the first guesses go in one at a time
(:mod:`specprompt.search._queue`), the study's :class:`~specprompt.search._sampler.BandSampler`
proposes the rest, failed trials are tried again, periodic full-valset evaluations are made,
and the finalists are scored on the full valset. On a storage several processes share, the
process that chooses waits for the others' trials (:mod:`specprompt.search._workers`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable

import optuna

from specprompt._progress import progress_bar
from specprompt.errors import TransportError
from specprompt.search._context import Candidate, SearchContext
from specprompt.search._guards import quiet_scoring_tracebacks, requeue_failed
from specprompt.search._objective import FINISHED, Objective, finished_trials, searched_trials, worker_tag
from specprompt.search._periodic import catch_up, counts_for_period, periodic_full_eval, scored_trials
from specprompt.search._prepare import Run
from specprompt.search._queue import enqueue_next_guess, first_guesses
from specprompt.search._record import FullScore, TrialRecord
from specprompt.search._result import ParetoRow
from specprompt.search._scoring import Scorer
from specprompt.search._screen import ScreenedObjective
from specprompt.search._stale import running_elsewhere, wait_for_others
from specprompt.search._study import FALLBACK_ORIGIN, add_trial, fail_stale_trials, finalize
from specprompt.search._warm import warm_starts
from specprompt.search._workers import Shared, SharedObjective, Surplus, quiet_surplus, run_until_complete

__all__ = ["optimize", "search"]

logger = logging.getLogger("specprompt.search")


def _fallback(ctx: SearchContext, budget: float | None) -> tuple[str, Candidate]:
    """The prompt added when no feasible trial completed, as ``(name, candidate)``.

    The first warm start (:func:`~specprompt.search._warm.warm_starts`: each fits ``budget`` and
    keeps an image of every label where the budget allows) that shows any image; else the
    text-only prompt (``"text_only"``), e.g. when the budget is below every image's price.
    """
    text_only = ctx.key(ctx.dropped())
    for name, cand in warm_starts(ctx, budget):
        if ctx.key(cand) != text_only:
            return name, cand
    return "text_only", ctx.dropped()


def _remember(scorer: Scorer, study: optuna.Study) -> None:
    """Caches in ``scorer`` every per-example score the study holds (trials and full-valset scores)."""
    for t in finished_trials(study):
        rec = TrialRecord.from_trial(t)
        if rec.example_scores and rec.key:
            scorer.remember(rec.key, dict(rec.example_scores))
    for key, entry in FullScore.read_all(study).items():
        scorer.remember(key, dict(entry.example_scores))


def optimize(run: Run, study: optuna.Study, desc: str, *, guided: bool) -> None:
    """Runs ``study.optimize`` until the study has ``n_trials`` finished trials (or ``timeout`` passed).

    Args:
        guided: enqueue the baselines and warm starts, one at a time
            (:mod:`specprompt.search._queue`; the study's :class:`BandSampler` proposes the
            rest); ``False`` for the random-search baseline.

    Convention:
        Each enqueued trial carries this process's ``worker`` tag and its ``origin``; the
        objective writes the tag of the process that runs a trial first thing, so a trial
        left RUNNING by a kill carries the dead process's id and :func:`fail_stale_trials`
        retires it on the next run and enqueues its candidate, which runs next
        (:mod:`specprompt.search._stale`). A periodic full-valset evaluation that a kill
        cut off is made first (:func:`~specprompt.search._periodic.catch_up`).
    """
    cfg = run.ctx.config
    quiet_scoring_tracebacks()
    shared = None if run.shared_url is None else Shared(run.shared_url, study, cfg.n_trials, cfg.worker)
    entered = shared is not None and shared.enter()
    try:
        _optimize_with(run, study, desc, guided=guided, shared=shared)
    finally:
        if shared is not None:
            if entered:
                shared.leave()
            shared.close()


def _optimize_with(run: Run, study: optuna.Study, desc: str, *, guided: bool, shared: Shared | None) -> None:
    cfg = run.ctx.config

    def one_at_a_time() -> contextlib.AbstractContextManager[None]:
        """[workers] one process at a time enqueues the first trials and requeues failed ones."""
        return contextlib.nullcontext() if shared is None else shared.locked()

    fail_stale_trials(study)
    _remember(run.scorer, study)  # a resumed study: its per-example scores are known
    guesses = first_guesses(run.ctx, cfg.n_trials) if guided else []
    if run.finalizer:  # [workers] only the process that chooses makes full-valset evaluations
        catch_up(study, run.ctx, run.scorer, cfg.token_budget, cfg.full_eval_every)
        run.cap.record()  # [spend] full-valset scores are no trial's spend

    def taken() -> int:
        """Finished trials, and (one process) trials another process runs: they hold their places."""
        return searched_trials(study) + (len(running_elsewhere(study)) if shared is None else 0)

    done = searched_trials(study)
    if run.cap.reached():
        return
    if taken() >= cfg.n_trials:  # nothing is enqueued that no trial will run (it would stay WAITING)
        held = "" if done >= cfg.n_trials else f" and {cfg.n_trials - done} running in another process"
        logger.info("study %s already has %d finished trials%s; nothing to run", study.study_name, done, held)
        return
    with one_at_a_time():
        requeue_failed(study, worker_tag())  # [faults] candidates of trials a transport failure stopped
        enqueue_next_guess(study, run.ctx, guesses, worker_tag())
    if shared is not None and shared.full():
        logger.info("study %s: the other workers run its last trials", study.study_name)
        return
    if done:
        logger.info("resuming study %s: %d of %d trials done", study.study_name, done, cfg.n_trials)
    objective = (
        _objective(run, guided=guided)
        if shared is None
        else SharedObjective(shared, run.ctx, run.scorer, cfg.token_budget, run.minibatch, cfg.multi_objective)
    )

    bar = progress_bar(desc, total=cfg.n_trials, initial=done, unit="trial", enabled=cfg.progress)

    def after(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if trial.state == optuna.trial.TrialState.FAIL:  # [faults] a transport failure: try it again
            with one_at_a_time():
                requeue_failed(study, worker_tag())
        if trial.state in FINISHED:
            bar.update(1)
            if run.finalizer and counts_for_period(trial):
                scored = scored_trials(study)
                if scored % cfg.full_eval_every == 0:
                    periodic_full_eval(study, run.ctx, run.scorer, cfg.token_budget, scored)
                    run.cap.record()
            if taken() >= cfg.n_trials:
                study.stop()
                return
        with one_at_a_time():
            enqueue_next_guess(study, run.ctx, guesses, worker_tag())

    try:
        # [faults] a trial that failed in transport FAILs and the search goes on; run.cap stops it
        callbacks: list[Callable[[optuna.Study, optuna.trial.FrozenTrial], None]] = [after, run.cap]
        if shared is not None:  # [workers] stop once the admitted trials reach n_trials
            quiet_surplus()
            callbacks.append(shared)
        catch = (TransportError, Surplus)
        study.optimize(objective, n_trials=None, timeout=cfg.timeout, callbacks=callbacks, catch=catch)
    finally:
        bar.close()
    n = searched_trials(study)
    if cfg.timeout is not None and n < cfg.n_trials:
        logger.info(
            "%s: timeout of %gs reached after %d of %d trials; re-run to resume", desc, cfg.timeout, n, cfg.n_trials
        )


def _objective(run: Run, *, guided: bool) -> Objective:
    """The objective: screened (:mod:`specprompt.search._screen`) when the compile screens."""
    cfg = run.ctx.config
    args = (run.ctx, run.scorer, cfg.token_budget, run.minibatch, cfg.multi_objective)
    if guided and run.screen is not None and run.screen.active:
        return ScreenedObjective(*args, screen=run.screen)
    return Objective(*args)


def search(run: Run, study: optuna.Study, desc: str, *, guided: bool = True) -> list[ParetoRow]:
    """Runs (or resumes) one study, scores its finalists and returns its candidate rows.

    ``guided=False`` (random search) has no baseline trials, no warm starts and no fallback,
    so its rows are empty when no feasible trial completed. The trials have a bar of trials
    (``desc``), the finalists' full-valset scoring a bar of examples (``"finalists"``).
    """
    _run_trials(run, study, desc, guided=guided)
    with run.scorer.counting("finalists", enabled=run.ctx.config.progress):
        rows = _finalize(run, study)
        if not rows and guided:
            name, cand = _fallback(run.ctx, run.ctx.config.token_budget)
            logger.warning("no feasible trial completed; adding the %s prompt, scored on the full valset", name)
            add_trial(study, run.ctx, run.scorer, cand, FALLBACK_ORIGIN + name)
            rows = _finalize(run, study)
    return rows


def _run_trials(run: Run, study: optuna.Study, desc: str, *, guided: bool) -> None:
    """:func:`optimize`, then waits for the other processes' trials (on a shared storage, or
    trials of a killed process that Optuna's heartbeat has not retired yet) and runs again while
    the study is short of ``n_trials``."""
    cfg = run.ctx.config
    if run.shared_url is None:
        optimize(run, study, desc, guided=guided)
        # [faults] a trial of a process killed on another host held its place: once the heartbeat
        # retires it and queues its candidate again, that candidate runs
        while (
            wait_for_others(study)
            and searched_trials(study) < cfg.n_trials
            and cfg.timeout is None
            and not run.cap.reached()
        ):
            optimize(run, study, desc, guided=guided)
        return
    shared = Shared(run.shared_url, study, cfg.n_trials, cfg.worker)
    try:
        run_until_complete(
            shared,
            lambda: optimize(run, study, desc, guided=guided),
            fail_stale_trials,
            again=lambda: cfg.timeout is None and not run.cap.reached(),
        )
    finally:
        shared.close()
    _remember(run.scorer, study)  # what the other processes scored is not scored again


def _finalize(run: Run, study: optuna.Study) -> list[ParetoRow]:
    """:func:`finalize`, tried again after a transport failure until it succeeds.

    Scored examples are cached, so each try scores only what failed before. The loop ends:
    a try without a new score failed every call it made, and after ``endpoint_failures``
    failed calls in a row the scorer raises :class:`~specprompt.errors.EndpointError`.
    """
    while True:
        try:
            return finalize(study, run.ctx, run.scorer, run.ctx.config.token_budget, run.ctx.config.finalists)
        except TransportError as exc:  # [faults]
            logger.warning("the final evaluation is tried again (%d scores known): %s", run.scorer.scored, exc)
