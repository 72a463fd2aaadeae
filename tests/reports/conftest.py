"""One tiny offline band search shared by the report tests."""

from __future__ import annotations

from typing import Any

import dspy
import pytest

from specprompt.errors import SpecPromptWarning
from specprompt.scorers import nearest_lm
from specprompt.search import BandOptimizer
from specprompt.tasks import Task, get_task
from specprompt.types import SpectralImage

NOT_HELD = "the test score is not a held-out score"


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
    # the valset doubles as the testset (so the page shows both): the compile says it is not held out
    with dspy.context(lm=nearest_lm()), pytest.warns(SpecPromptWarning, match=NOT_HELD):
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


@pytest.fixture
def cropped() -> tuple[dspy.Predict, Any]:
    """``(program, source)``: one demo of a ``list[dspy.Image]`` field holding a 64x48 grey noise image and
    its 24x20 detail crop at left 16, top 8 (as the search renders one)."""
    import numpy as np

    from specprompt.spectral import decompose
    from specprompt.types import content_hash

    grey = (np.random.default_rng(1).random((48, 64, 1)) * 255).astype(np.uint8)
    img = np.repeat(grey, 3, axis=2)  # grey pixels in RGB: only the report's outline is red
    origin = {"box": (16, 8, 24, 20), "source_size": (64, 48), "source_hash": content_hash(img)}
    whole = SpectralImage.from_spectrum(decompose(img))
    crop = SpectralImage.from_spectrum(decompose(img[8:28, 16:40]), crop=origin)
    program = dspy.Predict(
        dspy.Signature({"images": (list[dspy.Image], dspy.InputField()), "label": (str, dspy.OutputField())})
    )
    program.demos = [dspy.Example(images=[whole, crop], label="a")]
    return program, img


@pytest.fixture
def sharpened() -> tuple[dspy.Predict, Any]:
    """``(program, source)``: two demos of one 64 px noise source, every band sent at 32 px, the first
    sharpened by 100% after its resize (as the search's ``sharpen`` dimension renders it), the second not."""
    import numpy as np

    from specprompt.spectral import decompose

    img = np.random.default_rng(2).random((64, 64, 3), dtype=np.float32)
    spec = decompose(img)
    program = dspy.Predict("image: dspy.Image -> label")
    images = [
        SpectralImage.from_spectrum(spec, None, size=(32, 32), sharpen=100),
        SpectralImage.from_spectrum(spec, None, size=(32, 32)),
    ]
    program.demos = [dspy.Example(image=im, label=f"d{i}") for i, im in enumerate(images)]
    return program, img
