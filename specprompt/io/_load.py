"""The public entry points :func:`load_image` and :func:`as_array`."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from specprompt.errors import ConfigError, SpecPromptWarning
from specprompt.io._arrays import array_to_pil, array_to_unit
from specprompt.io._decode import Decoded
from specprompt.io._describe import describe_array
from specprompt.io._limits import DEFAULT_MAX_PIXELS, check_max_pixels
from specprompt.io._modes import mode_change, to_standard_mode, to_unit_float
from specprompt.io._sources import decode_source

if TYPE_CHECKING:
    from PIL import Image as PILImage

__all__ = ["NormalisedImage", "as_array", "load_image", "normalise_image"]


def _warn(decoded: Decoded) -> None:
    """Warns about several frames and an ICC profile that could not be applied, naming the source."""
    for note in decoded.notes:  # stacklevel 3: the caller of load_image / as_array
        warnings.warn(f"{decoded.source} {note}", SpecPromptWarning, stacklevel=3)


@dataclass(frozen=True)
class NormalisedImage:
    """What :func:`normalise_image` gives: :func:`load_image`'s image, and what it changed.

    Attributes:
        image: the image :func:`load_image` returns (mode ``"L"``, ``"RGB"`` or ``"RGBA"``).
        source: the short description of the source used in errors and warnings.
        format: Pillow's name of the encoded format (``"PNG"``, ``"JPEG"``), ``""`` for a PIL
            image made in memory or a numpy array.
        changes: why ``image`` differs from what a plain decoder shows from the stored values:
            ``"EXIF orientation 6"``, ``"ICC profile 'Display P3' converted to sRGB"``,
            ``"first of 3 frames"``, ``"mode I;16"`` (16-bit, float, CMYK, bilevel, ... values
            converted). Empty when the encoded image already holds these pixels (palette and
            grey-with-alpha images only expand to RGB / RGBA); always empty for numpy arrays.
        warnings: what :func:`load_image` would warn about, each to be said after the source
            (``"has 3 frames; only the first frame is used"``).
    """

    image: PILImage.Image
    source: str
    format: str
    changes: tuple[str, ...]
    warnings: tuple[str, ...]


def normalise_image(src: object, *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> NormalisedImage:
    """:func:`load_image` that says what it changed and warns about nothing.

    For a caller that keeps encoded images (a dataset keeps a file's bytes only when they already
    hold the pixels ``load_image`` gives, see :attr:`NormalisedImage.changes`) or that names the
    source its own way in warnings (:attr:`NormalisedImage.warnings`).

    Raises:
        ImageInputError: as :func:`load_image`.
        ConfigError: as :func:`load_image`.

    Example:
        >>> from PIL import Image
        >>> normalise_image(Image.new("I;16", (2, 1))).changes
        ('mode I;16',)
    """
    limit = check_max_pixels(max_pixels)
    if isinstance(src, np.ndarray):
        source = describe_array(src)
        return NormalisedImage(array_to_pil(np.asarray(src), source, limit), source, "", (), ())
    decoded = decode_source(src, limit)
    changed = mode_change(decoded.image)
    return NormalisedImage(
        image=to_standard_mode(decoded.image, decoded.source),
        source=decoded.source,
        format=decoded.format,
        changes=decoded.changes + ((changed,) if changed else ()),
        warnings=decoded.notes,
    )


def load_image(src: object, *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> PILImage.Image:
    """Reads an image from any supported source into a fully loaded PIL image.

    Accepted sources: a path (``str`` or ``os.PathLike``), ``bytes`` / ``bytearray`` / ``memoryview``
    holding an encoded image, a ``data:image/...;base64,...`` string (a string is a data URI only
    when it is not an existing path), a binary file object (anything with ``.read()``), a PIL image,
    a ``dspy.Image`` holding a data URI, or a numpy array (see :func:`as_array` for shapes; dtypes
    uint8, uint16, bool, or float with values in [0, 1]). Nothing is fetched over the network.

    Encoded images are checked before decoding: the format must be one of
    :data:`~specprompt.io.ALLOWED_FORMATS` and ``width * height`` read from the header at most
    ``max_pixels``. EXIF orientation is applied, an embedded ICC profile other than sRGB is
    converted to sRGB, animations give their first frame and a
    :class:`~specprompt.errors.SpecPromptWarning`, and the mode is normalised by the table in
    :mod:`specprompt.io`. The caller's PIL image or array is never modified.

    Args:
        src: the image source.
        max_pixels: the largest accepted ``width * height``, checked from the header before
            decoding; ``None``: no limit. It decides also above Pillow's own decompression-bomb
            threshold (``PIL.Image.MAX_IMAGE_PIXELS``): see :data:`DEFAULT_MAX_PIXELS`.

    Returns:
        a new PIL image in mode ``"L"``, ``"RGB"`` or ``"RGBA"``, pixels loaded.

    Raises:
        ImageInputError: the source cannot be read; ``.source`` describes it, ``.reason`` says why.
        ConfigError: ``max_pixels`` is not a positive int or ``None``.

    Warns:
        SpecPromptWarning: the source has several frames (GIF, APNG, WebP, multi-page TIFF), or
            an ICC profile that cannot be applied (its values are then used as sRGB).

    Example:
        >>> import numpy as np
        >>> image = load_image(np.zeros((2, 3), np.uint16))
        >>> image.mode, image.size
        ('L', (3, 2))
    """
    limit = check_max_pixels(max_pixels)
    if isinstance(src, np.ndarray):
        return array_to_pil(np.asarray(src), describe_array(src), limit)
    decoded = decode_source(src, limit)
    _warn(decoded)
    return to_standard_mode(decoded.image, decoded.source)


def as_array(
    image: object, *, max_pixels: int | None = DEFAULT_MAX_PIXELS, copy: bool = True, check_finite: bool = True
) -> np.ndarray:
    """Pixels of any source :func:`load_image` accepts, as a new float32 ``(H, W, C)`` array (see ``copy``).

    Numpy arrays are converted directly: uint8 / 255, uint16 / 65535, bool to 0 / 1, float arrays
    taken as pixels as they are. Other sources go through the decoding of :func:`load_image`,
    except that 16-bit images keep their precision (``v / 65535``) instead of being rounded to 8 bits.

    Args:
        image: any source :func:`load_image` accepts.
        max_pixels: as in :func:`load_image` (also applied to arrays).
        copy: ``False`` lets a numpy array that is already float32 come back as it is (or as an
            ``(H, W, 1)`` view of a 2-D one), checked but not copied: for callers that neither
            write into the result nor keep it. Other sources are converted either way.
        check_finite: ``False`` skips the scan for NaN / inf in numpy float arrays (every other
            check still runs), for a caller that detects non-finite values more cheaply in its
            own results; it must then call ``as_array`` again with the scan, which raises the error.

    Returns:
        float32 pixels; C = 1 for grey, 3 for RGB, 4 for RGBA.

    Shape:
        in: ``(H, W)`` or ``(H, W, C)`` for arrays; out: ``(H, W, C)`` with C in 1, 3, 4.

    Convention:
        Values are in [0, 1] except for float arrays given directly, whose values outside [0, 1]
        are kept (band maths is linear; renders clip). NaN and infinities are always refused.

    Raises:
        ImageInputError: unreadable source, bad dtype or shape, empty, too large, NaN / inf.
        ConfigError: ``max_pixels`` is not a positive int or ``None``; ``copy`` or ``check_finite``
            is not a bool.

    Warns:
        SpecPromptWarning: as :func:`load_image`.

    Example:
        >>> as_array(np.array([[0, 255]], np.uint8)).tolist()
        [[[0.0], [1.0]]]
    """
    limit = check_max_pixels(max_pixels)
    for name, flag in (("copy", copy), ("check_finite", check_finite)):
        if not isinstance(flag, bool):
            raise ConfigError(f"{name} must be True or False, got {flag!r}")
    if isinstance(image, np.ndarray):
        return array_to_unit(np.asarray(image), describe_array(image), limit, copy, check_finite)
    decoded = decode_source(image, limit)
    _warn(decoded)
    return to_unit_float(decoded.image, decoded.source)
