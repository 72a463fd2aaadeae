from __future__ import annotations

import collections
import typing

import dspy
import numpy as np
import pytest

from specprompt import ConfigError, DuplicateNameError, Selection, ShapeError, UnknownNameError, decompose
from specprompt.io import as_array
from specprompt.scorers import nearest_lm
from specprompt.tasks import FineTexture, Task, available_tasks, get_task, register_task
from specprompt.tasks._base import png_data_uri
from specprompt.types import SpectralImage


def test_registry_lists_the_builtin_tasks() -> None:
    assert {"colour-position", "fine-texture", "gauge"} <= set(available_tasks())


@pytest.mark.parametrize("name", ["colour-position", "fine-texture", "gauge"])
def test_tasks_have_balanced_disjoint_seeded_splits(name: str) -> None:
    task = get_task(name, n_train=8, n_val=5, n_test=4, size=48, seed=3)
    assert isinstance(task, Task) and task.name == name and len(task.labels) == 4
    assert (len(task.trainset), len(task.valset), len(task.testset)) == (8, 5, 4)
    assert set(collections.Counter(ex.label for ex in task.trainset).values()) == {2}
    assert max(collections.Counter(ex.label for ex in task.valset).values()) == 2
    urls = [ex.image.url for ex in task.trainset + task.valset + task.testset]
    assert len(set(urls)) == len(urls)
    ex = task.trainset[0]
    assert isinstance(ex.image, dspy.Image) and ex.image.url.startswith("data:image/png;base64,")
    assert ex.inputs().keys() == ["image"] and ex.labels().keys() == ["label"]
    assert as_array(ex.image).shape == (48, 48, 3)
    again = get_task(name, n_train=8, n_val=5, n_test=4, size=48, seed=3)
    assert [e.image.url for e in again.trainset] == [e.image.url for e in task.trainset]
    other = get_task(name, n_train=8, n_val=0, n_test=0, size=48, seed=4)
    assert [e.image.url for e in other.trainset] != [e.image.url for e in task.trainset]
    assert "Task(name=" in repr(task)


def test_signature_is_image_to_literal_label() -> None:
    task = get_task("fine-texture", n_train=0, n_val=0, n_test=0)
    sig = task.signature
    assert list(sig.input_fields) == ["image"] and list(sig.output_fields) == ["label"]
    assert sig.input_fields["image"].annotation is dspy.Image
    assert typing.get_args(sig.output_fields["label"].annotation) == task.labels
    assert sig.instructions == task.instructions


def test_png_writer_round_trips_exactly() -> None:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (7, 5, 3), dtype=np.uint8)
    assert np.array_equal(as_array(png_data_uri(pixels)), pixels / np.float32(255))
    with pytest.raises(ShapeError, match=r"\(H, W, 3\)"):
        png_data_uri(pixels[:, :, 0])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_train": -1}, "n_train"),
        ({"n_val": 1.5}, "n_val"),
        ({"n_test": True}, "n_test"),
        ({"size": 16}, r"size must be an int in 32 \.\. 8192"),
        (
            {"size": 10**9},
            r"size must be an int in 32 \.\. 8192 \(the side of a square image of "
            r"specprompt\.io\.DEFAULT_MAX_PIXELS = 67,108,864 pixels\), got 1000000000",
        ),
        ({"size": 8193}, "got 8193"),
        ({"seed": -2}, "seed"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, typing.Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        get_task("colour-position", **kwargs)


def test_the_size_limit_is_the_io_pixel_limit() -> None:
    from specprompt.io import DEFAULT_MAX_PIXELS
    from specprompt.tasks import MAX_TASK_SIZE

    assert MAX_TASK_SIZE**2 <= DEFAULT_MAX_PIXELS < (MAX_TASK_SIZE + 1) ** 2


def test_registry_errors() -> None:
    with pytest.raises(UnknownNameError, match="colour-position"):
        get_task("colour")
    with pytest.raises(DuplicateNameError):
        register_task(FineTexture())
    with pytest.raises(ConfigError, match="ImageTaskGenerator"):
        register_task("fine-texture")  # type: ignore[arg-type]


# -- the tasks measure what they claim, under the offline nearest-band scorer ----------------------


def _accuracy(task: Task, drop: int, size: str = "minimal") -> float:
    demos = []
    for ex in task.trainset:
        image: dspy.Image = ex.image
        if drop:
            spec = decompose(ex.image, "laplacian")
            keep = [b for b in spec.band_names if not (b.startswith("L") and int(b[1:]) < drop)]
            if size == "minimal":
                image = SpectralImage.from_spectrum(spec, Selection.of(keep))
            else:
                image = dspy.Image(spec.render(Selection.of(keep), "full"))
        demos.append(dspy.Example(image=image, label=ex.label).with_inputs("image"))
    program = dspy.Predict(task.signature)
    program.demos = demos
    with dspy.context(lm=nearest_lm()):
        return float(np.mean([program(image=ex.image).label == ex.label for ex in task.testset]))


def test_colour_task_is_solved_from_coarse_bands() -> None:
    task = get_task("colour-position", n_train=8, n_val=0, n_test=12, size=64, seed=0)
    assert _accuracy(task, 0) >= 0.9
    assert _accuracy(task, 3) >= 0.9  # 8x smaller demos keep the label


def test_fine_texture_needs_the_finest_bands() -> None:
    task = get_task("fine-texture", n_train=8, n_val=0, n_test=12, size=64, seed=0)
    full = _accuracy(task, 0)
    assert full >= 0.9
    assert _accuracy(task, 3) <= full - 0.4  # 8x smaller demos lose the label
    assert _accuracy(task, 1, size="full") <= full - 0.4  # so do full-size renders without L0
