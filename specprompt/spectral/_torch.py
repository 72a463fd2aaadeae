"""Batched PyTorch versions of the Laplacian pyramid and the 8x8 block DCT for ``(N, C, H, W)`` tensors.

Torch is imported lazily, inside the functions: ``import specprompt`` never imports it. Every
function works on the device and in the dtype (float32 or float64) of its input and keeps no
state between calls.

The Laplacian functions follow the conventions of the numpy ``laplacian`` scheme
(``specprompt.spectral._laplacian``, OpenCV's ``pyrDown``/``pyrUp``) sample for sample:

* ``pyrDown``: 5-tap binomial ``[1, 4, 6, 4, 1] / 16`` along each axis, ``BORDER_REFLECT_101``
  (``dcb|abcd|cba``; a length-1 axis repeats its only sample), keep samples ``0, 2, 4, ...``, so a
  size ``n`` becomes ``ceil(n / 2)``.
* ``pyrUp``: zero insertion then the same kernel times 2 per axis (4 in 2-D), computed to exactly
  the target size ``n`` (the ``ceil(n / 2)`` source samples give ``2 * ceil(n / 2)`` outputs, the
  last one is dropped when ``n`` is odd). Borders are OpenCV's, which are *not* symmetric: before
  the first source sample it reflects (``src[-1] = src[1]``), after the last one it replicates
  (``src[m] = src[m - 1]``).

``border="replicate"`` is the convention the local band VLM (:mod:`specprompt.vlm`) was trained
with, kept so its shipped checkpoint reads the same features: ``pyrDown`` pads by repeating the
edge samples; ``pyrUp`` inserts zeros first and then pads that zero-inserted signal by repeating
its edge samples before the kernel (so the first output sample has gain 1.5 and the last one 0.5).
It is exactly invertible like the default, but does not match OpenCV at the borders.

Both filters are written in polyphase form (strided slices of a padded tensor, weighted and
summed), which is the same arithmetic as a stride-2 convolution and a zero-insertion
convolution, but 5-10x faster than single-channel ``conv2d`` on CPU; the tests check them against
the convolution definitions and against OpenCV.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal

from specprompt.errors import ConfigError, ShapeError
from specprompt.spectral._laplacian import LaplacianConfig, auto_levels

if TYPE_CHECKING:
    import torch

__all__ = ["block_dct", "block_idct", "laplacian_pyramid", "laplacian_reconstruct"]

#: Side of the JPEG blocks of :func:`block_dct`.
BLOCK = 8
#: Border conventions of :func:`laplacian_pyramid`: OpenCV's (the numpy scheme's) and the band VLM's.
Border = Literal["opencv", "replicate"]
_BORDERS = ("opencv", "replicate")


def _require_torch() -> None:
    try:
        import torch  # noqa: F401
    except ImportError as exc:  # pragma: no cover - torch is installed in the test environment
        raise ImportError(
            "specprompt's batched spectral functions need PyTorch: pip install torch "
            "(for CUDA builds see https://pytorch.org/get-started/locally/)"
        ) from exc


def _check_images(x: object, what: str = "x") -> torch.Tensor:
    """``x`` as a validated float32/float64 ``(N, C, H, W)`` tensor with no zero-sized dim."""
    _require_torch()
    import torch

    if not isinstance(x, torch.Tensor):
        raise ConfigError(f"{what} must be a torch.Tensor of shape (N, C, H, W), got {type(x).__name__}")
    if x.dim() != 4 or 0 in x.shape:
        raise ShapeError(what, tuple(x.shape), "(N, C, H, W) with every dim >= 1")
    if x.dtype not in (torch.float32, torch.float64):
        raise ConfigError(f"{what} has dtype {x.dtype}; allowed: torch.float32, torch.float64")
    return x


# -- Laplacian pyramid -------------------------------------------------------------------------------


def _reflect101(p: int, n: int) -> int:
    """OpenCV's ``borderInterpolate(p, n, BORDER_REFLECT_101)``, repeated reflections included."""
    if n == 1:
        return 0
    while p < 0 or p >= n:
        p = -p if p < 0 else 2 * n - 2 - p
    return p


def _along(t: torch.Tensor, dim: int, sl: slice) -> torch.Tensor:
    """``t`` sliced by ``sl`` along ``dim`` (-1 = width, -2 = height)."""
    return t[..., sl] if dim == -1 else t[..., sl, :]


def _pad_reflect101(x: torch.Tensor, dim: int, pad: int) -> torch.Tensor:
    """``x`` padded by ``pad`` samples on both sides of ``dim`` with BORDER_REFLECT_101."""
    import torch
    import torch.nn.functional as F

    n = x.shape[dim]
    if n > pad:  # torch's "reflect" is reflect-101 but needs pad < n
        return F.pad(x, (pad, pad, 0, 0) if dim == -1 else (0, 0, pad, pad), mode="reflect")
    index = torch.tensor([_reflect101(p, n) for p in range(-pad, n + pad)], device=x.device)
    return x.index_select(dim, index)


def _down_1d(p: torch.Tensor, dim: int, m: int) -> torch.Tensor:
    """Binomial 5-tap filter of the padded ``p`` along ``dim``, keeping ``m`` even samples."""
    span = 2 * m - 1
    taps = [_along(p, dim, slice(s, s + span, 2)) for s in range(5)]
    out = taps[0] + taps[4]
    out.add_(taps[1] + taps[3], alpha=4).add_(taps[2], alpha=6)
    return out.mul_(1.0 / 16.0)


def _pyr_down(x: torch.Tensor) -> torch.Tensor:
    """OpenCV ``pyrDown`` of every image of ``(N, C, H, W)`` -> ``(N, C, ceil(H/2), ceil(W/2))``."""
    import torch.nn.functional as F

    h, w = x.shape[-2], x.shape[-1]
    if h > 2 and w > 2:  # one copy instead of two
        p = F.pad(x, (2, 2, 2, 2), mode="reflect")
    else:
        p = _pad_reflect101(_pad_reflect101(x, -1, 2), -2, 2)
    return _down_1d(_down_1d(p, -1, (w + 1) // 2), -2, (h + 1) // 2)


def _pad_up(x: torch.Tensor) -> torch.Tensor:
    """One sample on each side of both spatial dims: reflect-101 before, replicate after (OpenCV pyrUp)."""
    import torch.nn.functional as F

    p = F.pad(x, (1, 1, 1, 1), mode="replicate")
    if x.shape[-1] > 1:
        p[..., :, 0] = p[..., :, 2]
    if x.shape[-2] > 1:
        p[..., 0, :] = p[..., 2, :]
    return p


def _up_1d(p: torch.Tensor, dim: int, n: int) -> torch.Tensor:
    """Zero insertion + binomial kernel x 2 along ``dim`` of the padded ``p``, ``n`` output samples."""
    m = p.shape[dim] - 2
    left, mid, right = (_along(p, dim, slice(s, s + m)) for s in range(3))
    even = left + right
    even.add_(mid, alpha=6).mul_(1.0 / 8.0)
    odd = (mid + right).mul_(0.5)
    shape = list(p.shape)
    shape[dim] = n
    out = p.new_empty(shape)
    _along(out, dim, slice(0, None, 2)).copy_(even)
    _along(out, dim, slice(1, None, 2)).copy_(_along(odd, dim, slice(0, n // 2)))
    return out


def _pyr_up(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """OpenCV ``pyrUp`` of every image of ``(N, C, ceil(h/2), ceil(w/2))`` to exactly ``size = (h, w)``."""
    return _up_1d(_up_1d(_pad_up(x), -1, size[1]), -2, size[0])


def _binomial_1d(p: torch.Tensor, dim: int, count: int, gain: float = 1.0) -> torch.Tensor:
    """5-tap binomial filter of the padded ``p`` along ``dim`` at every sample, ``count`` outputs."""
    taps = [_along(p, dim, slice(s, s + count)) for s in range(5)]
    out = taps[0] + taps[4]
    out.add_(taps[1] + taps[3], alpha=4).add_(taps[2], alpha=6)
    return out.mul_(gain / 16.0)


def _pyr_down_replicate(x: torch.Tensor) -> torch.Tensor:
    """``pyrDown`` with edge-replicating borders (``border="replicate"``)."""
    import torch.nn.functional as F

    h, w = x.shape[-2], x.shape[-1]
    p = F.pad(x, (2, 2, 2, 2), mode="replicate")
    return _down_1d(_down_1d(p, -1, (w + 1) // 2), -2, (h + 1) // 2)


def _pyr_up_replicate(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``pyrUp`` of the zero-inserted ``x`` padded by repeating its edge samples (``border="replicate"``)."""
    import torch.nn.functional as F

    n, c, h, w = x.shape
    z = x.new_zeros(n, c, 2 * h, 2 * w)
    z[..., ::2, ::2] = x
    p = F.pad(z, (2, 2, 2, 2), mode="replicate")
    return _binomial_1d(_binomial_1d(p, -1, size[1], 2.0), -2, size[0], 2.0)


def _filters(border: object) -> tuple[Callable[[torch.Tensor], torch.Tensor], Callable[..., torch.Tensor]]:
    if border == "opencv":
        return _pyr_down, _pyr_up
    if border == "replicate":
        return _pyr_down_replicate, _pyr_up_replicate
    raise ConfigError(f"border must be one of {', '.join(_BORDERS)}, got {border!r}")


def laplacian_pyramid(
    x: torch.Tensor, levels: int | None = None, min_size: int = 16, *, border: Border = "opencv"
) -> list[torch.Tensor]:
    """Laplacian pyramid of a batch of images, identical to the numpy ``laplacian`` scheme.

    Args:
        x: float32 or float64 tensor ``(N, C, H, W)`` on any device.
        levels: number of detail levels; ``None`` halves until the longer side is <= ``min_size``
            (the rule of :class:`~specprompt.spectral.LaplacianConfig`, capped so no level is
            smaller than 1x1).
        min_size: longest side of the residual when ``levels`` is ``None``.
        border: ``"opencv"`` (OpenCV's borders, as the numpy scheme) or ``"replicate"`` (the
            band VLM's, see the module docstring).

    Returns:
        ``[L0, ..., L{n-1}, residual]``: ``L_k = G_k - pyrUp(G_{k+1})`` with ``G_0 = x`` and
        ``G_{k+1} = pyrDown(G_k)``; the residual is ``G_n``. Same device and dtype as ``x``.

    Shape:
        ``L_k``: ``(N, C, H_k, W_k)`` with ``H_0 = H`` and ``H_{k+1} = ceil(H_k / 2)``; the residual
        has shape ``(N, C, H_n, W_n)``.

    Convention:
        Level 0 is the finest band, the last entry is the low-pass residual; odd sizes round up.
        With ``border="opencv"``, band ``L_k`` of image ``i`` equals
        ``decompose(image_i, "laplacian").coefficients(f"L{k}")`` transposed from ``(H, W, C)`` to
        ``(C, H, W)``, up to float rounding.

    Raises:
        ConfigError: ``x`` is not a float32/float64 tensor, or a bad ``levels``/``min_size``/``border``.
        ShapeError: ``x`` is not ``(N, C, H, W)`` with every dim >= 1.

    Example:
        >>> import torch
        >>> x = torch.rand(2, 3, 37, 50)
        >>> bands = laplacian_pyramid(x, levels=2)
        >>> [tuple(b.shape[-2:]) for b in bands]
        [(37, 50), (19, 25), (10, 13)]
        >>> bool((laplacian_reconstruct(bands) - x).abs().max() < 1e-5)
        True
    """
    x = _check_images(x)
    down, up = _filters(border)
    n = auto_levels((x.shape[-2], x.shape[-1]), LaplacianConfig(levels=levels, min_size=min_size))
    gauss = [x]
    for _ in range(n):
        gauss.append(down(gauss[-1]))
    bands = [gauss[k] - up(gauss[k + 1], (gauss[k].shape[-2], gauss[k].shape[-1])) for k in range(n)]
    bands.append(gauss[n])
    return bands


def laplacian_reconstruct(bands: Sequence[torch.Tensor], *, border: Border = "opencv") -> torch.Tensor:
    """Inverse of :func:`laplacian_pyramid`: upsample the residual and add each detail level.

    Args:
        bands: ``[L0, ..., L{n-1}, residual]`` as returned by :func:`laplacian_pyramid` (a band
            may be zeroed to drop it); at least the residual.
        border: the ``border`` the pyramid was built with.

    Returns:
        the ``(N, C, H, W)`` image, equal to the pyramid's input up to float rounding.

    Shape:
        ``bands[k + 1]`` must be ``(N, C, ceil(H_k / 2), ceil(W_k / 2))`` where ``bands[k]`` is
        ``(N, C, H_k, W_k)``.

    Raises:
        ConfigError: ``bands`` is empty or mixes dtypes or devices, or holds a non-tensor; a bad ``border``.
        ShapeError: a band is not ``(N, C, h, w)`` or does not fit the previous one.

    Example:
        >>> import torch
        >>> x = torch.rand(1, 1, 9, 9, dtype=torch.float64)
        >>> bool(torch.allclose(laplacian_reconstruct(laplacian_pyramid(x)), x))
        True
    """
    _, up = _filters(border)
    if isinstance(bands, (str, bytes)) or not isinstance(bands, Sequence) or len(bands) == 0:
        raise ConfigError(f"bands must be a non-empty sequence of tensors [L0, ..., residual], got {bands!r}")
    checked = [_check_images(b, f"bands[{k}]") for k, b in enumerate(bands)]
    first = checked[0]
    for k, band in enumerate(checked):
        if band.dtype != first.dtype or band.device != first.device:
            raise ConfigError(
                f"bands[{k}] is {band.dtype} on {band.device} but bands[0] is {first.dtype} on {first.device}"
            )
        if band.shape[:2] != first.shape[:2]:
            raise ShapeError(f"bands[{k}]", tuple(band.shape), f"(N, C) = {tuple(first.shape[:2])} like bands[0]")
        if k > 0:
            h, w = checked[k - 1].shape[-2:]
            expected = ((h + 1) // 2, (w + 1) // 2)
            if tuple(band.shape[-2:]) != expected:
                raise ShapeError(
                    f"bands[{k}]", tuple(band.shape), f"spatial size {expected}, half of bands[{k - 1}] rounded up"
                )
    out = checked[-1]
    for lap in reversed(checked[:-1]):
        out = up(out, (lap.shape[-2], lap.shape[-1])).add_(lap)
    return out.clone() if out is checked[-1] else out


# -- 8x8 block DCT -----------------------------------------------------------------------------------


def _dct_matrix(dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Orthonormal 8x8 DCT-II matrix ``D[k, i] = s_k cos(pi (2 i + 1) k / 16)``, ``s_0 = sqrt(1/8)``, else 1/2."""
    import torch

    rows = [
        [
            math.sqrt((1.0 if k == 0 else 2.0) / BLOCK) * math.cos(math.pi * (2 * i + 1) * k / (2 * BLOCK))
            for i in range(BLOCK)
        ]
        for k in range(BLOCK)
    ]
    return torch.tensor(rows, dtype=dtype, device=device)


def _kron_dct(x: torch.Tensor) -> torch.Tensor:
    """``kron(D, D)``: maps a row-major flattened 8x8 block to its row-major flattened coefficients."""
    import torch

    d = _dct_matrix(x.dtype, x.device)
    return torch.kron(d, d)


def block_dct(x: torch.Tensor) -> torch.Tensor:
    """JPEG-style orthonormal 2-D DCT-II of every 8x8 block of every image.

    Args:
        x: float32 or float64 tensor ``(N, C, H, W)`` on any device.

    Returns:
        coefficients ``(N, C, ceil(H / 8), ceil(W / 8), 8, 8)``: ``out[n, c, i, j, u, v]`` is
        coefficient ``(u, v)`` (``u`` vertical frequency) of the block whose top-left pixel is
        ``(8 i, 8 j)``; same device and dtype as ``x``.

    Shape:
        ``(N, C, H, W)`` -> ``(N, C, ceil(H / 8), ceil(W / 8), 8, 8)``.

    Convention:
        Images are padded at the bottom and right to multiples of 8 by repeating the edge
        pixels, then each block ``X`` becomes ``D @ X @ D.T`` with ``D`` the orthonormal 8x8 DCT-II matrix, i.e.
        ``scipy.fft.dctn(X, norm="ortho")``. No level shift, no colour conversion, no
        quantization (the numpy ``dct`` scheme adds those). Computed as one matmul of the
        flattened blocks with ``kron(D, D)``.

    Raises:
        ConfigError: ``x`` is not a float32/float64 tensor.
        ShapeError: ``x`` is not ``(N, C, H, W)`` with every dim >= 1.

    Example:
        >>> import torch
        >>> c = block_dct(torch.full((1, 3, 10, 16), 0.5))
        >>> tuple(c.shape), round(float(c[0, 0, 1, 1, 0, 0]), 4)
        ((1, 3, 2, 2, 8, 8), 4.0)
        >>> block_idct(c, (10, 16)).shape
        torch.Size([1, 3, 10, 16])
    """
    import torch.nn.functional as F

    x = _check_images(x)
    n, c, h, w = x.shape
    hb, wb = -(-h // BLOCK), -(-w // BLOCK)
    if (hb * BLOCK, wb * BLOCK) != (h, w):
        x = F.pad(x, (0, wb * BLOCK - w, 0, hb * BLOCK - h), mode="replicate")
    blocks = x.reshape(n, c, hb, BLOCK, wb, BLOCK).transpose(3, 4).reshape(-1, BLOCK * BLOCK)
    return (blocks @ _kron_dct(x).T).reshape(n, c, hb, wb, BLOCK, BLOCK)


def block_idct(coeffs: torch.Tensor, shape: Sequence[int] | None = None) -> torch.Tensor:
    """Inverse of :func:`block_dct`: images from 8x8 block coefficients, cropped to ``shape``.

    Args:
        coeffs: float32 or float64 tensor ``(N, C, hb, wb, 8, 8)``.
        shape: ``(H, W)`` (tuple or list) of the images before padding, with ``ceil(H / 8) == hb`` and
            ``ceil(W / 8) == wb``; ``None`` returns the padded ``(8 hb, 8 wb)`` images.

    Returns:
        ``(N, C, H, W)`` images, same device and dtype as ``coeffs``.

    Raises:
        ConfigError: ``coeffs`` is not a float32/float64 tensor, or ``shape`` is not two ints
            >= 1 that round up to ``(hb, wb)`` blocks.
        ShapeError: ``coeffs`` is not ``(N, C, hb, wb, 8, 8)``.

    Example:
        >>> import torch
        >>> x = torch.rand(2, 1, 12, 9, dtype=torch.float64)
        >>> bool(torch.allclose(block_idct(block_dct(x), (12, 9)), x))
        True
    """
    _require_torch()
    import torch

    if not isinstance(coeffs, torch.Tensor):
        raise ConfigError(f"coeffs must be a torch.Tensor (N, C, hb, wb, 8, 8), got {type(coeffs).__name__}")
    if coeffs.dim() != 6 or coeffs.shape[-2:] != (BLOCK, BLOCK) or 0 in coeffs.shape:
        raise ShapeError("coeffs", tuple(coeffs.shape), "(N, C, hb, wb, 8, 8) with every dim >= 1")
    if coeffs.dtype not in (torch.float32, torch.float64):
        raise ConfigError(f"coeffs has dtype {coeffs.dtype}; allowed: torch.float32, torch.float64")
    n, c, hb, wb = coeffs.shape[:4]
    if shape is not None:
        ok = (
            isinstance(shape, (tuple, list))
            and len(shape) == 2
            and all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in shape)
        )
        if not ok or -(-shape[0] // BLOCK) != hb or -(-shape[1] // BLOCK) != wb:
            raise ConfigError(
                f"shape must be (H, W) with ceil(H / 8) = {hb} and ceil(W / 8) = {wb} "
                f"(H in {8 * hb - 7}..{8 * hb}, W in {8 * wb - 7}..{8 * wb}), got {shape!r}"
            )
    flat = coeffs.reshape(-1, BLOCK * BLOCK) @ _kron_dct(coeffs)
    out = flat.reshape(n, c, hb, wb, BLOCK, BLOCK).transpose(3, 4).reshape(n, c, hb * BLOCK, wb * BLOCK)
    if shape is not None and tuple(shape) != (hb * BLOCK, wb * BLOCK):
        out = out[..., : shape[0], : shape[1]].contiguous()
    return out
