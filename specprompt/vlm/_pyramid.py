"""The working bands of a batch of canvases (specprompt's one torch Laplacian pyramid), and patch
features per band.

Imports torch: only imported lazily by the model, training and prediction code.

Shape:
    ``canvas``: ``(B, 3, 64, 64)`` float32 -> five bands ``(B, 3, 64 / 2^l, 64 / 2^l)``
    -> per band ``(B, T_l, F_l)`` patch features, ``T_l`` = tokens of the full grid.

Convention:
    ``L_l = G_l - up(G_{l+1})``: :func:`specprompt.spectral.laplacian_pyramid` with four levels
    and ``border="replicate"`` (the borders the shipped checkpoint was trained with). Patch
    features of a band are the raw coefficients of the patch (row-major, channel last) followed,
    for patches of 8 samples or more, by the mean absolute coefficient of each 4 x 4 sub-block per
    channel (a phase-free local energy map) and ``log1p`` of the magnitude of the patch's 2-D DFT
    of the channel mean (a shift-free texture and orientation signature).
"""

from __future__ import annotations

import numpy as np
import torch

from specprompt.vlm._tokenizer import BAND_NAMES, PATCHES, WORKING_SIZE

__all__ = [
    "FEATURE_SCALE",
    "band_features",
    "feature_dims",
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
