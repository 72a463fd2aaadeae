""":class:`SpectralImage`: a ``dspy.Image`` that remembers which bands of which source it shows."""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
from typing import TYPE_CHECKING, Any, Literal

import dspy
import numpy as np

from specprompt.errors import ConfigError, ImageInputError
from specprompt.spectral import Selection, Spectrum

if TYPE_CHECKING:
    from PIL import Image as PILImage

__all__ = [
    "DROPPED_IMAGE",
    "MAX_SHARPEN",
    "METADATA_KEY",
    "SHARPEN_RADIUS",
    "SpectralImage",
    "content_hash",
    "png_bytes_metadata",
    "read_metadata",
    "sharpened",
]

#: The text a demo sends in place of an image the band search dropped (a single ``dspy.Image``
#: field, or a ``list[dspy.Image]`` field left without images): the model reads plainly that no
#: image was sent, where ``None`` would reach it as the text ``None``.
DROPPED_IMAGE = "(no image: dropped to save tokens)"

#: Key of the PNG text chunk that carries a SpectralImage's metadata inside its data URI.
METADATA_KEY = "specprompt"
_META_VERSION = 1
_DETAILS = ("low", "high", "auto")
_PNG_PREFIX = "data:image/png;base64,"
_META_FIELDS = ("source_hash", "scheme", "scheme_options", "selection", "source_size", "render_size")
#: Metadata fields that older images lack: ``resample`` names the filter that brought the kept
#: bands' full-size reconstruction to ``render_size`` (absent: the exact minimal render); ``crop``
#: says which region of which image a detail crop was cut from (absent: not a crop); ``sharpen``
#: is the percent of an unsharp mask applied to the sent pixels (absent: none).
_OPTIONAL_META = ("resample", "crop", "sharpen")
#: Radius in pixels of the sent image of the unsharp mask that ``sharpen`` applies.
SHARPEN_RADIUS = 1.0
#: Largest ``sharpen`` percent accepted.
MAX_SHARPEN = 500
_RESAMPLERS = ("lanczos",)
Detail = Literal["low", "high", "auto"]


def sharpened(pil: Any, percent: int) -> Any:
    """``pil`` after an unsharp mask of ``percent`` at radius :data:`SHARPEN_RADIUS`, threshold 0.

    An alpha channel is kept as it is; only the colour channels are sharpened.
    """
    from PIL import ImageFilter

    mask = ImageFilter.UnsharpMask(radius=SHARPEN_RADIUS, percent=int(percent), threshold=0)
    if pil.mode in ("RGB", "L"):
        return pil.filter(mask)
    if pil.mode in ("RGBA", "LA"):
        *colour, alpha = pil.split()
        from PIL import Image

        base = Image.merge("RGB" if pil.mode == "RGBA" else "L", colour).filter(mask)
        return Image.merge(pil.mode, (*base.split(), alpha))
    return pil.convert("RGB").filter(mask)


def content_hash(image: Any) -> str:
    """SHA-256 of an image's pixels, independent of how the image was stored.

    Args:
        image: anything :func:`specprompt.io.as_array` accepts (array, PIL image, bytes, path,
            data URI, ``dspy.Image``).

    Returns:
        64 lowercase hex digits.

    Convention:
        The hash covers the shape ``(H, W, C)`` and the pixels rounded to 8 bits
        (``rint(clip(x, 0, 1) * 255)``), so a PNG, the same pixels as a uint8 array and the
        exact reconstruction of its spectrum all hash alike; grey and RGB versions of an image
        differ.

    Example:
        >>> a = np.zeros((4, 4, 3), np.uint8)
        >>> content_hash(a) == content_hash(a.astype(np.float32))
        True
    """
    from specprompt.io import as_array

    arr = as_array(image)
    q = np.clip(np.rint(np.clip(arr, 0.0, 1.0) * 255.0), 0, 255).astype(np.uint8)
    digest = hashlib.sha256(f"specprompt-pixels-v1:{q.shape[0]}x{q.shape[1]}x{q.shape[2]}:".encode())
    digest.update(np.ascontiguousarray(q).tobytes())
    return digest.hexdigest()


def _png_bytes(url: str) -> bytes:
    if not isinstance(url, str) or not url.startswith(_PNG_PREFIX):
        raise ImageInputError(_describe(url), "a SpectralImage url must be a base64 PNG data URI")
    from specprompt.io import parse_data_uri

    return parse_data_uri(url, _describe(url))


def _describe(url: object) -> str:
    text = repr(url)
    return text if len(text) <= 48 else text[:45] + "...'"


def read_metadata(url: str) -> dict[str, Any] | None:
    """The SpectralImage metadata embedded in a PNG data URI, or ``None`` when it carries none.

    Raises:
        ImageInputError: ``url`` is not a decodable base64 PNG data URI.
    """
    return png_bytes_metadata(_png_bytes(url), _describe(url))


def png_bytes_metadata(data: bytes, where: str) -> dict[str, Any] | None:
    """:func:`read_metadata` of the PNG file's bytes; ``where`` describes them in errors.

    Raises:
        ImageInputError: ``data`` is not a readable PNG, or its metadata chunk is malformed.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            size = im.size
            text = im.info.get(METADATA_KEY)
    except UnidentifiedImageError:
        raise ImageInputError(where, f"not a PNG image (PIL cannot identify its {len(data)} bytes)") from None
    except (OSError, ValueError) as exc:
        raise ImageInputError(where, f"not a PNG image ({exc})") from None
    if text is None:
        return None
    try:
        meta = json.loads(text)
    except ValueError:
        raise ImageInputError(where, f"its {METADATA_KEY!r} PNG chunk is not JSON") from None
    if not isinstance(meta, dict) or meta.get("v") != _META_VERSION or not set(_META_FIELDS) <= set(meta):
        raise ImageInputError(where, f"its {METADATA_KEY!r} PNG chunk is not version {_META_VERSION} metadata")
    meta = {k: meta[k] for k in (*_META_FIELDS, *_OPTIONAL_META) if k in meta}
    meta["_png_size"] = size
    return meta


def _encode_png(image: PILImage.Image, meta: dict[str, Any]) -> str:
    from PIL.PngImagePlugin import PngInfo

    text = json.dumps({"v": _META_VERSION, **meta}, sort_keys=True, separators=(",", ":"))
    info = PngInfo()
    info.add_text(METADATA_KEY, text, zip=len(text) > 256)
    buf = io.BytesIO()
    image.save(buf, format="PNG", pnginfo=info, compress_level=6)
    return _PNG_PREFIX + base64.b64encode(buf.getvalue()).decode("ascii")


def _size_pair(name: str, value: Any) -> tuple[int, int]:
    if (
        not isinstance(value, (tuple, list))
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value)
    ):
        raise ConfigError(f"SpectralImage {name} must be a (width, height) pair of ints >= 1, got {value!r}")
    return int(value[0]), int(value[1])


def _crop_json(value: Any, size: tuple[int, int]) -> str:
    """The canonical JSON of a detail crop's origin (``crop`` of :meth:`SpectralImage.from_spectrum`).

    Raises:
        ConfigError: not a mapping of ``box`` (``(left, top, width, height)``, inside the image),
            ``source_size`` and ``source_hash``, or a box whose size is not ``size`` (the crop's own).
    """
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ConfigError(f"SpectralImage crop must be JSON of a mapping, got {value!r}") from None
    keys = {"box", "source_size", "source_hash"}
    if not isinstance(value, dict) or set(value) != keys:
        raise ConfigError(f"SpectralImage crop must be a mapping of {sorted(keys)}, got {value!r}")
    box = value["box"]
    if (
        not isinstance(box, (tuple, list))
        or len(box) != 4
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in box)
    ):
        raise ConfigError(f"SpectralImage crop box must be (left, top, width, height) ints >= 0, got {box!r}")
    left, top, w, h = (int(v) for v in box)
    src_w, src_h = _size_pair("crop source_size", value["source_size"])
    if w < 1 or h < 1 or left + w > src_w or top + h > src_h:
        raise ConfigError(f"SpectralImage crop box {list(box)} does not fit its {src_w}x{src_h} source")
    if (w, h) != size:
        raise ConfigError(f"SpectralImage crop box {list(box)} is {w}x{h}, but the crop's source_size is {size}")
    if not isinstance(value["source_hash"], str) or not value["source_hash"]:
        raise ConfigError(f"SpectralImage crop source_hash must be a non-empty string, got {value['source_hash']!r}")
    canonical = {"box": [left, top, w, h], "source_hash": value["source_hash"], "source_size": [src_w, src_h]}
    return json.dumps(canonical, sort_keys=True, separators=(",", ":"))


def _check_fields(data: dict[str, Any]) -> dict[str, Any]:
    required = ("url", *_META_FIELDS)
    missing = [k for k in required if k not in data]
    if missing:
        raise ConfigError(
            f"SpectralImage needs {missing}; build one with SpectralImage.from_spectrum(spectrum, selection)"
        )
    allowed = {*required, "detail", *_OPTIONAL_META}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ConfigError(f"unknown SpectralImage field(s) {unknown}; allowed: {sorted(allowed)}")
    sharpen = data.get("sharpen")
    if sharpen is not None and (
        not isinstance(sharpen, int) or isinstance(sharpen, bool) or not 1 <= sharpen <= MAX_SHARPEN
    ):
        raise ConfigError(f"SpectralImage sharpen must be an int percent in 1..{MAX_SHARPEN} or None, got {sharpen!r}")
    resample = data.get("resample")
    if resample is not None and resample not in _RESAMPLERS:
        raise ConfigError(f"SpectralImage resample must be one of {', '.join(_RESAMPLERS)} or None, got {resample!r}")
    for key in ("source_hash", "scheme", "scheme_options", "selection"):
        if not isinstance(data[key], str) or not data[key]:
            raise ConfigError(f"SpectralImage {key} must be a non-empty string, got {data[key]!r}")
    detail = data.get("detail")
    if detail is not None and detail not in _DETAILS:
        raise ConfigError(f"SpectralImage detail must be one of {', '.join(_DETAILS)} or None, got {detail!r}")
    try:
        options = json.loads(data["scheme_options"])
    except ValueError:
        options = None
    if not isinstance(options, dict):
        raise ConfigError(f"SpectralImage scheme_options must be a JSON object string, got {data['scheme_options']!r}")
    out = dict(data)
    out["selection"] = Selection.from_json(data["selection"]).to_json()  # canonical form
    out["source_size"] = _size_pair("source_size", data["source_size"])
    out["render_size"] = _size_pair("render_size", data["render_size"])
    if out.get("crop") is not None:
        out["crop"] = _crop_json(out["crop"], out["source_size"])
    meta = read_metadata(data["url"])
    if meta is None:
        raise ConfigError(
            f"the url of a SpectralImage must carry its {METADATA_KEY!r} PNG chunk; "
            "build one with SpectralImage.from_spectrum(spectrum, selection)"
        )
    png_size = meta.pop("_png_size")
    expected = {k: out[k] for k in _META_FIELDS}
    expected.update({k: out[k] for k in _OPTIONAL_META if out.get(k) is not None})
    saved = {**meta, "source_size": tuple(meta["source_size"]), "render_size": tuple(meta["render_size"])}
    if saved != expected:
        diff = sorted(k for k in {*saved, *expected} if saved.get(k) != expected.get(k))
        raise ConfigError(f"SpectralImage field(s) {diff} disagree with the metadata embedded in its url")
    if tuple(png_size) != out["render_size"]:
        raise ConfigError(f"SpectralImage render_size {out['render_size']} differs from its PNG size {png_size}")
    return out


class SpectralImage(dspy.Image):  # type: ignore[misc]
    """A demo image rendered from a subset of a source image's frequency bands.

    It is a ``dspy.Image`` (it goes wherever one goes, as one ``image_url`` part) that also
    records what it is: the source's :func:`content_hash`, the scheme and its options, the
    :class:`~specprompt.Selection` of kept bands, the source size and the size actually sent.
    Build it with :meth:`from_spectrum`.

    Attributes:
        url: base64 PNG data URI of ``spectrum.render(selection, "minimal")``. Its PNG carries
            a ``specprompt`` text chunk with every field but ``detail``, so the image can be
            rebuilt exactly from a saved program (see :func:`specprompt.restore_images`).
        source_hash: :func:`content_hash` of the source pixels.
        scheme: decomposition scheme name (``"laplacian"``, ``"dct"``, ...).
        scheme_options: the scheme config as a canonical JSON object string.
        selection: the kept bands, ``Selection.to_json()`` (see :attr:`selection_obj`).
        source_size: ``(width, height)`` of the source.
        render_size: ``(width, height)`` of the image sent.
        detail: OpenAI's ``detail`` hint (``"low"``, ``"high"``, ``"auto"``) or ``None`` (not sent).
        resample: ``"lanczos"`` when the kept bands were rendered at full size and resized to
            ``render_size`` with PIL's Lanczos (a chosen sent size); ``None`` for the exact minimal
            render of the kept bands.
        crop: for a detail crop, where it was cut from, as canonical JSON (see :attr:`crop_of`):
            ``box`` ``[left, top, width, height]`` in the pixel coordinates of the whole image,
            that image's ``source_size`` ``[width, height]`` and ``source_hash``; ``None`` for an
            image that is not a crop. (``source_size`` and ``source_hash`` above are the crop's own.)
        sharpen: the percent of the unsharp mask (radius :data:`SHARPEN_RADIUS` pixel of the sent
            image, threshold 0, PIL's ``ImageFilter.UnsharpMask``) applied to the sent pixels after
            the resize, or ``None`` for none.

    Convention:
        Every field is a hashable value (strings and tuples) because ``format()`` may be cached.
        The PNG metadata chunk travels with the image to the model provider; it costs no image
        tokens (providers price pixels, not bytes) and holds no user data besides the hash.

    Example:
        >>> from specprompt import decompose
        >>> spec = decompose(np.full((32, 32, 3), 0.5, np.float32))
        >>> img = SpectralImage.from_spectrum(spec, Selection.of(["residual"]), detail="low")
        >>> img.render_size, img.selection_obj.bands == {"residual"}, img.format()[0]["image_url"]["detail"]
        ((16, 16), True, 'low')
    """

    source_hash: str
    scheme: str
    scheme_options: str
    selection: str
    source_size: tuple[int, int]
    render_size: tuple[int, int]
    detail: Detail | None = None
    resample: str | None = None
    crop: str | None = None
    sharpen: int | None = None

    def __init__(self, source: Any = None, /, **data: Any) -> None:
        if source is not None:
            if "url" in data:
                raise ConfigError("SpectralImage received both a positional source and url; give only one")
            data["url"] = source
        super().__init__(**_check_fields(data))

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def from_spectrum(
        cls,
        spectrum: Spectrum,
        selection: Selection | None = None,
        *,
        detail: Detail | None = None,
        source_hash: str | None = None,
        size: tuple[int, int] | None = None,
        crop: dict[str, Any] | None = None,
        sharpen: int = 0,
    ) -> SpectralImage:
        """Renders ``selection`` of ``spectrum`` and wraps it.

        Args:
            spectrum: the decomposed source (:func:`specprompt.decompose`).
            selection: kept bands; ``None`` keeps all (the source itself, re-encoded as PNG).
            detail: OpenAI ``detail`` hint sent with the image, or ``None``.
            source_hash: :func:`content_hash` of the source; by default the hash of the
                spectrum's exact reconstruction, which equals the source's hash for 8-bit sources.
            size: ``(width, height)`` to send: the kept bands are rendered at full size (8-bit,
                as :meth:`Spectrum.render` with ``"full"``) and resized with
                ``PIL.Image.resize(..., LANCZOS)``, so a selection of every band sends exactly
                the pixels of a plain PIL Lanczos resize of the source; ``resample`` records
                ``"lanczos"``. ``None``: the minimal render (exact, no
                resampling; a Laplacian prefix is then 2^k times smaller).
            crop: when ``spectrum`` is a region cut from a larger image (a detail crop), where:
                ``{"box": (left, top, width, height), "source_size": (width, height),
                "source_hash": ...}`` in that image's pixel coordinates; the box's size must be
                ``spectrum``'s. Kept in the PNG as :attr:`crop`.
            sharpen: percent of an unsharp mask of radius :data:`SHARPEN_RADIUS` (a pixel of the
                sent image) applied last, to restore the contrast of the finest kept detail that
                the resize softened; 0 (default) applies none. Kept in the PNG as :attr:`sharpen`.

        Raises:
            SelectionError: ``selection`` does not fit ``spectrum``. ConfigError: bad ``detail``
            or ``size``.
        """
        if not isinstance(spectrum, Spectrum):
            raise ConfigError(f"from_spectrum expects a specprompt.Spectrum, got {type(spectrum).__name__}")
        sel = spectrum.check(selection)
        if source_hash is None:
            source_hash = content_hash(spectrum.reconstruct())
        options = json.dumps(spectrum.config.to_dict(), sort_keys=True, separators=(",", ":"))
        if size is None:
            pil = spectrum.render(sel, "minimal")
        else:
            from PIL import Image

            sent = _size_pair("size", size)
            pil = spectrum.render(sel, "full")  # the 8-bit image, then PIL's own resize of it
            if pil.size != sent:
                pil = pil.resize(sent, Image.Resampling.LANCZOS)
        if not isinstance(sharpen, int) or isinstance(sharpen, bool) or not 0 <= sharpen <= MAX_SHARPEN:
            raise ConfigError(f"sharpen must be an int percent in 0..{MAX_SHARPEN}, got {sharpen!r}")
        if sharpen:
            pil = sharpened(pil, sharpen)
        meta: dict[str, Any] = {
            "source_hash": source_hash,
            "scheme": spectrum.scheme,
            "scheme_options": options,
            "selection": sel.to_json(),
            "source_size": list(spectrum.size),
            "render_size": list(pil.size),
        }
        if size is not None:
            meta["resample"] = "lanczos"
        if crop is not None:
            meta["crop"] = _crop_json(crop, spectrum.size)
        if sharpen:
            meta["sharpen"] = sharpen
        return cls(url=_encode_png(pil, meta), detail=detail, **meta)

    @classmethod
    def from_data_uri(cls, url: str, *, detail: Detail | None = None) -> SpectralImage:
        """Rebuilds a SpectralImage from the data URI of one (its PNG carries every field but ``detail``).

        Raises:
            ImageInputError: not a base64 PNG data URI. ConfigError: the PNG has no specprompt metadata.
        """
        meta = read_metadata(url)
        if meta is None:
            raise ConfigError(f"{_describe(url)} carries no {METADATA_KEY!r} PNG chunk: it is not a SpectralImage")
        meta.pop("_png_size")
        return cls(url=url, detail=detail, **meta)

    def with_detail(self, detail: Detail | None) -> SpectralImage:
        """A copy that sends ``detail`` (``"low"``, ``"high"``, ``"auto"``) or no hint (``None``)."""
        return type(self)(**{**self._fields(), "detail": detail})

    def _fields(self) -> dict[str, Any]:
        out = {"url": self.url, "detail": self.detail, **{k: getattr(self, k) for k in _META_FIELDS}}
        out.update({k: getattr(self, k) for k in _OPTIONAL_META if getattr(self, k) is not None})
        return out

    # -- views -------------------------------------------------------------------------------
    @property
    def selection_obj(self) -> Selection:
        """The kept bands as a :class:`~specprompt.Selection`."""
        return Selection.from_json(self.selection)

    @property
    def crop_of(self) -> dict[str, Any] | None:
        """Where a detail crop was cut from: ``{"box": [left, top, width, height], "source_size":
        [width, height], "source_hash": ...}`` in the whole image's pixel coordinates; ``None``
        when this image is not a crop."""
        if self.crop is None:
            return None
        out: dict[str, Any] = json.loads(self.crop)
        return out

    @property
    def scheme_config(self) -> dict[str, Any]:
        """The scheme options as a dict (``decompose(src, img.scheme, **img.scheme_config)``)."""
        options: dict[str, Any] = json.loads(self.scheme_options)
        return options

    def to_pil(self) -> PILImage.Image:
        """The rendered image (``render_size``) as a PIL image."""
        from PIL import Image

        with Image.open(io.BytesIO(_png_bytes(self.url))) as im:
            im.load()
            return im.copy()

    def format(self) -> list[dict[str, Any]]:
        """One OpenAI ``image_url`` content part, with ``detail`` when set."""
        image_url: dict[str, Any] = {"url": self.url}
        if self.detail is not None:
            image_url["detail"] = self.detail
        return [{"type": "image_url", "image_url": image_url}]

    def _kept_text(self) -> str:
        bands = self.selection_obj.bands
        if bands is None:
            return "all bands"
        return ", ".join(sorted(bands)) or "no bands"

    def crop_text(self) -> str | None:
        """``"crop 32x32 at (16, 0) of a 64x64 image"`` (box at left, top), ``None`` when not a crop."""
        c = self.crop_of
        if c is None:
            return None
        left, top, w, h = c["box"]
        return f"crop {w}x{h} at ({left}, {top}) of a {c['source_size'][0]}x{c['source_size'][1]} image"

    def __repr__(self) -> str:
        w, h = self.render_size
        sw, sh = self.source_size
        return (
            f"SpectralImage(scheme={self.scheme!r}, bands=[{self._kept_text()}], render={w}x{h}, "
            f"source={sw}x{sh}, source_hash={self.source_hash[:12]!r}, detail={self.detail!r}"
            + (f", resample={self.resample!r}" if self.resample else "")
            + (f", sharpen={self.sharpen!r}" if self.sharpen else "")
            + (f", crop={self.crop_text()!r})" if self.crop else ")")
        )

    def _repr_html_(self) -> str:
        w, h = self.render_size
        sw, sh = self.source_size
        ways = [self.resample] if self.resample else []
        if self.sharpen:
            ways.append(f"sharpened {self.sharpen}%")
        how = f" ({', '.join(ways)})" if ways else ""  # " (lanczos, sharpened 100%)"
        crop = f" | {self.crop_text()}" if self.crop else ""
        caption = html.escape(f"{self.scheme}: {self._kept_text()} | sent {w}x{h}{how} of {sw}x{sh}{crop}")
        scale = max(1, min(4, 256 // max(w, h)))
        return (
            f'<figure style="display:inline-block;margin:4px">'
            f'<img src="{html.escape(self.url, quote=True)}" width="{w * scale}" height="{h * scale}" '
            f'style="image-rendering:pixelated" alt="{caption}"/>'
            f"<figcaption><code>{caption}</code></figcaption></figure>"
        )
