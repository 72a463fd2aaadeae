"""Burt-Adelson Laplacian pyramid (binomial 5-tap kernel), backed by OpenCV's pyrDown/pyrUp."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from specprompt.errors import ConfigError, ShapeError
from specprompt.spectral._base import Analysis, Scheme, SchemeConfig
from specprompt.spectral._registry import register_scheme
from specprompt.spectral._tiles import grid_for
from specprompt.spectral._types import Band

__all__ = ["LaplacianConfig", "LaplacianScheme", "laplacian_bands", "level_shapes", "pyr_down", "pyr_up"]


@dataclass(frozen=True)
class LaplacianConfig(SchemeConfig):
    """Options of the ``laplacian`` scheme."""

    levels: int | None = field(
        default=None,
        metadata={
            "help": "number of detail levels, at most one per halving of the image down to 1 px (more are "
            "not added: a 64 px image has at most 6); None = halve until the longer side is <= min_size"
        },
    )
    min_size: int = field(
        default=16, metadata={"help": "longest side of the coarsest (residual) level when levels is None"}
    )

    def __post_init__(self) -> None:
        if self.levels is not None and (
            not isinstance(self.levels, int) or isinstance(self.levels, bool) or self.levels < 0
        ):
            raise ConfigError(f"laplacian levels must be a non-negative int or None, got {self.levels!r}")
        if not isinstance(self.min_size, int) or isinstance(self.min_size, bool) or self.min_size < 1:
            raise ConfigError(f"laplacian min_size must be an int >= 1, got {self.min_size!r}")


def level_shapes(shape: tuple[int, int], levels: int) -> list[tuple[int, int]]:
    """Shapes of Gaussian levels 0..levels: each is ``ceil`` of half the previous one.

    Convention:
        odd sizes round up (OpenCV's pyrDown), so a 7x5 image has a 4x3 level 1.
    """
    shapes = [shape]
    for _ in range(levels):
        h, w = shapes[-1]
        shapes.append(((h + 1) // 2, (w + 1) // 2))
    return shapes


@functools.lru_cache(maxsize=256)  # Bands are frozen, so a spectrum of the same shape can share them
def laplacian_bands(shape: tuple[int, int], levels: int, channels: int) -> tuple[Band, ...]:
    """The bands ``L0`` .. ``L{levels-1}``, ``residual`` of a Laplacian pyramid of an image of
    ``shape`` ``(H, W)`` with ``channels`` channels, from the shape alone (no pixels)."""
    shapes = level_shapes(shape, levels)
    bands = [
        Band(f"L{k}", k, k, None, None, (2.0 ** -(k + 1), 2.0**-k), (*shapes[k], channels), grid_for(*shapes[k]))
        for k in range(levels)
    ]
    rows, cols = shapes[levels]
    bands.append(
        Band("residual", levels, levels, None, None, (0.0, 2.0**-levels), (rows, cols, channels), grid_for(rows, cols))
    )
    return tuple(bands)


def auto_levels(shape: tuple[int, int], config: LaplacianConfig) -> int:
    """The number of detail levels for an image of ``shape`` under ``config``."""
    if config.levels is not None:
        longest = max(shape)
        # never go past 1x1
        return min(config.levels, max(0, math.ceil(math.log2(longest)) if longest > 1 else 0))
    n, longest = 0, max(shape)
    while longest > config.min_size:
        longest = (longest + 1) // 2
        n += 1
    return n


@functools.cache
def _cv2() -> Any:
    try:
        import cv2
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise ImportError("the laplacian scheme needs OpenCV: pip install opencv-python-headless") from exc
    return cv2


def pyr_down(image: np.ndarray) -> np.ndarray:
    """Blur with the 5-tap binomial kernel [1, 4, 6, 4, 1] / 16 (reflect-101 borders) and keep even samples.

    Shape:
        ``(H, W, C)`` -> ``(ceil(H / 2), ceil(W / 2), C)``.
    """
    h, w, c = image.shape
    out: np.ndarray = _cv2().pyrDown(image, dstsize=((w + 1) // 2, (h + 1) // 2))
    return out.reshape(out.shape[0], out.shape[1], c)


def pyr_up(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Upsample by 2 (zero insertion + binomial kernel x 4) to exactly ``shape`` = ``(h, w)``.

    Shape:
        ``(ceil(h / 2), ceil(w / 2), C)`` -> ``(h, w, C)``.
    """
    c = image.shape[2]
    out: np.ndarray = _cv2().pyrUp(image, dstsize=(shape[1], shape[0]))
    return out.reshape(shape[0], shape[1], c)


@register_scheme
class LaplacianScheme(Scheme):
    """Laplacian pyramid: bands ``L0`` (finest detail) .. ``L{n-1}`` and the low-pass ``residual``.

    Convention:
        ``L_k = G_k - up(G_{k+1})`` where ``G_0`` is the image; the residual is ``G_n``. Band
        ``L_k`` covers roughly [2^-(k+1), 2^-k] of Nyquist. Reconstruction adds each level to the
        upsampled coarser sum, so it is exact up to float32 rounding whatever the kernel.
    """

    name = "laplacian"
    config_cls = LaplacianConfig
    layout_from_shape = True
    borrows_input = True

    def band_layout(self, shape: tuple[int, int], channels: int) -> tuple[Band, ...]:
        assert isinstance(self.config, LaplacianConfig)
        return laplacian_bands(shape, auto_levels(shape, self.config), channels)

    def analyze(self, image: np.ndarray) -> Analysis:
        assert isinstance(self.config, LaplacianConfig)
        image = np.ascontiguousarray(image, np.float32)
        n = auto_levels(image.shape[:2], self.config)
        gauss = [image]
        for _ in range(n):
            gauss.append(pyr_down(gauss[-1]))
        coeffs: dict[str, np.ndarray] = {}
        for k in range(n):
            lap = pyr_up(gauss[k + 1], gauss[k].shape[:2])
            # in place: saves an allocation (~15% of analyze); OpenCV, as NaN - NaN must not warn
            coeffs[f"L{k}"] = _cv2().subtract(gauss[k], lap, dst=lap)
        coeffs["residual"] = gauss[n] if n else image.copy()  # never the caller's array (borrows_input)
        return Analysis(laplacian_bands(image.shape[:2], n, image.shape[2]), coeffs, {"levels": n})

    def input_is_finite(self, analysis: Analysis) -> bool:
        """Looks at the residual only.

        Convention:
            pyrDown's kernel weights are all positive and every input sample has a weight in some
            output sample, so a NaN or inf anywhere in ``G_k`` makes some value of ``G_{k+1}`` NaN
            or inf, and so on down to the residual. The converse can fail (finite values near the
            float32 limit can overflow in the blur): a false alarm, which decompose settles.
        """
        return bool(np.isfinite(analysis.coeffs["residual"]).all())

    def _level_of(self, analysis: Analysis, shape: tuple[int, int]) -> int:
        for band in analysis.bands:
            if band.coeff_shape[:2] == tuple(shape):
                return band.level if band.level is not None else 0
        raise ConfigError(f"shape {shape} is not a level of this pyramid")

    def synthesize(
        self, analysis: Analysis, coeffs: dict[str, np.ndarray | None], shape: tuple[int, int]
    ) -> np.ndarray:
        n = analysis.extra["levels"]
        stop = self._level_of(analysis, shape)
        c = analysis.coeffs["residual"].shape[2]
        res = coeffs["residual"]
        if res is None:
            out = np.zeros(analysis.coeffs["residual"].shape, np.float32)
        else:  # pyr_up makes a new array, so only a render of the residual alone needs a copy
            out = res.copy() if stop == n else res
        for k in range(n - 1, stop - 1, -1):
            lap = coeffs[f"L{k}"]
            target = analysis.coeffs[f"L{k}"].shape[:2]
            out = pyr_up(out, target)
            if lap is not None:
                out += lap
        return out.reshape(*shape, c)

    def minimal_shape(self, analysis: Analysis, kept: frozenset[str], image_shape: tuple[int, int]) -> tuple[int, int]:
        # The finest kept band sets the size: everything finer is zero, so the sum up to that
        # level is the whole signal and pyr_up reproduces the full-size render exactly.
        finest = min((b for b in analysis.bands if b.name in kept), key=lambda b: b.index)
        return finest.coeff_shape[0], finest.coeff_shape[1]

    def upsample(self, image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        image = np.asarray(image, np.float32)
        if image.ndim == 2:
            image = image[:, :, None]
        if image.ndim != 3:
            raise ShapeError("laplacian minimal render", image.shape, "(h, w) or (h, w, C)")
        chain: list[tuple[int, int]] = [(int(shape[0]), int(shape[1]))]
        while chain[-1] != (image.shape[0], image.shape[1]):
            h, w = chain[-1]
            if h <= image.shape[0] and w <= image.shape[1]:
                raise ConfigError(f"{image.shape[:2]} is not a pyramid level of {tuple(shape)}")
            chain.append(((h + 1) // 2, (w + 1) // 2))
        out = image
        for target in reversed(chain[:-1]):
            out = pyr_up(out, target)
        return out
