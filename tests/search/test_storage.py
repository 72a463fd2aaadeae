"""Persistent studies: resume after SIGKILL (SQLite) and a PostgreSQL storage."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from contextlib import closing
from pathlib import Path

import dspy
import optuna
import pytest

from specprompt.search import BandOptimizer
from specprompt.tasks import Task

from ..conftest import PG_URL, postgres_unreachable
from .conftest import exact, options

SCRIPT = """
import json, os, sys, time
import dspy, optuna
from specprompt.scorers import nearest_lm
from specprompt.search import BandOptimizer
from specprompt.tasks import get_task

run_dir, log = sys.argv[1], sys.argv[2]
task = get_task("colour-position", n_train=6, n_val=3, n_test=0, size=64, seed=0)

def metric(example, pred, trace=None):
    with open(log, "a") as f:
        f.write(f"{os.getpid()}\\n")
    time.sleep(0.05)
    return float(example.label == pred.label)

dspy.configure(lm=nearest_lm())
opt = BandOptimizer(metric, n_trials=10, k_demos=2, token_budget=60, minibatch_size=3, num_threads=1, progress=False,
                    run_dir=run_dir, pruner=optuna.pruners.NopPruner())
opt.compile(dspy.Predict(task.signature), trainset=task.trainset, valset=task.valset)
print(json.dumps({"scorer_calls": opt.last_result.scorer_calls, "study": opt.last_result.study_name}))
"""


def _complete(url: str) -> list[optuna.trial.FrozenTrial]:
    names = optuna.study.get_all_study_names(storage=url)
    if not names:
        return []
    study = optuna.load_study(study_name=names[0], storage=url)
    return study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))


def _count_complete(db: Path) -> int:
    """COMPLETE trials in an Optuna SQLite file, read with sqlite3 so that the schema the child
    process is still creating is never touched."""
    if not db.exists():
        return 0
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)) as con:
            return int(con.execute("SELECT count(*) FROM trials WHERE state = 'COMPLETE'").fetchone()[0])
    except sqlite3.OperationalError:  # no table yet, or locked for a moment
        return 0


def test_resume_after_sigkill(tmp_path: Path) -> None:
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    log = tmp_path / "calls.log"
    cmd = [sys.executable, str(script), str(tmp_path), str(log)]
    url = f"sqlite:///{tmp_path / 'study.db'}"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    errors = (tmp_path / "first.err").open("w")
    first = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=errors, env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and first.poll() is None:
        if _count_complete(tmp_path / "study.db") >= 3:
            break
        time.sleep(0.05)
    ended = first.poll()
    if ended is None:
        os.kill(first.pid, signal.SIGKILL)
        first.wait(30)
    errors.close()
    assert ended is None, (
        f"the first run ended (rc {ended}) before it could be killed: {(tmp_path / 'first.err').read_text()[-2000:]}"
    )
    before = {t.number: (t.params, t.values, dict(t.user_attrs)) for t in _complete(url)}
    assert 3 <= len(before) < 10

    second = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=180, check=True)
    out = json.loads(second.stdout.strip().splitlines()[-1])
    study = optuna.load_study(study_name=out["study"], storage=url)
    trials = study.get_trials(deepcopy=False)
    states = [t.state for t in trials]
    finished_states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    finished = [t for t in trials if t.state in finished_states]
    assert len(finished) == 10
    assert optuna.trial.TrialState.RUNNING not in states
    assert states.count(optuna.trial.TrialState.FAIL) <= 1  # the trial running at the kill, if any
    for t in trials:  # the candidate of an interrupted trial is run again, once
        if t.state == optuna.trial.TrialState.FAIL:
            assert "interrupted" in t.user_attrs
            again = [u for u in trials if u.user_attrs.get("retry_of") == t.number]
            drawn = t.params or t.system_attrs.get("fixed_params") or {}  # an enqueued trial's are fixed
            if not drawn:  # killed before its candidate was drawn: nothing to run again
                assert not again
                continue
            assert len(again) == 1 and again[0].state in finished_states
            assert drawn.items() <= again[0].params.items()  # killed mid-draw: the rest is drawn anew
    for number, (params, values, attrs) in before.items():  # earlier trials kept as they were
        t = trials[number]
        assert (t.params, t.values, t.user_attrs) == (params, values, attrs)
    shown = [t for t in trials if t.state != optuna.trial.TrialState.FAIL]  # an interrupted trial runs again
    warm = [t.params for t in shown if str(t.user_attrs.get("origin")).startswith("warm:")]
    assert len(warm) >= 2 and len({json.dumps(p, sort_keys=True) for p in warm}) == len(warm)  # enqueued once
    assert all(t.user_attrs.get("origin") for t in finished)

    calls = log.read_text().split()
    second_pid = {t.user_attrs["worker"]["pid"] for t in finished if t.number not in before}
    assert len(second_pid) == 1
    pid2 = str(second_pid.pop())
    new_keys = {
        t.user_attrs["key"]
        for t in finished
        if t.number not in before and t.user_attrs["feasible"] and "reused_from" not in t.user_attrs
    }
    old_keys = {attrs["key"] for _, _, attrs in before.values()}
    assert not new_keys & old_keys, "a prompt scored before the kill was scored again"
    assert calls.count(pid2) == out["scorer_calls"] == 3 * len(new_keys)


KILL_SCRIPT = """
import json, logging, os, signal, sys
import dspy, optuna
from specprompt.scorers import nearest_lm
from specprompt.search import BandOptimizer
from specprompt.tasks import get_task

run_dir, log, after = sys.argv[1], sys.argv[2], int(sys.argv[3])
task = get_task("colour-position", n_train=8, n_val=6, n_test=0, size=64, seed=0)
state = {"calls": 0, "kill_at": None, "finished": 0}

def metric(example, pred, trace=None):
    state["calls"] += 1
    with open(log, "a") as f:
        f.write(f"{os.getpid()}\\n")
    if state["kill_at"] is not None and state["calls"] >= state["kill_at"]:
        os.kill(os.getpid(), signal.SIGKILL)  # mid-trial: the 2nd call after trial `after` finished
    return float(example.label == pred.label)

class Arm(logging.Handler):
    def emit(self, record):
        msg = record.getMessage()
        if msg.startswith("Trial ") and (" finished with value" in msg or " pruned." in msg):
            state["finished"] += 1
            if state["finished"] == after:
                state["kill_at"] = state["calls"] + 2

optuna.logging.set_verbosity(optuna.logging.INFO)
optuna.logging.disable_default_handler()
logging.getLogger("optuna").addHandler(Arm())
dspy.configure(lm=nearest_lm())
opt = BandOptimizer(metric, n_trials=11, k_demos=3, token_budget=100, minibatch_size=3, num_threads=1, progress=False,
                    full_eval_every=5, run_dir=run_dir)
opt.compile(dspy.Predict(task.signature), trainset=task.trainset, valset=task.valset)
r = opt.last_result
print(json.dumps({"study": r.study_name, "key": r.best.key, "params": r.best.params, "score": r.best.score,
                  "front": [[x.key, x.score] for x in r.front], "calls": r.scorer_calls}))
"""


def _history(url: str, name: str) -> tuple[list[tuple[object, ...]], list[str]]:
    """(prompt key, state, values, origin kind) of every trial that was not interrupted, by number,
    and the study attributes of the full-valset evaluations."""
    study = optuna.load_study(study_name=name, storage=url)
    trials = [
        (t.user_attrs.get("key"), t.state, t.values, t.user_attrs.get("origin", "").split(":")[0])
        for t in study.get_trials(deepcopy=False)
        if t.state != optuna.trial.TrialState.FAIL
    ]
    return trials, sorted(k for k in study.user_attrs if k.startswith(("full:", "periodic:")))


def test_sigkill_mid_trial_resumes_to_the_uninterrupted_program(tmp_path: Path) -> None:
    """A compile killed in the middle of a sampler trial and run again returns the program, and runs
    the trials, of the uninterrupted compile with the same seed; the killed candidate runs next."""
    script = tmp_path / "run.py"
    script.write_text(KILL_SCRIPT)
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "DSPY_CACHEDIR": str(tmp_path / "dspy-cache")}
    cmd = [sys.executable, str(script), str(tmp_path / "killed"), str(tmp_path / "calls.log")]
    after = 6  # past the first guesses (4 here): the killed trial is proposed by the sampler (a neighbour step)
    killed = subprocess.run([*cmd, str(after)], capture_output=True, text=True, env=env, timeout=180)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    url = f"sqlite:///{tmp_path / 'killed' / 'study.db'}"
    done_before = {t.number: t.user_attrs["key"] for t in _complete(url)}
    resumed = subprocess.run([*cmd, "0"], capture_output=True, text=True, env=env, timeout=180)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    got = json.loads(resumed.stdout.splitlines()[-1])

    # the uninterrupted compile, in this process, with the options of KILL_SCRIPT
    from specprompt.scorers import nearest_lm
    from specprompt.tasks import get_task

    task = get_task("colour-position", n_train=8, n_val=6, n_test=0, size=64, seed=0)
    plain_calls: list[int] = []

    def metric(example: dspy.Example, pred: dspy.Prediction, trace: object = None) -> float:
        plain_calls.append(1)
        return float(example.label == pred.label)

    opt = BandOptimizer(
        metric,
        n_trials=11,
        k_demos=3,
        token_budget=100,
        minibatch_size=3,
        num_threads=1,
        progress=False,
        full_eval_every=5,
        run_dir=str(tmp_path / "plain"),
    )
    with dspy.context(lm=nearest_lm()):
        opt.compile(dspy.Predict(task.signature), trainset=task.trainset, valset=task.valset)
    want = opt.last_result
    assert want is not None
    assert (got["key"], got["params"], got["score"]) == (want.best.key, want.best.params, want.best.score)
    assert got["front"] == [[x.key, x.score] for x in want.front]
    plain_url = f"sqlite:///{tmp_path / 'plain' / 'study.db'}"
    assert _history(url, got["study"]) == _history(
        plain_url, want.study_name
    )  # the same trials in the same order, the same full evaluations

    trials = optuna.load_study(study_name=got["study"], storage=url).get_trials(deepcopy=False)
    (dead,) = [t for t in trials if t.state == optuna.trial.TrialState.FAIL]
    origin = str(dead.user_attrs["origin"])
    assert "interrupted" in dead.user_attrs and (origin == "sampler" or origin.startswith("neighbour:"))
    retry = trials[dead.number + 1]  # the interrupted candidate ran next, finished, with its parameters
    assert retry.user_attrs["retry_of"] == dead.number and retry.system_attrs["failed_trial"] == dead.number
    assert retry.params == dead.params and retry.state == optuna.trial.TrialState.COMPLETE
    assert all(t.state != optuna.trial.TrialState.RUNNING for t in trials)

    new = [t for t in trials if t.number not in done_before and t.state != optuna.trial.TrialState.FAIL]
    assert not {t.user_attrs["key"] for t in new if "reused_from" not in t.user_attrs} & set(done_before.values())
    calls = (tmp_path / "calls.log").read_text().split()
    assert len(set(calls)) == 2
    # the two calls the killed trial made before the kill are made again; nothing finished is scored again
    assert len(calls) - len(plain_calls) == 2


def test_postgresql_storage(colour_task: Task, lm: dspy.LM) -> None:
    reason = postgres_unreachable()
    if reason is not None:
        pytest.skip(reason)
    name = f"specprompt-test-{uuid.uuid4().hex}"
    kw = options(n_trials=4, study_name=name)
    kw["storage"] = PG_URL
    try:
        opt = BandOptimizer(exact, **kw)
        student = dspy.Predict(colour_task.signature)
        opt.compile(student, trainset=colour_task.trainset, valset=colour_task.valset)
        assert opt.last_result is not None
        loaded = optuna.load_study(study_name=name, storage=PG_URL)
        # the trim after the choice adds its variants as trials of origin trim:<n>; they are not search trials
        assert len([t for t in loaded.trials if not t.user_attrs["origin"].startswith("trim:")]) == 4
        assert loaded.trials[0].user_attrs["key"] == opt.last_result.study.trials[0].user_attrs["key"]
        calls = lm.engine.calls
        again = BandOptimizer(exact, **kw)
        again.compile(student, trainset=colour_task.trainset, valset=colour_task.valset)
        assert again.last_result is not None and again.last_result.scorer_calls == 0
        assert lm.engine.calls == calls
    finally:
        from specprompt.search._claims import Claims

        Claims(PG_URL, name).clear()  # the claims of a shared study live beside Optuna's tables
        try:
            optuna.delete_study(study_name=name, storage=PG_URL)
        except KeyError:
            pass


def test_a_storage_that_cannot_be_opened_is_named_before_any_call(
    colour_task: Task, lm: dspy.LM, tmp_path: Path
) -> None:
    from specprompt import ConfigError

    student = dspy.Predict(colour_task.signature)
    not_a_db = tmp_path / "garbage"
    not_a_db.mkdir()
    (not_a_db / "study.db").write_text("not a database")
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("x")
    cases = [
        ({"storage": "postgresql+psycopg2://user:secret@127.0.0.1:1/db"}, r"'postgresql\+psycopg2://user:\*\*\*@127"),
        ({"storage": f"sqlite:///{tmp_path}/missing/dir/x.db"}, "unable to open database file"),
        ({"storage": None, "run_dir": str(not_a_db)}, "file is not a database"),
        ({"storage": None, "run_dir": str(in_the_way / "sub")}, "cannot make the run folder"),
    ]
    for over, match in cases:
        opt = BandOptimizer(exact, **{**options(n_trials=2), **over})
        with pytest.raises(ConfigError, match=match) as info:
            opt.compile(student, trainset=colour_task.trainset, valset=colour_task.valset)
        assert "secret" not in str(info.value)
    assert lm.engine.calls == 0


def test_a_read_only_sqlite_file_is_named_before_any_call(
    colour_task: Task, lm: dspy.LM, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from specprompt import ConfigError

    (tmp_path / "ro.db").write_text("")
    (tmp_path / "shut").mkdir()
    shut = {str(tmp_path / "ro.db"), str(tmp_path / "shut")}
    real = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: str(path) not in shut and real(path, mode))  # not root
    cases = [
        (f"sqlite:///{tmp_path}/ro.db", r"ro.db' is read-only"),
        (f"sqlite:///{tmp_path}/shut/x.db", r"its folder '.*shut' is read-only \(SQLite writes a journal"),
    ]
    for url, match in cases:
        opt = BandOptimizer(exact, **{**options(n_trials=2), "storage": url})
        with pytest.raises(ConfigError, match=rf"^cannot open the Optuna storage 'sqlite:///.*': .*{match}"):
            opt.compile(dspy.Predict(colour_task.signature), trainset=colour_task.trainset, valset=colour_task.valset)
    assert lm.engine.calls == 0


def test_a_study_of_someone_elses_or_of_other_directions_is_refused_naming_why(colour_task: Task, lm: dspy.LM) -> None:
    from specprompt import ConfigError

    storage = optuna.storages.InMemoryStorage()
    theirs = optuna.create_study(study_name="theirs", storage=storage, direction="maximize")
    theirs.optimize(lambda t: t.suggest_float("lr", 0.0, 1.0), n_trials=3)
    student = dspy.Predict(colour_task.signature)
    train, val = colour_task.trainset, colour_task.valset
    with pytest.raises(ConfigError, match=r"study 'theirs' in the storage holds 3 trial\(s\) and was not made by spec"):
        BandOptimizer(exact, **{**options(study_name="theirs"), "storage": storage}).compile(
            student, trainset=train, valset=val
        )
    assert len(optuna.load_study(study_name="theirs", storage=storage).trials) == 3  # left as it was
    assert lm.engine.calls == 0
    optuna.create_study(study_name="mine", storage=storage, direction="minimize")
    with pytest.raises(ConfigError, match=r"has directions \['minimize'\], and multi_objective=False needs \['max"):
        BandOptimizer(exact, **{**options(study_name="mine"), "storage": storage}).compile(
            student, trainset=train, valset=val
        )
    # an empty study made by the user beforehand (e.g. to pick its storage options) is used
    optuna.create_study(study_name="empty", storage=storage, direction="maximize")
    opt = BandOptimizer(exact, **{**options(study_name="empty", n_trials=2), "storage": storage})
    opt.compile(student, trainset=train, valset=val)
    assert opt.last_result is not None and len(opt.last_result.study.trials) >= 2


def test_the_study_names_the_trial_whose_program_was_returned(colour_task: Task, lm: dspy.LM) -> None:
    from specprompt.search._optimizer import CHOSEN_ATTR

    opt = BandOptimizer(exact, **options(n_trials=4, token_budget=20, cost_model="openai:gpt-4.1-mini"))
    opt.compile(dspy.Predict(colour_task.signature), trainset=colour_task.trainset, valset=colour_task.valset)
    result = opt.last_result
    assert result is not None
    chosen = result.study.user_attrs[CHOSEN_ATTR]
    assert chosen == {
        "trial": result.best.trial,
        "key": result.best.key,
        "origin": result.best.origin,
        "score": result.best.score,
        "tokens": result.best.tokens,
    }
    assert result.study.trials[chosen["trial"]].user_attrs["key"] == chosen["key"]


def test_an_enqueued_trial_outside_the_search_space_is_not_scored_and_the_compile_goes_on(
    colour_task: Task, lm: dspy.LM, caplog: pytest.LogCaptureFixture
) -> None:
    storage = optuna.storages.InMemoryStorage()
    kw = {**options(n_trials=3, study_name="queued", cost_model="openai:gpt-4.1-mini"), "storage": storage}
    student = dspy.Predict(colour_task.signature)
    train, val = colour_task.trainset, colour_task.valset
    first = BandOptimizer(exact, **kw)
    first.compile(student, trainset=train, valset=val)
    assert first.last_result is not None
    size = next(n for n in first.last_result.study.trials[0].params if n.endswith(":size"))
    optuna.load_study(study_name="queued", storage=storage).enqueue_trial({size: 5}, skip_if_exists=False)
    with caplog.at_level("WARNING", logger="specprompt.search"), pytest.warns(UserWarning, match="out of range"):
        again = BandOptimizer(exact, **{**kw, "n_trials": 6})
        again.compile(student, trainset=train, valset=val)
    assert again.last_result is not None
    assert "enqueued parameters are outside the search space" in caplog.text
