"""Calibration against a flaky target, through the real fault-injecting server process.

The target calls of a calibration go through the same retry wrapper as a compile's scoring: the
per-call timeout and no DSPy retries of their own (``remote_lm``), and the compile's
``retries``, ``retry_backoff`` and ``endpoint_failures``.
"""

from __future__ import annotations

import time
from typing import Any

import dspy
import pytest

from specprompt.errors import EndpointError
from specprompt.scorers import nearest_lm
from specprompt.search import BandOptimizer, Calibration, calibrate
from specprompt.tasks import Task, get_task

MODEL = "openai/specprompt/nearest-v1"
#: How long an injected hang lasts: far beyond the calls' timeout, so a hang waited out shows in the wall time.
HANG_S = 60.0


def exact(example: Any, pred: Any, trace: Any = None) -> float:
    return float(example.label == pred.label)


@pytest.fixture(scope="module")
def task() -> Task:
    return get_task("colour-position", n_train=6, n_val=8, n_test=0, size=64, seed=0)


def _calibrate(faults: Any, task: Task, entry: str, **over: Any) -> Calibration:
    """A calibration of the nearest engine (local judge) against the server (target), as a user
    passes it: a plain ``dspy.LM``, DSPy cache off, DSPy's default retries and no timeout."""
    target = dspy.LM(MODEL, api_base=faults.base_url, api_key="x", cache=False)
    options: dict[str, Any] = {"k_demos": 3, "num_threads": 2, "token_budget": 36, "retry_backoff": 0.0, **over}
    student = dspy.Predict(task.signature)
    if entry == "calibrate":
        return calibrate(
            student,
            exact,
            trainset=task.trainset,
            valset=task.valset,
            target=target,
            local=nearest_lm(),
            n_probes=6,
            n_examples=3,
            n_bootstrap=200,
            **options,
        )
    opt = BandOptimizer(
        exact,
        target=target,
        calibrate=True,
        calibration_probes=6,
        calibration_examples=3,
        n_trials=2,
        minibatch_size=4,
        progress=False,
        storage="memory",
        **options,
    )
    with dspy.context(lm=nearest_lm()):
        opt.compile(student, trainset=task.trainset, valset=task.valset)
    assert opt.last_result is not None and opt.last_result.calibration is not None
    return opt.last_result.calibration


@pytest.mark.parametrize("entry", ["compile", "calibrate"])
def test_calibration_survives_transient_faults_like_a_compile(faults: Any, task: Task, entry: str) -> None:
    faults.set(0.0)
    clean = _calibrate(faults, task, entry)
    assert faults.stats()["requests"] == clean.target_calls > 0
    faults.set(0.35, seed=4, hang_s=HANG_S, retry_after="0")
    start = time.monotonic()
    faulty = _calibrate(faults, task, entry, call_timeout=1.5, retries=8)
    wall = time.monotonic() - start
    stats = faults.stats()
    assert stats.get("hang", 0) > 0 and stats.get("429", 0) + stats.get("500", 0) + stats.get("503", 0) > 0, stats
    # every fault was retried and never scored: the same target scores as without faults
    assert (faulty.target_scores, faulty.local_scores) == (clean.target_scores, clean.local_scores)
    assert (faulty.spearman, faulty.target_calls) == (clean.spearman, clean.target_calls)
    assert wall < HANG_S, f"{wall:.1f} s: a hang was waited out instead of cut by the call timeout"


def test_calibration_stops_at_the_compiles_endpoint_failures(faults: Any, task: Task) -> None:
    faults.set(1.0, kinds=("503",))
    with pytest.raises(EndpointError) as err:
        _calibrate(faults, task, "compile", retries=2, endpoint_failures=3)
    assert faults.base_url in str(err.value) and "503" in str(err.value)
    # the compile's limit (2 threads: the one in flight finishes its call), no DSPy retries underneath
    assert faults.stats()["requests"] <= 3 + 1
