"""Native token layouts of band-limited images from their :class:`~specprompt.types.SpectralImage` metadata.

A SpectralImage's PNG carries a ``specprompt`` text chunk naming its source size, scheme, scheme
options and kept bands (:func:`specprompt.types.read_metadata`). :func:`metadata_layout` turns that
into the working tokens of the *source* that overlap the kept bands and tiles, so the local model
creates no token for a dropped band, even when the image was rendered at full size.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from specprompt.errors import ConfigError, ImageInputError, SelectionError, UnknownNameError

if TYPE_CHECKING:
    from specprompt.spectral import Band
    from specprompt.vlm._tokenizer import TokenLayout

__all__ = ["MAX_LAYOUT_PIXELS", "PNG_SIGNATURE", "metadata_layout", "png_metadata"]

#: Largest source (``width * height``) whose non-Laplacian band layout is computed from its metadata.
MAX_LAYOUT_PIXELS = 4096 * 4096
#: The first eight bytes of every PNG file.
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_metadata(data: bytes, where: str) -> dict[str, Any] | None:
    """The SpectralImage metadata of encoded image bytes, or ``None`` (not a PNG, or no ``specprompt`` chunk).

    Args:
        data: the encoded image (PNG, JPEG, ...).
        where: the image's description for error messages.

    Returns:
        :func:`specprompt.types.read_metadata`'s dict (with ``_png_size``), or ``None``.

    Raises:
        ImageInputError: a PNG that cannot be read, or a ``specprompt`` chunk that is not valid metadata.

    Example:
        >>> png_metadata(b"GIF89a...", "<gif>") is None
        True
    """
    if not data.startswith(PNG_SIGNATURE):
        return None
    from specprompt.types import png_bytes_metadata

    return png_bytes_metadata(data, where)


@functools.lru_cache(maxsize=64)
def _source_bands(scheme: str, options: str, width: int, height: int, channels: int) -> tuple[Band, ...] | None:
    """Bands of ``scheme`` for a source of that size (:meth:`~specprompt.spectral.Scheme.band_layout`);
    ``None`` when the scheme is not available here, or when its layout needs the analysis of a
    blank image and the source is larger than :data:`MAX_LAYOUT_PIXELS`."""
    from specprompt.spectral import scheme_for

    try:
        backend = scheme_for(scheme, **json.loads(options))
    except (UnknownNameError, ImportError):
        return None
    if not backend.layout_from_shape and width * height > MAX_LAYOUT_PIXELS:
        return None
    try:
        return backend.band_layout((height, width), channels)
    except ImportError:  # an optional backend dependency (PyWavelets) is missing
        return None


def _size(value: object, what: str, where: str) -> tuple[int, int]:
    if (
        not isinstance(value, (list, tuple))
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value)
    ):
        raise ImageInputError(where, f"its specprompt metadata has a bad {what} {value!r}")
    return int(value[0]), int(value[1])


def metadata_layout(
    meta: Mapping[str, Any], where: str = "<image>", *, canvas: int = 64, fine_grid: int = 4
) -> TokenLayout | None:
    """The working tokens of a SpectralImage from its metadata (:func:`specprompt.types.read_metadata`):
    the tokens of its *source* that overlap the kept bands and tiles.

    Args:
        meta: the metadata; ``_png_size`` (the size of the PNG that carried it), when present, must
            equal its ``render_size``.
        where: the image's description for error messages.
        canvas: the model's working resolution (``ModelConfig.canvas``; above 64 the layout has fine levels).
        fine_grid: tokens per side of each fine level (``ModelConfig.fine_grid``).

    Returns:
        the layout (possibly with no token: the caller decides), or ``None`` when the scheme is
        not available here or a non-Laplacian source is larger than :data:`MAX_LAYOUT_PIXELS`
        (then the caller tokenizes the pixels).

    Raises:
        ImageInputError: metadata that is malformed, disagrees with the PNG's size, or names bands
            the scheme does not have.

    Example:
        >>> from specprompt.spectral import Selection
        >>> meta = {"scheme": "laplacian", "scheme_options": "{}", "source_size": [64, 64],
        ...         "render_size": [16, 16], "selection": Selection.of(["residual"]).to_json()}
        >>> metadata_layout(meta).n_tokens
        12
    """
    from specprompt.io import DEFAULT_MAX_PIXELS
    from specprompt.spectral import Selection
    from specprompt.vlm._tokenizer import token_layout

    width, height = _size(meta.get("source_size"), "source_size", where)
    render = _size(meta.get("render_size"), "render_size", where)
    png = meta.get("_png_size")
    if png is not None and tuple(png) != render:
        raise ImageInputError(where, f"its specprompt metadata says {render} pixels, but the PNG is {tuple(png)}")
    if width * height > DEFAULT_MAX_PIXELS:
        raise ImageInputError(where, f"its specprompt metadata names a {width}x{height} source, too large")
    scheme, options = meta.get("scheme"), meta.get("scheme_options")
    if not isinstance(scheme, str) or not isinstance(options, str):
        raise ImageInputError(where, "its specprompt metadata lacks the scheme or its options")
    try:
        selection = Selection.from_json(str(meta.get("selection")))
        if not isinstance(json.loads(options), dict):
            raise ValueError("scheme_options is not a JSON object")
    except (ConfigError, ValueError) as exc:
        raise ImageInputError(where, f"its specprompt metadata is malformed ({exc})") from None
    error: Exception | None = None
    for channels in (3, 1, 4):  # colour components (DCT/FFT) differ between RGB, grey and RGBA sources
        try:
            bands = _source_bands(scheme, options, width, height, channels)
        except ConfigError as exc:
            raise ImageInputError(where, f"its specprompt metadata has bad {scheme} options ({exc})") from None
        if bands is None:
            return None
        try:
            return token_layout(width, height, selection, bands, canvas=canvas, fine_grid=fine_grid)
        except SelectionError as exc:
            error = exc
    raise ImageInputError(where, f"its specprompt selection does not fit the {scheme} bands ({error})")
