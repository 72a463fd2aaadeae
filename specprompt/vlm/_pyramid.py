"""The working bands of a batch of canvases (specprompt's one torch Laplacian pyramid), and patch
features per band.

Imports torch: only imported lazily by the model, training and prediction code.

Shape:
    ``canvas``: ``(B, 3, 64, 64)`` float32 -> five bands ``(B, 3, 64 / 2^l, 64 / 2^l)``
    -> per band ``(B, T_l, F_l)`` patch features, ``T_l`` = tokens of the full grid.

Convention:
    Fine levels (canvas > 64): ``F_j = A_j - bilinear_up(A_{j+1})`` where ``A_0`` is the detail
    canvas and ``A_{j+1}`` the 2 x 2 mean of ``A_j`` (measured: less leakage from coarser content
    than the binomial pyramid, which matters for the energy gate); each level is cut into a
    ``fine_grid`` x ``fine_grid`` grid of patches (``ModelConfig.fine_grid``, 4 in the shipped
    checkpoints) whose pooled features (:func:`~specprompt.vlm._tokenizer.fine_feature_dim` values)
    are the mean absolute coefficient of each of ``cells`` x ``cells`` sub-blocks per channel
    (``ModelConfig.fine_cells``, 4 in the shipped checkpoints) and ``log1p`` of the patch's DFT
    magnitude (channel mean) averaged in 4 radial x 8 orientation bins. Tokens are gated by
    :func:`fine_energy` (mean absolute coefficient).

    ``L_l = G_l - up(G_{l+1})``: :func:`specprompt.spectral.laplacian_pyramid` with four levels
    and ``border="replicate"`` (the borders the shipped checkpoint was trained with). Patch
    features of a band are the raw coefficients of the patch (row-major, channel last) followed,
    for patches of 8 samples or more, by the mean absolute coefficient of each 4 x 4 sub-block per
    channel (a phase-free local energy map) and ``log1p`` of the magnitude of the patch's 2-D DFT
    of the channel mean (a shift-free texture and orientation signature).
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from specprompt.vlm._tokenizer import BAND_NAMES, FINE_CELLS, FINE_FEATS, FINE_GRID, PATCHES, WORKING_SIZE

__all__ = [
    "FEATURE_SCALE",
    "FINE_FEATS",
    "FINE_SCALE",
    "band_features",
    "feature_dims",
    "fine_bands",
    "fine_energy",
    "fine_energy_np",
    "fine_features",
    "fine_positions",
    "token_positions",
    "tokens_per_band",
    "working_bands",
]

#: Fixed gain per band so that patch features have roughly unit spread on natural-ish images (the
#: residual is also centred on 0.5); without it the content is drowned by the position embedding.
FEATURE_SCALE: tuple[float, ...] = (20.0, 16.0, 12.0, 10.0, 4.0)
_LEVELS = len(BAND_NAMES) - 1


def working_bands(canvas: torch.Tensor) -> list[torch.Tensor]:
    """The five working bands (finest first) of a batch of canvases ``(B, 3, 64, 64)``.

    Raises:
        ConfigError / ShapeError: as :func:`specprompt.spectral.laplacian_pyramid`.
    """
    from specprompt.spectral import laplacian_pyramid

    return laplacian_pyramid(canvas, levels=_LEVELS, border="replicate")


def tokens_per_band() -> list[int]:
    """Tokens of each band's full grid on the 64 x 64 canvas (16, 16, 4, 4, 4)."""
    return [((WORKING_SIZE >> lv) // p) ** 2 for lv, p in enumerate(PATCHES)]


def feature_dims() -> list[int]:
    """Length of one token's patch feature vector, per band."""
    return [3 * p * p + (3 * (p // 4) ** 2 + p * (p // 2 + 1) if p >= 8 else 0) for p in PATCHES]


def band_features(bands: list[torch.Tensor]) -> list[torch.Tensor]:
    """Patch features ``(B, T_l, F_l)`` of every band, tokens in row-major grid order."""
    out = []
    last = len(bands) - 1
    for lv, (band, p) in enumerate(zip(bands, PATCHES, strict=True)):
        band = (band - 0.5) * FEATURE_SCALE[lv] if lv == last else band * FEATURE_SCALE[lv]
        b, c, h, _ = band.shape
        g = h // p
        patches = band.reshape(b, c, g, p, g, p).permute(0, 2, 4, 3, 5, 1)  # B, gi, gj, py, px, C
        feats = [patches.reshape(b, g * g, p * p * c)]
        if p >= 8:
            q = p // 4
            energy = patches.abs().reshape(b, g, g, q, 4, q, 4, c).mean(dim=(4, 6))
            feats.append(energy.reshape(b, g * g, q * q * c))
            spec = torch.fft.rfft2(patches.mean(-1)).abs()  # B, gi, gj, p, p // 2 + 1
            feats.append(torch.log1p(spec).reshape(b, g * g, -1))
        out.append(torch.cat(feats, dim=-1))
    return out


def token_positions() -> list[np.ndarray]:
    """Per band, ``(T_l, 2)`` patch centres ``(row, col)`` as fractions of the 64-pixel canvas."""
    out = []
    for lv, p in enumerate(PATCHES):
        g = (WORKING_SIZE >> lv) // p
        centres = (np.arange(g) + 0.5) * p * (2**lv) / WORKING_SIZE
        rr, cc = np.meshgrid(centres, centres, indexing="ij")
        out.append(np.stack([rr.ravel(), cc.ravel()], axis=1).astype(np.float32))
    return out


#: Gain of the fine levels' coefficients in their features.
FINE_SCALE = 16.0
_RADII = (0.125, 0.25, 0.375)
_ANGLES = 8


def fine_bands(detail: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """The ``levels`` fine levels (finest first) of a batch of detail canvases ``(B, 3, C, C)``.

    Shape:
        ``(B, 3, C, C)`` -> ``levels`` tensors ``(B, 3, C / 2^j, C / 2^j)``.
    """
    import torch.nn.functional as F

    out = []
    a = detail
    for _ in range(levels):
        down = F.avg_pool2d(a, 2)
        out.append(a - F.interpolate(down, scale_factor=2.0, mode="bilinear", align_corners=False))
        a = down
    return out


def fine_energy(bands: list[torch.Tensor], grid: int = FINE_GRID) -> list[torch.Tensor]:
    """Per fine level, the mean absolute coefficient of each token's patch ``(B, G, G)``, ``G = grid``."""
    import torch.nn.functional as F

    return [F.adaptive_avg_pool2d(b.abs().mean(1, keepdim=True), grid)[:, 0] for b in bands]


def fine_energy_np(detail: np.ndarray, levels: int, grid: int = FINE_GRID) -> list[np.ndarray]:
    """:func:`fine_energy` of one ``(C, C, 3)`` float32 detail canvas, as numpy ``(G, G)`` arrays."""
    x = torch.from_numpy(np.ascontiguousarray(detail, np.float32)).permute(2, 0, 1)[None]
    with torch.no_grad():
        return [e[0].numpy() for e in fine_energy(fine_bands(x, levels), grid)]


@functools.lru_cache(maxsize=8)
def _bin_matrix(p: int) -> torch.Tensor:
    """``(p * (p // 2 + 1), 32)`` averaging matrix from rfft2 bins to radial x orientation bins."""
    fy = np.fft.fftfreq(p)[:, None]
    fx = np.fft.rfftfreq(p)[None, :]
    r = np.hypot(fy, fx)
    ang = np.mod(np.arctan2(fy, fx) + np.pi / 2, np.pi)
    rb = np.digitize(r, _RADII)
    ab = np.minimum((ang / np.pi * _ANGLES).astype(int), _ANGLES - 1)
    idx = (rb * _ANGLES + ab).ravel()
    m = np.zeros((idx.size, 4 * _ANGLES), np.float32)
    m[np.arange(idx.size), idx] = 1.0
    m[0] = 0.0  # DC
    m /= np.maximum(m.sum(0, keepdims=True), 1.0)
    return torch.from_numpy(m)


def fine_features(bands: list[torch.Tensor], grid: int = FINE_GRID, cells: int = FINE_CELLS) -> list[torch.Tensor]:
    """Pooled features ``(B, grid^2, fine_feature_dim(cells))`` of every fine level, tokens in row-major order."""
    out = []
    g, s = grid, cells
    for band in bands:
        b, c, h, _ = band.shape
        p = h // g
        x = band * FINE_SCALE
        patches = x.reshape(b, c, g, p, g, p).permute(0, 2, 4, 1, 3, 5)  # B, gi, gj, C, py, px
        q = p // s
        energy = patches.abs().reshape(b, g, g, c, s, q, s, q).mean(dim=(5, 7))
        spec = torch.fft.rfft2(patches.mean(3)).abs().reshape(b, g * g, -1)
        binned = torch.log1p(spec @ _bin_matrix(p).to(spec.device))
        out.append(torch.cat([energy.reshape(b, g * g, c * s * s), binned], dim=-1))
    return out


def fine_positions(levels: int, grid: int = FINE_GRID) -> list[np.ndarray]:
    """Per fine level, ``(grid^2, 2)`` patch centres ``(row, col)`` as fractions of the canvas."""
    centres = (np.arange(grid) + 0.5) / grid
    rr, cc = np.meshgrid(centres, centres, indexing="ij")
    one = np.stack([rr.ravel(), cc.ravel()], axis=1).astype(np.float32)
    return [one.copy() for _ in range(levels)]
