"""Image parts of a chat request: data URIs (and, when allowed, http(s) URLs) checked and decoded.

Every image is decoded once with :func:`specprompt.load_image` before an engine sees it, so a
bad image is the client's 400 naming the part, never the engine's 500.
"""

from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING

from specprompt.errors import ImageInputError
from specprompt.serve._errors import APIError

if TYPE_CHECKING:
    from dspy.lm15 import ImagePart

    from specprompt.serve._config import ServeConfig

__all__ = [
    "ALLOWED_MEDIA_TYPES",
    "check_decodes",
    "decode_data_uri",
    "fetch_remote",
    "image_part",
    "sniff_media_type",
]

#: Media types accepted in image parts, and the formats their bytes must be in.
ALLOWED_MEDIA_TYPES = ("image/png", "image/jpeg", "image/webp")
_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "image/x-png": "image/png"}
_DETAILS = ("auto", "low", "high")


def _bad(where: str, message: str, code: str = "invalid_image_url") -> APIError:
    return APIError(400, f"Invalid image in '{where}': {message}", param=where, code=code)


def sniff_media_type(data: bytes) -> str | None:
    """The media type of PNG, JPEG or WebP bytes from their signature, else ``None``.

    Example:
        >>> sniff_media_type(b"\\x89PNG\\r\\n\\x1a\\n...."), sniff_media_type(b"GIF89a")
        ('image/png', None)
    """
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def decode_data_uri(url: str, where: str) -> bytes:
    """The bytes of a ``data:image/<png|jpeg|webp>;base64,...`` URI.

    Raises:
        APIError: 400 naming ``where``: not base64, a media type outside
            :data:`ALLOWED_MEDIA_TYPES`, or bad base64 data.

    Example:
        >>> decode_data_uri("data:image/png;base64,aGk=", "x")
        b'hi'
    """
    from specprompt.io import data_uri_media_type, parse_data_uri

    head, comma, payload = url.partition(",")
    if not comma:
        raise _bad(where, "a data URI needs a comma between its header and its data")
    media = data_uri_media_type(url)
    if _ALIASES.get(media, media) not in ALLOWED_MEDIA_TYPES:
        raise _bad(where, f"media type {media!r} is not supported; allowed: {', '.join(ALLOWED_MEDIA_TYPES)}")
    try:  # clients may wrap long base64 lines; the decoder itself is strict
        return parse_data_uri(f"{head},{''.join(payload.split())}", where)
    except ImageInputError as exc:
        raise _bad(where, f"the data URI is invalid: {exc.reason}") from None


def fetch_remote(url: str, where: str, cfg: ServeConfig) -> bytes:
    """Downloads an http(s) image with ``cfg``'s timeout and size cap (call only when allowed).

    Raises:
        APIError: 400 naming ``where`` when the fetch fails, times out or exceeds the size cap.
    """
    import httpx

    cap = cfg.remote_max_bytes
    try:
        with (
            httpx.Client(timeout=cfg.remote_timeout_s, follow_redirects=True, max_redirects=3) as client,
            client.stream("GET", url, headers={"Accept": ", ".join(ALLOWED_MEDIA_TYPES)}) as resp,
        ):
            if resp.status_code != 200:
                raise _bad(where, f"fetching the image URL returned HTTP {resp.status_code}")
            length = resp.headers.get("content-length", "")
            if length.isdigit() and int(length) > cap:
                raise _bad(where, f"the remote image is {int(length):,} bytes, more than the limit of {cap:,}")
            chunks: list[bytes] = []
            size = 0
            for chunk in resp.iter_bytes():
                size += len(chunk)
                if size > cap:
                    raise _bad(where, f"the remote image is more than the limit of {cap:,} bytes")
                chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise _bad(where, f"could not fetch the image URL ({type(exc).__name__}: {exc})") from None
    return b"".join(chunks)


def _check_pixels(data: bytes, where: str, cfg: ServeConfig) -> int:
    """Reads the image's size from its header; returns ``width * height`` if within the limit."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            width, height = im.size
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise _bad(where, f"the image cannot be decoded ({type(exc).__name__})", "invalid_image") from None
    if width * height > cfg.max_image_pixels:
        raise _bad(
            where,
            f"the image is {width}x{height} = {width * height:,} pixels, more than the server's limit of "
            f"{cfg.max_image_pixels:,} (--max-image-pixels)",
            "image_too_large",
        )
    return width * height


def check_decodes(images: list[tuple[bytes, str]], cfg: ServeConfig) -> None:
    """Decodes each ``(bytes, where)`` fully once, so a broken image is the client's 400.

    Raises:
        APIError: 400 naming the part whose bytes do not decode.
    """
    from specprompt.io import load_image

    for data, where in images:
        try:
            load_image(data, max_pixels=cfg.max_image_pixels)
        except ImageInputError as exc:
            raise _bad(where, f"the image cannot be decoded: {exc.reason}", "invalid_image") from None


def image_part(
    url: object,
    detail: object,
    where: str,
    cfg: ServeConfig,
    pixels_left: list[int] | None = None,
    deferred: list[tuple[bytes, str]] | None = None,
) -> ImagePart:
    """Checks and decodes one ``image_url`` and returns it as a DSPy ``ImagePart``.

    Args:
        url: the part's URL: a data URI, or an http(s) URL when ``cfg.allow_remote_images``.
        detail: OpenAI's ``detail`` hint (``"auto"``, ``"low"``, ``"high"``) or ``None``.
        where: the part's path in the request, used in error messages.
        cfg: the server's limits.
        pixels_left: a one-item list holding the pixels the request may still send; the image's
            pixels are taken from it (read from the header, before decoding).
        deferred: when given, the full decode is not done here: ``(bytes, where)`` is appended
            for :func:`check_decodes`, so a request's total pixels are checked before any image
            of it is decoded.

    Returns:
        an ``ImagePart`` with the original bytes inline and the media type read from them.

    Raises:
        APIError: 400 naming ``where`` for every problem: bad URL or scheme, remote URL not
            allowed, bad base64, a format other than PNG, JPEG or WebP, too many pixels (in the
            image, or in the request so far), or bytes that do not decode.
    """
    from dspy.lm15 import ImagePart

    if not isinstance(url, str) or not url:
        raise _bad(where, "'url' must be a non-empty string")
    if detail is not None and detail not in _DETAILS:
        raise APIError(
            400, f"Invalid 'detail' {detail!r}; allowed: {', '.join(_DETAILS)}", param=f"{where}.detail", code=None
        )
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme == "data":
        data = decode_data_uri(url, where)
    elif scheme in ("http", "https"):
        if not cfg.allow_remote_images:
            raise _bad(
                where,
                "remote image URLs are not fetched by this server; send the image inline as a base64 data URI "
                "('data:image/png;base64,...'), or start the server with --allow-remote-images",
                "remote_images_disabled",
            )
        data = fetch_remote(url, where, cfg)
    else:
        raise _bad(where, f"unsupported URL scheme {scheme or url[:20]!r}; send a base64 data URI")
    media_type = sniff_media_type(data)
    if media_type is None:
        raise _bad(
            where,
            f"the bytes ({len(data):,} B) are not a PNG, JPEG or WebP image",
            "invalid_image_format",
        )
    pixels = _check_pixels(data, where, cfg)
    if pixels_left is not None:
        pixels_left[0] -= pixels
        if pixels_left[0] < 0:
            raise _bad(
                where,
                f"the images of this request add up to more than the server's limit of {cfg.max_request_pixels:,} "
                f"pixels per request (--max-request-pixels); this one alone is {pixels:,}",
                "request_too_large",
            )
    if deferred is not None:
        deferred.append((data, where))
    else:
        check_decodes([(data, where)], cfg)
    return ImagePart(
        media_type=media_type,
        data=base64.b64encode(data).decode("ascii"),
        detail=detail,
    )
