"""Global FFT bands: radial rings of the 2-D spectrum, optionally split into orientation sectors."""

from __future__ import annotations

import functools
import itertools
import math
import numbers
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from specprompt.errors import ConfigError, ShapeError
from specprompt.spectral._base import Analysis, Scheme, SchemeConfig
from specprompt.spectral._registry import register_scheme
from specprompt.spectral._tiles import grid_for
from specprompt.spectral._types import Band

__all__ = [
    "BandSlot",
    "FftConfig",
    "FftScheme",
    "band_labels",
    "band_layout",
    "fourier_resize",
    "minimal_size",
]

#: Radial frequency of the spectrum's corner, in Nyquist units: the upper edge of the outer ring.
CORNER = math.sqrt(2.0)
_ROWS_PER_CHUNK = 256  # rows of the frequency grid labelled at a time (bounds the float64 temporaries)
_EPS = 1e-9


@dataclass(frozen=True)
class FftConfig(SchemeConfig):
    """Options of the ``fft`` scheme."""

    radii: tuple[float, ...] = field(
        default=(0.0625, 0.125, 0.25, 0.5),
        metadata={
            "help": "strictly increasing ring boundaries in (0, 1], fractions of Nyquist; k boundaries give "
            "k + 1 rings [0, r1], (r1, r2], ..., (rk, sqrt(2)] (the outer ring reaches the spectrum's corner)"
        },
    )
    orientations: int = field(
        default=1,
        metadata={
            "help": "orientation sectors per ring (1 = none); n > 1 splits every ring but the DC ring into n "
            "sectors of 180/n degrees centred on 0, 180/n, ... degrees"
        },
    )

    def __post_init__(self) -> None:
        radii: Any = self.radii
        if isinstance(radii, (str, bytes)) or not isinstance(radii, (tuple, list)) or not radii:
            raise ConfigError(f"fft radii must be a non-empty tuple of increasing floats in (0, 1], got {radii!r}")
        for r in radii:
            if isinstance(r, bool) or not isinstance(r, numbers.Real) or not 0.0 < float(r) <= 1.0:
                raise ConfigError(
                    f"fft radius {r!r} in radii={radii!r} is outside (0, 1] (fractions of Nyquist); "
                    "allowed: floats 0 < r <= 1"
                )
        for lo, hi in itertools.pairwise(radii):
            if not float(lo) < float(hi):
                raise ConfigError(f"fft radii must be strictly increasing, got {radii!r} ({lo!r} >= {hi!r})")
        object.__setattr__(self, "radii", tuple(float(r) for r in radii))
        n = self.orientations
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ConfigError(f"fft orientations must be an int >= 1 (1 = no sectors), got {n!r}")


class BandSlot(NamedTuple):
    """Where a band sits in the spectrum, independent of the image size.

    Attributes:
        name: ``"r{ring}"`` or ``"r{ring}/o{sector}"``.
        ring: ring index, 0 = the ring holding DC.
        sector: orientation sector, or ``None`` (DC ring, or ``orientations == 1``).
        orientation: ``(start_deg, end_deg)`` of the sector, ``start > end`` when it wraps through 0.
        freq_range: ``(low, high)`` radial frequency in Nyquist units; the outer ring ends at sqrt(2).
    """

    name: str
    ring: int
    sector: int | None
    orientation: tuple[float, float] | None
    freq_range: tuple[float, float]


def band_layout(radii: tuple[float, ...], orientations: int) -> list[BandSlot]:
    """The bands of an ``fft`` spectrum in canonical order, low to high frequency.

    Convention:
        position ``i`` in the list is the label :func:`band_labels` gives that band's frequencies.
        Rings run from low to high frequency (the reverse of the Laplacian's ``L0`` = finest);
        within a ring, sectors run by increasing angle.

    Example:
        >>> [s.name for s in band_layout((0.5,), 2)]
        ['r0', 'r1/o0', 'r1/o1']
    """
    edges = (0.0, *radii, CORNER)
    width = 180.0 / orientations
    slots = [BandSlot("r0", 0, None, None, (edges[0], edges[1]))]
    for ring in range(1, len(radii) + 1):
        rng = (edges[ring], edges[ring + 1])
        if orientations == 1:
            slots.append(BandSlot(f"r{ring}", ring, None, None, rng))
            continue
        for s in range(orientations):
            orient = ((s * width - width / 2) % 180.0, (s * width + width / 2) % 180.0)
            slots.append(BandSlot(f"r{ring}/o{s}", ring, s, orient, rng))
    return slots


@functools.lru_cache(maxsize=4)
def _cached_labels(shape: tuple[int, int], radii: tuple[float, ...], orientations: int, full: bool) -> np.ndarray:
    h, w = shape
    fy = np.fft.fftfreq(h) * 2.0  # Nyquist units; the even-size Nyquist bin comes out as exactly -1.0
    fx = (np.fft.fftfreq(w) if full else np.fft.rfftfreq(w)) * 2.0
    bounds2 = np.square(np.asarray(radii, np.float64))
    fx2 = fx * fx
    nyq_x = np.abs(fx) == 1.0
    width = 180.0 / orientations
    out = np.empty((h, fx.size), np.int16)
    for start in range(0, h, _ROWS_PER_CHUNK):
        a = fy[start : start + _ROWS_PER_CHUNK, None]
        ring = np.searchsorted(bounds2, a * a + fx2, side="left")  # ring i: r_i < rho <= r_{i+1}
        if orientations == 1:
            out[start : start + a.shape[0]] = ring
            continue
        b = np.broadcast_to(fx, ring.shape)
        # f and -f must get the same sector: take the representative with a > 0 (or a == 0, b >= 0).
        # On the Nyquist row/column +-0.5 alias, so -f's stored bin is not the negated one: fold to (|a|, |b|).
        flip = (a < 0) | ((a == 0) & (b < 0))
        nyq = (np.abs(a) == 1.0) | nyq_x
        ca = np.where(nyq, np.abs(a), np.where(flip, -a, a))
        cb = np.where(nyq, np.abs(b), np.where(flip, -b, b))
        theta = np.degrees(np.arctan2(ca, cb))  # [0, 180): 0 = horizontal frequency (vertical stripes)
        sector = np.floor((theta + width / 2) / width).astype(np.int64) % orientations
        out[start : start + a.shape[0]] = np.where(ring == 0, 0, 1 + (ring - 1) * orientations + sector)
    out.flags.writeable = False
    return out


def band_labels(
    shape: tuple[int, int], radii: tuple[float, ...], orientations: int = 1, *, full: bool = False
) -> np.ndarray:
    """Which band each frequency bin belongs to (a hard partition of the spectrum).

    The radial frequency of bin ``(ky, kx)`` is ``sqrt((fy / 0.5)^2 + (fx / 0.5)^2)`` with ``f`` from
    ``fftfreq`` (Nyquist = 1, corner = sqrt(2)); its angle is that of ``(fx, fy)`` with y pointing
    down the rows, modulo 180 degrees.

    Args:
        shape: ``(H, W)`` of the image.
        radii: ring boundaries, as in :class:`FftConfig`.
        orientations: sectors per ring, as in :class:`FftConfig`.
        full: label the full ``fft2`` grid instead of the ``rfft2`` half-plane.

    Returns:
        read-only int16 labels, indices into :func:`band_layout`.

    Shape:
        ``(H, W // 2 + 1)``, or ``(H, W)`` with ``full=True``.

    Convention:
        bins ``f`` and ``-f`` always share a label (the masks are Hermitian symmetric, so band
        images are real); on the Nyquist row/column, where ``+-0.5`` alias, the angle is taken
        from ``(|fx|, |fy|)``.

    Example:
        >>> band_labels((4, 4), (0.5,)).tolist()
        [[0, 0, 1], [0, 1, 1], [1, 1, 1], [0, 1, 1]]
    """
    return _cached_labels((int(shape[0]), int(shape[1])), tuple(radii), int(orientations), bool(full))


def minimal_size(n: int, radius: float) -> int:
    """Smallest sample count that holds a length-``n`` signal band-limited to ``radius`` exactly.

    Convention:
        content at ``|k| <= radius * n / 2`` fits strictly below the Nyquist of an odd size
        ``2 * floor(radius * n / 2) + 1``; ``radius >= 1`` (or a result >= ``n``) gives ``n``.

    Example:
        >>> minimal_size(256, 0.25), minimal_size(7, 1.0)
        (65, 7)
    """
    if radius >= 1.0:
        return n
    return min(n, 2 * math.floor(radius * n / 2 + _EPS) + 1)


def _resize_fft_axis0(spec: np.ndarray, n: int, big_n: int) -> np.ndarray:
    """Crops or zero-pads the complex (first) axis of an ``rfft2`` spectrum from ``n`` to ``big_n``."""
    if n == big_n:
        return spec
    m = min(n, big_n)
    out = np.zeros((big_n, *spec.shape[1:]), spec.dtype)
    pos, neg = (m + 1) // 2, (m - 1) // 2
    out[:pos] = spec[:pos]
    if neg:
        out[big_n - neg :] = spec[n - neg :]
    if m % 2 == 0:  # the smaller grid's Nyquist bin stands for both +-m/2 of the larger one
        k = m // 2
        if n < big_n:
            out[k] = spec[k] * 0.5
            out[big_n - k] = spec[k] * 0.5
        else:
            out[k] = spec[k] + spec[n - k]
    return out


def _resize_rfft_axis1(spec: np.ndarray, n: int, big_n: int) -> np.ndarray:
    """Crops or zero-pads the half (second) axis of an ``rfft2`` spectrum from ``n`` to ``big_n`` samples."""
    if n == big_n:
        return spec
    m = min(n, big_n)
    out = np.zeros((spec.shape[0], big_n // 2 + 1, *spec.shape[2:]), spec.dtype)
    pos = (m + 1) // 2
    out[:, :pos] = spec[:, :pos]
    if m % 2 == 0:
        k = m // 2
        if n < big_n:  # the implicit conjugate bin at -k carries the other half
            out[:, k] = spec[:, k] * 0.5
        else:  # fold the implicit bin at -k (conjugate of row -ky) onto +k
            rows = (-np.arange(spec.shape[0])) % spec.shape[0]
            out[:, k] = spec[:, k] + np.conj(spec[rows, k])
    return out


def fourier_resize(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resamples ``image`` to ``shape`` by cropping or zero-padding its spectrum (sinc interpolation).

    Exact for band-limited content: an image whose spectrum fits strictly below the Nyquist of the
    smaller size survives a down-and-up round trip; up-then-down is the identity for any image.

    Args:
        image: float ``(h, w)`` or ``(h, w, C)`` pixels.
        shape: target ``(H, W)``.

    Returns:
        float32 ``(H, W, C)``, pixel values preserved (scaled by ``H * W / (h * w)`` in frequency).

    Raises:
        ShapeError: ``image`` is not 2-D or 3-D. ConfigError: ``shape`` is not two positive ints.

    Example:
        >>> up = fourier_resize(np.full((3, 5), 0.25, np.float32), (8, 9))
        >>> up.shape, bool(np.allclose(up, 0.25))
        ((8, 9, 1), True)
    """
    arr = np.asarray(image, np.float32)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ShapeError("image", arr.shape, "(h, w) or (h, w, C) with h, w >= 1")
    if (
        not isinstance(shape, (tuple, list))
        or len(shape) != 2
        or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 1 for v in shape)
    ):
        raise ConfigError(f"target shape must be (height, width) with positive ints, got {shape!r}")
    h, w = arr.shape[:2]
    big_h, big_w = int(shape[0]), int(shape[1])
    if (h, w) == (big_h, big_w):
        return arr.copy()
    import scipy.fft  # lazily: scipy.fft imports argparse and numpy.f2py, which pricing never needs

    spec = scipy.fft.rfft2(arr, axes=(0, 1), workers=-1)
    spec = _resize_rfft_axis1(spec, w, big_w)  # before axis 0: the fold reads rows -ky of the source grid
    spec = _resize_fft_axis0(spec, h, big_h)
    out: np.ndarray = scipy.fft.irfft2(spec, s=(big_h, big_w), axes=(0, 1), workers=-1, overwrite_x=True)
    out *= np.float32(big_h * big_w / (h * w))
    return out


def _band_image(spec: np.ndarray, mask: np.ndarray, width: int) -> np.ndarray:
    """``irfft2(spec * mask)``, skipping the columns past the mask's last nonzero one.

    Shape:
        spec ``(H, W // 2 + 1, C)`` complex64, mask ``(H, W // 2 + 1)`` bool -> float32 ``(H, W, C)``.
    """
    import scipy.fft

    cols = int(np.flatnonzero(mask.any(axis=0))[-1]) + 1
    part = np.where(mask[:, :cols, None], spec[:, :cols], np.complex64(0))
    part = scipy.fft.ifft(part, axis=0, workers=-1, overwrite_x=True)
    out: np.ndarray = scipy.fft.irfft(part, n=width, axis=1, workers=-1, overwrite_x=True)  # zero-pads the columns
    return np.ascontiguousarray(out, np.float32)


@register_scheme
class FftScheme(Scheme):
    """Global Fourier bands: hard radial rings of the spectrum, optionally split by orientation.

    Bands are ordered from low to high frequency: ``r0`` (the ring holding DC) first, then
    ``r1`` .. ``rk``, or ``r1/o0`` .. ``rk/o{n-1}`` with ``orientations = n``. ``Band.level`` is
    the ring index, so **level 0 is the lowest frequency** (the opposite of the Laplacian, where
    ``L0`` is the finest detail).

    Shape:
        every band's coefficients are its real band-pass image ``irfft2(F * mask)``, float32
        ``(H, W, C)``, so tiles have a spatial meaning; the tile grid counts tiles at the band's
        own Nyquist rate: ``grid_for(ceil(H * r), ceil(W * r))`` with ``r = min(1, upper radius)``.

    Convention:
        the masks are binary and sum to one at every frequency, so reconstruction is the sum of the
        kept band images and band energies partition the image energy (Parseval). A minimal render
        keeps the frequencies up to the highest kept upper radius ``r < 1`` at the odd size
        :func:`minimal_size` gives (about ``r`` times the source per axis) and :meth:`upsample`
        zero-pads the spectrum back. A band with only some tiles kept is no longer band-limited,
        so such a selection renders at full size; so does any selection with the outer ring.

    Example:
        >>> import numpy as np
        >>> from specprompt import decompose
        >>> img = np.random.default_rng(0).random((64, 48, 3), dtype=np.float32)
        >>> spec = decompose(img, "fft", radii=(0.25, 0.5), orientations=2)
        >>> spec.band_names
        ('r0', 'r1/o0', 'r1/o1', 'r2/o0', 'r2/o1')
        >>> bool(np.abs(spec.reconstruct() - img).max() < 1e-5)
        True
        >>> spec.render_shape(spec.select(["r0"]))
        (17, 13)
    """

    name = "fft"
    config_cls = FftConfig
    tiles_keep_band_limit = False

    def _config(self) -> FftConfig:
        if not isinstance(self.config, FftConfig):
            raise ConfigError(f"the fft scheme needs an FftConfig, got {type(self.config).__name__}")
        return self.config

    def analyze(self, image: np.ndarray) -> Analysis:
        cfg = self._config()
        image = np.ascontiguousarray(image, np.float32)
        if image.ndim != 3:
            raise ShapeError("image", image.shape, "(H, W, C)")
        h, w, c = image.shape
        labels = band_labels((h, w), cfg.radii, cfg.orientations)
        import scipy.fft

        spec = scipy.fft.rfft2(image, axes=(0, 1), workers=-1)  # complex64
        slots = band_layout(cfg.radii, cfg.orientations)
        bands: list[Band] = []
        coeffs: dict[str, np.ndarray] = {}
        for i, slot in enumerate(slots):
            mask = labels == i
            if not mask.any():  # a ring narrower than the frequency spacing of a small image
                coeffs[slot.name] = np.zeros((h, w, c), np.float32)
            elif i == len(slots) - 1:  # the masks sum to one: the last band is what the others leave
                rest = image.copy()
                for other in slots[:-1]:
                    rest -= coeffs[other.name]
                coeffs[slot.name] = rest
            else:
                coeffs[slot.name] = _band_image(spec, mask, w)
            top = min(1.0, slot.freq_range[1])
            grid = grid_for(max(1, math.ceil(h * top - _EPS)), max(1, math.ceil(w * top - _EPS)))
            bands.append(Band(slot.name, i, slot.ring, slot.orientation, None, slot.freq_range, (h, w, c), grid))
        return Analysis(tuple(bands), coeffs, {"shape": (h, w), "channels": c})

    def synthesize(
        self, analysis: Analysis, coeffs: dict[str, np.ndarray | None], shape: tuple[int, int]
    ) -> np.ndarray:
        h, w = analysis.extra["shape"]
        out = np.zeros((h, w, analysis.extra["channels"]), np.float32)
        for band in analysis.bands:
            part = coeffs.get(band.name)
            if part is not None:
                out += part
        if (int(shape[0]), int(shape[1])) != (h, w):
            out = fourier_resize(out, (int(shape[0]), int(shape[1])))
        return out

    def minimal_shape(self, analysis: Analysis, kept: frozenset[str], image_shape: tuple[int, int]) -> tuple[int, int]:
        # Every kept band is zero outside radius r, so the sum fits the odd grid minimal_size picks.
        top = max(b.freq_range[1] for b in analysis.bands if b.name in kept)
        return minimal_size(image_shape[0], top), minimal_size(image_shape[1], top)

    def upsample(self, image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        return fourier_resize(image, shape)
