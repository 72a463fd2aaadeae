"""The one background that every reader of pixels puts transparent images on: white.

Browsers, image viewers and most chat APIs show a transparent PNG on white; the offline judges,
the local band VLM and the contact sheet composite alpha the same way through :func:`opaque_rgb`,
so a black logo on a clear background is a black logo on white for every one of them. (The PNG
a demo is sent as keeps its alpha: compositing it is the receiver's business.)
"""

from __future__ import annotations

import numpy as np

from specprompt.errors import ShapeError

__all__ = ["ALPHA_BACKGROUND", "opaque_rgb"]

ALPHA_BACKGROUND = (1.0, 1.0, 1.0)
"""The RGB colour (in [0, 1]) under transparent pixels: white, as viewers and most APIs show them."""


def opaque_rgb(pixels: np.ndarray) -> np.ndarray:
    """RGB pixels as they are shown: grey repeated to 3 channels, alpha composited over white.

    ``rgb * a + white * (1 - a)`` with ``a`` clipped to [0, 1] (band renders may overshoot);
    the colour values themselves are not clipped. Images without alpha keep their values.

    Shape:
        ``(H, W)`` or ``(H, W, C)`` with C in 1, 2 (grey and alpha), 3, 4 -> ``(H, W, 3)`` float32,
        C-contiguous (``pixels`` itself when it already is such an RGB array).

    Raises:
        ShapeError: another number of channels or dimensions.

    Example:
        >>> opaque_rgb(np.array([[[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]], np.float32)).tolist()
        [[[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]]
    """
    arr = np.asarray(pixels, np.float32)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 2, 3, 4):
        raise ShapeError("pixels", tuple(arr.shape), "(H, W) or (H, W, C) with C in 1, 2, 3, 4")
    channels = arr.shape[2]
    if channels == 3:
        return np.ascontiguousarray(arr)
    colour = np.repeat(arr[:, :, :1], 3, axis=2) if channels <= 2 else arr[:, :, :3]
    if channels in (2, 4):
        alpha = np.clip(arr[:, :, -1:], 0.0, 1.0)
        background = np.asarray(ALPHA_BACKGROUND, np.float32)
        colour = colour * alpha + background * (np.float32(1.0) - alpha)
    return np.ascontiguousarray(colour, np.float32)
