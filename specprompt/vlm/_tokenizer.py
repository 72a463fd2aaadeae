"""The local model's band tokenizer: working resolution, token grid and the ``local`` token count.

The model sees every image at a fixed *working resolution*: the image is resized (area
interpolation when shrinking) so that its longer side is :data:`WORKING_SIZE` (64) pixels and is
placed at the top-left of a 64 x 64 canvas (the rest is filled by repeating the edge pixels; tokens
that lie wholly outside the image are never created). A Laplacian pyramid of the canvas gives
the working bands ``L0`` (finest) .. ``L3`` and ``residual``; each is cut into square patches, one
token per patch:

==========  ============  =====  ========================  ==================
band        samples       patch  tokens (64 x 64 image)    frequency (working)
==========  ============  =====  ========================  ==================
L0          64 x 64       16     4 x 4 = 16                0.5 .. 1 Nyquist
L1          32 x 32       8      4 x 4 = 16                0.25 .. 0.5
L2          16 x 16       8      2 x 2 = 4                 0.125 .. 0.25
L3          8 x 8         4      2 x 2 = 4                 0.0625 .. 0.125
residual    4 x 4         2      2 x 2 = 4                 0 .. 0.0625
==========  ============  =====  ========================  ==================

So a full square image costs at most :data:`MAX_TOKENS` = 44 tokens, whatever its source size.

Fine levels (``ModelConfig.canvas`` > 64, the v2 model): the image is also brought to a
``canvas`` px working canvas (same placement rule), whose octaves above 64 px are the *fine levels*
``F0`` (finest: 0.5 .. 1 of the canvas Nyquist), ``F1``, ... (``log2(canvas / 64)`` of them; 256 px:
``F0`` at 256 and ``F1`` at 128 samples). Each fine level is cut into a :data:`FINE_GRID` x
:data:`FINE_GRID` grid of pooled tokens (energy map and oriented spectrum of the patch, see
:mod:`specprompt.vlm._pyramid`). A fine token is created when the same band/tile rule as above
allows it *and* the patch carries energy (:func:`gate_fine`): a dropped or blurred-away band costs
no token. With ``canvas=64`` (every call's default) nothing here changes.

Convention:
    Frequencies are fractions of the Nyquist rate of the *source* image. A source band covering
    ``[lo, hi]`` lands at ``[lo / s, hi / s]`` of the working Nyquist, where ``s = 64 / longer
    side``; everything above the working Nyquist (source frequencies above ``s``) is lost: bands finer
    than the working resolution create no tokens and do not reach the model. A working band is
    created when its frequency range overlaps (with positive length) the range of at least one
    kept source band (a source band of zero width, e.g. a DCT DC term, belongs to the working band
    whose half-open range ``[lo, hi)`` holds it) *and* the source image has content there (an
    image smaller than 64 pixels has no content above its own Nyquist); a working token is created
    when, in addition, its patch overlaps (with positive area) a kept tile of such a source band.
    Colour components and
    orientation sectors of source bands (DCT/FFT/wavelet schemes) are ignored: tokens always carry
    all three colour channels.

Example:
    >>> image_token_count(64, 64)
    44
    >>> image_token_count(4000, 3000)   # works as 64 x 48: L0 and L1 have 4 x 3 tokens
    36
    >>> image_token_count(32, 32)   # no content above the source Nyquist -> no L0 tokens
    28
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from specprompt.errors import ConfigError, SelectionError
from specprompt.spectral import Band, Selection, band_layout, tile_slices

__all__ = [
    "BAND_NAMES",
    "FINE_CELLS",
    "FINE_FEATS",
    "FINE_GRID",
    "FINE_GRIDS",
    "MAX_TOKENS",
    "PATCHES",
    "SPECTRAL_BINS",
    "WORKING_SIZE",
    "TokenLayout",
    "default_bands",
    "fine_feature_dim",
    "fine_names",
    "gate_fine",
    "image_token_count",
    "invisible_bands",
    "token_layout",
    "working_shape",
]

#: Longer side, in pixels, of every image as the model sees it.
WORKING_SIZE = 64
#: Working bands, finest first.
BAND_NAMES: tuple[str, ...] = ("L0", "L1", "L2", "L3", "residual")
#: Patch side (in samples of the band) per working band.
PATCHES: tuple[int, ...] = (16, 8, 8, 4, 2)
#: Tokens per side of the grid of every fine level (canvas > 64) of the shipped checkpoints
#: (``ModelConfig.fine_grid``).
FINE_GRID = 4
#: Cells per side of a fine token's energy map (``ModelConfig.fine_cells``) of the shipped checkpoints.
FINE_CELLS = 4
#: Fine grids a model may use (tokens per side of a fine level).
FINE_GRIDS: tuple[int, ...] = (4, 8, 16)
_EPS = 1e-9

Rect = tuple[float, float, float, float]  # (row0, row1, col0, col1) as fractions of the image


#: Spectrum bins at the end of a fine token's feature vector (4 radial x 8 orientation).
SPECTRAL_BINS = 32


def fine_feature_dim(cells: int = FINE_CELLS) -> int:
    """Length of one fine token's feature vector: a ``cells x cells x 3`` energy map + 32 spectrum bins.

    Example:
        >>> fine_feature_dim(), fine_feature_dim(8)
        (80, 224)
    """
    return 3 * cells * cells + SPECTRAL_BINS


#: Length of one fine token's feature vector at :data:`FINE_CELLS`: 4 x 4 x 3 energy map + 4 radial x
#: 8 orientation bins.
FINE_FEATS = fine_feature_dim(FINE_CELLS)


def _level_size(n: int, level: int) -> int:
    for _ in range(level):
        n = (n + 1) // 2
    return n


def _grid(n: int, level: int) -> int:
    return max(1, math.ceil(_level_size(n, level) / PATCHES[level]))


#: Tokens of a full 64 x 64 image.
MAX_TOKENS = sum(_grid(WORKING_SIZE, lv) ** 2 for lv in range(len(BAND_NAMES)))


def _check_size(width: object, height: object) -> tuple[int, int]:
    for what, value in (("width", width), ("height", height)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or int(value) < 1:
            raise ConfigError(f"image {what} must be a positive int, got {value!r}")
    return int(width), int(height)  # type: ignore[call-overload]


def working_shape(width: int, height: int, size: int = WORKING_SIZE) -> tuple[int, int]:
    """``(rows, cols)`` of the image inside a working canvas of ``size`` px (default 64).

    Example:
        >>> working_shape(640, 480), working_shape(640, 480, 256)
        ((48, 64), (192, 256))
    """
    w, h = _check_size(width, height)
    s = size / max(w, h)
    return max(1, min(size, round(h * s))), max(1, min(size, round(w * s)))


def fine_names(canvas: int) -> tuple[str, ...]:
    """Names of the fine levels of a ``canvas`` px working resolution, finest first.

    Example:
        >>> fine_names(64), fine_names(256)
        ((), ('F0', 'F1'))
    """
    return tuple(f"F{j}" for j in range((max(canvas, WORKING_SIZE) // WORKING_SIZE).bit_length() - 1))


def _freq_range(level: int) -> tuple[float, float]:
    last = len(BAND_NAMES) - 1
    if level == last:
        return 0.0, 2.0**-last
    return 2.0 ** -(level + 1), 2.0**-level


def default_bands(width: int, height: int) -> tuple[Band, ...]:
    """The bands of ``specprompt.decompose(image, "laplacian")`` for a ``width x height`` image.

    Computed from the size alone (no pixels), so the token layout of a selection of the default
    Laplacian scheme is known without decomposing the image.
    """
    w, h = _check_size(width, height)
    return band_layout("laplacian", (h, w), 3)


@dataclass(frozen=True)
class TokenLayout:
    """Which working tokens an image creates.

    Attributes:
        shape: ``(rows, cols)`` of the image in the working canvas.
        created: per working band, a bool array over its full-canvas token grid
            (``(4, 4), (4, 4), (2, 2), (2, 2), (2, 2)``), True where the token is created.
        fine: per fine level (finest first; empty for a 64 px canvas), a ``(FINE_GRID, FINE_GRID)``
            bool array, True where the token is created.
    """

    shape: tuple[int, int]
    created: tuple[np.ndarray, ...]
    fine: tuple[np.ndarray, ...] = ()

    @property
    def n_tokens(self) -> int:
        """Number of created tokens (the ``local`` cost model's image tokens)."""
        return int(sum(int(c.sum()) for c in (*self.created, *self.fine)))

    def per_band(self) -> dict[str, int]:
        """Created tokens per working band name (fine levels ``F0``.. after the five bands)."""
        out = {name: int(c.sum()) for name, c in zip(BAND_NAMES, self.created, strict=True)}
        out.update({f"F{j}": int(c.sum()) for j, c in enumerate(self.fine)})
        return out


def gate_fine(layout: TokenLayout, energy: Sequence[np.ndarray], threshold: float) -> TokenLayout:
    """``layout`` with only the fine tokens whose patch energy exceeds ``threshold``.

    Args:
        layout: a layout with fine levels.
        energy: per fine level, the ``(fine_grid, fine_grid)`` mean absolute coefficient of each patch
            (:func:`specprompt.vlm._prepare.fine_energy`).
        threshold: the energy a token needs.

    Raises:
        ConfigError: ``energy`` does not match the layout's fine levels.
    """
    if len(energy) != len(layout.fine) or any(e.shape != f.shape for e, f in zip(energy, layout.fine, strict=False)):
        raise ConfigError(
            f"fine energy of shapes {[e.shape for e in energy]} does not fit the layout's "
            f"fine levels {[f.shape for f in layout.fine]}"
        )
    fine = tuple(f & (e > threshold) for f, e in zip(layout.fine, energy, strict=True))
    return TokenLayout(layout.shape, layout.created, fine)


def _overlap(work: tuple[float, float], src: tuple[float, float]) -> bool:
    lo, hi = src
    if hi - lo <= _EPS:  # a single frequency (a DCT band's DC term): half-open [a, b) membership
        return work[0] - _EPS <= lo < work[1] - _EPS
    return min(work[1], hi) - max(work[0], lo) > _EPS


def _rects_of(band: Band, tiles: frozenset[tuple[int, int]] | None) -> list[Rect]:
    if tiles is None:
        return [(0.0, 1.0, 0.0, 1.0)]
    rows, cols = band.coeff_shape[0], band.coeff_shape[1]
    out = []
    for t in tiles:
        rs, cs = tile_slices((rows, cols), band.tile_grid, t)
        out.append((rs.start / rows, rs.stop / rows, cs.start / cols, cs.stop / cols))
    return out


def _check_selection(selection: Selection, bands: Sequence[Band]) -> None:
    names = {b.name: b for b in bands}
    if selection.bands is not None:
        unknown = sorted(selection.bands - set(names))
        if unknown:
            raise SelectionError(f"selection names unknown band(s) {unknown}; bands: {', '.join(names)}")
    for name, tiles in selection.tiles:
        grid = names[name].tile_grid
        bad = sorted(t for t in tiles if t[0] >= grid[0] or t[1] >= grid[1])
        if bad:
            raise SelectionError(f"tiles {bad} of band {name!r} are outside its tile grid {grid}")


def _grid_created(rel: list[list[Rect]], n_rows: int, n_cols: int, patch: int, grid: int) -> np.ndarray:
    """Tokens of a ``grid x grid`` band grid (patches of ``patch`` samples over an image of
    ``n_rows x n_cols`` samples of that band) that overlap a kept tile of ``rel``'s bands."""
    out = np.zeros((grid, grid), bool)
    if not rel:
        return out
    for i in range(min(grid, max(1, math.ceil(n_rows / patch)))):
        r0, r1 = i * patch / n_rows, min((i + 1) * patch, n_rows) / n_rows
        for j in range(min(grid, max(1, math.ceil(n_cols / patch)))):
            c0, c1 = j * patch / n_cols, min((j + 1) * patch, n_cols) / n_cols
            out[i, j] = any(
                min(r1, q[1]) - max(r0, q[0]) > _EPS and min(c1, q[3]) - max(c0, q[2]) > _EPS
                for rects in rel
                for q in rects
            )
    return out


def token_layout(
    width: int,
    height: int,
    selection: Selection | None = None,
    bands: Sequence[Band] | None = None,
    *,
    canvas: int = WORKING_SIZE,
    fine_grid: int = FINE_GRID,
) -> TokenLayout:
    """The working tokens created for a ``width x height`` source image under ``selection``.

    Args:
        width: source width in pixels.
        height: source height in pixels.
        selection: kept bands (and tiles) of the source spectrum; ``None`` keeps everything.
        bands: the source spectrum's bands (``spectrum.bands``) that ``selection`` names; ``None``
            means the default Laplacian scheme of :func:`specprompt.decompose`.
        canvas: working resolution (``ModelConfig.canvas``); above 64 the layout also has the fine
            levels' tokens that the selection allows (before the energy gate of :func:`gate_fine`).
        fine_grid: tokens per side of each fine level (``ModelConfig.fine_grid``).

    Returns:
        a :class:`TokenLayout`.

    Raises:
        ConfigError: bad size or canvas. SelectionError: the selection names bands or tiles ``bands`` lacks.
    """
    w, h = _check_size(width, height)
    if canvas not in (64, 128, 256, 512) or isinstance(canvas, bool):
        raise ConfigError(f"canvas must be one of 64, 128, 256, 512, got {canvas!r}")
    if fine_grid not in FINE_GRIDS or isinstance(fine_grid, bool):
        raise ConfigError(f"fine_grid must be one of {FINE_GRIDS}, got {fine_grid!r}")
    if selection is not None and not isinstance(selection, Selection):
        raise SelectionError(f"selection must be a specprompt.Selection or None, got {type(selection).__name__}")
    sel = selection if selection is not None else Selection.all()
    src = tuple(bands) if bands is not None else default_bands(w, h)
    if not all(isinstance(b, Band) for b in src):
        raise ConfigError("bands must be a sequence of specprompt.Band (e.g. spectrum.bands)")
    _check_selection(sel, src)
    kept: list[tuple[tuple[float, float], list[Rect]]] = []
    for b in src:
        if b.name not in sel:
            continue
        tiles = sel.tiles_of(b.name)
        if tiles is not None and not tiles:
            continue
        kept.append((b.freq_range, _rects_of(b, tiles)))

    def relevant(lo: float, hi: float, scale: float) -> list[list[Rect]]:
        src_range = (lo * scale, min(hi * scale, 1.0))
        return [rects for rng, rects in kept if src_range[1] > src_range[0] and _overlap(src_range, rng)]

    rows, cols = working_shape(w, h)
    scale = WORKING_SIZE / max(w, h)
    created = []
    for lv in range(len(BAND_NAMES)):
        rel = relevant(*_freq_range(lv), scale)
        p = PATCHES[lv]
        created.append(_grid_created(rel, _level_size(rows, lv), _level_size(cols, lv), p, _grid(WORKING_SIZE, lv)))
    fine = []
    if canvas > WORKING_SIZE:
        rows_c, cols_c = working_shape(w, h, canvas)
        scale_c = canvas / max(w, h)
        for j in range(len(fine_names(canvas))):
            rel = relevant(2.0 ** -(j + 1), 2.0**-j, scale_c)
            p = (canvas >> j) // fine_grid
            fine.append(_grid_created(rel, _level_size(rows_c, j), _level_size(cols_c, j), p, fine_grid))
    return TokenLayout((rows, cols), tuple(created), tuple(fine))


def image_token_count(
    width: int,
    height: int,
    selection: Selection | None = None,
    bands: Sequence[Band] | None = None,
    *,
    canvas: int = WORKING_SIZE,
    fine_grid: int = FINE_GRID,
) -> int:
    """Image tokens the local model creates for a ``width x height`` image under ``selection``.

    It depends only on the size, the selection and the source bands' frequency ranges and token
    grids, never on pixels (with ``canvas`` > 64 it is the upper bound before the fine levels'
    energy gate). See :func:`token_layout` for the args. The ``local`` cost model is this
    count *without* a selection for the size of the image sent
    (``image_token_count(*rendered.size)``): a selection is priced by the pixels of its render,
    so equal pixels cost equal tokens whatever the scheme.

    Example:
        >>> from specprompt import Selection
        >>> image_token_count(256, 256, Selection.of(["residual"]))   # residual: 0..1/16 -> L2, L3, residual
        12
    """
    return token_layout(width, height, selection, bands, canvas=canvas, fine_grid=fine_grid).n_tokens


def invisible_bands(
    width: int, height: int, bands: Sequence[Band] | None = None, *, canvas: int = WORKING_SIZE
) -> tuple[str, ...]:
    """Names of the source bands that the local model cannot see in a ``width x height`` image:
    kept alone, they create no working token (their frequencies are all above the 64 px working
    resolution). Keeping or dropping them never changes the model's answer.

    Args:
        width: source width in pixels.
        height: source height in pixels.
        bands: the source spectrum's bands; ``None`` means the default Laplacian scheme.
        canvas: working resolution (``ModelConfig.canvas``).

    Example:
        >>> invisible_bands(256, 256)   # 256 px: L0 and L1 are finer than the 64 px working size
        ('L0', 'L1')
        >>> invisible_bands(256, 256, canvas=256), invisible_bands(64, 64)
        ((), ())
    """
    w, h = _check_size(width, height)
    src = tuple(bands) if bands is not None else default_bands(w, h)
    return tuple(b.name for b in src if token_layout(w, h, Selection.of([b.name]), src, canvas=canvas).n_tokens == 0)
