"""Decoding with limits: header size check before decoding, first frame only, EXIF orientation and ICC applied."""

from __future__ import annotations

import contextlib
import io
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

from specprompt.errors import ImageInputError
from specprompt.io._colour import to_srgb
from specprompt.io._limits import check_size

if TYPE_CHECKING:
    from PIL import Image as PILImage

__all__ = ["ALLOWED_FORMATS", "Decoded", "decode_stream", "image_format", "prepare_pil"]

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


class _PillowGuard(Exception):
    """Pillow's decompression-bomb guard refused the image before specprompt saw its size."""


#: Held while Pillow's guard is lifted: one lifted decode at a time, and the saved value is restored
#: by the thread that saved it.
_GUARD_LOCK = threading.Lock()


@contextlib.contextmanager
def _pillow_guard_lifted() -> Iterator[None]:
    """Lifts Pillow's decompression-bomb guard (``PIL.Image.MAX_IMAGE_PIXELS``) for the block.

    Only for an image the guard refused, so that specprompt's ``max_pixels`` decides instead
    (checked from the header, before any pixel is decoded). Pillow keeps the limit in a module
    global: the lock makes specprompt's lifted decodes one at a time and restores the value each
    saved; Pillow calls of other threads during that decode see no limit, and those of
    specprompt's own decodes fall back to this path when refused.
    """
    from PIL import Image

    with _GUARD_LOCK:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _open(stream: IO[bytes], source: str, formats: list[str]) -> PILImage.Image:
    """``Image.open`` (header only) with the errors said in specprompt's words.

    Raises:
        _PillowGuard: Pillow's decompression-bomb guard refused it (its warning too).
        ImageInputError: not an image in ``formats``, or an unreadable header.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(stream, formats=formats)
    except UnidentifiedImageError:
        raise ImageInputError(source, f"not an image in a supported format (supported: {', '.join(formats)})") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _PillowGuard(str(exc)) from exc
    except Exception as exc:  # any parser failure of any plugin; the cause is kept
        raise ImageInputError(source, f"unreadable image header ({_reason(exc)})") from exc


def _refused_by_pillow(exc: ImageInputError) -> bool:
    """Whether decoding failed on Pillow's decompression-bomb guard (checked again while a frame loads)."""
    from PIL import Image

    return isinstance(exc.__cause__, (Image.DecompressionBombError, Image.DecompressionBombWarning))


def decode_stream(stream: IO[bytes], source: str, max_pixels: int | None) -> Decoded:
    """Opens ``stream`` (header only), checks the size against ``max_pixels``, then decodes the first frame.

    specprompt's ``max_pixels`` decides, also above Pillow's own decompression-bomb threshold
    (``PIL.Image.MAX_IMAGE_PIXELS``, about 89 M pixels): an image that Pillow's guard refuses is
    opened again with the guard lifted (:func:`_pillow_guard_lifted`), and its header size is
    checked against ``max_pixels`` before any pixel is decoded. So a large photo gets
    specprompt's message naming ``max_pixels``, and ``max_pixels=None`` (or a larger limit)
    really allows it.

    Raises:
        ImageInputError: not an image in :data:`ALLOWED_FORMATS`, too large, truncated or corrupt.
    """
    formats = _allowed_formats()
    start = stream.tell()
    try:
        return prepare_pil(_open(stream, source, formats), source, max_pixels)
    except _PillowGuard:
        pass
    except ImageInputError as exc:
        if not _refused_by_pillow(exc):
            raise
    stream.seek(start)
    with _pillow_guard_lifted():
        return prepare_pil(_open(stream, source, formats), source, max_pixels)


def image_format(data: bytes, source: str) -> str:
    """Pillow's name of the format of the encoded image ``data`` (``"PNG"``, ``"JPEG"``, ...),
    read from its header, whatever its size (nothing is decoded).

    Raises:
        ImageInputError: not an image in :data:`ALLOWED_FORMATS`, or an unreadable header.

    Example:
        >>> image_format(bytes.fromhex("474946383961010001000000002c00000000010001000002003b"), "<gif>")
        'GIF'
    """
    formats = _allowed_formats()
    try:
        with _open(io.BytesIO(data), source, formats) as image:
            return str(image.format or "")
    except _PillowGuard:
        pass
    with _pillow_guard_lifted(), _open(io.BytesIO(data), source, formats) as image:
        return str(image.format or "")


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
