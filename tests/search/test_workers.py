"""Several processes on one study: the claims table (SQLite, PostgreSQL), admission, score claims,
and two real worker processes on PostgreSQL."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import dspy
import optuna
import pytest

from specprompt import ConfigError
from specprompt.search import BandOptimizer, shared_url, worker_seed
from specprompt.search._claims import Claims
from specprompt.search._record import TrialRecord
from specprompt.search._workers import Shared
from specprompt.tasks import Task

from ..conftest import PG_URL, postgres_unreachable
from .conftest import exact, options

FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'claims.db'}"
    reason = postgres_unreachable()
    if reason is not None:
        pytest.skip(reason)
    return PG_URL


@pytest.fixture
def claims(db_url: str) -> Iterator[Claims]:
    c = Claims(db_url, f"test-claims-{uuid.uuid4().hex}")
    try:
        yield c
    finally:
        c.clear()
        c.dispose()


def test_claims_first_writer_wins_and_swaps(claims: Claims) -> None:
    assert claims.claim("score:k", {"trial": 1})
    assert not claims.claim("score:k", {"trial": 2})
    assert claims.holder("score:k") == {"trial": 1} and claims.holder("score:j") is None
    assert not claims.replace("score:k", {"trial": 2}, {"trial": 3})  # not the holder
    assert claims.replace("score:k", {"trial": 1}, {"trial": 3})
    assert not claims.release("score:k", {"trial": 1})
    assert claims.claim("admit:7", {"trial": 7})
    assert claims.items("score:") == {"score:k": {"trial": 3}}
    assert set(claims.items()) >= {"score:k", "admit:7"}
    assert claims.release("score:k", {"trial": 3}) and claims.holder("score:k") is None
    other = Claims(str(claims.engine.url.render_as_string(hide_password=False)), claims.study + "-other")
    try:
        assert other.items() == {} and other.claim("admit:7", {"trial": 9})  # studies do not see each other
    finally:
        other.clear()
        other.dispose()


def test_claims_race_has_one_winner(claims: Claims) -> None:
    wins: list[bool] = []
    barrier = threading.Barrier(6)

    def race(i: int) -> None:
        barrier.wait()
        wins.append(claims.claim("score:same", {"thread": i}))

    threads = [threading.Thread(target=race, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == [False] * 5 + [True]


def test_lock_makes_count_then_claim_atomic(claims: Claims) -> None:
    got: list[bool] = []

    def count_up() -> None:
        for _ in range(8):
            with claims.lock() as conn:
                n = len(claims.items("n:", conn))
                time.sleep(0.002)  # widen the window a missing lock would lose
                got.append(claims.claim(f"n:{n}", {"n": n}, conn))

    threads = [threading.Thread(target=count_up) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(got) and sorted(claims.items("n:")) == sorted(f"n:{i}" for i in range(24))


def test_admission_and_score_claims(db_url: str) -> None:
    name = f"test-shared-{uuid.uuid4().hex}"
    study = optuna.create_study(storage=db_url, study_name=name)
    shared = Shared(db_url, study, n_trials=2, worker=0)
    try:
        t1, t2, t3 = study.ask(), study.ask(), study.ask()
        assert shared.admit(t1) and shared.admit(t2)
        assert not shared.admit(t3) and shared.full()  # two admitted and running: the study is full
        study.tell(t1, state=optuna.trial.TrialState.FAIL)  # a failed trial frees its place
        assert not shared.full() and shared.admit(t3)
        # score claims: the first trial scores, a later one reuses a finished holder's scores
        assert shared.claim_score(t2, "k")
        study.tell(t2, 1.0)
        assert not shared.claim_score(t3, "k")
        # a failed holder's claim is taken over; a released claim is free again
        t4 = study.ask()
        assert shared.claim_score(t4, "m")
        study.tell(t4, state=optuna.trial.TrialState.FAIL)
        assert shared.claim_score(t3, "m")
        shared.release_score(t3, "m")
        assert shared.claims.holder("score:m") is None
        study.tell(t3, 0.5)
        assert shared.taken() == (2, 0) and shared.full()
    finally:
        shared.claims.clear()
        shared.close()
        optuna.delete_study(study_name=name, storage=db_url)


def test_trim_trials_do_not_count_toward_n_trials(db_url: str) -> None:
    """The variants a trim added after a choice (origin trim:<n>) take no place of n_trials."""
    name = f"test-trim-count-{uuid.uuid4().hex}"
    study = optuna.create_study(storage=db_url, study_name=name)
    shared = Shared(db_url, study, n_trials=2, worker=0)
    try:
        for origin in ("sampler", "trim:1", "trim:2"):
            study.add_trial(optuna.trial.create_trial(value=0.5, user_attrs=TrialRecord(origin=origin).to_attrs()))
        assert shared.taken() == (1, 0) and not shared.full()
        t1, t2 = study.ask(), study.ask()
        assert shared.admit(t1) and not shared.admit(t2) and shared.full()
        study.tell(t1, 1.0)
        assert shared.taken() == (2, 0) and shared.full()
    finally:
        shared.claims.clear()
        shared.close()
        optuna.delete_study(study_name=name, storage=db_url)


def test_extending_a_trimmed_shared_study_runs_the_missing_trials(colour_task: Task, lm: dspy.LM) -> None:
    """A shared (PostgreSQL) study trimmed after its choice and compiled again with more trials runs
    exactly the trials a study without trim trials would."""
    reason = postgres_unreachable()
    if reason is not None:
        pytest.skip(reason)
    name = f"test-trim-extend-{uuid.uuid4().hex}"

    def counts() -> tuple[int, int]:
        finished = [t for t in optuna.load_study(study_name=name, storage=PG_URL).trials if t.state in FINISHED]
        trim = sum(str(t.user_attrs.get("origin")).startswith("trim:") for t in finished)
        return len(finished) - trim, trim

    try:
        for n in (4, 6):
            opt = BandOptimizer(exact, **options(n_trials=n, study_name=name, storage=PG_URL, trim_baselines="tie"))
            opt.compile(dspy.Predict(colour_task.signature), trainset=colour_task.trainset, valset=colour_task.valset)
            searched, trimmed = counts()
            assert trimmed > 0, "the trim added no variant: nothing to check"
            assert searched == n and opt.last_result is not None and opt.last_result.n_trials == n
    finally:
        Claims(PG_URL, name).clear()
        try:
            optuna.delete_study(study_name=name, storage=PG_URL)
        except KeyError:
            pass


def test_a_worker_index_in_use_warns(db_url: str, caplog: pytest.LogCaptureFixture) -> None:
    name = f"test-index-{uuid.uuid4().hex}"
    study = optuna.create_study(storage=db_url, study_name=name)
    first, second = Shared(db_url, study, 4, worker=0), Shared(db_url, study, 4, worker=0)
    second.tag = {**second.tag, "pid": 1}  # another live process of this host with the same index
    try:
        assert first.enter() and first.enter()  # a process may enter again
        with caplog.at_level("WARNING", logger="specprompt.search"):
            assert not second.enter()
        assert "worker index 0 of study" in caplog.text and "give each process its own index" in caplog.text
        first.leave()
        assert second.enter() and second.claims.holder("worker:0") == second.tag
    finally:
        first.claims.clear()
        first.close()
        second.close()
        optuna.delete_study(study_name=name, storage=db_url)


@pytest.mark.parametrize(
    ("seed", "worker", "match"),
    [("a", 0, "seed"), (-1, 1, "seed"), (3, -1, "worker"), (3, 1.0, "worker"), (True, 0, "seed")],
)
def test_worker_seed_refuses_what_is_not_a_seed(seed: object, worker: object, match: str) -> None:
    with pytest.raises(ConfigError, match=f"worker_seed {match} must be an int >= 0, got"):
        worker_seed(seed, worker)  # type: ignore[arg-type]


def test_worker_seeds_and_shared_storages() -> None:
    assert worker_seed(3, 0) == 3
    assert len({worker_seed(3, w) for w in range(1, 50)}) == 49
    assert shared_url(PG_URL) == PG_URL
    assert shared_url("sqlite:///x.db") is None and shared_url("memory") is None and shared_url(None) is None
    assert shared_url(optuna.storages.InMemoryStorage()) is None


def test_workers_need_a_shared_storage(colour_task: Task, lm: dspy.LM, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"worker=1 needs a storage .*PostgreSQL.*default SQLite file"):
        BandOptimizer(exact, worker=1, run_dir=str(tmp_path))
    with pytest.raises(ConfigError, match=r"SearchConfig\.worker must be an int >= 0"):
        BandOptimizer(exact, worker=-1)
    opt = BandOptimizer(exact, **options(storage=f"sqlite:///{tmp_path / 's.db'}"))
    with pytest.raises(ConfigError, match=r"BandOptimizer.work .* needs a storage .*SQLite does not take"):
        opt.work(dspy.Predict(colour_task.signature), trainset=colour_task.trainset, valset=colour_task.valset)


# the metric of both processes, from one file: a study is scored with one metric (by its code)
METRIC = """import time


def exact_slowly(example, pred, trace=None):
    time.sleep(0.05)
    return float(example.label == pred.label)
"""

WORKER = """
import os, sys, time
import dspy
from specprompt.scorers import nearest_lm
from specprompt.search import BandOptimizer
from specprompt.tasks import get_task

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from slow_metric import exact_slowly

url, name, ready, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
task = get_task("colour-position", n_train=6, n_val=4, n_test=0, size=64, seed=0)

dspy.configure(lm=nearest_lm())
opt = BandOptimizer(exact_slowly, n_trials=n, k_demos=3, token_budget=60, minibatch_size=3, num_threads=1,
                    progress=False, storage=url, study_name=name, worker=1)
open(ready, "w").close()
print(opt.work(dspy.Predict(task.signature), trainset=task.trainset, valset=task.valset))
"""


def test_two_workers_on_postgresql(tmp_path: Path) -> None:
    """A worker process and a compile share one PostgreSQL study: exactly n_trials, no prompt scored twice."""
    reason = postgres_unreachable()
    if reason is not None:
        pytest.skip(reason)
    from specprompt.scorers import nearest_lm
    from specprompt.tasks import get_task

    n, name = 12, f"test-workers-{uuid.uuid4().hex}"
    script, ready = tmp_path / "worker.py", tmp_path / "ready"
    script.write_text(WORKER)
    (tmp_path / "slow_metric.py").write_text(METRIC)
    spec = importlib.util.spec_from_file_location("slow_metric", tmp_path / "slow_metric.py")
    assert spec is not None and spec.loader is not None
    slow_metric = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(slow_metric)
    child = subprocess.Popen(
        [sys.executable, str(script), PG_URL, name, str(ready), str(n)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not ready.exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        task = get_task("colour-position", n_train=6, n_val=4, n_test=0, size=64, seed=0)
        with dspy.context(lm=nearest_lm()):
            opt = BandOptimizer(
                slow_metric.exact_slowly,  # the worker's metric
                n_trials=n,
                k_demos=3,
                token_budget=60,
                minibatch_size=3,
                num_threads=1,
                progress=False,
                storage=PG_URL,
                study_name=name,
            )
            opt.compile(dspy.Predict(task.signature), trainset=task.trainset, valset=task.valset)
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err[-3000:]
        study = optuna.load_study(study_name=name, storage=PG_URL)
        trials = study.get_trials(deepcopy=False)
        finished = [t for t in trials if t.state in FINISHED]
        assert len(finished) == n
        assert opt.last_result is not None and opt.last_result.n_trials == n
        scored = Counter(
            t.user_attrs["key"] for t in finished if t.user_attrs.get("feasible") and "reused_from" not in t.user_attrs
        )
        assert scored and max(scored.values()) == 1, "a prompt was scored by two trials"
        pids = Counter(t.user_attrs["worker"]["pid"] for t in finished)
        assert set(pids) == {child.pid, os.getpid()}, pids
        assert int(out.strip().splitlines()[-1]) == pids[child.pid]
        first = Counter(
            str(t.user_attrs.get("origin"))
            for t in trials
            if str(t.user_attrs.get("origin")).startswith(("baseline:", "warm:")) and "retry_of" not in t.user_attrs
        )
        assert first and max(first.values()) == 1, f"first trials enqueued twice: {first}"
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
        Claims(PG_URL, name).clear()
        try:
            optuna.delete_study(study_name=name, storage=PG_URL)
        except KeyError:
            pass
