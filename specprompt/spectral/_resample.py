"""Anti-aliased resampling of float pixels to an exact size (PIL's Lanczos-3 filter), and which
bands such a resize removes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from specprompt.errors import ConfigError, ShapeError

if TYPE_CHECKING:
    from specprompt.spectral._types import Band

__all__ = ["removed_by_resize", "resize_cutoff", "resize_lanczos"]


def resize_lanczos(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resamples float ``(H, W, C)`` pixels to ``size`` = ``(width, height)`` with Lanczos-3.

    Each channel is resized as a 32-bit float PIL image (``Image.Resampling.LANCZOS``, whose
    support widens with the scale factor when shrinking, so it low-passes before it decimates);
    nothing is quantized before the caller does.

    Args:
        pixels: float array ``(H, W, C)``.
        size: ``(width, height)`` of the result, each >= 1.

    Returns:
        float32 ``(height, width, C)``, not clipped (Lanczos rings slightly past [0, 1]).

    Raises:
        ShapeError: ``pixels`` is not ``(H, W, C)``. ConfigError: a bad ``size``.

    Example:
        >>> out = resize_lanczos(np.full((40, 60, 3), 0.25, np.float32), (30, 20))
        >>> out.shape, bool(np.allclose(out, 0.25, atol=1e-5))
        ((20, 30, 3), True)
    """
    from PIL import Image

    arr = np.asarray(pixels, np.float32)
    if arr.ndim != 3:
        raise ShapeError("resize_lanczos pixels", arr.shape, "(H, W, C)")
    if (
        not isinstance(size, (tuple, list))
        or len(size) != 2
        or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1 for v in size)
    ):
        raise ConfigError(f"resize_lanczos size must be a (width, height) pair of ints >= 1, got {size!r}")
    w, h = int(size[0]), int(size[1])
    if (h, w) == arr.shape[:2]:
        return arr.copy()
    out = np.empty((h, w, arr.shape[2]), np.float32)
    for c in range(arr.shape[2]):
        im = Image.fromarray(np.ascontiguousarray(arr[:, :, c]), mode="F")
        out[:, :, c] = np.asarray(im.resize((w, h), Image.Resampling.LANCZOS), np.float32)
    return out


def _pair(name: str, size: object) -> tuple[int, int]:
    if (
        not isinstance(size, (tuple, list))
        or len(size) != 2
        or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1 for v in size)
    ):
        raise ConfigError(f"{name} must be a (width, height) pair of ints >= 1, got {size!r}")
    return int(size[0]), int(size[1])


def resize_cutoff(source_size: tuple[int, int], sent_size: tuple[int, int]) -> float:
    """The highest frequency of a source that an image resized to ``sent_size`` can hold.

    Args:
        source_size: ``(width, height)`` of the source.
        sent_size: ``(width, height)`` of the resized image.

    Returns:
        the sent image's Nyquist as a fraction of the source's Nyquist (the unit of
        :attr:`Band.freq_range`): ``max(sent_w / source_w, sent_h / source_h)``, at most 1
        (an enlargement adds no frequency).

    Raises:
        ConfigError: a size is not a pair of ints >= 1.

    Convention:
        The larger of the two axis ratios: an axis shrunk less keeps more, so no band is counted
        removed that one axis still holds.

    Example:
        >>> resize_cutoff((64, 64), (32, 32)), resize_cutoff((64, 48), (16, 12)), resize_cutoff((8, 8), (16, 16))
        (0.5, 0.25, 1.0)
    """
    sw, sh = _pair("source_size", source_size)
    w, h = _pair("sent_size", sent_size)
    return min(1.0, max(w / sw, h / sh))


def removed_by_resize(
    bands: Iterable[Band], source_size: tuple[int, int], sent_size: tuple[int, int]
) -> tuple[str, ...]:
    """Names of the ``bands`` a resize from ``source_size`` to ``sent_size`` removes.

    A band is removed when its whole frequency range lies at or above :func:`resize_cutoff`
    (``freq_range[0] >= cutoff``); a band that straddles the cutoff loses only its part above it
    and is not listed. Nothing is removed when the image is not shrunk (cutoff 1).

    Args:
        bands: the source's bands (``spectrum.bands`` or :func:`~specprompt.spectral.band_layout`).
        source_size: ``(width, height)`` of the source.
        sent_size: ``(width, height)`` of the resized image.

    Returns:
        the removed bands' names, in the order of ``bands``.

    Raises:
        ConfigError: a size is not a pair of ints >= 1.

    Convention:
        ``freq_range`` is radial (a fraction of the source's Nyquist), as the local tokenizer reads it
        (:mod:`specprompt.vlm`: source frequencies above the working Nyquist are lost). A resize
        low-passes each axis, so a radial band (``dct``, ``fft``) just above the cutoff may keep a
        little of its content in the diagonal corners, below the cutoff on both axes.

    Example:
        >>> from specprompt.spectral import band_layout
        >>> bands = band_layout("laplacian", (64, 64), 3)
        >>> removed_by_resize(bands, (64, 64), (32, 32)), removed_by_resize(bands, (64, 64), (16, 16))
        (('L0',), ('L0', 'L1'))
        >>> removed_by_resize(bands, (64, 64), (40, 40))  # L0 straddles 40/64 of Nyquist: partly kept
        ()
    """
    cutoff = resize_cutoff(source_size, sent_size)
    if cutoff >= 1.0:
        return ()
    return tuple(b.name for b in bands if b.freq_range[0] >= cutoff)
