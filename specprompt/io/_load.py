"""PLACEHOLDER (being replaced): minimal load_image/as_array so the spectral core can run."""

from __future__ import annotations

from typing import Any

import numpy as np

from specprompt.errors import ImageInputError, ShapeError

__all__ = ["as_array", "load_image"]


def load_image(src: Any) -> Any:
    from PIL import Image

    if isinstance(src, Image.Image):
        return src
    raise ImageInputError(repr(src)[:40], "unsupported")


def as_array(image: Any) -> np.ndarray:
    if isinstance(image, np.ndarray):
        arr = image
        if arr.ndim == 2:
            arr = arr[:, :, None]
        if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4) or 0 in arr.shape:
            raise ShapeError("image array", arr.shape, "(H, W) or (H, W, C) with C in 1, 3, 4 and H, W >= 1")
        if arr.dtype == np.uint8:
            return arr.astype(np.float32) / 255.0
        return np.ascontiguousarray(arr, np.float32)
    pil = load_image(image)
    arr = np.asarray(pil.convert("RGB"), np.float32) / 255.0
    return arr
