"""Several processes, on one machine or many, share one study on PostgreSQL.

Each process runs ``study.optimize`` on the same study with a sampler stream of its own
(:func:`worker_seed`); they coordinate through the claims of :mod:`specprompt.search._claims`, in
the study's own database:

- **Exactly** ``n_trials`` **finished trials.** A trial counts only once admitted: under the
  study's lock, a new trial is admitted while finished (complete or pruned) trials plus admitted
  running ones are fewer than ``n_trials`` (claim ``admit:<trial id>``). The variants a trim added
  after an earlier choice (origin ``trim:<n>``) do not count, as in a single process
  (:func:`~specprompt.search._objective.searched_trials`): a resumed or extended shared study runs
  the trials it would have run without the trim. A trial that is not
  admitted FAILs unscored (``surplus``; an enqueued candidate is queued again) and its worker
  stops; a worker also stops once the admitted trials reach ``n_trials``. A running trial that
  fails frees its place, so the study still ends with exactly ``n_trials``.
- **No prompt scored twice.** A trial claims ``score:<key>`` before it scores the prompt
  ``key``. A trial that finds the claim held waits while the holder runs and then reuses its
  scores (``reused_from``); the claim of a trial that failed (transport) is released, and one of
  a process that died on this host is taken over, so the candidate is scored by a later trial.
- **Baselines and warm starts enqueued once**: under the lock, by the first process that finds
  the study empty; so are the candidates of failed trials.
- **One process chooses.** :meth:`~specprompt.search.BandOptimizer.compile` runs its share,
  then waits until no admitted trial runs (running again if a failure left the study short),
  and scores finalists and chooses; :meth:`~specprompt.search.BandOptimizer.work` only runs trials.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import optuna

from specprompt.errors import ConfigError
from specprompt.search._claims import Claims, shared_url
from specprompt.search._context import Candidate, SearchContext
from specprompt.search._objective import FINISHED, Objective, counts_toward_n_trials
from specprompt.search._record import TrialRecord, write_record
from specprompt.search._scoring import Scorer

__all__ = [
    "POLL_S",
    "Shared",
    "SharedObjective",
    "Surplus",
    "check_shared",
    "quiet_surplus",
    "run_until_complete",
    "worker_seed",
]

logger = logging.getLogger("specprompt.search")

#: Seconds between two looks at the study while waiting for another process's trial.
POLL_S = 0.2

_RUNNING = optuna.trial.TrialState.RUNNING
_FAIL = optuna.trial.TrialState.FAIL


def worker_seed(seed: int, worker: int) -> int:
    """The sampler seed of worker ``worker``: ``seed`` itself for worker 0, else a hash of both.

    Raises:
        ConfigError: ``seed`` or ``worker`` is not an int >= 0.

    Example:
        >>> worker_seed(7, 0), worker_seed(7, 1) != worker_seed(7, 2)
        (7, True)
    """
    for name, value in (("seed", seed), ("worker", worker)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ConfigError(f"worker_seed {name} must be an int >= 0, got {value!r}")
    if worker == 0:
        return seed
    digest = hashlib.sha256(f"specprompt-worker:{seed}:{worker}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def check_shared(storage: object, what: str) -> str:
    """The URL of a storage several processes share, or a :class:`ConfigError` naming ``what``.

    Raises:
        ConfigError: ``None`` (the default SQLite file), ``"memory"``, SQLite or journal storage.
    """
    url = shared_url(storage)
    if url is None:
        shown = "the default SQLite file" if storage is None else repr(storage)
        raise ConfigError(
            f"{what} needs a storage that several processes can write at once: a PostgreSQL URL such as "
            f"postgresql+psycopg2://user@host:5432/db (got {shown}; SQLite does not take concurrent writers)"
        )
    return url


class Surplus(Exception):
    """A trial started after the shared study had its ``n_trials``: it FAILs unscored."""


class _DropSurplus:
    """Logging filter: Optuna's "Trial N failed" line is not shown for a surplus trial."""

    def filter(self, record: Any) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], Surplus))


_FILTER = _DropSurplus()


def quiet_surplus() -> None:
    """Installs (once) the filter that drops Optuna's failure line of surplus trials."""
    log = logging.getLogger("optuna.study._optimize")
    if _FILTER not in log.filters:
        log.addFilter(_FILTER)


def _alive_here(owner: dict[str, Any]) -> bool:
    """False when ``owner`` names a process of this host that has ended."""
    if owner.get("host") != socket.gethostname():
        return True
    try:
        os.kill(int(owner.get("pid", -1)), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, OverflowError):
        return True
    return True


class Shared:
    """The claims of one study, as the search uses them (one per study and process).

    Args:
        url: the database URL of the storage (:func:`~specprompt.search._claims.shared_url`).
        study: the study.
        n_trials: finished trials the study runs to.
        worker: this process's worker index (logged with its claims).
    """

    def __init__(self, url: str, study: optuna.Study, n_trials: int, worker: int) -> None:
        self.claims = Claims(url, study.study_name)
        self.study = study
        self.n_trials = n_trials
        self.tag = {"host": socket.gethostname(), "pid": os.getpid(), "worker": worker}

    def close(self) -> None:
        self.claims.dispose()

    # -- worker indices ------------------------------------------------------------------------------
    def enter(self) -> bool:
        """Claims this process's worker index (``worker:<index>``); warns and returns ``False`` when
        another process holds it (the same index means the same sampler stream)."""
        name = f"worker:{self.tag['worker']}"
        if self.claims.claim(name, self.tag):
            return True
        held = self.claims.holder(name)
        if held == self.tag:
            return True
        if held is not None and not _alive_here(held) and self.claims.replace(name, held, self.tag):
            return True
        logger.warning(
            "worker index %d of study %s is in use by process %s on %s (or was left by one that died): "
            "give each process its own index (--worker-index, worker=), or they propose the same trials",
            self.tag["worker"],
            self.study.study_name,
            None if held is None else held.get("pid"),
            None if held is None else held.get("host"),
        )
        return False

    def leave(self) -> None:
        """Frees this process's worker index."""
        self.claims.release(f"worker:{self.tag['worker']}", self.tag)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """One process at a time (enqueueing the first trials, requeueing failed ones)."""
        with self.claims.lock():
            yield

    # -- counting ------------------------------------------------------------------------------------
    def taken(self, conn: Any = None) -> tuple[int, int]:
        """``(finished, admitted and running)`` trials of the study; finished trials are those that
        count toward ``n_trials`` (:func:`~specprompt.search._objective.counts_toward_n_trials`:
        not the trim's)."""
        trials = self.study.get_trials(deepcopy=False)
        states = {t._trial_id: t.state for t in trials}
        finished = sum(counts_toward_n_trials(t) for t in trials)
        admitted = self.claims.items("admit:", conn)
        running = sum(states.get(int(name.split(":", 1)[1])) == _RUNNING for name in admitted)
        return finished, running

    def admit(self, trial: optuna.Trial) -> bool:
        """Whether ``trial`` counts toward ``n_trials`` (and records it when it does)."""
        with self.claims.lock() as conn:
            finished, running = self.taken(conn)
            if finished + running >= self.n_trials:
                return False
            return self.claims.claim(f"admit:{trial._trial_id}", {**self.tag, "trial": trial.number}, conn)

    def full(self) -> bool:
        """Whether finished plus admitted running trials reach ``n_trials`` (no new trial may start)."""
        finished, running = self.taken()
        return finished + running >= self.n_trials

    def wait_idle(self, stale: Callable[[optuna.Study], int]) -> int:
        """Waits until no admitted trial runs (``stale`` retires trials of dead local processes);
        returns the finished trials."""
        while True:
            finished, running = self.taken()
            if running == 0:
                return finished
            stale(self.study)
            time.sleep(POLL_S)

    # -- scoring one prompt once ----------------------------------------------------------------------
    def claim_score(self, trial: optuna.Trial, key: str) -> bool:
        """Claims the scoring of prompt ``key`` for ``trial``; ``False`` when another trial scored it.

        Waits while the holder's trial runs; takes the claim over from a trial that failed or whose
        process on this host has ended.
        """
        name = f"score:{key}"
        owner = {**self.tag, "trial": trial._trial_id, "number": trial.number}
        storage = self.study._storage
        waited = False
        while True:
            if self.claims.claim(name, owner):
                return True
            held = self.claims.holder(name)
            if held is None:
                continue  # released meanwhile
            try:
                state = storage.get_trial(int(held["trial"])).state
            except (KeyError, ValueError):
                state = _FAIL  # no such trial: a claim of a deleted study
            if state in FINISHED:
                return False
            if (state == _FAIL or not _alive_here(held)) and self.claims.replace(name, held, owner):
                logger.info("trial %d scores prompt %s after trial %s failed", trial.number, key[:12], held["number"])
                return True
            if not waited:
                logger.debug("trial %d waits for trial %s to score the same prompt", trial.number, held["number"])
                waited = True
            time.sleep(POLL_S)

    def release_score(self, trial: optuna.Trial, key: str) -> None:
        """Frees ``trial``'s claim on ``key`` (it failed: a later trial scores the prompt)."""
        self.claims.release(f"score:{key}", {**self.tag, "trial": trial._trial_id, "number": trial.number})

    # -- callback --------------------------------------------------------------------------------------
    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        """Optuna callback: stops this worker once the study has (or is running) its ``n_trials``."""
        if TrialRecord.from_trial(trial).surplus is not None or self.full():
            study.stop()


class SharedObjective(Objective):
    """The objective of a shared study: admits the trial, and claims each prompt before scoring it.

    Args:
        shared: the study's :class:`Shared`.
        *args: as :class:`~specprompt.search._objective.Objective`.
    """

    def __init__(
        self,
        shared: Shared,
        ctx: SearchContext,
        scorer: Scorer,
        budget: float | None,
        minibatch: Sequence[int],
        multi_objective: bool,
    ) -> None:
        super().__init__(ctx, scorer, budget, minibatch, multi_objective)
        self.shared = shared

    def __call__(self, trial: optuna.Trial) -> float | tuple[float, float]:
        if not self.shared.admit(trial):
            self._surplus(trial)
        return super().__call__(trial)

    def _surplus(self, trial: optuna.Trial) -> None:
        study = trial.study
        frozen = study._storage.get_trial(trial._trial_id)
        fixed = dict(frozen.system_attrs.get("fixed_params") or {})
        record = TrialRecord.from_trial(frozen)
        if fixed:  # an enqueued candidate (a baseline, a warm start, a retry): keep it queued
            again = TrialRecord(origin=record.origin or "sampler", worker=self.worker, retry_of=trial.number)
            study.enqueue_trial(fixed, user_attrs=again.to_attrs())
        why = f"the study had its {self.shared.n_trials} trials when trial {trial.number} started"
        write_record(trial, TrialRecord(worker=self.worker, surplus=why))
        logger.info("%s; this worker stops", why)
        raise Surplus(why)

    def _score(
        self, trial: optuna.Trial, cand: Candidate, key: str, tokens: int, prunable: bool
    ) -> float | tuple[float, float]:
        if not self.shared.claim_score(trial, key):
            prior = self._prior(trial.study, key, trial.number)
            if prior is not None:
                return self._reuse(trial, prior, tokens)
        try:
            return super()._score(trial, cand, key, tokens, prunable)
        except optuna.TrialPruned:
            raise  # scored (in part): the pruned trial's scores are reused
        except BaseException:
            self.shared.release_score(trial, key)
            raise


def run_until_complete(
    shared: Shared,
    optimize: Callable[[], None],
    stale: Callable[[optuna.Study], int],
    *,
    again: Callable[[], bool],
) -> None:
    """Runs ``optimize`` and waits for the other processes' trials; runs it again while a failed
    trial left the study short of ``n_trials`` and ``again()`` allows (no timeout or spend cap hit)."""
    while True:
        optimize()
        finished = shared.wait_idle(stale)
        if finished >= shared.n_trials or not again():
            return
        logger.info("%d of %d trials finished after the workers stopped; running the rest", finished, shared.n_trials)
