"""Images of a dataset as data URIs that hold the pixels :func:`specprompt.load_image` gives.

Demo images reach the model as :func:`~specprompt.load_image` decodes them (EXIF orientation
applied, colours in sRGB, first frame, 8-bit modes); queries reach it as the example's data URI.
A file's original bytes are kept only when they already hold those pixels, so that a demo and a
query made from the same file look the same to the model; other files are re-encoded as PNG.
"""

from __future__ import annotations

import base64
import io
import logging
import threading
import warnings
import weakref
from collections import Counter
from pathlib import Path
from typing import Any

import dspy

from specprompt.errors import ConfigError, ImageInputError, SpecPromptWarning
from specprompt.io import DEFAULT_MAX_PIXELS, normalise_image, parse_data_uri

__all__ = ["ImageReader", "image_file"]

log = logging.getLogger("specprompt.data")

#: Image formats whose bytes may be kept in the data URI (the ones chat APIs accept); others become PNG.
_KEEP_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}
#: The file each image read by an :class:`ImageReader` came from, for messages (:func:`image_file`);
#: weak, so it keeps no image alive.
_FILES: weakref.WeakKeyDictionary[dspy.Image, str] = weakref.WeakKeyDictionary()
_FILES_LOCK = threading.Lock()


def image_file(image: object) -> str | None:
    """The file :func:`~specprompt.data.load_dataset` read ``image`` (a ``dspy.Image``) from, or ``None``.

    For messages about a demo or an example: a data URI names no file. An equal image read from
    several files gives the last one read. Images made any other way give ``None``.

    Example:
        >>> image_file(dspy.Image("data:image/png;base64,AAAA")) is None
        True
    """
    if not isinstance(image, dspy.Image):
        return None
    with _FILES_LOCK:
        return _FILES.get(image)


class ImageReader:
    """Reads the images of one dataset, counting the files re-encoded and why, for one log line.

    Warnings about an image (several frames, an ICC profile that cannot be applied) are kept with
    the file's name and given by :meth:`warn`, so that they point at the caller of ``load_dataset``.

    Args:
        max_pixels: the largest ``width * height`` of an image (``None``: no limit), as in
            :func:`specprompt.io.load_image`.
    """

    def __init__(self, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> None:
        self.max_pixels = max_pixels
        self.images = 0
        self.reencoded = 0
        self.reasons: Counter[str] = Counter()
        self.warnings: list[str] = []

    def data_uri(self, data: bytes, where: str) -> str:
        """Checks ``data`` decodes as an allowed image; its data URI, the original bytes when they hold
        the pixels of :func:`~specprompt.load_image`, else that image as PNG.

        Raises:
            ImageInputError: ``data`` is not a readable image; names ``where``.
        """
        try:
            result = normalise_image(data, max_pixels=self.max_pixels)
        except ImageInputError as exc:
            raise ImageInputError(where, exc.reason) from None
        self.images += 1
        self.warnings += [f"{where} {note}" for note in result.warnings]
        mime = _KEEP_FORMATS.get(result.format)
        reasons = [*result.changes, *([] if mime else [f"format {result.format or '?'}"])]
        if reasons:
            self.reencoded += 1
            self.reasons.update(reasons)
            buf = io.BytesIO()
            result.image.save(buf, format="PNG")
            data, mime = buf.getvalue(), "image/png"
        return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"

    def read_file(self, path: Path, where: str | None = None) -> dspy.Image:
        """The image file at ``path`` as a ``dspy.Image``; ``where`` is the JSONL line and field that
        name it (errors and warnings then say ``<where> (<file name>)``), ``None`` for the path alone.

        Raises:
            ConfigError: ``path`` is not a file. ImageInputError: it cannot be read or decoded.
        """
        source = f"{where} ({path.name})" if where else str(path)
        if not path.is_file():
            raise ConfigError(f"{where or path}: image file {str(path)!r} does not exist")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ImageInputError(source, f"cannot read {str(path)!r} ({exc.strerror or exc})") from None
        image = dspy.Image(self.data_uri(data, source))
        with _FILES_LOCK:
            _FILES[image] = str(path)
        return image

    def value(self, value: Any, base: Path, where: str) -> dspy.Image:
        """A JSONL image value (a path relative to ``base``, or a data URI) as a ``dspy.Image``.

        Raises:
            ConfigError: not a string, a remote URL or a missing file. ImageInputError: not an image.
        """
        if not isinstance(value, str) or not value:
            raise ConfigError(
                f"{where}: an image must be a path (a string) relative to the JSONL file, got {value!r:.60}"
            )
        if value.startswith("data:"):
            return dspy.Image(self.data_uri(parse_data_uri(value, where), where))
        if "://" in value:
            raise ConfigError(f"{where}: remote image {value!r:.80} is not fetched; download it and give its path")
        path = Path(value)
        return self.read_file(path if path.is_absolute() else base / path, where)

    def report(self, dataset: Path) -> None:
        """Logs once how many images were re-encoded as PNG and why (nothing when none was)."""
        if not self.reencoded:
            return
        why = ", ".join(f"{reason} ({n})" for reason, n in sorted(self.reasons.items(), key=lambda kv: (-kv[1], kv[0])))
        log.info(
            "dataset %s: %d of %d image(s) re-encoded as PNG to hold the pixels demos are sent with: %s",
            dataset,
            self.reencoded,
            self.images,
            why,
        )

    def warn(self, stacklevel: int) -> None:
        """Gives the kept warnings, each naming its file, ``stacklevel`` frames above this call's caller."""
        for message in self.warnings:
            warnings.warn(message, SpecPromptWarning, stacklevel=stacklevel + 1)
