"""From user images to working canvases and token layouts.

Convention:
    Grey images are copied to R, G, B; RGBA images are composited over white
    (:func:`specprompt.io.opaque_rgb`), as viewers, APIs and every other judge show them. The
    image is resized so its longer side is 64 pixels (area interpolation when shrinking, bilinear
    when enlarging) and put at the top-left of a 64 x 64 canvas whose remaining rows/columns
    repeat the last image row/column. Only the tokens of the
    :class:`~specprompt.vlm._tokenizer.TokenLayout` are created.

    Which tokens are created depends on the input (:func:`prepare_image`):

    - a :class:`PreparedImage` is used as it is;
    - a :class:`~specprompt.Spectrum`, or a ``(Spectrum, Selection)`` pair, is rendered at full size
      from its kept bands (``spectrum.render_array(selection, "full")``: dropped bands are zero) and
      its selection decides which tokens are created (all of them for a bare Spectrum);
    - a PNG that carries :class:`~specprompt.types.SpectralImage` metadata (a ``SpectralImage``, a
      ``dspy.Image`` with a PNG data URI, PNG bytes, a PNG data URI string or the path of a PNG
      file) takes the ``"bands"`` path: its pixels are the canvas and :func:`metadata_layout`
      creates only the tokens of its *source* that overlap the kept bands and tiles, as
      :class:`~specprompt.scorers.LocalVLMEngine` does. When the scheme is not available here (or a
      non-Laplacian source is larger than ``MAX_LAYOUT_PIXELS``) it falls back to the pixels path;
    - anything else :func:`specprompt.io.as_array` reads (arrays, PIL images, file objects, other
      formats, PNGs without metadata) takes the ``"pixels"`` path: every token of the image as it is.
      A PIL image opened from a SpectralImage's PNG file counts as pixels (pass the path instead).

    With ``canvas`` > 64 (a v2 model, ``ModelConfig.canvas``) the image is also brought to a
    ``canvas`` px *detail* canvas by the same rule, its fine levels are computed
    (:func:`specprompt.vlm._pyramid.fine_bands`) and a fine token is created only where the
    layout allows it and its patch carries more than ``fine_threshold`` mean absolute coefficient
    (:func:`~specprompt.vlm._tokenizer.gate_fine`), so dropped or blurred-away fine bands cost no
    token on either path. The 64 px canvas and the five bands' tokens are exactly those of v1.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from specprompt.errors import ImageInputError, SelectionError
from specprompt.io import opaque_rgb
from specprompt.spectral import Selection, Spectrum
from specprompt.vlm._layout import PNG_SIGNATURE, metadata_layout, png_metadata
from specprompt.vlm._tokenizer import FINE_GRID, WORKING_SIZE, TokenLayout, gate_fine, token_layout

__all__ = ["PreparedImage", "ReadPath", "encoded_png", "prepare_decoded", "prepare_image", "to_canvas"]

#: How an encoded image was tokenized: from its SpectralImage metadata or from its pixels.
ReadPath = Literal["bands", "pixels"]


@dataclass(frozen=True)
class PreparedImage:
    """One image ready for the model: a 64 x 64 x 3 canvas and the tokens to create, plus (for a
    model with fine levels) the ``canvas`` px detail canvas those levels are cut from."""

    canvas: np.ndarray
    layout: TokenLayout
    detail: np.ndarray | None = None


def to_canvas(pixels: np.ndarray, size: int = WORKING_SIZE) -> np.ndarray:
    """The ``size x size x 3`` working canvas (default 64) of float pixels ``(H, W, C)``.

    Example:
        >>> to_canvas(np.zeros((10, 20, 1), np.float32)).shape, to_canvas(np.zeros((10, 20, 3)), 256).shape
        ((64, 64, 3), (256, 256, 3))
    """
    import cv2

    from specprompt.vlm._tokenizer import working_shape

    arr = opaque_rgb(pixels)
    h, w = arr.shape[:2]
    rows, cols = working_shape(w, h, size)
    if (rows, cols) != (h, w):
        interp = cv2.INTER_AREA if rows < h or cols < w else cv2.INTER_LINEAR
        arr = cv2.resize(np.ascontiguousarray(arr), (cols, rows), interpolation=interp).reshape(rows, cols, 3)
    canvas = np.pad(arr, ((0, size - rows), (0, size - cols), (0, 0)), mode="edge")
    return np.ascontiguousarray(canvas, np.float32)


def _with_detail(
    pixels: np.ndarray, layout: TokenLayout, canvas: int, fine_threshold: float, fine_grid: int
) -> PreparedImage:
    """The prepared image; above a 64 px canvas, with its detail canvas and energy-gated fine tokens."""
    if canvas <= WORKING_SIZE:
        return PreparedImage(to_canvas(pixels), layout)
    from specprompt.vlm._pyramid import fine_energy_np

    detail = to_canvas(pixels, canvas)
    gated = gate_fine(layout, fine_energy_np(detail, len(layout.fine), fine_grid), fine_threshold)
    return PreparedImage(to_canvas(pixels), gated, detail)


def _file_png(path: str) -> bytes | None:
    if not os.path.isfile(path):
        return None
    try:
        with open(path, "rb") as handle:
            head = handle.read(len(PNG_SIGNATURE))
            return head + handle.read() if head == PNG_SIGNATURE else None
    except (OSError, ValueError):
        return None


def _uri_png(uri: str, where: str) -> bytes | None:
    from specprompt.io import parse_data_uri

    try:
        data = parse_data_uri(uri, where)
    except ImageInputError:
        return None  # as_array names what is wrong with it
    return data if data.startswith(PNG_SIGNATURE) else None


def encoded_png(image: Any) -> tuple[bytes, str] | None:
    """The PNG bytes of an encoded image and its description, or ``None`` for anything else.

    Args:
        image: a ``dspy.Image`` (or SpectralImage) with a data URI, bytes, a data URI string, or a
            path (``str`` or ``os.PathLike``) of an existing file.

    Returns:
        ``(png_bytes, description)`` when ``image`` is one of those and holds a PNG, else ``None``
        (also when it cannot be read: :func:`specprompt.io.as_array` then reports why).

    Example:
        >>> encoded_png(b"GIF89a...") is None, encoded_png(np.zeros((2, 2))) is None
        (True, True)
    """
    from specprompt.io import describe_bytes, describe_data_uri, describe_path

    if isinstance(image, (bytes, bytearray, memoryview)):
        data = image.tobytes() if isinstance(image, memoryview) else bytes(image)
        return (data, describe_bytes(image)) if data.startswith(PNG_SIGNATURE) else None
    if isinstance(image, str) and image[:5].lower() == "data:" and not os.path.exists(image):
        where = describe_data_uri(image)
        png = _uri_png(image, where)
        return None if png is None else (png, where)
    if isinstance(image, (str, os.PathLike)):
        try:
            path = os.fsdecode(image)
        except TypeError:
            return None
        png = _file_png(path)
        return None if png is None else (png, describe_path(path))
    dspy = sys.modules.get("dspy")  # a dspy.Image exists only if dspy was imported
    image_type = getattr(dspy, "Image", None)
    url = getattr(image, "url", None)
    if isinstance(image_type, type) and isinstance(image, image_type) and isinstance(url, str):
        if url[:5].lower() != "data:":
            return None
        from specprompt.types import SpectralImage

        where = repr(image) if isinstance(image, SpectralImage) else describe_data_uri(url, prefix="dspy.Image ")
        png = _uri_png(url, where)
        return None if png is None else (png, where)
    return None


def prepare_decoded(
    pixels: np.ndarray,
    meta: Mapping[str, Any] | None,
    where: str,
    *,
    canvas: int = WORKING_SIZE,
    fine_threshold: float = 0.0,
    fine_grid: int = FINE_GRID,
) -> tuple[PreparedImage, ReadPath]:
    """Canvas and token layout of a decoded image and its SpectralImage metadata (if any).

    Args:
        pixels: the image's float pixels ``(H, W, C)`` (:func:`specprompt.io.as_array`).
        meta: :func:`~specprompt.vlm._layout.png_metadata` of its PNG, or ``None``.
        where: the image's description for error messages.
        canvas: the model's working resolution (``ModelConfig.canvas``; 64 = v1).
        fine_threshold: the model's ``ModelConfig.fine_threshold`` (only used above 64 px).
        fine_grid: the model's ``ModelConfig.fine_grid`` (only used above 64 px).

    Returns:
        the prepared image and ``"bands"`` (the layout came from ``meta``) or ``"pixels"``.

    Raises:
        ImageInputError: malformed metadata. SelectionError: metadata whose selection keeps no
        token the model can see.

    Example:
        >>> prepare_decoded(np.zeros((32, 32, 3), np.float32), None, "<zeros>")[1]
        'pixels'
    """
    layout = None if meta is None else metadata_layout(meta, where, canvas=canvas, fine_grid=fine_grid)
    if layout is None:
        full = token_layout(pixels.shape[1], pixels.shape[0], canvas=canvas, fine_grid=fine_grid)
        return _with_detail(pixels, full, canvas, fine_threshold, fine_grid), "pixels"
    if layout.n_tokens == 0:
        raise SelectionError(f"{where} keeps no band the local model can see (all finer than {canvas} px)")
    out = _with_detail(pixels, layout, canvas, fine_threshold, fine_grid)
    if out.layout.n_tokens == 0:
        raise SelectionError(f"{where} keeps no band the local model can see (its kept fine bands are empty)")
    return out, "bands"


def _check_prepared(image: PreparedImage, canvas_size: int, fine_grid: int) -> PreparedImage:
    canvas, layout = image.canvas, image.layout
    shape = (WORKING_SIZE, WORKING_SIZE, 3)
    if not isinstance(canvas, np.ndarray) or canvas.shape != shape or canvas.dtype != np.float32:
        got = f"{canvas.shape} {canvas.dtype}" if isinstance(canvas, np.ndarray) else type(canvas).__name__
        raise ImageInputError("<PreparedImage>", f"its canvas must be a float32 array {shape}, got {got}")
    if not isinstance(layout, TokenLayout):
        raise ImageInputError("<PreparedImage>", f"its layout must be a TokenLayout, got {type(layout).__name__}")
    from specprompt.vlm._tokenizer import fine_names

    n_fine = len(fine_names(canvas_size))
    detail = image.detail
    dshape = (canvas_size, canvas_size, 3)
    if (
        len(layout.fine) != n_fine
        or any(f.shape != (fine_grid, fine_grid) for f in layout.fine)
        or (n_fine and (not isinstance(detail, np.ndarray) or detail.shape != dshape or detail.dtype != np.float32))
    ):
        raise ImageInputError(
            "<PreparedImage>",
            f"a {canvas_size} px model needs {n_fine} fine levels of {fine_grid} x {fine_grid} tokens and a "
            f"float32 {dshape} detail canvas"
            if n_fine
            else "a 64 px model takes no fine levels (prepare it with canvas=64)",
        )
    if layout.n_tokens == 0:
        raise SelectionError("<PreparedImage> keeps no band the local model can see (its layout has no token)")
    return image


def prepare_image(
    image: Any, *, canvas: int = WORKING_SIZE, fine_threshold: float = 0.0, fine_grid: int = FINE_GRID
) -> PreparedImage:
    """Canvas and token layout of one image (see the module docstring for which tokens are created).

    Args:
        image: a :class:`PreparedImage` (returned as it is), a :class:`~specprompt.Spectrum` (all
            bands), a ``(Spectrum, Selection)`` pair, a :class:`~specprompt.types.SpectralImage`, or
            anything :func:`specprompt.io.as_array` accepts.
        canvas: the model's working resolution (``ModelConfig.canvas``; 64 = v1).
        fine_threshold: the model's ``ModelConfig.fine_threshold`` (only used above 64 px).
        fine_grid: the model's ``ModelConfig.fine_grid`` (only used above 64 px).

    Returns:
        the prepared image.

    Raises:
        ImageInputError: unreadable image, malformed SpectralImage metadata or PreparedImage.
        SelectionError: a selection that does not fit its spectrum, or one that keeps no working token.

    Example:
        >>> prepare_image(np.zeros((32, 16, 3), np.float32)).canvas.shape
        (64, 64, 3)
    """
    from specprompt.io import as_array

    if isinstance(image, PreparedImage):
        return _check_prepared(image, canvas, fine_grid)
    if isinstance(image, tuple) and len(image) == 2 and isinstance(image[0], Spectrum):
        spec, sel = image
        if sel is not None and not isinstance(sel, Selection):
            raise SelectionError(f"expected (Spectrum, Selection), got a {type(sel).__name__} as selection")
        sel = spec.check(sel)
        pixels = spec.render_array(sel, "full")
        layout = token_layout(spec.shape[1], spec.shape[0], sel, spec.bands, canvas=canvas, fine_grid=fine_grid)
    elif isinstance(image, Spectrum):
        pixels = image.render_array(None, "full")
        layout = token_layout(image.shape[1], image.shape[0], None, image.bands, canvas=canvas, fine_grid=fine_grid)
    else:
        if isinstance(image, (list, tuple)):
            raise ImageInputError(f"<{type(image).__name__} of {len(image)}>", "expected one image, not a sequence")
        encoded = encoded_png(image)
        meta = None if encoded is None else png_metadata(*encoded)
        pixels = as_array(image)
        where = "<image>" if encoded is None else encoded[1]
        return prepare_decoded(pixels, meta, where, canvas=canvas, fine_threshold=fine_threshold, fine_grid=fine_grid)[
            0
        ]
    if layout.n_tokens == 0:
        raise SelectionError(f"the selection keeps no band the local model can see (all finer than {canvas} px)")
    out = _with_detail(pixels, layout, canvas, fine_threshold, fine_grid)
    if out.layout.n_tokens == 0:
        raise SelectionError("the selection keeps no band the local model can see (its kept fine bands are empty)")
    return out
