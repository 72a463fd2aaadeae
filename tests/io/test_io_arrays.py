"""Numpy arrays as image sources, for as_array (float pixels) and load_image (8-bit PIL images)."""

from __future__ import annotations

import numpy as np
import pytest

from specprompt.errors import ConfigError, ImageInputError
from specprompt.io import as_array, load_image


def _check(info: pytest.ExceptionInfo[ImageInputError], source: str, reason: str) -> None:
    err = info.value
    assert isinstance(err, ImageInputError)
    assert source in err.source and source in str(err), (source, str(err))
    assert reason in err.reason and reason in str(err), (reason, str(err))


@pytest.mark.parametrize(
    ("arr", "expected"),
    [
        (np.array([[0, 51, 255]], np.uint8), [0.0, 0.2, 1.0]),
        (np.array([[0, 13107, 65535]], np.uint16), [0.0, 0.2, 1.0]),
        (np.array([[0, 13107, 65535]], ">u2"), [0.0, 0.2, 1.0]),
        (np.array([[False, True, True]]), [0.0, 1.0, 1.0]),
        (np.array([[0.0, 0.2, 1.0]], np.float16), [0.0, 0.2, 1.0]),
        (np.array([[0.0, 0.2, 1.0]], np.float64), [0.0, 0.2, 1.0]),
    ],
    ids=["uint8", "uint16", "uint16-big-endian", "bool", "float16", "float64"],
)
def test_as_array_scales_by_dtype(arr: np.ndarray, expected: list[float]) -> None:
    out = as_array(arr)
    assert out.dtype == np.float32 and out.shape == (1, 3, 1)
    np.testing.assert_allclose(out[0, :, 0], expected, atol=1e-3)


@pytest.mark.parametrize(("shape", "channels"), [((2, 3), 1), ((2, 3, 1), 1), ((2, 3, 3), 3), ((2, 3, 4), 4)])
def test_as_array_shapes(shape: tuple[int, ...], channels: int) -> None:
    assert as_array(np.zeros(shape, np.uint8)).shape == (2, 3, channels)


def test_as_array_keeps_out_of_range_floats_and_copies() -> None:
    arr = np.array([[-0.5, 1.5]], np.float32)
    out = as_array(arr)
    np.testing.assert_array_equal(out[:, :, 0], arr)
    out[0, 0, 0] = 9.0
    assert arr[0, 0] == -0.5  # never a view on the caller's data


def test_as_array_copy_false_checks_but_does_not_copy_float32() -> None:
    arr = np.array([[-0.5, 1.5]], np.float32)
    out = as_array(arr, copy=False)
    assert out.shape == (1, 2, 1) and np.shares_memory(out, arr)
    rgb = np.zeros((2, 3, 3), np.float32)
    assert as_array(rgb, copy=False) is rgb
    # other dtypes are converted, so the result is new memory whatever copy says
    for other in (np.zeros((2, 3), np.float64), np.zeros((2, 3), np.uint8), np.zeros((2, 3), ">f4")):
        assert not np.shares_memory(as_array(other, copy=False), other)


@pytest.mark.parametrize("copy", [True, False])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", [(0, 0, 0), (4, 6, 2), (2, 3, 1)])
@pytest.mark.parametrize("layout", ["contiguous", "strided", "fortran"])
def test_every_non_finite_value_is_refused(copy: bool, bad: float, where: tuple[int, int, int], layout: str) -> None:
    arr = np.random.default_rng(0).random((5, 7, 3), dtype=np.float32)
    arr[where] = bad
    if layout == "strided":
        arr = np.repeat(arr, 2, axis=1)[:, ::2]
    elif layout == "fortran":
        arr = np.asfortranarray(arr)
    with pytest.raises(ImageInputError, match="1 value"):
        as_array(arr, copy=copy)


def test_huge_finite_floats_are_accepted() -> None:
    # their squares overflow float32, which must not be taken for a non-finite value
    arr = np.full((3, 4, 3), 3e38, np.float32)
    arr[0, 0, 0] = -3.4e38
    np.testing.assert_array_equal(as_array(arr, copy=False), arr)
    np.testing.assert_array_equal(as_array(arr.astype(np.float64)), arr)


def test_check_finite_false_skips_only_the_nan_scan() -> None:
    arr = np.array([[0.5, np.nan]], np.float32)
    out = as_array(arr, copy=False, check_finite=False)
    assert np.shares_memory(out, arr) and np.isnan(out[0, 1, 0])
    with pytest.raises(ImageInputError, match="shape"):
        as_array(np.zeros((2, 3, 2), np.float32), check_finite=False)
    with pytest.raises(ImageInputError, match="max_pixels"):
        as_array(np.zeros((4, 4), np.float32), check_finite=False, max_pixels=15)


@pytest.mark.parametrize("flag", ["copy", "check_finite"])
@pytest.mark.parametrize("bad", [0, 1, None, "no"])
def test_bad_flags(flag: str, bad: object) -> None:
    with pytest.raises(ConfigError, match=f"{flag} must be True or False, got {bad!r}"):
        as_array(np.zeros((2, 2), np.float32), **{flag: bad})


@pytest.mark.parametrize(
    ("arr", "mode", "pixels"),
    [
        (np.array([[0, 51, 255]], np.uint8), "L", [[0, 51, 255]]),
        (np.array([[0, 257, 1000, 65535]], np.uint16), "L", [[0, 1, 4, 255]]),
        (np.array([[False, True]]), "L", [[0, 255]]),
        (np.array([[0.0, 0.5, 1.0]]), "L", [[0, 128, 255]]),
        (np.full((1, 1, 1), 0.2, np.float32), "L", [[51]]),
        (np.full((1, 1, 3), 65535, np.uint16), "RGB", [[[255, 255, 255]]]),
        (np.full((1, 1, 4), 0.2, np.float32), "RGBA", [[[51, 51, 51, 51]]]),
    ],
    ids=["uint8", "uint16", "bool", "float", "HW1", "uint16-rgb", "float-rgba"],
)
def test_load_image_from_arrays(arr: np.ndarray, mode: str, pixels: list[object]) -> None:
    out = load_image(arr)
    assert out.mode == mode and np.asarray(out).tolist() == pixels


@pytest.mark.parametrize("func", [as_array, load_image])
@pytest.mark.parametrize(
    ("arr", "reason"),
    [
        (np.zeros((2, 3, 2), np.uint8), "shape (2, 3, 2) is not an image shape; expected (H, W) or (H, W, C)"),
        (np.zeros((2, 3, 4, 1), np.uint8), "shape (2, 3, 4, 1) is not an image shape"),
        (np.zeros(5, np.uint8), "shape (5,) is not an image shape"),
        (np.zeros((0, 4), np.uint8), "array is empty (shape (0, 4))"),
        (np.zeros((0, 0, 3), np.uint8), "array is empty (shape (0, 0, 3))"),
        (np.zeros((2, 2), np.complex64), "dtype complex64 is not supported; allowed: bool, uint8, uint16"),
        (np.zeros((2, 2), np.int64), "dtype int64 is not supported"),
        (np.zeros((2, 2), np.uint32), "dtype uint32 is not supported"),
        (np.zeros((2, 2), object), "dtype object is not supported"),
        (np.array([[0.1, np.nan]]), "1 value(s) are NaN or infinite"),
        (np.array([[np.inf, -np.inf]], np.float32), "2 value(s) are NaN or infinite"),
        (np.array([[1e300, 0.0]]), "beyond the float32 range"),
    ],
)
def test_bad_arrays(func: object, arr: np.ndarray, reason: str) -> None:
    with pytest.raises(ImageInputError) as info:
        func(arr)  # type: ignore[operator]
    _check(info, f"<numpy array {arr.shape} {arr.dtype}>", reason)


@pytest.mark.parametrize("value", [-0.01, 1.01])
def test_load_image_refuses_floats_outside_unit_range(value: float) -> None:
    arr = np.array([[0.5, value]])
    with pytest.raises(ImageInputError) as info:
        load_image(arr)
    _check(info, "<numpy array (1, 2) float64>", "float pixels must lie in [0, 1]; found values in")
