"""JPEG-style 8x8 block DCT in YCbCr, with zigzag-ordered coefficient groups as bands.

Each colour component is padded to whole 8x8 blocks, every block gets an orthonormal 2-D DCT-II,
and the 64 coefficients of a block are put in JPEG zigzag order, giving a ``(bh, bw, 64)`` array
per component (the layout of Xu et al., "Learning in the Frequency Domain", CVPR 2020). A band is
one contiguous zigzag range of one component.

All transforms here are matrix products: with ``D`` the orthonormal ``n x n`` DCT-II matrix
(:func:`dct_matrix`), a block ``X`` has coefficients ``D @ X @ D.T``; flattened row-major, that is
``kron(D, D) @ vec(X)``, and the zigzag permutation of its rows gives one ``64 x 64`` orthogonal
matrix, so analysis and synthesis of a whole image are each a single GEMM.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from specprompt.errors import ConfigError, ShapeError
from specprompt.spectral._base import Analysis, Scheme, SchemeConfig
from specprompt.spectral._registry import register_scheme
from specprompt.spectral._tiles import PATCH, grid_for
from specprompt.spectral._types import Band

__all__ = [
    "BLOCK",
    "DEFAULT_GROUPS",
    "RGB_TO_YCBCR",
    "YCBCR_TO_RGB",
    "DctConfig",
    "DctScheme",
    "block_analysis",
    "block_synthesis",
    "block_upsample",
    "components_for",
    "dct_matrix",
    "from_components",
    "render_size",
    "segments",
    "to_components",
    "zigzag",
]

#: Side of a DCT block, in pixels.
BLOCK = 8

#: Default zigzag boundaries: the first eight anti-diagonals one band each, the rest in one band.
DEFAULT_GROUPS: tuple[int, ...] = (1, 3, 6, 10, 15, 21, 28, 36, 64)

#: JPEG (ITU-R BT.601, full range) RGB -> YCbCr, without the +0.5 chroma offset (see DctScheme).
RGB_TO_YCBCR: np.ndarray = np.array(
    [
        [0.299, 0.587, 0.114],
        [-0.168736, -0.331264, 0.5],
        [0.5, -0.418688, -0.081312],
    ]
)
#: The exact (float64) inverse of :data:`RGB_TO_YCBCR`, not JPEG's rounded 1.402 / 1.772 table.
YCBCR_TO_RGB: np.ndarray = np.linalg.inv(RGB_TO_YCBCR)
RGB_TO_YCBCR.flags.writeable = False
YCBCR_TO_RGB.flags.writeable = False

_COMPONENTS = {1: ("y",), 3: ("y", "cb", "cr"), 4: ("y", "cb", "cr", "a")}
_NC = BLOCK * BLOCK


def components_for(channels: int) -> tuple[str, ...]:
    """Component names for an image with ``channels`` channels (1: ``y``; 3: ``y cb cr``; 4: ``+ a``)."""
    try:
        return _COMPONENTS[channels]
    except KeyError:
        raise ShapeError("image", (channels,), "1, 3 or 4 channels") from None


@functools.cache
def _colour_matrices(channels: int) -> tuple[np.ndarray, np.ndarray]:
    """Forward and inverse ``(C, C)`` colour matrices (identity on alpha), float32."""
    fwd = np.eye(channels)
    if channels >= 3:
        fwd[:3, :3] = RGB_TO_YCBCR
    return fwd.astype(np.float32), np.linalg.inv(fwd).astype(np.float32)


def _per_pixel(image: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``matrix @ pixel`` for every pixel (OpenCV's SIMD ``transform``; numpy's tiny-matrix matmul is 10x slower)."""
    import cv2

    out = cv2.transform(np.ascontiguousarray(image, np.float32), matrix)
    return np.asarray(out, np.float32).reshape(image.shape)


def to_components(image: np.ndarray) -> np.ndarray:
    """RGB(A) -> Y Cb Cr (A) per pixel; grayscale passes through.

    Shape:
        ``(H, W, C)`` -> ``(H, W, C)``, float32.
    """
    c = image.shape[2]
    components_for(c)
    if c == 1:
        return np.asarray(image, np.float32)
    return _per_pixel(image, _colour_matrices(c)[0])


def from_components(planes: np.ndarray) -> np.ndarray:
    """Inverse of :func:`to_components`.

    Shape:
        ``(H, W, C)`` -> ``(H, W, C)``, float32.
    """
    c = planes.shape[2]
    components_for(c)
    if c == 1:
        return np.asarray(planes, np.float32)
    return _per_pixel(planes, _colour_matrices(c)[1])


@functools.cache
def dct_matrix(n: int) -> np.ndarray:
    """The orthonormal DCT-II matrix ``D[u, x] = a_u cos(pi (2x + 1) u / (2n))`` (float64, read-only).

    Convention:
        ``a_0 = sqrt(1/n)``, ``a_u = sqrt(2/n)``; ``D @ x`` equals ``scipy.fft.dct(x, norm="ortho")``.
    """
    u = np.arange(n)[:, None]
    x = np.arange(n)[None, :]
    d: np.ndarray = np.sqrt(2.0 / n) * np.cos(np.pi * (2 * x + 1) * u / (2 * n))
    d[0] /= np.sqrt(2.0)
    d.flags.writeable = False
    return d


@functools.cache
def zigzag(n: int = BLOCK) -> tuple[tuple[int, int], ...]:
    """JPEG zigzag order of the ``(u, v)`` = (row, column) frequencies of an ``n x n`` block.

    Example:
        >>> zigzag()[:6]
        ((0, 0), (0, 1), (1, 0), (2, 0), (1, 1), (0, 2))
    """
    order: list[tuple[int, int]] = []
    for s in range(2 * n - 1):
        rows = range(max(0, s - n + 1), min(s, n - 1) + 1)
        order.extend((u, s - u) for u in (reversed(rows) if s % 2 == 0 else rows))
    return tuple(order)


Seg = tuple[int, int, int]


def segments(n: int) -> tuple[Seg, ...]:
    """Runs of equal blocks along an axis of ``n`` pixels: ``(first_block, n_blocks, block_size)``.

    Convention:
        ``n // 8`` blocks of 8, then one block of ``n % 8`` if that is not 0 (no padding).

    Example:
        >>> segments(20)
        ((0, 2, 8), (2, 1, 4))
    """
    full, rem = divmod(n, BLOCK)
    out = [(0, full, BLOCK)] if full else []
    if rem:
        out.append((full, 1, rem))
    return tuple(out)


def render_size(n: int, k: int) -> int:
    """Pixels along an axis of ``n`` pixels when every block keeps ``min(k, block_size)`` of them."""
    return sum(nb * min(k, a) for _, nb, a in segments(n))


def _slots(a: int, b: int) -> list[int]:
    """Row-major index ``u * b + v`` in an ``a x b`` block of each zigzag slot ``(u, v)`` (-1: no such slot)."""
    return [uu * b + vv if uu < a and vv < b else -1 for uu, vv in zigzag()]


@functools.cache
def _analysis_matrix(a: int, b: int) -> np.ndarray:
    """``(a*b, 64)``: row-major pixels of an ``a x b`` block -> its DCT in zigzag slots (0 if u >= a or v >= b)."""
    basis = np.kron(dct_matrix(a), dct_matrix(b))
    out = np.zeros((a * b, _NC))
    for j, src in enumerate(_slots(a, b)):
        if src >= 0:
            out[:, j] = basis[src]
    return _frozen32(out)


@functools.cache
def _synthesis_matrix(a: int, b: int, ka: int, kb: int) -> np.ndarray:
    """``(64, ka*kb)``: zigzag coefficients of an ``a x b`` block -> its ``ka x kb`` rendering.

    Coefficients with ``u < ka`` and ``v < kb`` are scaled by ``sqrt(ka kb / (a b))`` (which keeps
    pixel values for orthonormal DCTs) and inverse-transformed at size ``ka x kb``; the others map to
    nothing. ``(ka, kb) = (a, b)`` is the plain inverse of :func:`_analysis_matrix`.
    """
    basis = np.kron(dct_matrix(ka), dct_matrix(kb)) * math.sqrt(ka * kb / (a * b))
    out = np.zeros((_NC, ka * kb))
    for j, src in enumerate(_slots(ka, kb)):
        if src >= 0:
            out[j] = basis[src]
    return _frozen32(out)


@functools.cache
def _upsample_matrix(a: int, b: int, ka: int, kb: int) -> np.ndarray:
    """``(ka*kb, a*b)``: DCT at ``ka x kb``, rescale, zero-pad to ``a x b``, inverse DCT."""
    ua = dct_matrix(a)[:ka].T @ dct_matrix(ka) * math.sqrt(a / ka)
    ub = dct_matrix(b)[:kb].T @ dct_matrix(kb) * math.sqrt(b / kb)
    return _frozen32(np.kron(ua, ub).T)


def _frozen32(array: np.ndarray) -> np.ndarray:
    out = np.ascontiguousarray(array, np.float32)
    out.flags.writeable = False
    return out


def _interleave(planes: np.ndarray) -> np.ndarray:
    """Planar ``(C, h, w)`` -> interleaved ``(h, w, C)`` (OpenCV's merge is ~5x faster than a numpy transpose)."""
    import cv2

    c, h, w = planes.shape
    if c == 1:
        return np.ascontiguousarray(planes[0]).reshape(h, w, 1)
    return np.asarray(cv2.merge([np.ascontiguousarray(p) for p in planes]), np.float32).reshape(h, w, c)


def _regions(shape: tuple[int, int], k: int) -> list[tuple[Seg, Seg, int, int]]:
    """Rectangles of equal blocks: row run, column run, rendered block height and width at ``k``."""
    return [(rs, cs, min(k, rs[2]), min(k, cs[2])) for rs in segments(shape[0]) for cs in segments(shape[1])]


def _blocks(image: np.ndarray, r0: int, nr: int, a: int, c0: int, nc: int, b: int) -> np.ndarray:
    """``nr x nc`` blocks of ``a x b`` pixels of interleaved ``image`` from pixel ``(r0, c0)`` -> ``(C*nr*nc, a*b)``."""
    ch = image.shape[2]
    region = image[r0 : r0 + nr * a, c0 : c0 + nc * b].transpose(2, 0, 1)
    return region.reshape(ch, nr, a, nc, b).transpose(0, 1, 3, 2, 4).reshape(-1, a * b)


def _unblock(pix: np.ndarray, ch: int, nr: int, nc: int, a: int, b: int) -> np.ndarray:
    """``(C*nr*nc, a*b)`` -> planar ``(C, nr*a, nc*b)``."""
    return pix.reshape(ch, nr, nc, a, b).transpose(0, 1, 3, 2, 4).reshape(ch, nr * a, nc * b)


def block_analysis(planes: np.ndarray) -> np.ndarray:
    """Zigzag-ordered orthonormal DCT of every 8x8 block (border blocks: a DCT of their own size).

    Shape:
        ``(H, W, C)`` -> ``(C, ceil(H / 8), ceil(W / 8), 64)``, float32 (component-major, so each
        component's coefficients are one ``(bh, bw, 64)`` array). Slots ``(u, v)`` a border block
        of ``a x b`` pixels lacks (``u >= a`` or ``v >= b``) are 0.
    """
    h, w, ch = planes.shape
    planes = np.asarray(planes, np.float32)
    z = np.empty((ch, -(-h // BLOCK), -(-w // BLOCK), _NC), np.float32)
    for (i0, nr, a), (j0, nc, b), _, _ in _regions((h, w), BLOCK):
        coeffs = _blocks(planes, i0 * BLOCK, nr, a, j0 * BLOCK, nc, b) @ _analysis_matrix(a, b)
        z[:, i0 : i0 + nr, j0 : j0 + nc] = coeffs.reshape(ch, nr, nc, _NC)
    return z


def block_synthesis(coeffs: np.ndarray, shape: tuple[int, int], k: int = BLOCK) -> np.ndarray:
    """Renders zigzag block coefficients of an ``H x W`` image with ``min(k, size)`` pixels per block side.

    Args:
        coeffs: ``(C, bh, bw, m)`` coefficients of zigzag slots ``0 .. m-1`` (``m <= 64``; the rest
            are taken as zero).
        shape: ``(H, W)`` of the analysed image (it fixes the border block sizes).
        k: 1 to 8; ``k = 8`` is the inverse DCT. Coefficients with ``u >= k`` or ``v >= k`` are ignored.

    Shape:
        ``(C, bh, bw, m)`` -> ``(render_size(H, k), render_size(W, k), C)``, float32.
    """
    ch, _, _, m = coeffs.shape
    out = np.empty((ch, render_size(shape[0], k), render_size(shape[1], k)), np.float32)
    for (i0, nr, a), (j0, nc, b), ka, kb in _regions(shape, k):
        part = coeffs[:, i0 : i0 + nr, j0 : j0 + nc].reshape(-1, m) @ _synthesis_matrix(a, b, ka, kb)[:m]
        out[:, i0 * k : i0 * k + nr * ka, j0 * k : j0 * k + nc * kb] = _unblock(part, ch, nr, nc, ka, kb)
    return _interleave(out)


def block_upsample(image: np.ndarray, k: int, shape: tuple[int, int]) -> np.ndarray:
    """Exact inverse of :func:`block_synthesis` at ``k`` when no coefficient has ``u >= k`` or ``v >= k``.

    Shape:
        ``(render_size(H, k), render_size(W, k), C)`` -> ``(H, W, C)``.
    """
    ch = image.shape[2]
    out = np.empty((ch, shape[0], shape[1]), np.float32)
    for (i0, nr, a), (j0, nc, b), ka, kb in _regions(shape, k):
        part = _blocks(image, i0 * k, nr, ka, j0 * k, nc, kb) @ _upsample_matrix(a, b, ka, kb)
        out[:, i0 * BLOCK : i0 * BLOCK + nr * a, j0 * BLOCK : j0 * BLOCK + nc * b] = _unblock(part, ch, nr, nc, a, b)
    return _interleave(out)


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


@dataclass(frozen=True)
class DctConfig(SchemeConfig):
    """Options of the ``dct`` scheme."""

    groups: tuple[int, ...] = field(
        default=DEFAULT_GROUPS,
        metadata={
            "help": "strictly increasing zigzag boundaries, first > 0, last == 64: each component's bands "
            "hold zigzag indices [0, groups[0]), [groups[0], groups[1]), ..."
        },
    )

    def __post_init__(self) -> None:
        groups = self.groups
        if isinstance(groups, (str, bytes)) or not isinstance(groups, (tuple, list)):
            raise ConfigError(f"dct groups must be a tuple of ints ending at 64, got {groups!r}")
        if not groups or not all(_is_int(g) for g in groups):
            raise ConfigError(f"dct groups must be a non-empty tuple of ints ending at 64, got {groups!r}")
        groups = tuple(int(g) for g in groups)
        if groups[0] <= 0 or groups[-1] != _NC or any(a >= b for a, b in itertools.pairwise(groups)):
            raise ConfigError(
                f"dct groups must increase strictly from a first value > 0 to a last value of 64, got {groups!r}"
            )
        object.__setattr__(self, "groups", groups)


def _group_freq_range(lo: int, hi: int) -> tuple[float, float]:
    radii = [min(1.0, math.hypot(u, v) / BLOCK) for u, v in zigzag()[lo:hi]]
    return min(radii), max(radii)


def _group_k(lo: int, hi: int) -> int:
    return max(max(u, v) for u, v in zigzag()[lo:hi]) + 1


@register_scheme
class DctScheme(Scheme):
    """JPEG-style block DCT: bands ``"{component}/z{lo}-{hi}"`` of zigzag coefficient groups.

    Convention:
        Colour: RGB is converted to YCbCr with the JPEG (BT.601 full-range) matrix
        :data:`RGB_TO_YCBCR` and back with its exact inverse, in float32, with no chroma
        subsampling. JPEG's +0.5 chroma offset is left out, so a dropped chroma band means neutral
        chroma and keeping only ``y`` bands gives a grey image. Grayscale (C=1) has the single
        component ``y`` (the grey value itself); RGBA adds alpha as a fourth component ``a``,
        transformed like ``y``.

        Blocks: ``bh = ceil(H / 8)`` rows and ``bw = ceil(W / 8)`` columns of blocks. Each 8x8
        block gets the orthonormal 8x8 DCT-II. When H or W is not a multiple of 8, the last block
        row / column has ``a = H % 8`` rows / ``b = W % 8`` columns and gets the orthonormal
        ``a x b`` DCT-II, whose coefficients fill the zigzag slots ``u < a, v < b`` (the other slots
        stay 0). Nothing is padded, so the transform is orthonormal on the image itself: band
        energies sum to the energy of the YCbCr planes and keeping a set of bands is an orthogonal
        projection (re-decomposing a band-limited image keeps it), on any size.

        Bands: with ``groups = (g_0, ..., g_{n-1})`` each component has bands ``[0, g_0)``,
        ``[g_0, g_1)``, ... of zigzag slots, named e.g. ``"y/z0-1"`` (the DC term) or
        ``"cb/z1-3"``, ordered component-major (y, cb, cr, a), low to high frequency within a
        component. ``level`` is the group index, ``orientation`` is ``None``.
        ``coeff_shape = (bh, bw, g_i - g_{i-1})``. ``tile_grid = grid_for(bh, bw, 2)``: one tile
        per 2 x 2 blocks (16 x 16 pixels, ``PATCH`` at the pixel rate; tiles split odd block counts
        as ``_tiles.tile_slices`` does).

        Frequency: DCT index ``u`` of an 8-point block oscillates at ``u / 16`` cycles per pixel,
        i.e. ``u / 8`` of Nyquist; slot ``(u, v)`` has radial frequency ``min(1, hypot(u, v) / 8)``
        (corners past radial Nyquist count as 1). ``freq_range`` is the smallest and largest radial
        frequency of the band's slots, so ``(0.0, 0.0)`` for DC. (In a border block of ``a < 8``
        rows, index ``u`` is ``u / a`` of Nyquist instead.)

        Minimal render: let ``k`` be the smallest size such that every slot of every kept band
        (any component) has ``u < k`` and ``v < k``. Each block of ``a x b`` pixels is rendered
        with ``min(k, a) x min(k, b)`` pixels from its top-left coefficients, scaled by
        ``sqrt(min(k, a) min(k, b) / (a b))`` (``k / 8`` for full blocks, which keeps pixel values),
        and inverse-DCT'd at that size. The render is ``(H // 8) * k + min(k, H % 8)`` by
        ``(W // 8) * k + min(k, W % 8)`` (:func:`render_size`): 8 / k times smaller, never larger
        than H x W, and H x W for ``k = 8``. :meth:`upsample` inverts it exactly (DCT per rendered
        block, rescale, zero-pad, inverse DCT at the block's own size).

    Example:
        >>> import numpy as np
        >>> from specprompt import decompose
        >>> image = np.random.default_rng(0).random((20, 30, 3), dtype=np.float32)
        >>> spec = decompose(image, "dct")
        >>> spec.band_names[:3], len(spec.bands)
        (('y/z0-1', 'y/z1-3', 'y/z3-6'), 27)
        >>> bool(np.abs(spec.reconstruct() - image).max() < 1e-5)
        True
        >>> spec.render_shape(spec.select(["y/z0-1", "cb/z0-1", "cr/z0-1"]))
        (3, 4)
        >>> spec.render_shape(spec.select(["y/z0-1", "y/z1-3"]))
        (6, 8)
    """

    name = "dct"
    config_cls = DctConfig

    def analyze(self, image: np.ndarray) -> Analysis:
        assert isinstance(self.config, DctConfig)
        image = np.asarray(image, np.float32)
        h, w, c = image.shape
        comps = components_for(c)
        z = block_analysis(to_components(image))
        bh, bw = z.shape[1:3]
        grid = grid_for(bh, bw, patch=PATCH // BLOCK)
        bands: list[Band] = []
        coeffs: dict[str, np.ndarray] = {}
        band_k: dict[str, int] = {}
        spans: dict[str, tuple[int, int, int]] = {}
        for ci, comp in enumerate(comps):
            lo = 0
            for gi, hi in enumerate(self.config.groups):
                name = f"{comp}/z{lo}-{hi}"
                coeffs[name] = z[ci, :, :, lo:hi]
                band_k[name] = _group_k(lo, hi)
                spans[name] = (ci, lo, hi)
                bands.append(Band(name, len(bands), gi, None, comp, _group_freq_range(lo, hi), (bh, bw, hi - lo), grid))
                lo = hi
        extra = {"shape": (h, w), "channels": c, "band_k": band_k, "spans": spans, "z": z}
        return Analysis(tuple(bands), coeffs, extra)

    def synthesize(
        self, analysis: Analysis, coeffs: dict[str, np.ndarray | None], shape: tuple[int, int]
    ) -> np.ndarray:
        full: tuple[int, int] = analysis.extra["shape"]
        band_k: dict[str, int] = analysis.extra["band_k"]
        spans: dict[str, tuple[int, int, int]] = analysis.extra["spans"]
        k = _k_for(tuple(shape), full, "dct render")
        present = {name: arr for name, arr in coeffs.items() if arr is not None}
        need = max((band_k[n] for n in present), default=1)
        if need > k:
            raise ShapeError("dct render", tuple(shape), f"k >= {need}, i.e. {_shape_at(full, need)} or larger")
        z: np.ndarray = analysis.extra["z"]
        if len(present) != len(analysis.bands) or any(present[n] is not analysis.coeffs[n] for n in present):
            # something is dropped or tile-masked; otherwise the bands are exactly views of z
            m = max((spans[n][2] for n in present), default=1)
            z = np.zeros((*z.shape[:3], m), np.float32)
            for name, arr in present.items():
                ci, lo, hi = spans[name]
                z[ci, :, :, lo:hi] = arr
        return from_components(block_synthesis(z, full, k))

    def minimal_shape(self, analysis: Analysis, kept: frozenset[str], image_shape: tuple[int, int]) -> tuple[int, int]:
        return _shape_at(image_shape, max(analysis.extra["band_k"][name] for name in kept))

    def upsample(self, image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        image = np.asarray(image, np.float32)
        if image.ndim == 2:
            image = image[:, :, None]
        if image.ndim != 3:
            raise ShapeError("dct minimal render", image.shape, "(h, w) or (h, w, C)")
        target = (int(shape[0]), int(shape[1]))
        k = _k_for(image.shape[:2], target, "dct minimal render")
        return block_upsample(image, k, target)


def _shape_at(shape: tuple[int, int], k: int) -> tuple[int, int]:
    return render_size(shape[0], k), render_size(shape[1], k)


def _k_for(shape: tuple[int, ...], full: tuple[int, int], what: str) -> int:
    """The ``k`` whose render of a ``full``-sized image is ``shape`` (8 when ``shape == full``)."""
    if tuple(shape) == tuple(full):
        return BLOCK
    for k in range(1, BLOCK):
        if _shape_at(full, k) == tuple(shape):
            return k
    allowed = sorted({_shape_at(full, k) for k in range(1, BLOCK + 1)})
    raise ShapeError(what, tuple(shape), f"a render size of {full}: one of {allowed}")
