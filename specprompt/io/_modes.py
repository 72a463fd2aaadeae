"""PIL mode normalisation: every decoded image becomes ``"L"``, ``"RGB"`` or ``"RGBA"``.

The conversion table is in the docstring of :mod:`specprompt.io`; this module implements it.
Two entry points share one table: :func:`to_standard_mode` (8-bit PIL image, for
:func:`~specprompt.load_image`) and :func:`to_unit_float` (float32 pixels, for
:func:`~specprompt.io.as_array`, which keeps the precision of 16-bit and float images).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from specprompt.errors import ImageInputError

if TYPE_CHECKING:
    from PIL import Image as PILImage

__all__ = ["SUPPORTED_MODES", "mode_change", "to_standard_mode", "to_unit_float"]

# mode -> target mode for the 8-bit conversions PIL does itself.
_PIL_CONVERSIONS = {
    "1": "L",
    "L": "L",
    "LA": "RGBA",
    "PA": "RGBA",
    "RGB": "RGB",
    "RGBX": "RGB",
    "RGBA": "RGBA",
    "RGBa": "RGBA",
    "CMYK": "RGB",
    "YCbCr": "RGB",
    "LAB": "RGB",
    "HSV": "RGB",
}
_WIDE_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")

SUPPORTED_MODES = (*_PIL_CONVERSIONS, "P", *_WIDE_MODES)
"""Every PIL mode :func:`to_standard_mode` accepts."""


#: Modes whose stored 8-bit values :func:`to_standard_mode` keeps: a palette or grey with alpha
#: only expands to RGB / RGBA, with the same colours any decoder shows.
_SAME_COLOUR_MODES = ("L", "LA", "P", "RGB", "RGBA")


def mode_change(image: PILImage.Image) -> str | None:
    """``"mode I;16"`` when :func:`to_standard_mode` changes the stored values of ``image``
    (16-bit, float, CMYK, bilevel, ...), ``None`` when it keeps them."""
    return None if image.mode in _SAME_COLOUR_MODES else f"mode {image.mode}"


def _target_mode(image: PILImage.Image, source: str) -> str:
    mode = image.mode
    if mode == "P":
        has_alpha = "transparency" in image.info or (image.palette is not None and image.palette.mode == "RGBA")
        return "RGBA" if has_alpha else "RGB"
    if mode in _PIL_CONVERSIONS:
        return _PIL_CONVERSIONS[mode]
    if mode in _WIDE_MODES:
        return "L"
    raise ImageInputError(source, f"unsupported PIL mode {mode!r}; supported: {', '.join(SUPPORTED_MODES)}")


def _wide_to_unit(image: PILImage.Image, source: str) -> np.ndarray:
    """Grey ``(H, W)`` float32 in [0, 1] from a 16-bit, 32-bit integer or float image."""
    raw = np.asarray(image)
    if image.mode == "F":
        values = raw.astype(np.float32)
        if not np.isfinite(values).all():
            raise ImageInputError(source, "float image (PIL mode 'F') contains NaN or infinite values")
        return np.clip(values, 0.0, 1.0)
    # I;16 variants hold 0 .. 65535; mode I (int32) is clipped to that range and read the same way.
    return (np.clip(raw.astype(np.int64), 0, 65535) / 65535.0).astype(np.float32)


def to_standard_mode(image: PILImage.Image, source: str) -> PILImage.Image:
    """``image`` in mode ``"L"``, ``"RGB"`` or ``"RGBA"`` following the table of :mod:`specprompt.io`.

    Returns ``image`` itself when it already has its target mode, a new image otherwise.

    16-bit values ``v`` become ``round(v / 257)``; float values are clipped to [0, 1] and scaled
    by 255 with rounding.

    Raises:
        ImageInputError: unsupported mode, or a float image with NaN / infinite values.

    Example:
        >>> from PIL import Image
        >>> to_standard_mode(Image.new("I;16", (2, 1), 65535), "<x>").getpixel((0, 0))
        255
    """
    from PIL import Image

    target = _target_mode(image, source)
    if image.mode in _WIDE_MODES:
        unit = _wide_to_unit(image, source)
        return Image.fromarray(np.rint(unit * 255.0).astype(np.uint8), mode="L")
    if image.mode == target:
        return image
    return image.convert(target)


def to_unit_float(image: PILImage.Image, source: str) -> np.ndarray:
    """Float32 pixels ``(H, W, C)`` in [0, 1] with C = 1, 3 or 4, same table as :func:`to_standard_mode`.

    Unlike :func:`to_standard_mode`, 16-bit images keep their precision (``v / 65535``).

    Shape:
        ``(H, W, C)``; C = 1 for ``"L"``, 3 for ``"RGB"``, 4 for ``"RGBA"`` targets.

    Example:
        >>> from PIL import Image
        >>> round(float(to_unit_float(Image.new("I;16", (2, 1), 1), "<x>")[0, 0, 0]) * 65535, 3)
        1.0
    """
    if image.mode in _WIDE_MODES:
        return _wide_to_unit(image, source)[:, :, None]
    arr = np.asarray(to_standard_mode(image, source), dtype=np.float32) / np.float32(255.0)
    return arr[:, :, None] if arr.ndim == 2 else arr
