"""From user images (PIL, arrays, paths, Spectrum + Selection) to working canvases and token layouts.

Convention:
    Grey images are copied to R, G, B; RGBA images are composited over black (the model's
    training backgrounds are dark). The image is resized so its longer side is 64 pixels (area
    interpolation when shrinking, bilinear when enlarging) and put at the top-left of a 64 x 64
    canvas whose remaining rows/columns repeat the last image row/column. Only the tokens of the
    :class:`~specprompt.vlm._tokenizer.TokenLayout` are created.

    A :class:`~specprompt.Spectrum` is rendered at full size from its kept bands
    (``spectrum.render_array(selection, "full")``: dropped bands are zero) before the steps above,
    and its selection decides which working tokens are created.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from specprompt.errors import ImageInputError, SelectionError
from specprompt.spectral._spectrum import Spectrum
from specprompt.spectral._types import Selection
from specprompt.vlm._tokenizer import WORKING_SIZE, TokenLayout, token_layout

__all__ = ["PreparedImage", "prepare_image", "to_canvas"]


@dataclass(frozen=True)
class PreparedImage:
    """One image ready for the model: a 64 x 64 x 3 canvas and the tokens to create."""

    canvas: np.ndarray
    layout: TokenLayout


def _rgb(arr: np.ndarray) -> np.ndarray:
    c = arr.shape[2]
    if c == 1:
        return np.repeat(arr, 3, axis=2)
    if c == 4:
        out: np.ndarray = arr[:, :, :3] * arr[:, :, 3:4]
        return out
    return arr


def to_canvas(pixels: np.ndarray) -> np.ndarray:
    """The 64 x 64 x 3 working canvas of float pixels ``(H, W, C)``.

    Example:
        >>> to_canvas(np.zeros((10, 20, 1), np.float32)).shape
        (64, 64, 3)
    """
    import cv2

    from specprompt.vlm._tokenizer import working_shape

    arr = _rgb(np.asarray(pixels, np.float32))
    h, w = arr.shape[:2]
    rows, cols = working_shape(w, h)
    if (rows, cols) != (h, w):
        interp = cv2.INTER_AREA if rows < h or cols < w else cv2.INTER_LINEAR
        arr = cv2.resize(np.ascontiguousarray(arr), (cols, rows), interpolation=interp).reshape(rows, cols, 3)
    canvas = np.pad(arr, ((0, WORKING_SIZE - rows), (0, WORKING_SIZE - cols), (0, 0)), mode="edge")
    return np.ascontiguousarray(canvas, np.float32)


def prepare_image(image: Any) -> PreparedImage:
    """Canvas and token layout of one image.

    Args:
        image: anything :func:`specprompt.io.as_array` accepts, a :class:`~specprompt.Spectrum`
            (all bands), or a ``(Spectrum, Selection)`` pair.

    Raises:
        ImageInputError: unreadable image. SelectionError: a selection that does not fit its
        spectrum, or one that keeps no working token.
    """
    from specprompt.io import as_array

    if isinstance(image, tuple) and len(image) == 2 and isinstance(image[0], Spectrum):
        spec, sel = image
        if sel is not None and not isinstance(sel, Selection):
            raise SelectionError(f"expected (Spectrum, Selection), got a {type(sel).__name__} as selection")
        sel = spec.check(sel)
        pixels = spec.render_array(sel, "full")
        layout = token_layout(spec.shape[1], spec.shape[0], sel, spec.bands)
    elif isinstance(image, Spectrum):
        pixels = image.render_array(None, "full")
        layout = token_layout(image.shape[1], image.shape[0], None, image.bands)
    else:
        if isinstance(image, (list, tuple)):
            raise ImageInputError(f"<{type(image).__name__} of {len(image)}>", "expected one image, not a sequence")
        pixels = as_array(image)
        layout = token_layout(pixels.shape[1], pixels.shape[0])
    if layout.n_tokens == 0:
        raise SelectionError("the selection keeps no band the local model can see (all finer than 64 px)")
    return PreparedImage(to_canvas(pixels), layout)
