"""Anti-aliased resampling of float pixels to an exact size (PIL's Lanczos-3 filter)."""

from __future__ import annotations

import numpy as np

from specprompt.errors import ConfigError, ShapeError

__all__ = ["resize_lanczos"]


def resize_lanczos(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resamples float ``(H, W, C)`` pixels to ``size`` = ``(width, height)`` with Lanczos-3.

    Each channel is resized as a 32-bit float PIL image (``Image.Resampling.LANCZOS``, whose
    support widens with the scale factor when shrinking, so it low-passes before it decimates);
    nothing is quantized before the caller does.

    Args:
        pixels: float array ``(H, W, C)``.
        size: ``(width, height)`` of the result, each >= 1.

    Returns:
        float32 ``(height, width, C)``, not clipped (Lanczos rings slightly past [0, 1]).

    Raises:
        ShapeError: ``pixels`` is not ``(H, W, C)``. ConfigError: a bad ``size``.

    Example:
        >>> out = resize_lanczos(np.full((40, 60, 3), 0.25, np.float32), (30, 20))
        >>> out.shape, bool(np.allclose(out, 0.25, atol=1e-5))
        ((20, 30, 3), True)
    """
    from PIL import Image

    arr = np.asarray(pixels, np.float32)
    if arr.ndim != 3:
        raise ShapeError("resize_lanczos pixels", arr.shape, "(H, W, C)")
    if (
        not isinstance(size, (tuple, list))
        or len(size) != 2
        or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1 for v in size)
    ):
        raise ConfigError(f"resize_lanczos size must be a (width, height) pair of ints >= 1, got {size!r}")
    w, h = int(size[0]), int(size[1])
    if (h, w) == arr.shape[:2]:
        return arr.copy()
    out = np.empty((h, w, arr.shape[2]), np.float32)
    for c in range(arr.shape[2]):
        im = Image.fromarray(np.ascontiguousarray(arr[:, :, c]), mode="F")
        out[:, :, c] = np.asarray(im.resize((w, h), Image.Resampling.LANCZOS), np.float32)
    return out
