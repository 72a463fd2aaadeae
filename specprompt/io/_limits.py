"""The pixel-count limit shared by every source, checked before any pixel is decoded."""

from __future__ import annotations

from specprompt.errors import ConfigError, ImageInputError

__all__ = ["DEFAULT_MAX_PIXELS", "check_max_pixels", "check_size"]

DEFAULT_MAX_PIXELS = 64 * 1024 * 1024
"""Largest accepted ``width * height`` (67,108,864 pixels, e.g. 8192 x 8192) unless a call says otherwise.

Every source is checked against it (or the ``max_pixels`` a call passes) from its header, before any
pixel is decoded, and the error comes from specprompt, naming the source and the limit. It is also
specprompt's limit that decides above Pillow's own decompression-bomb threshold
(``PIL.Image.MAX_IMAGE_PIXELS``, about 89 M pixels): an image Pillow refuses is read again with
Pillow's guard lifted and checked against ``max_pixels`` (see ``decode_stream``), so a larger
``max_pixels``, or ``None``, allows a 100 MP photo.
"""


def check_max_pixels(max_pixels: object) -> int | None:
    """Validates the ``max_pixels`` keyword: a positive ``int`` or ``None`` (no limit).

    Raises:
        ConfigError: anything else (``bool`` included).

    Example:
        >>> check_max_pixels(None) is None
        True
    """
    if max_pixels is None:
        return None
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1:
        raise ConfigError(f"max_pixels must be a positive int or None (no limit), got {max_pixels!r}")
    return max_pixels


def check_size(width: int, height: int, source: str, max_pixels: int | None) -> None:
    """Refuses empty images and images with more than ``max_pixels`` pixels.

    Raises:
        ImageInputError: ``width`` or ``height`` is 0, or ``width * height > max_pixels``.
    """
    if width < 1 or height < 1:
        raise ImageInputError(source, f"image is empty ({width}x{height} pixels)")
    if max_pixels is not None and width * height > max_pixels:
        raise ImageInputError(
            source,
            f"image is {width}x{height} = {width * height:,} pixels, more than max_pixels={max_pixels:,} "
            "(pass a larger max_pixels, or None, to allow it)",
        )
