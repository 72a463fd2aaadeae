"""Shared fixtures of the band-search tests: tiny generated tasks scored by the nearest engine."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dspy
import pytest

from specprompt.scorers import nearest_lm
from specprompt.tasks import Task, get_task


def exact(example: Any, pred: Any, trace: Any = None) -> float:
    """1.0 when the predicted label is the example's label."""
    return float(example.label == pred.label)


@pytest.fixture(scope="session")
def colour_task() -> Task:
    return get_task("colour-position", n_train=6, n_val=4, n_test=0, size=64, seed=0)


@pytest.fixture(scope="session")
def texture_task() -> Task:
    return get_task("fine-texture", n_train=6, n_val=4, n_test=0, size=64, seed=1)


@pytest.fixture
def lm() -> Iterator[dspy.LM]:
    """The real offline nearest-band engine (DSPy cache off: every request reaches the engine)."""
    model = nearest_lm()
    with dspy.context(lm=model):
        yield model


def options(**over: Any) -> dict[str, Any]:
    """Small, fast search options: in-memory study, whole valset per trial, no progress bar."""
    base: dict[str, Any] = {
        "n_trials": 8,
        "k_demos": 3,
        "minibatch_size": 4,
        "num_threads": 2,
        "progress": False,
        "storage": "memory",
    }
    base.update(over)
    return base
