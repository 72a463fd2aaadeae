"""Decoding with limits: header size check before decoding, first frame only, EXIF orientation and ICC applied."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

from specprompt.errors import ImageInputError
from specprompt.io._colour import to_srgb
from specprompt.io._limits import check_size

if TYPE_CHECKING:
    from PIL import Image as PILImage

__all__ = ["ALLOWED_FORMATS", "Decoded", "decode_stream", "prepare_pil"]

ALLOWED_FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF", "PPM", "ICO", "AVIF")
"""Pillow formats that encoded sources may use (when this Pillow build has them).

Everything else is refused before decoding: rarely used decoders are the usual home of parser bugs,
and some (EPS) run external programs.
"""


@dataclass(frozen=True)
class Decoded:
    """A fully loaded first frame with EXIF orientation applied and colours in sRGB, in whatever
    mode PIL decoded (RGB after an ICC conversion).

    Attributes:
        image: the pixels (never the caller's object).
        source: the short description used in errors and warnings.
        frames: how many frames the source has (1 for still images).
        changes: what decoding changed in the stored pixels (``"EXIF orientation 6"``,
            ``"ICC profile 'Display P3' converted to sRGB"``, ``"first of 3 frames"``); mode
            conversions are not listed here.
        notes: what to warn about, each said after the source (``"has 3 frames; ..."``).
        format: Pillow's name of the encoded format (``"PNG"``), ``""`` for an image made in memory.
    """

    image: PILImage.Image
    source: str
    frames: int
    changes: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    format: str = ""


#: The EXIF tag ``Orientation``, and its values that rotate or flip (1 is upright).
_ORIENTATION = 0x0112
_ROTATIONS = (2, 3, 4, 5, 6, 7, 8)


def _allowed_formats() -> list[str]:
    from PIL import Image

    Image.init()
    return [name for name in ALLOWED_FORMATS if name in Image.OPEN]


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def decode_stream(stream: IO[bytes], source: str, max_pixels: int | None) -> Decoded:
    """Opens ``stream`` (header only), checks the size against ``max_pixels``, then decodes the first frame.

    Pillow's decompression-bomb warning and error become :class:`ImageInputError`; Pillow's own limit
    (``PIL.Image.MAX_IMAGE_PIXELS``) therefore still applies when ``max_pixels`` is larger or ``None``.

    Raises:
        ImageInputError: not an image in :data:`ALLOWED_FORMATS`, too large, truncated or corrupt.
    """
    from PIL import Image, UnidentifiedImageError

    formats = _allowed_formats()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(stream, formats=formats)
    except UnidentifiedImageError:
        raise ImageInputError(source, f"not an image in a supported format (supported: {', '.join(formats)})") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageInputError(source, f"refused by Pillow's decompression-bomb guard: {exc}") from exc
    except Exception as exc:  # any parser failure of any plugin; the cause is kept
        raise ImageInputError(source, f"unreadable image header ({_reason(exc)})") from exc
    return prepare_pil(image, source, max_pixels)


def prepare_pil(image: PILImage.Image, source: str, max_pixels: int | None) -> Decoded:
    """Checks the size, then loads the first frame of ``image`` and applies its EXIF orientation and
    ICC profile (:func:`~specprompt.io._colour.to_srgb`).

    Works on lazily opened images (nothing is decoded before the size check) and on images the caller
    made; the caller's image is never modified (its current frame is restored when it had to seek).

    Raises:
        ImageInputError: empty or too large, or decoding fails (truncated or corrupt data).
    """
    from PIL import ImageOps

    check_size(image.width, image.height, source, max_pixels)
    try:
        frames = int(getattr(image, "n_frames", 1))
        position = image.tell()
        try:
            if position != 0:
                image.seek(0)
                check_size(image.width, image.height, source, max_pixels)  # frames may differ in size
            image.load()
            orientation = image.getexif().get(_ORIENTATION, 1)
            # exif_transpose returns a new image, transposed or not: the result never aliases `image`.
            result = ImageOps.exif_transpose(image)
            srgb = to_srgb(result, source)
        finally:
            if position != 0:
                image.seek(position)
    except ImageInputError:
        raise
    except Exception as exc:  # truncated data raises OSError, other plugins other types; the cause is kept
        raise ImageInputError(source, f"corrupt or truncated image data ({_reason(exc)})") from exc
    frames = max(frames, 1)
    changes = [f"EXIF orientation {orientation}"] if orientation in _ROTATIONS else []
    changes += [srgb.change] if srgb.change else []
    changes += [f"first of {frames} frames"] if frames > 1 else []
    notes = [f"has {frames} frames; only the first frame is used"] if frames > 1 else []
    notes += [srgb.warning] if srgb.warning else []
    return Decoded(
        image=srgb.image,
        source=source,
        frames=frames,
        changes=tuple(changes),
        notes=tuple(notes),
        format=str(image.format or ""),
    )
