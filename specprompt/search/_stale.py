"""Trials left RUNNING by a killed process: found, failed and run again first.

A process killed mid-trial (SIGKILL, a lost machine) leaves its trial RUNNING. Two detectors
retire such a trial, and both hand it to one callback, :class:`RequeueInterrupted`:

================  ==============================================================================
detector          what it sees
================  ==============================================================================
process check     at the start of each search (:func:`fail_stale_trials`): a RUNNING trial whose
                  ``worker`` tag names this host and a process that no longer exists (or this
                  process, which runs no trial then). Immediate, so a resume right after a kill
                  runs the killed candidate first; the trial gets an ``interrupted`` record.
Optuna heartbeat  RDB storages made by :func:`heartbeat_storage` (every URL given to
                  ``BandOptimizer``) record a heartbeat every :data:`HEARTBEAT_INTERVAL` s while
                  a trial runs; Optuna fails a trial whose heartbeat is older than
                  :data:`GRACE_PERIOD` s before each new trial of any worker and calls the
                  storage's ``heartbeat_stale_trial_callback``. This covers other hosts and a
                  reused process id; it cannot be immediate (a live trial beats only every
                  :data:`HEARTBEAT_INTERVAL` s).
================  ==============================================================================

The callback enqueues the trial's candidate again (user attribute ``retry_of``; Optuna's
``failed_trial`` and ``retry_history`` system attributes, as
:class:`optuna.storages.RetryHeartbeatStaleTrialCallback` writes them, so its
``retried_trial_number`` works) up to ``max_retry`` times. Waiting trials run in the order they
were enqueued and the first guesses are enqueued one at a time
(:mod:`specprompt.search._queue`), so the retry is the next trial that runs. A candidate that a
later trial shows already (a study resumed before the heartbeat retired the trial: the base
sampler, seeded from the finished trials, proposed it again) is not enqueued again.

Until the heartbeat retires it, a trial of another host is indistinguishable from a live
worker's: it holds its place toward ``n_trials`` and shows its candidate
(:func:`running_elsewhere`), and a search in one process waits for it before it chooses
(:func:`wait_for_others`), then runs its retry.

Storages without a heartbeat (``"memory"``, where nothing outlives the process; a
``JournalStorage`` or an ``RDBStorage`` object built without ``heartbeat_interval``) rely on the
process check alone: a trial killed on another host stays RUNNING there.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import warnings
from typing import Any

import optuna

from specprompt.errors import ConfigError
from specprompt.search._objective import worker_tag
from specprompt.search._record import TrialRecord

__all__ = [
    "GRACE_PERIOD",
    "HEARTBEAT_INTERVAL",
    "MAX_RETRY",
    "RequeueInterrupted",
    "fail_stale_trials",
    "heartbeat_storage",
    "requeue",
    "running_elsewhere",
    "wait_for_others",
]

logger = logging.getLogger("specprompt.search")

#: Seconds between two heartbeats of a running trial (RDB storages).
HEARTBEAT_INTERVAL = 20
#: Seconds without a heartbeat after which Optuna fails a running trial.
GRACE_PERIOD = 90
#: How many times one candidate is run again after its trial was interrupted.
MAX_RETRY = 3
#: Seconds between two looks at the study while :func:`wait_for_others` waits.
_POLL_S = 1.0

# Optuna's names (optuna/storages/_callbacks.py), kept so its retry helpers read our retries
_FAILED_TRIAL = "failed_trial"
_RETRY_HISTORY = "retry_history"


def heartbeat_storage(url: str) -> optuna.storages.RDBStorage:
    """An RDB storage for ``url`` with Optuna's heartbeat and :class:`RequeueInterrupted`.

    Raises:
        ValueError: from SQLAlchemy or Optuna, for a URL they cannot open.
    """
    with warnings.catch_warnings():  # heartbeat_interval is an experimental argument in Optuna 5
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RDBStorage(
            url,
            heartbeat_interval=HEARTBEAT_INTERVAL,
            grace_period=GRACE_PERIOD,
            heartbeat_stale_trial_callback=RequeueInterrupted(),
        )


def _params(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """The parameters a trial drew, or (an enqueued trial that has not drawn them yet) was given."""
    return dict(trial.params) or dict(trial.system_attrs.get("fixed_params") or {})


def _shown_later(study: optuna.Study, trial: optuna.trial.FrozenTrial, params: dict[str, Any]) -> int | None:
    """The number of a trial after ``trial`` that shows its candidate and has not failed, if any.

    Same parameters show the same candidate, except for a baseline (its origin can name images
    that are no point of the band space): there the origin must match too.
    """
    origin = TrialRecord.from_trial(trial).origin
    baseline = TrialRecord(origin=origin).is_baseline
    for t in study.get_trials(deepcopy=False):
        if t.number <= trial.number or t.state == optuna.trial.TrialState.FAIL or _params(t) != params:
            continue
        if not baseline or TrialRecord.from_trial(t).origin == origin:
            return t.number
    return None


def requeue(study: optuna.Study, trial: optuna.trial.FrozenTrial, worker: Any = None) -> bool:
    """Enqueues the candidate of FAILed ``trial`` again; ``False`` when it has no parameters, or
    when a later trial that has not failed shows it already.

    The new trial keeps the origin, records ``retry_of`` and carries Optuna's retry system
    attributes. A trial killed before it drew any parameter has nothing to run again (the
    sampler draws anew); an enqueued one killed before it suggested them still has them as
    ``fixed_params``. A trial of a process killed on another host stays RUNNING until Optuna's
    heartbeat retires it; a study resumed meanwhile may have run its candidate again already
    (the base sampler proposes it anew, :mod:`specprompt.search._sampler`), and it is not run
    a third time.
    """
    params = _params(trial)
    if not params:
        return False
    again = _shown_later(study, trial, params)
    if again is not None:
        logger.info("trial %d was interrupted; trial %d shows its candidate already", trial.number, again)
        return False
    record = TrialRecord(origin=TrialRecord.from_trial(trial).origin or "sampler", worker=worker, retry_of=trial.number)
    history = [*trial.system_attrs.get(_RETRY_HISTORY, []), trial.number]
    study.add_trial(
        optuna.trial.create_trial(
            state=optuna.trial.TrialState.WAITING,
            user_attrs=record.to_attrs(),
            system_attrs={
                "fixed_params": params,
                _FAILED_TRIAL: trial.system_attrs.get(_FAILED_TRIAL, trial.number),
                _RETRY_HISTORY: history,
            },
        )
    )
    return True


class RequeueInterrupted:
    """Runs an interrupted trial's candidate again: a ``heartbeat_stale_trial_callback``.

    Called with a trial already FAILed (by Optuna's heartbeat or by :func:`fail_stale_trials`);
    enqueues its candidate with :func:`requeue`, unless it was retried ``max_retry`` times
    already or has been requeued before.

    Args:
        max_retry: how many times one candidate is run again.

    Raises:
        ConfigError: ``max_retry`` is not an int >= 0.
    """

    def __init__(self, max_retry: int = MAX_RETRY) -> None:
        if isinstance(max_retry, bool) or not isinstance(max_retry, int) or max_retry < 0:
            raise ConfigError(f"max_retry must be an int >= 0, got {max_retry!r}")
        self.max_retry = max_retry

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if len(trial.system_attrs.get(_RETRY_HISTORY, [])) >= self.max_retry:
            logger.warning(
                "trial %d was interrupted %d times; its candidate is not run again", trial.number, self.max_retry + 1
            )
            return
        if any(TrialRecord.from_trial(t).retry_of == trial.number for t in study.get_trials(deepcopy=False)):
            return
        if requeue(study, trial):
            logger.info("trial %d was interrupted; its candidate runs again next", trial.number)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fail_stale_trials(study: optuna.Study) -> int:
    """Fails the RUNNING trials of dead processes and runs them again; returns how many were failed.

    First the process check (this host's trials of processes that ended, and of this process:
    each gets an ``interrupted`` record, then FAIL, then :class:`RequeueInterrupted`), then
    Optuna's heartbeat check (``optuna.storages.fail_stale_trials``, a no-op on a storage without
    heartbeat; it calls the storage's own callback).
    """
    host, me = socket.gethostname(), os.getpid()
    storage = study._storage
    retry = RequeueInterrupted()
    n = 0
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        tag = TrialRecord.from_trial(t).worker
        if not isinstance(tag, dict) or tag.get("host") != host:
            continue
        pid = int(tag.get("pid", -1))
        if pid != me and _pid_alive(pid):
            continue
        note = TrialRecord(interrupted=f"process {pid} on {host} ended mid-trial")
        try:
            for name, value in note.to_attrs().items():
                storage.set_trial_user_attr(t._trial_id, name, value)
            if not storage.set_trial_state_values(t._trial_id, state=optuna.trial.TrialState.FAIL):
                continue
        except optuna.exceptions.UpdateFinishedTrialError:  # another worker retired it first
            continue
        retry(study, storage.get_trial(t._trial_id))
        n += 1
    running = {t.number for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))}
    with warnings.catch_warnings():  # experimental in Optuna 5; Study.optimize silences it the same way
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    failed = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.FAIL,))
    n += sum(1 for t in failed if t.number in running)
    if n:
        logger.info("marked %d stale running trial(s) of killed processes as failed", n)
    return n


def _has_heartbeat(storage: object) -> bool:
    """Whether Optuna records heartbeats of running trials in ``storage`` (and so retires stale ones)."""
    interval = getattr(storage, "get_heartbeat_interval", None)
    return callable(interval) and interval() is not None


def running_elsewhere(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """The RUNNING trials of other processes, on a storage with Optuna's heartbeat (else none).

    Each is a live process's trial or a dead one's that the heartbeat retires within
    :data:`GRACE_PERIOD` s; either way it holds its place toward ``n_trials`` (a first guess it
    shows counts as shown), so a study resumed beside it does not run a trial in its place and
    then, when its candidate is queued again, leave that candidate out. Without a heartbeat a
    trial killed on another host stays RUNNING for good and holds no place.
    """
    if not _has_heartbeat(study._storage):
        return []
    me = worker_tag()
    out = []
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        tag = TrialRecord.from_trial(t).worker
        if not (isinstance(tag, dict) and tag.get("host") == me["host"] and tag.get("pid") == me["pid"]):
            out.append(t)
    return out


def wait_for_others(study: optuna.Study) -> bool:
    """Waits until no trial of :func:`running_elsewhere` runs; returns whether there was one.

    A dead process's trial is retired by :func:`fail_stale_trials` (Optuna's heartbeat, after its
    grace period: :data:`GRACE_PERIOD` s on the storages specprompt makes) and its candidate
    queued again; a live one's finishes.
    """
    others = running_elsewhere(study)
    if not others:
        return False
    for t in others:
        tag = TrialRecord.from_trial(t).worker or {}
        logger.info(
            "waiting for trial %d, running in process %s on %s (Optuna's heartbeat retires it if that process died)",
            t.number,
            tag.get("pid"),
            tag.get("host"),
        )
    while running_elsewhere(study):
        fail_stale_trials(study)
        time.sleep(_POLL_S)
    return True
