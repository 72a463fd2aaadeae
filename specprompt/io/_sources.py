"""Every non-array source (path, bytes, data URI, file object, PIL image, ``dspy.Image``) to decoded pixels."""

from __future__ import annotations

import base64
import binascii
import io
import os
import re
import stat
import sys
from typing import Any

from specprompt.errors import ImageInputError
from specprompt.io._decode import Decoded, decode_stream, prepare_pil
from specprompt.io._describe import (
    data_uri_media_type,
    describe_bytes,
    describe_data_uri,
    describe_file_object,
    describe_path,
    describe_pil,
    describe_unsupported,
    shorten,
)

__all__ = ["SOURCE_KINDS", "decode_source", "parse_data_uri"]

SOURCE_KINDS = (
    "a path (str or os.PathLike), bytes/bytearray/memoryview, a data URI string, a PIL image, "
    "a numpy array, a dspy.Image or a binary file object"
)

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+://")
_REMOTE = "remote fetching is disabled; download the image yourself and pass its bytes or a local path"


def _exists(path: str) -> bool:
    try:
        return os.path.exists(path)
    except (OSError, ValueError):  # pragma: no cover - os.path.exists already swallows these
        return False


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _from_bytes(data: bytes, source: str, max_pixels: int | None) -> Decoded:
    if not data:
        raise ImageInputError(source, "no data (0 bytes)")
    return decode_stream(io.BytesIO(data), source, max_pixels)


def _from_path(path: str | bytes, max_pixels: int | None) -> Decoded:
    source = describe_path(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise ImageInputError(source, "no such file or directory") from None
    except PermissionError:
        raise ImageInputError(source, "permission denied") from None
    except (OSError, ValueError) as exc:  # name too long, embedded NUL, ...
        raise ImageInputError(source, f"not a usable path ({_reason(exc)})") from None
    if stat.S_ISDIR(info.st_mode):
        raise ImageInputError(source, "is a directory, not an image file")
    if not stat.S_ISREG(info.st_mode):
        raise ImageInputError(source, "not a regular file (device, pipe or socket)")
    if info.st_size == 0:
        raise ImageInputError(source, "file is empty (0 bytes)")
    try:
        with open(path, "rb") as handle:
            return decode_stream(handle, source, max_pixels)
    except PermissionError:
        raise ImageInputError(source, "permission denied") from None
    except OSError as exc:
        raise ImageInputError(source, f"cannot read the file ({_reason(exc)})") from exc


def parse_data_uri(uri: str, source: str) -> bytes:
    """The decoded payload of a base64 ``data:image/...;base64,...`` URI: specprompt's one data-URI
    decoder (image input, the server, the scorers, SpectralImages and reports all use it).

    The media type must be ``image/*`` and the payload strict base64 (no whitespace, correct padding).

    Raises:
        ImageInputError: naming what is wrong with the URI.

    Example:
        >>> parse_data_uri("data:image/png;base64,AAEC", "<uri>")
        b'\\x00\\x01\\x02'
    """
    head, comma, payload = uri.partition(",")
    if not comma:
        raise ImageInputError(source, "malformed data URI: no ',' between the header and the data")
    media = data_uri_media_type(uri)
    if not media:
        raise ImageInputError(source, "data URI has no media type; expected image/... (e.g. image/png)")
    if not media.startswith("image/"):
        raise ImageInputError(source, f"media type {shorten(media, 40)!r} is not an image type (expected image/...)")
    params = [p.strip().lower() for p in head[5:].split(";")[1:]]
    if not params or params[-1] != "base64":
        raise ImageInputError(source, "only base64 data URIs are supported (the header must end with ';base64')")
    if not payload:
        raise ImageInputError(source, "data URI carries no data")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImageInputError(source, f"invalid base64 data ({exc})") from None
    return data


def _from_data_uri(uri: str, source: str, max_pixels: int | None) -> Decoded:
    return _from_bytes(parse_data_uri(uri, source), source, max_pixels)


def _from_string(text: str, max_pixels: int | None) -> Decoded:
    if not text:
        raise ImageInputError("<empty string>", "an empty string is neither a path nor a data URI")
    if _exists(text):
        return _from_path(text, max_pixels)
    if text[:5].lower() == "data:":
        return _from_data_uri(text, describe_data_uri(text), max_pixels)
    if _URL.match(text):
        raise ImageInputError(shorten(text), _REMOTE)
    return _from_path(text, max_pixels)


def _is_dspy_image(obj: object) -> bool:
    dspy = sys.modules.get("dspy")  # a dspy.Image exists only if dspy was imported: no import here
    cls = getattr(dspy, "Image", None) if dspy is not None else None
    return isinstance(cls, type) and isinstance(obj, cls)


def _from_dspy(obj: Any, max_pixels: int | None) -> Decoded:
    url = getattr(obj, "url", None)
    if not isinstance(url, str):
        raise ImageInputError("<dspy.Image>", f"its url is {type(url).__name__}, not a string")
    if url[:5].lower() == "data:":
        return _from_data_uri(url, describe_data_uri(url, prefix="dspy.Image "), max_pixels)
    source = f"<dspy.Image: {shorten(url)}>"
    if _URL.match(url):
        raise ImageInputError(source, _REMOTE)
    raise ImageInputError(source, "its url is neither a data URI nor a URL")


def _from_file_object(obj: Any, max_pixels: int | None) -> Decoded:
    source = describe_file_object(obj)
    try:
        data = obj.read()
    except Exception as exc:  # whatever the object raises; the cause is kept
        raise ImageInputError(source, f"read() failed ({_reason(exc)})") from exc
    if isinstance(data, str):
        raise ImageInputError(source, "read() returned text (str); open the file in binary mode ('rb')")
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ImageInputError(source, f"read() returned {type(data).__name__}, expected bytes")
    return _from_bytes(bytes(data), source, max_pixels)


def decode_source(src: object, max_pixels: int | None) -> Decoded:
    """Decodes any non-array source; see :func:`specprompt.load_image` for the rules.

    Raises:
        ImageInputError: unsupported type, unreadable source, not an image, too large, corrupt.
    """
    from PIL import Image

    if isinstance(src, Image.Image):
        return prepare_pil(src, describe_pil(src), max_pixels)
    if isinstance(src, (bytes, bytearray, memoryview)):
        data = src.tobytes() if isinstance(src, memoryview) else bytes(src)
        return _from_bytes(data, describe_bytes(src), max_pixels)
    if isinstance(src, str):
        return _from_string(src, max_pixels)
    if isinstance(src, os.PathLike):
        try:
            path = os.fspath(src)
        except TypeError as exc:  # __fspath__ returned something other than str or bytes
            raise ImageInputError(describe_unsupported(src), f"not a usable path ({_reason(exc)})") from None
        return _from_path(path, max_pixels)
    if _is_dspy_image(src):
        return _from_dspy(src, max_pixels)
    if callable(getattr(src, "read", None)):
        return _from_file_object(src, max_pixels)
    raise ImageInputError(describe_unsupported(src), f"unsupported source type; expected {SOURCE_KINDS}")
