"""One tiny offline band search shared by the report tests."""

from __future__ import annotations

from typing import Any

import dspy
import pytest

from specprompt.scorers import nearest_lm
from specprompt.search import BandOptimizer
from specprompt.tasks import Task, get_task
from specprompt.types import SpectralImage


def exact(example: Any, pred: Any, trace: Any = None) -> float:
    return float(example.label == pred.label)


@pytest.fixture(scope="session")
def task() -> Task:
    return get_task("colour-position", n_train=6, n_val=4, n_test=0, size=64, seed=0)


@pytest.fixture(scope="session")
def searched(task: Task) -> tuple[Any, Any]:
    """``(program, result)`` of a 5-trial search with the full and text-only baselines (and a testset)."""
    opt = BandOptimizer(
        exact,
        token_budget=10,
        cost_model="openai:gpt-4.1-mini",
        n_trials=5,
        k_demos=3,
        minibatch_size=4,
        num_threads=2,
        progress=False,
        storage="memory",
    )
    with dspy.context(lm=nearest_lm()):
        program = opt.compile(
            dspy.Predict(task.signature),
            trainset=task.trainset,
            valset=task.valset,
            testset=task.valset,
            baselines=["full", "text_only"],
        )
    return program, opt.last_result


@pytest.fixture
def resized() -> tuple[dspy.Predict, Any]:
    """``(program, source)``: three demos of one 64 px noise source: every band sent at 32 px, L0 and the
    residual at 40 px, and the exact half-size render of L1 and the residual."""
    import numpy as np

    from specprompt.spectral import Selection, decompose

    img = np.random.default_rng(0).random((64, 64, 3), dtype=np.float32)
    spec = decompose(img)
    program = dspy.Predict("image: dspy.Image -> label")
    images = [
        SpectralImage.from_spectrum(spec, None, size=(32, 32)),
        SpectralImage.from_spectrum(spec, Selection.of(["L0", "residual"]), size=(40, 40)),
        SpectralImage.from_spectrum(spec, Selection.of(["L1", "residual"])),
    ]
    program.demos = [dspy.Example(image=im, label=f"d{i}") for i, im in enumerate(images)]
    return program, img
