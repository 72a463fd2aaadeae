"""A deterministic frequency-domain nearest-neighbour scorer, served as a DSPy LM engine.

It answers each request with the answer of the demo whose images are most similar to the query's,
comparing only the frequency bands the demo still holds. It needs no model and no network, so a
band search can be scored offline: a demo that lost the bands its label depends on stops matching.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field, fields
from functools import lru_cache
from typing import Any

import dspy
import numpy as np

from specprompt.errors import ConfigError
from specprompt.scorers._async import engine_lm
from specprompt.scorers._engine_base import (
    ChatImage,
    LRUCache,
    ParsedChat,
    ScorerEngine,
    default_answer,
    engine_config,
    need_query_image,
)
from specprompt.spectral import pyr_down, pyr_up

__all__ = [
    "MODEL_NAME",
    "NearestBandEngine",
    "NearestConfig",
    "band_signature",
    "effective_levels",
    "image_distance",
    "nearest_lm",
    "resample",
]

#: Model string of the default engine; bump the version when scores change.
MODEL_NAME = "specprompt/nearest-v1"

_LUMA = np.array([0.299, 0.587, 0.114], np.float32)
_RADIAL_EDGES = 2.0 ** np.arange(-7.0, 0.01, 0.5)  # half-octave rings, as a fraction of Nyquist
_ORIENTATIONS = 8


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class NearestConfig:
    """Options of :class:`NearestBandEngine`."""

    working_size: int = field(
        default=64, metadata={"help": "longest side (px) at which pixels are compared; larger images are area-averaged"}
    )
    pixel_weight: float = field(default=1.0, metadata={"help": "weight of the pixel (low-frequency) distance"})
    spectral_weight: float = field(
        default=1.0, metadata={"help": "weight of the band-energy distance at the demo's own resolution"}
    )
    empty_band_rms: float = field(
        default=1.5 / 255,
        metadata={"help": "a demo within this RMS of the pyr_up of a half-size image counts as half size"},
    )
    cost_model: str = field(default="local", metadata={"help": "specprompt cost model that prices image parts"})
    cache_size: int = field(default=512, metadata={"help": "per-image features kept in memory (~50 KB each)"})

    def __post_init__(self) -> None:
        if not isinstance(self.working_size, int) or isinstance(self.working_size, bool) or self.working_size < 4:
            raise ConfigError(f"working_size must be an int >= 4, got {self.working_size!r}")
        for name in ("pixel_weight", "spectral_weight", "empty_band_rms"):
            value = getattr(self, name)
            if not _is_number(value) or value < 0:
                raise ConfigError(f"{name} must be a finite number >= 0, got {value!r}")
        if self.pixel_weight == 0 and self.spectral_weight == 0:
            raise ConfigError("pixel_weight and spectral_weight cannot both be 0")
        if not isinstance(self.cache_size, int) or isinstance(self.cache_size, bool) or self.cache_size < 1:
            raise ConfigError(f"cache_size must be an int >= 1, got {self.cache_size!r}")
        from specprompt.cost import get_cost_model

        get_cost_model(self.cost_model)  # UnknownNameError lists the known models

    def to_dict(self) -> dict[str, Any]:
        """The options as JSON-ready data."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NearestConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`ConfigError`."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"unknown NearestConfig option(s) {unknown}; allowed: {sorted(names)}")
        return cls(**data)

    def model_string(self) -> str:
        """``specprompt/nearest-v1`` for the defaults, else with a digest of the options appended,
        so DSPy's cache never mixes answers of differently configured engines."""
        if self == NearestConfig():
            return MODEL_NAME
        digest = hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:10]
        return f"{MODEL_NAME}+{digest}"


# -- pure math ----------------------------------------------------------------------------------


def _rgb(pixels: np.ndarray) -> np.ndarray:
    """Grey is repeated to 3 channels; alpha is composited on white (:func:`specprompt.io.opaque_rgb`)."""
    from specprompt.io import opaque_rgb

    return opaque_rgb(pixels)


def resample(pixels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Brings ``pixels`` to ``shape`` = ``(h, w)`` with a low-pass match.

    Halves with :func:`~specprompt.spectral._laplacian.pyr_down` while the result stays at
    least ``shape``, then resizes the rest of the way (area-averaging when shrinking, bilinear
    when growing), so no frequency above the target's Nyquist survives as aliasing.

    Shape:
        ``(H, W, C)`` -> ``(h, w, C)``.

    Example:
        >>> resample(np.ones((64, 48, 3), np.float32), (16, 12)).shape
        (16, 12, 3)
    """
    import cv2

    out: np.ndarray = np.asarray(pixels, np.float32)
    th, tw = int(shape[0]), int(shape[1])
    while (out.shape[0] + 1) // 2 >= th and (out.shape[1] + 1) // 2 >= tw and min(out.shape[:2]) > 1:
        out = pyr_down(np.ascontiguousarray(out))
    if out.shape[:2] != (th, tw):
        shrink = out.shape[0] * out.shape[1] > th * tw
        c = out.shape[2]
        out = cv2.resize(out, (tw, th), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        out = out.reshape(th, tw, c)
    return out


def _reduce(pixels: np.ndarray, rms_floor: float, iterations: int = 12) -> tuple[np.ndarray, int]:
    arr = np.ascontiguousarray(pixels, np.float32)
    k = 0
    while min(arr.shape[:2]) >= 8:
        shape = arr.shape[:2]
        # least-squares half-size image whose pyr_up is arr (Landweber iterations; the adjoint of
        # pyr_up is 4 x pyr_down, step 1/4)
        small = pyr_down(arr)
        for _ in range(iterations):
            small = small + pyr_down(arr - pyr_up(small, shape))
        residual = arr - pyr_up(small, shape)
        if float(np.sqrt(np.mean(np.square(residual)))) >= rms_floor:
            break
        arr, k = small, k + 1
    return arr, k


def effective_levels(pixels: np.ndarray, rms_floor: float) -> int:
    """How many times ``pixels`` can be halved without loss: each time, the image must be (up to
    ``rms_floor`` RMS) the :func:`~specprompt.spectral._laplacian.pyr_up` of a half-size image.

    A demo rendered at full size from coarse Laplacian bands only is, in effect, the smaller
    minimal render; the scorer compares it at that size. The half-size image is found by
    least squares (12 Landweber iterations), so 8-bit rounding and pyr_up's imperfect
    low-pass do not hide the band limit.

    Example:
        >>> effective_levels(np.full((32, 32, 3), 0.5, np.float32), 1 / 255)
        3
    """
    return _reduce(pixels, rms_floor)[1]


@lru_cache(maxsize=64)
def _bins(h: int, w: int) -> tuple[np.ndarray, np.ndarray, int]:
    fy = np.fft.fftfreq(h)[:, None] / 0.5
    fx = np.fft.fftfreq(w)[None, :] / 0.5
    radius = np.sqrt(fy**2 + fx**2)
    theta = np.mod(np.arctan2(fy, fx) + np.pi / (2 * _ORIENTATIONS), np.pi)  # bins centred on 0, 22.5, 45 deg
    r_idx = np.digitize(radius, _RADIAL_EDGES)
    o_idx = np.minimum((theta / np.pi * _ORIENTATIONS).astype(np.int64), _ORIENTATIONS - 1)
    n_bins = (len(_RADIAL_EDGES) + 1) * _ORIENTATIONS
    idx = (r_idx * _ORIENTATIONS + o_idx).ravel()
    win = np.outer(*(np.hanning(n) if n >= 8 else np.ones(n) for n in (h, w))).astype(np.float64)
    win.flags.writeable = False
    idx.flags.writeable = False
    return idx, win, n_bins


def band_signature(pixels: np.ndarray) -> np.ndarray:
    """Square root of the luminance energy in half-octave x 22.5-degree frequency bins.

    Shift-invariant, so textures of the same orientation and scale match whatever their phase.
    The squares of the entries sum to the (windowed) variance of the luminance, so distances
    between signatures are in the same units as mean squared pixel differences.

    Shape:
        ``(h, w, C)`` -> ``(n_bins,)``; ``n_bins`` does not depend on the size.
    """
    rgb = _rgb(pixels)
    h, w = rgb.shape[:2]
    idx, win, n_bins = _bins(h, w)
    y = rgb.astype(np.float64) @ _LUMA.astype(np.float64)
    y = (y - y.mean()) * win
    denom = float(np.sum(win**2)) * h * w
    if denom <= 0:
        return np.zeros(n_bins)
    power = np.abs(np.fft.fft2(y)) ** 2 / denom
    return np.sqrt(np.bincount(idx, weights=power.ravel(), minlength=n_bins))


def _working_shape(shape: tuple[int, int], size: int) -> tuple[int, int]:
    h, w = shape
    scale = min(1.0, size / max(h, w))
    return max(1, round(h * scale)), max(1, round(w * scale))


def image_distance(demo: np.ndarray, query: np.ndarray, config: NearestConfig | None = None) -> float:
    """Distance between a (possibly band-limited, possibly small) demo image and a query image.

    Both are brought to the demo's effective resolution (its size, halved
    :func:`effective_levels` times; or the query's size if that is smaller) with :func:`resample`, so only the
    bands the demo still holds are compared. There the distance is
    ``pixel_weight * mse(pixels at <= working_size px) + spectral_weight * ||sig(demo) - sig(query)||^2``
    with ``sig`` = :func:`band_signature`.

    Shape:
        ``demo``: ``(h, w, C)``, ``query``: ``(H, W, C)``; C in 1, 3, 4 (grey repeated, alpha on white).

    Example:
        >>> a = np.zeros((32, 32, 3), np.float32)
        >>> image_distance(a, a), image_distance(a, a + 0.5) > 0
        (0.0, True)
    """
    cfg = config or NearestConfig()
    d, _ = _reduce(_rgb(demo), cfg.empty_band_rms)
    q = _rgb(query)
    target = d.shape[:2] if d.shape[0] * d.shape[1] <= q.shape[0] * q.shape[1] else q.shape[:2]
    return _feature_distance(_features_at(d, target, cfg), _features_at(q, target, cfg), cfg)


# -- the engine ---------------------------------------------------------------------------------

_Features = tuple[np.ndarray, np.ndarray]


def _features_at(pixels: np.ndarray, shape: tuple[int, int], cfg: NearestConfig) -> _Features:
    at = resample(pixels, shape)
    work = resample(at, _working_shape(shape, cfg.working_size)) if cfg.pixel_weight else np.zeros(0, np.float32)
    sig = band_signature(at) if cfg.spectral_weight else np.zeros(0)
    return work, sig


def _feature_distance(a: _Features, b: _Features, cfg: NearestConfig) -> float:
    total = 0.0
    if cfg.pixel_weight:
        total += cfg.pixel_weight * float(np.mean(np.square(a[0] - b[0], dtype=np.float64)))
    if cfg.spectral_weight:
        total += cfg.spectral_weight * float(np.sum(np.square(a[1] - b[1])))
    return total


class _Call:
    """Per-request state: decoded images are kept only for the duration of one request."""

    def __init__(self, engine: NearestBandEngine) -> None:
        self.engine = engine
        self.decoded: dict[str, np.ndarray] = {}

    def pixels(self, image: ChatImage) -> np.ndarray:
        if image.key not in self.decoded:
            self.decoded[image.key] = _rgb(self.engine.decode(image))
        return self.decoded[image.key]

    def reduced(self, image: ChatImage) -> np.ndarray:
        """A demo image brought down to the size at which it holds all its content."""
        key = image.key + ":reduced"
        if key not in self.decoded:
            self.decoded[key] = _reduce(self.pixels(image), self.engine.config.empty_band_rms)[0]
        return self.decoded[key]

    def effective(self, image: ChatImage, band_limited: bool) -> tuple[tuple[int, int], int]:
        """Shape at which ``image`` holds all its content, and how many halvings lead there."""
        eng = self.engine
        key = f"{image.key}:{int(band_limited)}"
        hit = eng._effective.get(key)
        if hit is None:
            if band_limited:
                pixels = self.pixels(image)
                reduced = self.reduced(image)
                k = 0
                shape = pixels.shape[:2]
                while shape != reduced.shape[:2]:
                    shape, k = ((shape[0] + 1) // 2, (shape[1] + 1) // 2), k + 1
            else:
                shape, k = self.pixels(image).shape[:2], 0
            hit = ((int(shape[0]), int(shape[1])), k)
            eng._effective.put(key, hit)
        return hit

    def features(self, image: ChatImage, shape: tuple[int, int], levels: int) -> _Features:
        eng = self.engine
        cache_key = (image.key, shape, levels)
        hit = eng._features.get(cache_key)
        if hit is None:
            pixels = self.reduced(image) if levels else self.pixels(image)
            hit = _features_at(pixels, shape, eng.config)
            eng._features.put(cache_key, hit)
        return hit

    def distance(self, demo: ChatImage, query: ChatImage) -> float:
        d_shape, d_levels = self.effective(demo, band_limited=True)
        q_shape, _ = self.effective(query, band_limited=False)
        target = d_shape if d_shape[0] * d_shape[1] <= q_shape[0] * q_shape[1] else q_shape
        return _feature_distance(
            self.features(demo, target, d_levels), self.features(query, target, 0), self.engine.config
        )


class NearestBandEngine(ScorerEngine):
    """DSPy engine that copies the answer of the demo nearest to the query, band by band.

    Use it through :func:`nearest_lm`, or ``dspy.LM(engine.model_name, engine=engine,
    async_engine=AsyncScorerEngine(engine))`` (without ``async_engine``, ``acall`` fails).

    Args:
        config: a :class:`NearestConfig`; or give its fields as keywords.

    Convention:
        - The answer is the nearest demo's assistant message, verbatim: every output field is
          copied from that demo, in the adapter's own format (ChatAdapter, JSONAdapter, XML).
        - A demo's distance is the mean of :func:`image_distance` over its images paired with
          the query's images by position (the shorter list sets the number of pairs); demos
          without images are ignored; ties go to the earlier demo.
        - With no usable demo the answer sets each output field to a placeholder (the first
          ``Literal`` option, else an empty value) and the score is ``-inf`` (``None`` in
          ``provider_data``).
        - ``provider_data["specprompt"]`` holds ``demo`` (index of the chosen demo or ``None``),
          ``score`` (minus its distance), ``scores`` (all demos) and ``image_tokens``.
        - Deterministic: DSPy's cache can be on; it is off by default in :func:`nearest_lm`
          because cache hits report no usage and skip :attr:`calls`.

    Example:
        >>> engine = NearestBandEngine(working_size=32)
        >>> engine.model_name.startswith("specprompt/nearest-v1+"), engine.calls
        (True, 0)
    """

    def __init__(self, config: NearestConfig | None = None, **options: Any) -> None:
        config = engine_config(NearestConfig, config, options, "NearestBandEngine")
        super().__init__(config.cost_model, config.cache_size)
        self.config = config
        self.model_name = config.model_string()
        # image key -> (effective shape, levels dropped); (key, shape) -> (working pixels, signature)
        self._effective: LRUCache[str, tuple[tuple[int, int], int]] = LRUCache(16 * config.cache_size)
        self._features: LRUCache[tuple[str, tuple[int, int], int], _Features] = LRUCache(config.cache_size)

    # DSPy saves an LM with a custom engine through these two (loading needs allow_unsafe_lm_state).
    def dump_state(self) -> dict[str, Any]:
        """JSON-ready state for ``dspy.LM.dump_state``."""
        return self.config.to_dict()

    @classmethod
    def load_state(cls, state: dict[str, Any]) -> NearestBandEngine:
        """Inverse of :meth:`dump_state`."""
        return cls(NearestConfig.from_dict(dict(state)))

    def rank(self, chat: ParsedChat) -> list[float]:
        """Scores (minus distances) of every demo of ``chat``, in order.

        Raises:
            InvalidRequestError: no image in the whole chat (:func:`need_query_image`).
            ImageInputError: the query has no image, or an image cannot be decoded.
        """
        need_query_image(chat)
        call = _Call(self)
        scores = []
        for demo in chat.demos:
            dists = [call.distance(d, q) for d, q in zip(demo.images, chat.query, strict=False)]
            scores.append(-float(np.mean(dists)))
        return scores

    def answer(self, chat: ParsedChat) -> tuple[str, dict[str, Any]]:
        scores = self.rank(chat)
        if not scores:
            return default_answer(chat), {"demo": None, "score": None, "scores": []}
        best = int(np.argmax(scores))  # first maximum: ties go to the earlier demo
        return chat.demos[best].answer, {"demo": best, "score": scores[best], "scores": scores}


def nearest_lm(*, cache: bool = False, **options: Any) -> dspy.LM:
    """A ``dspy.LM`` served by a :class:`NearestBandEngine`.

    Args:
        cache: use DSPy's response cache (off by default: hits report no usage).
        **options: fields of :class:`NearestConfig`.

    Returns:
        ``dspy.LM(config.model_string(), engine=NearestBandEngine(...), cache=cache)`` with the
        engine's :class:`~specprompt.scorers.AsyncScorerEngine` as ``async_engine`` (``acall``
        works); the engine is ``lm.engine`` (its ``calls`` counts requests of both).

    Example:
        >>> lm = nearest_lm()
        >>> lm.model, lm.engine.calls
        ('specprompt/nearest-v1', 0)
    """
    return engine_lm(NearestBandEngine(**options), cache)
