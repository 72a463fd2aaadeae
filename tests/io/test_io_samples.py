"""specprompt.io.sample_photo: every listed scikit-image photo, read whole, offline; other names rejected."""

from __future__ import annotations

import socket
from typing import Any

import numpy as np
import pytest
import skimage.data

from specprompt import UnknownNameError
from specprompt.io import SAMPLE_PHOTOS, sample_photo


def _no_network(*args: Any, **kwargs: Any) -> None:
    raise AssertionError("sample_photo tried to download")


def test_every_sample_photo_loads_offline_as_rgb(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _no_network)
    sample_photo.cache_clear()
    for name in SAMPLE_PHOTOS:
        arr = sample_photo(name)
        assert arr.dtype == np.float32 and arr.ndim == 3 and arr.shape[2] == 3, (name, arr.shape)
        assert min(arr.shape[:2]) >= 32 and 0.0 <= arr.min() and arr.max() <= 1.0, name
        assert not arr.flags.writeable


def test_a_grey_photo_keeps_every_pixel() -> None:
    grey = skimage.data.camera()
    arr = sample_photo("camera")
    assert arr.shape == (*grey.shape, 3)
    np.testing.assert_allclose(arr[:, :, 0] * 255.0, grey, atol=1e-3)
    assert np.array_equal(arr[:, :, 0], arr[:, :, 2])


def test_generated_images_are_seeded() -> None:
    first = sample_photo("binary_blobs").copy()
    sample_photo.cache_clear()
    assert np.array_equal(sample_photo("binary_blobs"), first)


@pytest.mark.parametrize("name", ["nope", "stereo_motorcycle", "download_all", "lfw_subset", "brain", "data_dir"])
def test_other_names_are_unknown(name: str) -> None:
    with pytest.raises(UnknownNameError, match=rf"unknown sample photo '{name}'; known: astronaut, binary_blobs, "):
        sample_photo(name)
