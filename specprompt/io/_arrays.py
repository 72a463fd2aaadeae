"""Numpy arrays as image sources: validation and conversion."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from specprompt.errors import ImageInputError
from specprompt.io._limits import check_size

if TYPE_CHECKING:
    from PIL import Image as PILImage

__all__ = ["ARRAY_DTYPES", "array_to_pil", "array_to_unit"]

ARRAY_DTYPES = ("bool", "uint8", "uint16", "float16", "float32", "float64")
"""Dtypes accepted for numpy image arrays (any byte order)."""

_SHAPES = "(H, W) or (H, W, C) with C in 1, 3, 4"


def _checked(arr: np.ndarray, source: str, max_pixels: int | None) -> np.ndarray:
    """``arr`` as ``(H, W, C)`` after dtype, shape, emptiness and size checks (a view, not a copy)."""
    kind, size = arr.dtype.kind, arr.dtype.itemsize
    if not (kind == "b" or (kind == "u" and size in (1, 2)) or (kind == "f" and size in (2, 4, 8))):
        raise ImageInputError(source, f"dtype {arr.dtype} is not supported; allowed: {', '.join(ARRAY_DTYPES)}")
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 3, 4)):
        raise ImageInputError(source, f"shape {tuple(arr.shape)} is not an image shape; expected {_SHAPES}")
    if arr.size == 0:
        raise ImageInputError(source, f"array is empty (shape {tuple(arr.shape)}); H and W must be at least 1")
    check_size(arr.shape[1], arr.shape[0], source, max_pixels)
    return arr if arr.ndim == 3 else arr[:, :, None]


def _all_finite(values: np.ndarray) -> bool:
    """True when no value of the float32 array ``values`` is NaN or infinite.

    One pass and no full-size temporary: the float32 dot product of the values with themselves
    (BLAS) is finite when every value is, unless the squares overflow; only then (huge but finite
    values) does the float64 sum decide, which cannot overflow.
    """
    if values.flags.c_contiguous:
        flat = values.reshape(-1)  # a view
        if np.isfinite(np.dot(flat, flat)):
            return True
    return bool(np.isfinite(values.sum(dtype=np.float64)))


def _finite_float32(arr: np.ndarray, source: str, copy: bool = True, check_finite: bool = True) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):  # float64 beyond the float32 range turns into inf
        # copy=False: a native float32 input is returned as it is (checked, not copied)
        values = arr.astype(np.float32, copy=copy)
        finite = not check_finite or _all_finite(values)
    if not finite:
        bad = int(np.count_nonzero(~np.isfinite(values)))
        raise ImageInputError(source, f"{bad} value(s) are NaN or infinite (or beyond the float32 range)")
    return values


def array_to_unit(
    arr: np.ndarray, source: str, max_pixels: int | None, copy: bool = True, check_finite: bool = True
) -> np.ndarray:
    """A new float32 ``(H, W, C)`` array: uint8 / 255, uint16 / 65535, bool as 0 / 1, floats as they are.

    ``copy=False`` returns a native float32 ``arr`` itself (or an ``(H, W, 1)`` view of a 2-D one)
    after the same checks, instead of a copy; other dtypes are converted either way.
    ``check_finite=False`` skips the NaN / inf scan of float arrays (see :func:`as_array`).

    Float values outside [0, 1] are kept (band maths is linear; renders clip), NaN / inf are refused.

    Shape:
        ``(H, W)`` or ``(H, W, C)`` in, ``(H, W, C)`` out, C in 1, 3, 4.

    Raises:
        ImageInputError: bad dtype, shape, empty array, too many pixels, NaN / inf.

    Example:
        >>> array_to_unit(np.full((1, 2), 65535, np.uint16), "<x>", None).tolist()
        [[[1.0], [1.0]]]
    """
    arr = _checked(arr, source, max_pixels)
    if arr.dtype.kind == "f":
        return _finite_float32(arr, source, copy, check_finite)
    scale = {1: 255.0, 2: 65535.0}[arr.dtype.itemsize] if arr.dtype.kind == "u" else 1.0
    return (arr.astype(np.float32) / np.float32(scale)).astype(np.float32)


def array_to_pil(arr: np.ndarray, source: str, max_pixels: int | None) -> PILImage.Image:
    """An 8-bit PIL image (``"L"``, ``"RGB"`` or ``"RGBA"`` by channel count) from a numpy array.

    uint16 values ``v`` become ``round(v / 257)``, floats (which must lie in [0, 1]) ``round(255 * x)``,
    bool ``0`` / ``255``.

    Raises:
        ImageInputError: bad dtype, shape, empty array, too many pixels, NaN / inf, floats outside [0, 1].

    Example:
        >>> array_to_pil(np.ones((2, 3, 3)), "<x>", None).getpixel((0, 0))
        (255, 255, 255)
    """
    from PIL import Image

    arr = _checked(arr, source, max_pixels)
    if arr.dtype.kind == "f":
        values = _finite_float32(arr, source)
        low, high = float(values.min()), float(values.max())
        if low < 0.0 or high > 1.0:
            raise ImageInputError(source, f"float pixels must lie in [0, 1]; found values in [{low:.4g}, {high:.4g}]")
        out = np.rint(values * np.float32(255.0))
    elif arr.dtype.kind == "b":
        out = arr.astype(np.float32) * np.float32(255.0)
    elif arr.dtype.itemsize == 2:
        out = np.rint(arr.astype(np.float32) / np.float32(257.0))
    else:
        out = arr
    pixels = np.ascontiguousarray(out, dtype=np.uint8)
    return Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels)
