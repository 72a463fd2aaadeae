"""The real-photo tasks: registered, seeded, balanced, and each label visible where its docstring says."""

from __future__ import annotations

import collections

import numpy as np
import pytest

from specprompt.io import as_array
from specprompt.tasks import available_tasks, get_task

PHOTO_TASKS = ("photo-tint", "photo-texture", "photo-identity", "photo-detail")


def test_photo_tasks_are_registered() -> None:
    assert set(PHOTO_TASKS) <= set(available_tasks())


@pytest.mark.parametrize("name", PHOTO_TASKS)
def test_photo_tasks_are_seeded_balanced_and_disjoint(name: str) -> None:
    task = get_task(name, n_train=6, n_val=3, n_test=3, size=64, seed=1)
    n = len(task.labels)
    assert n in (3, 4)
    counts = collections.Counter(ex.label for ex in task.trainset)
    assert set(counts) <= set(task.labels) and max(counts.values()) - min(counts.values()) <= 1
    assert len(counts) == min(n, 6)
    urls = [ex.image.url for ex in task.trainset + task.valset + task.testset]
    assert len(set(urls)) == len(urls)
    assert as_array(task.trainset[0].image).shape == (64, 64, 3)
    again = get_task(name, n_train=6, n_val=3, n_test=3, size=64, seed=1)
    assert [e.image.url for e in again.testset] == [e.image.url for e in task.testset]
    assert [e.image.url for e in get_task(name, n_train=6, n_val=0, n_test=0, size=64, seed=2).trainset] != urls[:6]


def _mean_colour(task_name: str) -> dict[str, np.ndarray]:
    task = get_task(task_name, n_train=16, n_val=0, n_test=0, size=48, seed=0)
    out: dict[str, list[np.ndarray]] = collections.defaultdict(list)
    for ex in task.trainset:
        out[ex.label].append(as_array(ex.image).reshape(-1, 3).mean(axis=0))
    return {k: np.mean(v, axis=0) for k, v in out.items()}


def test_tint_lives_in_the_mean_colour_and_texture_not() -> None:
    tint = _mean_colour("photo-tint")
    assert np.argmax(tint["red"]) == 0 and np.argmax(tint["green"]) == 1 and np.argmax(tint["blue"]) == 2
    texture = np.array(list(_mean_colour("photo-texture").values()))
    assert np.ptp(texture.mean(axis=1)) < 0.08  # brightness is matched across materials


def test_detail_differs_only_on_the_tag() -> None:
    task = get_task("photo-detail", n_train=8, n_val=0, n_test=0, size=256, seed=0)
    by_label = {ex.label: as_array(ex.image) for ex in task.trainset}
    a, b = by_label["2"], by_label["8"]
    diff = np.abs(a - b).mean(axis=2)
    tag = diff[200:, 200:]
    outside = diff.copy()
    outside[200:, 200:] = 0
    assert tag.max() > 0.5  # the strokes of the digits
    assert np.percentile(outside, 99) < 0.2  # elsewhere only brightness jitter and noise
