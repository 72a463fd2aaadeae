"""Interrupted trials: the process check, Optuna's heartbeat, the retry that runs next, per-trial seeds."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import dspy
import optuna
import pytest

from specprompt.errors import ConfigError
from specprompt.search import SearchConfig
from specprompt.search._context import SearchContext
from specprompt.search._demos import plan_demos
from specprompt.search._queue import enqueue_next_guess, first_guesses
from specprompt.search._seeding import reseed, trial_seed
from specprompt.search._stale import (
    HEARTBEAT_INTERVAL,
    RequeueInterrupted,
    fail_stale_trials,
    heartbeat_storage,
    requeue,
)
from specprompt.search._study import make_storage
from specprompt.tasks import Task

PARAMS = {"x": 2}
DIST = optuna.distributions.IntDistribution(0, 3)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(30)
    return proc.pid


def _running(
    study: optuna.Study, worker: dict[str, Any] | None, origin: str = "sampler", x: int = PARAMS["x"]
) -> optuna.trial.FrozenTrial:
    """A trial left RUNNING with drawn parameters ``{"x": x}``, as a killed process leaves it."""
    trial_id = study._storage.create_new_trial(study._study_id)
    study._storage.set_trial_param(trial_id, "x", DIST.to_internal_repr(x), DIST)
    study._storage.set_trial_user_attr(trial_id, "origin", origin)
    if worker is not None:
        study._storage.set_trial_user_attr(trial_id, "worker", worker)
    return study._storage.get_trial(trial_id)


def test_make_storage_gives_urls_optunas_heartbeat(tmp_path: Path) -> None:
    storage = make_storage(None, str(tmp_path))
    assert isinstance(storage, optuna.storages.RDBStorage)
    assert storage.get_heartbeat_interval() == HEARTBEAT_INTERVAL
    assert isinstance(storage.get_heartbeat_stale_trial_callback(), RequeueInterrupted)
    url = make_storage(f"sqlite:///{tmp_path / 'other.db'}", None)
    assert isinstance(url, optuna.storages.RDBStorage) and url.get_heartbeat_interval() == HEARTBEAT_INTERVAL
    assert isinstance(make_storage("memory", None), optuna.storages.InMemoryStorage)


def test_a_dead_process_trial_is_failed_at_once_and_its_candidate_runs_next(tmp_path: Path) -> None:
    study = optuna.create_study(storage=heartbeat_storage(f"sqlite:///{tmp_path / 's.db'}"))
    host = socket.gethostname()
    dead = _running(study, {"host": host, "pid": _dead_pid()}, origin="neighbour:0")
    alive = _running(study, {"host": host, "pid": os.getppid()}, x=0)  # a live process of this host
    elsewhere = _running(study, {"host": host + "-other", "pid": _dead_pid()}, x=1)  # only the heartbeat can tell
    assert fail_stale_trials(study) == 1
    trials = study.get_trials(deepcopy=False)
    assert trials[dead.number].state == optuna.trial.TrialState.FAIL
    assert "ended mid-trial" in trials[dead.number].user_attrs["interrupted"]
    assert trials[alive.number].state == trials[elsewhere.number].state == optuna.trial.TrialState.RUNNING
    (retry,) = [t for t in trials if t.state == optuna.trial.TrialState.WAITING]
    assert retry.user_attrs == {"origin": "neighbour:0", "retry_of": dead.number}
    assert retry.system_attrs["fixed_params"] == PARAMS
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        assert optuna.storages.RetryHeartbeatStaleTrialCallback.retried_trial_number(retry) == dead.number
    assert fail_stale_trials(study) == 0  # retired once, requeued once


def test_optunas_heartbeat_fails_a_silent_trial_and_the_callback_requeues_it(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        storage = optuna.storages.RDBStorage(
            f"sqlite:///{tmp_path / 's.db'}",
            heartbeat_interval=1,
            grace_period=1,
            heartbeat_stale_trial_callback=RequeueInterrupted(),
        )
    study = optuna.create_study(storage=storage)
    silent = _running(study, {"host": socket.gethostname() + "-other", "pid": 1})
    storage.record_heartbeat(silent._trial_id)
    assert fail_stale_trials(study) == 0  # its heartbeat is fresh
    time.sleep(2.5)
    assert fail_stale_trials(study) == 1
    trials = study.get_trials(deepcopy=False)
    assert trials[silent.number].state == optuna.trial.TrialState.FAIL
    (retry,) = [t for t in trials if t.state == optuna.trial.TrialState.WAITING]
    assert retry.user_attrs["retry_of"] == silent.number and retry.system_attrs["retry_history"] == [silent.number]


def test_a_candidate_is_retried_at_most_max_retry_times() -> None:
    study = optuna.create_study()
    trial = _running(study, None)
    study._storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)
    failed = study._storage.get_trial(trial._trial_id)
    RequeueInterrupted(max_retry=0)(study, failed)
    assert not [t for t in study.trials if t.state == optuna.trial.TrialState.WAITING]
    RequeueInterrupted(max_retry=1)(study, failed)
    RequeueInterrupted(max_retry=1)(study, failed)  # requeued once only
    (retry,) = [t for t in study.trials if t.state == optuna.trial.TrialState.WAITING]
    assert retry.system_attrs["retry_history"] == [trial.number]
    study._storage.set_trial_state_values(retry._trial_id, optuna.trial.TrialState.RUNNING)
    study._storage.set_trial_state_values(retry._trial_id, optuna.trial.TrialState.FAIL)
    RequeueInterrupted(max_retry=1)(study, study._storage.get_trial(retry._trial_id))  # a second interruption
    assert not [t for t in study.trials if t.state == optuna.trial.TrialState.WAITING]


def test_a_trial_killed_before_it_drew_parameters_is_not_requeued() -> None:
    study = optuna.create_study()
    trial_id = study._storage.create_new_trial(study._study_id)
    study._storage.set_trial_state_values(trial_id, optuna.trial.TrialState.FAIL)
    assert requeue(study, study._storage.get_trial(trial_id)) is False
    assert len(study.trials) == 1


@pytest.mark.parametrize("bad", [-1, 1.5, True, "3"])
def test_max_retry_is_checked(bad: Any) -> None:
    with pytest.raises(ConfigError, match="max_retry"):
        RequeueInterrupted(max_retry=bad)


def test_first_guesses_are_enqueued_one_at_a_time_in_order(colour_task: Task) -> None:
    student = dspy.Predict(colour_task.signature)
    student.demos = colour_task.trainset[:3]
    ctx = SearchContext(student, plan_demos(student, [], None, 0), SearchConfig(token_budget=100))
    guesses = first_guesses(ctx, 50)
    assert len(guesses) >= 3 and guesses[0][0].startswith("baseline:")
    assert [o for o, _ in guesses] == sorted({o for o, _ in guesses}, key=[o for o, _ in guesses].index)
    study = optuna.create_study()
    assert enqueue_next_guess(study, ctx, guesses, None) == guesses[0][0]
    assert enqueue_next_guess(study, ctx, guesses, None) is None  # one waits already
    study.tell(study.ask(), 0.5)
    assert enqueue_next_guess(study, ctx, guesses, None) == guesses[1][0]
    assert [t.user_attrs["origin"] for t in study.trials] == [guesses[0][0], guesses[1][0]]
    assert len(first_guesses(ctx, 2)) == 2


def test_a_reseeded_sampler_proposes_after_a_restart_what_it_proposed_before() -> None:
    def run(restart_at: int | None) -> list[tuple[float, int]]:
        make = lambda: optuna.samplers.TPESampler(seed=0, multivariate=True, n_startup_trials=3)  # noqa: E731
        study = optuna.create_study(sampler=make())
        out = []
        for i in range(7):
            if i == restart_at:  # a new process: a fresh sampler over the same study
                study.sampler = make()
            reseed(study.sampler, trial_seed(0, i))
            trial = study.ask()
            x, y = trial.suggest_float("x", 0, 1), trial.suggest_int("y", 0, 9)
            study.tell(trial, x + y)
            out.append((x, y))
        return out

    assert run(None) == run(4)
    assert reseed(optuna.samplers.TPESampler(seed=0), 1) == 2  # its own state and its startup sampler's
    free = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0, n_startup_trials=3))
    for _ in range(4):
        free.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    fresh = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0, n_startup_trials=3))
    for t in free.trials[:2]:
        fresh.add_trial(t)
    fresh.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    assert [t.params for t in fresh.trials[2:]] != [t.params for t in free.trials[2:]]  # why reseeding is needed


def test_a_later_trial_that_shows_the_candidate_stops_its_requeue() -> None:
    study = optuna.create_study()
    dead = _running(study, {"host": socket.gethostname() + "-other", "pid": 1})
    again = _running(study, None)  # a resumed study proposed the same parameters meanwhile
    study._storage.set_trial_state_values(again._trial_id, optuna.trial.TrialState.COMPLETE, [0.5])
    study._storage.set_trial_state_values(dead._trial_id, optuna.trial.TrialState.FAIL)
    RequeueInterrupted()(study, study._storage.get_trial(dead._trial_id))
    assert not [t for t in study.trials if t.state == optuna.trial.TrialState.WAITING]
    # a baseline's images may be no point of the band space: only a trial of its origin shows it
    base = _running(study, None, origin="baseline:low_detail")
    study._storage.set_trial_state_values(base._trial_id, optuna.trial.TrialState.FAIL)
    assert requeue(study, study._storage.get_trial(base._trial_id)) is True
    assert requeue(study, study._storage.get_trial(base._trial_id)) is False  # its retry waits now


def test_a_first_guess_killed_on_another_host_holds_its_place_and_runs(
    colour_task: Task, lm: dspy.LM, tmp_path: Path
) -> None:
    """A study resumed while Optuna's heartbeat has not retired a first guess that a process on another
    host left RUNNING runs no trial in its place, and runs the guess once the heartbeat retires it."""
    from specprompt.search import BandOptimizer

    from .conftest import exact, options

    def compile_(n: int, storage: Any) -> optuna.Study:
        opt = BandOptimizer(
            exact, **options(n_trials=n, storage=storage, study_name="s", local_search=0.0, token_budget=100)
        )
        opt.compile(dspy.Predict(colour_task.signature), trainset=colour_task.trainset, valset=colour_task.valset)
        return optuna.load_study(study_name="s", storage=storage)

    plain = compile_(5, f"sqlite:///{tmp_path / 'plain.db'}").trials
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        storage = optuna.storages.RDBStorage(
            f"sqlite:///{tmp_path / 's.db'}",
            heartbeat_interval=1,
            grace_period=2,
            heartbeat_stale_trial_callback=RequeueInterrupted(),
        )
    study = compile_(2, storage)
    killed = plain[2]  # the third first guess, killed on another host
    assert str(killed.user_attrs["origin"]).startswith(("baseline:", "warm:"))
    stale = study._storage.get_trial(storage.create_new_trial(study._study_id))  # as the killed worker left it
    storage.set_trial_system_attr(stale._trial_id, "fixed_params", killed.params)
    for name, value in killed.params.items():
        dist = killed.distributions[name]
        storage.set_trial_param(stale._trial_id, name, dist.to_internal_repr(value), dist)
    storage.set_trial_user_attr(stale._trial_id, "origin", killed.user_attrs["origin"])
    storage.set_trial_user_attr(stale._trial_id, "worker", {"host": socket.gethostname() + "-other", "pid": 1})
    storage.record_heartbeat(stale._trial_id)
    trials = compile_(5, storage).trials
    finished = [t for t in trials if t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)]
    assert trials[stale.number].state == optuna.trial.TrialState.FAIL
    assert len(finished) == 5
    guesses = sorted(str(t.user_attrs["origin"]) for t in plain if "retry_of" not in t.user_attrs)
    guesses = [o for o in guesses if o.startswith(("baseline:", "warm:"))]
    assert (
        sorted(o for t in finished if (o := str(t.user_attrs["origin"])).startswith(("baseline:", "warm:"))) == guesses
    )
    (retry,) = [t for t in finished if t.user_attrs.get("retry_of") == stale.number]
    assert retry.user_attrs["origin"] == killed.user_attrs["origin"]
