"""Remote scoring through a real fault-injecting server process: faults are retried, never scored.

Every test talks to ``fault_server.py`` (a separate process on loopback that wraps the real
``specprompt/nearest-v1`` server) with ``dspy.LM("openai/...", api_base=...)``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import dspy
import optuna
import pytest

from specprompt.errors import EndpointError, TransportError
from specprompt.scorers import nearest_lm
from specprompt.search import BandOptimizer, RetryPolicy
from specprompt.search._scoring import Scorer
from specprompt.search._transport import remote_lm
from specprompt.tasks import Task, get_task

KINDS = ("429", "500", "503", "hang", "cut", "empty", "reset")
MODEL = "openai/specprompt/nearest-v1"


def exact(example: Any, pred: Any, trace: Any = None) -> float:
    return float(example.label == pred.label)


@pytest.fixture(scope="module")
def task() -> Task:
    return get_task("colour-position", n_train=6, n_val=8, n_test=0, size=64, seed=0)


def remote(faults: Any, timeout: float = 3.0) -> dspy.LM:
    """The LM a user configures for the server, DSPy cache off, as compile would use it."""
    return remote_lm(dspy.LM(MODEL, api_base=faults.base_url, api_key="x", cache=False), timeout)


def program(task: Task) -> dspy.Module:
    student = dspy.Predict(task.signature)
    student.demos = task.trainset[:3]
    return student


def fast(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "n_trials": 8,
        "k_demos": 3,
        "minibatch_size": 4,
        "num_threads": 2,
        "progress": False,
        "storage": "memory",
        "call_timeout": 3.0,
        "retry_backoff": 0.02,
        "token_budget": 36,
    }
    base.update(over)
    return base


@pytest.mark.parametrize("kind", KINDS)
def test_each_fault_kind_is_retried_and_never_scored(faults: Any, task: Task, kind: str) -> None:
    with dspy.context(lm=nearest_lm()):
        truth = Scorer(exact, task.valset, 1).score("k", lambda: program(task), range(8))
    hang = kind == "hang"  # a hang costs the client timeout: fewer of them, a shorter timeout
    faults.set(0.25 if hang else 0.5, kinds=(kind,), seed=3, hang_s=4.0, retry_after="0")
    scorer = Scorer(exact, task.valset, 1, RetryPolicy(retries=8, backoff=0.0, endpoint_failures=50))
    with dspy.context(lm=remote(faults, timeout=1.5 if hang else 3.0)):
        scores = scorer.score("k", lambda: program(task), range(8))
    stats = faults.stats()
    assert stats.get(kind, 0) > 0, stats
    assert scores == truth  # the faults changed nothing: every score is the model's real answer
    assert scorer.spend.retries == scorer.spend.failed > 0
    if kind == "empty":  # DSPy's ChatAdapter retries an empty reply once in JSON mode; both empty = a failure
        assert scorer.spend.failed <= stats[kind]
    else:  # every injected fault was seen and retried (a slow real answer on a busy machine may add a timeout)
        assert scorer.spend.failed >= stats[kind]
    # billed calls: one per example, plus each empty reply (it carries usage: the server billed it)
    assert scorer.spend.calls == 8 + (stats[kind] if kind == "empty" else 0)
    assert scorer.spend.unparsed == 0 and scorer.spend.tokens > 0


def test_an_empty_reply_cached_by_dspy_is_not_served_again(
    faults: Any, task: Task, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DSPy caches an empty reply like an answer: the retry after one goes past DSPy's cache."""
    from dspy.clients.cache import Cache

    monkeypatch.setattr(dspy, "cache", Cache(enable_disk_cache=False, enable_memory_cache=True, disk_cache_dir=None))
    with dspy.context(lm=nearest_lm()):
        truth = Scorer(exact, task.valset, 1).score("k", lambda: program(task), [0])
    cached = remote_lm(dspy.LM(MODEL, api_base=faults.base_url, api_key="x"), 3.0)  # DSPy's cache on
    faults.set(1.0, kinds=("empty",))
    with dspy.context(lm=cached), pytest.raises(TransportError):
        Scorer(exact, task.valset, 1, RetryPolicy(retries=0)).score("k", lambda: program(task), [0])
    faults.set(0.0)
    scorer = Scorer(exact, task.valset, 1, RetryPolicy(retries=1, backoff=0.0))
    with dspy.context(lm=cached):
        assert scorer.score("k", lambda: program(task), [0]) == truth
    assert scorer.spend.failed == 1  # the cached empty reply, then the real answer from the server
    assert faults.stats()["requests"] == 1


def test_retry_after_is_honoured(faults: Any, task: Task) -> None:
    import time

    faults.set(1.0, kinds=("429",), retry_after="0.4")
    scorer = Scorer(exact, task.valset, 1, RetryPolicy(retries=2, backoff=0.0, endpoint_failures=50))
    start = time.monotonic()
    with dspy.context(lm=remote(faults)), pytest.raises(TransportError, match=r"failed 3 time\(s\).*429") as err:
        scorer.score("k", lambda: program(task), [0])
    assert time.monotonic() - start >= 0.8  # two waits of Retry-After: 0.4 s, though the backoff is 0
    assert err.value.attempts == 3 and faults.stats()["429"] == 3
    assert scorer.known("k", [0]) == {}  # never scored, never cached


def test_a_failed_example_is_not_scored_but_the_others_are(faults: Any, task: Task) -> None:
    faults.set(0.4, kinds=("500",), seed=5)
    scorer = Scorer(exact, task.valset, 1, RetryPolicy(retries=0, backoff=0.0, endpoint_failures=50))
    with dspy.context(lm=remote(faults)), pytest.raises(TransportError):
        scorer.score("k", lambda: program(task), range(8))
    kept = scorer.known("k", range(8))
    assert 0 < len(kept) < 8 and len(kept) + faults.stats()["500"] == 8


def test_endpoint_down_raises_endpoint_error_naming_it(faults: Any, task: Task) -> None:
    faults.set(1.0, kinds=("503",))
    scorer = Scorer(exact, task.valset, 2, RetryPolicy(retries=3, backoff=0.0, endpoint_failures=5))
    with dspy.context(lm=remote(faults)), pytest.raises(EndpointError) as err:
        scorer.score("k", lambda: program(task), range(8))
    assert faults.base_url in str(err.value) and "503" in str(err.value) and "run the same command" in str(err.value)
    assert faults.stats()["requests"] <= 5 + 2  # stops at the limit (threads in flight finish their call)


def test_compile_under_faults_returns_the_fault_free_program(faults: Any, task: Task) -> None:
    results = []
    for rate in (0.0, 0.3):
        faults.set(rate, seed=1, hang_s=4.0)
        opt = BandOptimizer(exact, **fast())
        with dspy.context(lm=remote(faults)):
            opt.compile(dspy.Predict(task.signature), trainset=task.trainset, valset=task.valset)
        assert opt.last_result is not None and opt.last_result.spend is not None
        results.append((opt.last_result, faults.stats()))
    (clean, _), (faulty, stats) = results
    assert sum(v for k, v in stats.items() if k != "requests") > 0
    assert faulty.spend is not None and faulty.spend.search.failed > 0
    assert (faulty.best.params, faulty.best.score) == (clean.best.params, clean.best.score)
    assert [r.to_dict() for r in faulty.front] == [r.to_dict() for r in clean.front]


def test_a_trial_that_still_fails_is_requeued_and_the_compile_goes_on(faults: Any, task: Task) -> None:
    faults.set(0.25, kinds=("500", "cut"), seed=2)
    opt = BandOptimizer(exact, **fast(retries=0, n_trials=6))
    with dspy.context(lm=remote(faults)):
        opt.compile(dspy.Predict(task.signature), trainset=task.trainset, valset=task.valset)
    result = opt.last_result
    assert result is not None
    trials = result.study.get_trials(deepcopy=False)
    failed = [t for t in trials if t.state == optuna.trial.TrialState.FAIL]
    assert failed and all("transport_error" in t.user_attrs for t in failed)
    retried = {t.user_attrs.get("retry_of"): t for t in trials if "retry_of" in t.user_attrs}
    for t in failed:  # every failed candidate was tried again with the same parameters
        assert retried[t.number].params == t.params
    assert result.n_trials == 6
    assert all("example_scores" not in t.user_attrs and "score" not in t.user_attrs for t in failed)


def test_text_only_baseline_survives_answers_that_do_not_parse(faults: Any, task: Task) -> None:
    """The answers to text-only demos may not parse: they score 0.0, are counted, never crash."""
    faults.set(0.0)
    opt = BandOptimizer(exact, **fast(n_trials=3))
    with dspy.context(lm=remote(faults)):
        opt.compile(dspy.Predict(task.signature), trainset=task.trainset, valset=task.valset, baselines=("text_only",))
    result = opt.last_result
    assert result is not None and result.baselines is not None and result.spend is not None
    assert result.baselines["text_only"].score is not None


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    # a fresh DSPy disk cache: cached replies of an earlier run would never reach the fault server
    env = {**os.environ, "SPECPROMPT_API_KEY": "x", "DSPY_CACHEDIR": str(cwd / "dspy-cache")}
    return subprocess.run(
        [sys.executable, "-m", "specprompt", *args], capture_output=True, text=True, timeout=240, cwd=cwd, env=env
    )


def _compile_args(task: Task, tmp_path: Path) -> list[str]:
    """``specprompt compile`` arguments of a small run on ``task`` written into ``tmp_path``."""
    from specprompt.io import load_image

    prog = tmp_path / "prog.py"
    prog.write_text(
        "import dspy\nfrom specprompt.tasks import get_task\n"
        "program = dspy.Predict(get_task('colour-position', n_train=1, n_val=1, n_test=0, size=64).signature)\n"
    )
    lines = []
    for i, ex in enumerate(task.trainset + task.valset):
        load_image(ex.image).save(tmp_path / f"{i}.png")
        lines.append(json.dumps({"image": f"{i}.png", "label": ex.label}))
    (tmp_path / "train.jsonl").write_text("\n".join(lines) + "\n")
    args = ["compile", f"{prog}:program", "--trainset", str(tmp_path / "train.jsonl"), "--budget", "36"]
    args += ["--cost-model", "local", "--trials", "4", "--k-demos", "3", "--minibatch", "4", "--no-progress"]
    return [*args, "--out", str(tmp_path / "out"), "--threads", "2"]


def test_cli_spend_caps(task: Task, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from specprompt.cli._main import main

    args = [*_compile_args(task, tmp_path), "--lm", "nearest", "--trials", "30"]
    assert main([*args, "--max-cost", "1"]) == 2
    assert "--max-cost needs --price-per-million-tokens" in capsys.readouterr().err
    assert main([*args, "--max-calls", "3", "--price-per-million-tokens", "2.5"]) == 0
    out = capsys.readouterr().out
    assert "search spend:" in out and "(cost " in out and "stopped early: max_calls=3 reached" in out


def test_cli_stops_with_one_line_when_the_endpoint_is_down_and_resumes(faults: Any, task: Task, tmp_path: Path) -> None:
    args = [*_compile_args(task, tmp_path), "--lm", MODEL, "--api-base", faults.base_url]
    args += ["--call-timeout", "3", "--retries", "2", "--retry-backoff", "0", "--endpoint-failures", "4"]
    faults.set(1.0, kinds=("503",))
    down = _cli(args, tmp_path)
    assert down.returncode == 2, down.stderr
    assert "Traceback" not in down.stderr
    last = down.stderr.strip().splitlines()[-1]
    assert last.startswith("specprompt compile: error: the endpoint " + faults.base_url) and "503" in last
    faults.set(0.0)
    up = _cli(args, tmp_path)
    assert up.returncode == 0, up.stderr[-2000:]
    assert "search spend:" in up.stdout and "Traceback" not in up.stderr
    storage = f"sqlite:///{tmp_path / 'out' / 'study.db'}"
    (name,) = optuna.get_all_study_names(storage)
    trials = optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)
    failed = [t for t in trials if t.state == optuna.trial.TrialState.FAIL]
    assert failed and all("transport_error" in t.user_attrs for t in failed)  # the interrupted trial
    retried = {t.user_attrs.get("retry_of"): t.params for t in trials if "retry_of" in t.user_attrs}
    assert all(retried[t.number] == t.params for t in failed)  # was tried again by the resumed run
