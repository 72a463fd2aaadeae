"""2-D discrete wavelet transform (PyWavelets), one band per detail subband plus the approximation.

PyWavelets is an optional dependency (``pip install 'specprompt[wavelet]'``); it is imported only
when a ``wavelet`` config is built or the scheme is used.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Literal, get_args

import numpy as np

from specprompt.errors import ConfigError, MissingDependencyError, ShapeError
from specprompt.spectral._base import Analysis, Scheme, SchemeConfig
from specprompt.spectral._registry import register_scheme
from specprompt.spectral._tiles import grid_for
from specprompt.spectral._types import Band

__all__ = ["ORIENTATIONS", "WaveletConfig", "WaveletMode", "WaveletScheme", "level_shapes"]

WaveletMode = Literal[
    "zero", "constant", "symmetric", "periodic", "smooth", "periodization", "reflect", "antisymmetric", "antireflect"
]
_MODES: tuple[str, ...] = get_args(WaveletMode)

#: Orientation sector of each detail subband: angles (degrees from the +x axis) of the frequency
#: vectors ``(fx, fy)`` in its ideal passband, folded into the first quadrant (the subbands are
#: mirror symmetric). ``v`` (vertical edges) spans 0-45, ``h`` (horizontal edges) 45-90 and ``d``
#: the square ``[1/2, 1]^2`` of the level's Nyquist, atan(1/2)-atan(2), centred on 45.
ORIENTATIONS: dict[str, tuple[float, float]] = {
    "h": (45.0, 90.0),
    "v": (0.0, 45.0),
    "d": (math.degrees(math.atan(0.5)), math.degrees(math.atan(2.0))),
}

Shape2 = tuple[int, int]


def _pywt() -> ModuleType:
    try:
        return importlib.import_module("pywt")
    except ImportError as exc:
        raise MissingDependencyError("the wavelet scheme needs PyWavelets: pip install 'specprompt[wavelet]'") from exc


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


@dataclass(frozen=True)
class WaveletConfig(SchemeConfig):
    """Options of the ``wavelet`` scheme."""

    wavelet: str = field(default="haar", metadata={"help": "a discrete wavelet name of pywt.wavelist(kind='discrete')"})
    levels: int | None = field(
        default=None,
        metadata={
            "help": "number of decomposition levels, capped at pywt.dwt_max_level of the shorter side; "
            "None = halve until the longer side is <= min_size"
        },
    )
    mode: WaveletMode = field(default="periodization", metadata={"help": f"signal extension mode, one of {_MODES}"})
    min_size: int = field(default=16, metadata={"help": "longest side of the approximation when levels is None"})

    def __post_init__(self) -> None:
        discrete = _pywt().wavelist(kind="discrete")
        if not isinstance(self.wavelet, str) or self.wavelet not in discrete:
            raise ConfigError(f"wavelet must be a discrete wavelet name, got {self.wavelet!r}; allowed: {discrete}")
        if self.levels is not None and (not _is_int(self.levels) or self.levels < 0):
            raise ConfigError(f"wavelet levels must be a non-negative int or None, got {self.levels!r}")
        if self.mode not in _MODES:
            raise ConfigError(f"wavelet mode must be one of {list(_MODES)}, got {self.mode!r}")
        if not _is_int(self.min_size) or self.min_size < 1:
            raise ConfigError(f"wavelet min_size must be an int >= 1, got {self.min_size!r}")


def level_shapes(shape: Shape2, levels: int, wavelet: str = "haar", mode: str = "periodization") -> list[Shape2]:
    """Shapes of the approximation at levels ``0 .. levels`` (level 0 is the image).

    Convention:
        each level has ``pywt.dwt_coeff_len`` samples per axis: ``ceil(n / 2)`` for
        ``periodization`` (odd sizes round up), ``floor((n + L - 1) / 2)`` for the other modes
        with a filter of length L. Detail subbands of level j have the shape of level j.

    Example:
        >>> level_shapes((7, 10), 2)
        [(7, 10), (4, 5), (2, 3)]
    """
    pywt = _pywt()
    flen = pywt.Wavelet(wavelet).dec_len
    shapes = [(int(shape[0]), int(shape[1]))]
    for _ in range(levels):
        h, w = shapes[-1]
        shapes.append((int(pywt.dwt_coeff_len(h, flen, mode)), int(pywt.dwt_coeff_len(w, flen, mode))))
    return shapes


def _max_levels(shape: Shape2, wavelet: str) -> int:
    pywt = _pywt()
    return int(pywt.dwt_max_level(min(shape), pywt.Wavelet(wavelet).dec_len))


def auto_levels(shape: Shape2, config: WaveletConfig) -> int:
    """The number of levels for an image of ``shape`` under ``config`` (see :class:`WaveletConfig`)."""
    cap = _max_levels(shape, config.wavelet)
    if config.levels is not None:
        return min(config.levels, cap)
    shapes = level_shapes(shape, cap, config.wavelet, config.mode)
    n = 0
    while n < cap and max(shapes[n]) > config.min_size:
        n += 1
    return n


def _reconstruct(
    approx: np.ndarray,
    details: dict[int, tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]],
    shapes: list[Shape2],
    start: int,
    stop: int,
    config: WaveletConfig,
) -> np.ndarray:
    """Inverse DWT from the level-``start`` approximation down to level ``stop``, cropping each level
    to ``shapes`` (missing details are zero)."""
    pywt = _pywt()
    out = approx
    for j in range(start, stop, -1):
        out = pywt.idwt2((out, details.get(j, (None, None, None))), config.wavelet, config.mode, axes=(0, 1))
        rows, cols = shapes[j - 1]
        out = out[:rows, :cols]
    return np.ascontiguousarray(out, np.float32)


@register_scheme
class WaveletScheme(Scheme):
    """2-D DWT: detail bands ``h{j}``, ``v{j}``, ``d{j}`` for ``j = 1 .. n`` and the approximation ``a{n}``.

    Convention:
        ``pywt.wavedec2`` over both spatial axes of every channel. Names follow PyWavelets: level
        ``j = 1`` is the finest (``cH1, cV1, cD1``); ``h`` holds horizontal edges (high vertical
        frequency), ``v`` vertical edges, ``d`` diagonals (see :data:`ORIENTATIONS` for the
        ``orientation`` sectors). Bands are ordered finest first like the Laplacian:
        ``h1, v1, d1, h2, ..., d{n}, a{n}``; ``Band.level`` is ``j - 1`` (0 = finest, as ``L0``)
        and ``n`` for ``a{n}``. ``freq_range`` is ``(2^-j, 2^-(j-1))`` for level-j details and
        ``(0, 2^-n)`` for ``a{n}``. ``coeff_shape`` is ``(rows, cols, C)`` of the subband,
        ``tile_grid = grid_for(rows, cols)``.

        Reconstruction runs ``pywt.idwt2`` level by level and crops each level to its known
        shape, so it is exact (to float32 rounding) for every size and every mode, odd sizes
        included; full-size output is cropped to H x W.

        Minimal render: if the finest kept detail is at level ``j`` (or only ``a{n}`` is kept,
        ``j = n + 1``), the render is the level ``m = j - 1`` approximation reconstructed from the
        kept coarser bands, at that level's shape (:func:`level_shapes`), divided by ``2^m`` so
        pixel values stay in range (PyWavelets normalises every lowpass filter to sum
        ``sqrt(2)``, a DC gain of 2 per 2-D level). :meth:`upsample` multiplies by ``2^m`` and
        runs the inverse DWT with zero details, so it reproduces the full-size render. With modes
        other than ``periodization`` the approximation keeps a few boundary-extension samples
        (``(L - 2) / 2`` per side for a length-L filter). When the level-m shape is larger than
        H x W on a side, the render is H x W.

    Example:
        >>> import numpy as np
        >>> from specprompt import decompose
        >>> image = np.random.default_rng(0).random((40, 30, 3), dtype=np.float32)
        >>> spec = decompose(image, "wavelet", levels=2)
        >>> spec.band_names
        ('h1', 'v1', 'd1', 'h2', 'v2', 'd2', 'a2')
        >>> bool(np.abs(spec.reconstruct() - image).max() < 1e-5)
        True
        >>> spec.render_shape(spec.select(["a2", "h2"]))
        (20, 15)
    """

    name = "wavelet"
    config_cls = WaveletConfig

    def analyze(self, image: np.ndarray) -> Analysis:
        assert isinstance(self.config, WaveletConfig)
        pywt = _pywt()
        image = np.ascontiguousarray(image, np.float32)
        h, w = image.shape[:2]
        n = auto_levels((h, w), self.config)
        dec = pywt.wavedec2(image, self.config.wavelet, mode=self.config.mode, level=n, axes=(0, 1))
        shapes = level_shapes((h, w), n, self.config.wavelet, self.config.mode)
        bands: list[Band] = []
        coeffs: dict[str, np.ndarray] = {}
        for j in range(1, n + 1):
            for kind, arr in zip("hvd", dec[n - j + 1], strict=True):
                name = f"{kind}{j}"
                coeffs[name] = np.ascontiguousarray(arr, np.float32)
                band = Band(
                    name,
                    len(bands),
                    j - 1,
                    ORIENTATIONS[kind],
                    None,
                    (2.0**-j, 2.0 ** -(j - 1)),
                    arr.shape,
                    grid_for(arr.shape[0], arr.shape[1]),
                )
                bands.append(band)
        approx = np.ascontiguousarray(dec[0], np.float32)
        coeffs[f"a{n}"] = approx
        bands.append(
            Band(f"a{n}", len(bands), n, None, None, (0.0, 2.0**-n), approx.shape, grid_for(*approx.shape[:2]))
        )
        return Analysis(tuple(bands), coeffs, {"levels": n, "shapes": shapes, "channels": image.shape[2]})

    @staticmethod
    def _render_level(analysis: Analysis, kept: frozenset[str] | set[str]) -> int:
        n: int = analysis.extra["levels"]
        details = [b.level for b in analysis.bands if b.name in kept and b.orientation is not None]
        return min((lvl for lvl in details if lvl is not None), default=n)

    def synthesize(
        self, analysis: Analysis, coeffs: dict[str, np.ndarray | None], shape: tuple[int, int]
    ) -> np.ndarray:
        assert isinstance(self.config, WaveletConfig)
        n: int = analysis.extra["levels"]
        shapes: list[Shape2] = analysis.extra["shapes"]
        c: int = analysis.extra["channels"]
        shape = (int(shape[0]), int(shape[1]))
        matches = [m for m in range(n + 1) if shapes[m] == shape]
        if not matches:
            raise ShapeError("wavelet render", shape, f"one of the level shapes {shapes}")
        m = matches[0]
        present = {name for name, arr in coeffs.items() if arr is not None}
        if present and self._render_level(analysis, present) < m:
            raise ShapeError(
                "wavelet render",
                shape,
                f"level shape {shapes[self._render_level(analysis, present)]} or larger to hold the kept details",
            )
        approx = coeffs.get(f"a{n}")
        if approx is None:
            approx = np.zeros((*shapes[n], c), np.float32)
        details = {j: (coeffs.get(f"h{j}"), coeffs.get(f"v{j}"), coeffs.get(f"d{j}")) for j in range(1, n + 1)}
        out = _reconstruct(approx, details, shapes, n, m, self.config)
        if m:
            out = out * np.float32(2.0**-m)
        return out

    def minimal_shape(self, analysis: Analysis, kept: frozenset[str], image_shape: tuple[int, int]) -> tuple[int, int]:
        shapes: list[Shape2] = analysis.extra["shapes"]
        h, w = shapes[self._render_level(analysis, kept)]
        if h > image_shape[0] or w > image_shape[1] or (h, w) == tuple(image_shape):
            return image_shape[0], image_shape[1]
        return h, w

    def upsample(self, image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        assert isinstance(self.config, WaveletConfig)
        image = np.asarray(image, np.float32)
        if image.ndim == 2:
            image = image[:, :, None]
        if image.ndim != 3:
            raise ShapeError("wavelet minimal render", image.shape, "(h, w) or (h, w, C)")
        target = (int(shape[0]), int(shape[1]))
        shapes = level_shapes(target, _max_levels(target, self.config.wavelet), self.config.wavelet, self.config.mode)
        matches = [m for m, s in enumerate(shapes) if s == image.shape[:2]]
        if not matches:
            raise ShapeError("wavelet minimal render", image.shape, f"one of the level shapes {shapes} (plus C)")
        m = matches[0]
        if m == 0:
            return image.copy()
        return _reconstruct(image * np.float32(2.0**m), {}, shapes, m, 0, self.config)
