"""Short, human-readable descriptions of image sources, used as ``ImageInputError.source``."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image as PILImage

__all__ = [
    "NOT_RASTER_MEDIA_TYPES",
    "data_uri_media_type",
    "describe_array",
    "describe_bytes",
    "describe_data_uri",
    "describe_file_object",
    "describe_path",
    "describe_pil",
    "describe_unsupported",
    "shorten",
]

_LIMIT = 96


def shorten(text: str, limit: int = _LIMIT) -> str:
    """``text`` cut in the middle with ``...`` when it is longer than ``limit`` characters.

    Example:
        >>> shorten("a" * 10 + "b" * 10, limit=9)
        'aaa...bbb'
    """
    if len(text) <= limit:
        return text
    half = (limit - 3) // 2
    return f"{text[:half]}...{text[len(text) - half :]}"


def describe_path(path: str | bytes) -> str:
    """The path as given (decoded with the file-system encoding), shortened."""
    return shorten(os.fsdecode(path))


def describe_bytes(data: bytes | bytearray | memoryview) -> str:
    """``"<bytes: 123 B>"`` (or ``bytearray`` / ``memoryview``)."""
    size = data.nbytes if isinstance(data, memoryview) else len(data)
    return f"<{type(data).__name__}: {size} B>"


#: Media types that ``dspy.Image`` sends as they are but that are no raster image: a provider reads
#: them, specprompt decodes no pixels of them (no size, no tokens, no bands).
NOT_RASTER_MEDIA_TYPES = frozenset({"image/svg+xml", "application/pdf"})


def data_uri_media_type(uri: str) -> str:
    """The media type of a data URI, lowercased, ``""`` when absent (``data:,...``)."""
    head = uri[5:].split(",", 1)[0]
    return head.split(";", 1)[0].strip().lower()


def describe_data_uri(uri: str, prefix: str = "") -> str:
    """``"<data URI: image/png, 80 B>"``; the size is the length of the whole URI."""
    media = shorten(data_uri_media_type(uri), 40) or "no media type"
    return f"<{prefix}data URI: {media}, {len(uri)} B>"


def describe_array(arr: np.ndarray) -> str:
    """``"<numpy array (3, 4) uint8>"``."""
    return f"<numpy array {tuple(arr.shape)} {arr.dtype}>"


def describe_pil(image: PILImage.Image) -> str:
    """``"<PIL image RGB 4x3>"``, plus the file name when PIL opened it from a file."""
    name = getattr(image, "filename", "")
    suffix = f" from {shorten(os.fsdecode(name))}" if isinstance(name, (str, bytes)) and name else ""
    return f"<PIL image {image.mode} {image.width}x{image.height}{suffix}>"


def describe_file_object(obj: Any) -> str:
    """``"<file object /tmp/x.png>"`` when the object has a ``name``, else its type."""
    name = getattr(obj, "name", None)
    if isinstance(name, (str, bytes)) and name:
        return f"<file object {shorten(os.fsdecode(name))}>"
    return f"<file object {type(obj).__name__}>"


def describe_unsupported(obj: Any) -> str:
    """``"<object of type builtins.list>"``."""
    cls = type(obj)
    return f"<object of type {cls.__module__}.{cls.__qualname__}>"
