"""The :class:`Spectrum` container and :func:`decompose`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from specprompt.errors import ConfigError, SelectionError, ShapeError
from specprompt.spectral._base import Analysis, Scheme
from specprompt.spectral._registry import get_scheme
from specprompt.spectral._tiles import apply_tiles
from specprompt.spectral._types import Band, Selection

if TYPE_CHECKING:
    from PIL import Image as PILImage

__all__ = ["Spectrum", "band_layout", "decompose", "scheme_for", "to_pil"]

_MODES = {1: "L", 3: "RGB", 4: "RGBA"}


class Spectrum:
    """An image split into ordered frequency bands, with an exact inverse.

    Built by :func:`decompose`; not constructed directly.

    Attributes:
        scheme: the scheme name (``"laplacian"``, ``"dct"``, ``"fft"``, ...).
        config: the scheme's frozen config.
        bands: the bands, in the scheme's canonical order.
        shape: ``(H, W, C)`` of the source image.
        mode: ``"L"``, ``"RGB"`` or ``"RGBA"``.

    Convention:
        Pixels are float32 in [0, 1]. Alpha (mode ``"RGBA"``) is decomposed like any other
        channel (by the ``dct`` scheme as its own component ``"a"``), so dropping fine bands also
        softens the alpha edges; reconstructions are not clipped, renders are.
    """

    def __init__(self, scheme: Scheme, analysis: Analysis, shape: tuple[int, int, int]) -> None:
        self._scheme = scheme
        self._analysis = analysis
        self.shape = shape
        self.bands: tuple[Band, ...] = analysis.bands
        self._by_name = {b.name: b for b in self.bands}

    # -- basic properties --------------------------------------------------------------------------
    @property
    def scheme(self) -> str:
        return self._scheme.name

    @property
    def config(self) -> Any:
        return self._scheme.config

    @property
    def mode(self) -> str:
        return _MODES[self.shape[2]]

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` of the source image, PIL order."""
        return self.shape[1], self.shape[0]

    @property
    def band_names(self) -> tuple[str, ...]:
        return tuple(b.name for b in self.bands)

    def band(self, name: str) -> Band:
        """The band called ``name``; :class:`SelectionError` lists the valid names."""
        try:
            return self._by_name[name]
        except KeyError:
            raise SelectionError(
                f"{self.scheme} spectrum has no band {name!r}; bands: {', '.join(self.band_names)}"
            ) from None

    def coefficients(self, name: str) -> np.ndarray:
        """A read-only view of the coefficients of band ``name`` (shape ``band.coeff_shape``)."""
        view = self._analysis.coeffs[self.band(name).name].view()
        view.flags.writeable = False
        return view

    def energy(self) -> dict[str, float]:
        """Sum of squared coefficients per band (a partition of the image energy for orthogonal schemes)."""
        return {b.name: float(np.sum(np.square(self._analysis.coeffs[b.name], dtype=np.float64))) for b in self.bands}

    # -- selections ------------------------------------------------------------------------------
    def check(self, selection: Selection | None) -> Selection:
        """Validates ``selection`` against this spectrum and returns it (``None`` -> all bands).

        Raises:
            SelectionError: unknown band names or tiles outside a band's ``tile_grid``.
        """
        if selection is None:
            return Selection.all()
        if not isinstance(selection, Selection):
            raise SelectionError(f"expected a specprompt.Selection, got {type(selection).__name__}")
        if selection.bands is not None:
            unknown = sorted(selection.bands - set(self._by_name))
            if unknown:
                raise SelectionError(
                    f"selection names unknown band(s) {unknown}; {self.scheme} bands: {', '.join(self.band_names)}"
                )
        for name, tiles in selection.tiles:
            band = self.band(name)
            bad = sorted(t for t in tiles if t[0] >= band.tile_grid[0] or t[1] >= band.tile_grid[1])
            if bad:
                raise SelectionError(f"tiles {bad} of band {name!r} are outside its tile grid {band.tile_grid}")
        return selection

    def kept(self, selection: Selection | None = None) -> frozenset[str]:
        """Names of the bands ``selection`` keeps (at least one tile)."""
        sel = self.check(selection)
        if sel.is_all:
            return frozenset(self._by_name)
        names = set(self._by_name) if sel.bands is None else set(sel.bands)
        return frozenset(n for n in names if sel.tiles_of(n) != frozenset())

    def select(self, bands: Iterable[str] | None = None, **tiles: Iterable[tuple[int, int]]) -> Selection:
        """A validated :class:`Selection` of ``bands`` (default: all)."""
        sel = Selection.all() if bands is None else Selection.of(bands, tiles or None)
        return self.check(sel)

    def tile_count(self, selection: Selection | None = None) -> int:
        """Kept tiles summed over kept bands: the spectrum's native tile count.

        This is not what any model is billed: the local band VLM's tokens come from
        :func:`specprompt.cost.selection_tokens` with the ``"local"`` cost model.
        """
        sel = self.check(selection)
        total = 0
        for name in self.kept(sel):
            tiles = sel.tiles_of(name)
            total += self._by_name[name].n_tiles if tiles is None else len(tiles)
        return total

    # -- synthesis -------------------------------------------------------------------------------
    def _masked(self, sel: Selection) -> dict[str, np.ndarray | None]:
        out: dict[str, np.ndarray | None] = {}
        kept = self.kept(sel)
        for band in self.bands:
            c = self._analysis.coeffs[band.name]
            if band.name not in kept:
                out[band.name] = None
                continue
            tiles = sel.tiles_of(band.name)
            out[band.name] = c if tiles is None else apply_tiles(c, band.tile_grid, tiles)
        return out

    def reconstruct(self, selection: Selection | None = None) -> np.ndarray:
        """Inverse transform of the kept bands at full size.

        Args:
            selection: bands (and tiles) to keep; ``None`` keeps all, which returns the source
                image to max-abs error <= 1e-5.

        Returns:
            float32 array ``(H, W, C)``, not clipped.
        """
        sel = self.check(selection)
        return self._scheme.synthesize(self._analysis, self._masked(sel), self.shape[:2])

    def render_shape(
        self, selection: Selection | None = None, size: Literal["minimal", "full"] = "minimal"
    ) -> tuple[int, int]:
        """``(height, width)`` that :meth:`render` produces, computed without rendering."""
        sel = self.check(selection)
        if size == "full":
            return self.shape[0], self.shape[1]
        if size != "minimal":
            raise ConfigError(f"size must be 'minimal' or 'full', got {size!r}")
        kept = self.kept(sel)
        if not kept:
            return 1, 1
        if not self._scheme.tiles_keep_band_limit and any(sel.tiles_of(n) is not None for n in kept):
            return self.shape[0], self.shape[1]
        return self._scheme.minimal_shape(self._analysis, kept, self.shape[:2])

    def render_array(
        self, selection: Selection | None = None, size: Literal["minimal", "full"] = "minimal"
    ) -> np.ndarray:
        """Float32 ``(h, w, C)`` pixels of :meth:`render`, before clipping and quantization."""
        sel = self.check(selection)
        shape = self.render_shape(sel, size)
        if not self.kept(sel):
            return np.zeros((*shape, self.shape[2]), np.float32)
        return self._scheme.synthesize(self._analysis, self._masked(sel), shape)

    def render(
        self, selection: Selection | None = None, size: Literal["minimal", "full"] = "minimal"
    ) -> PILImage.Image:
        """The image an API receives for ``selection``: clipped to [0, 1] and quantized to 8 bits.

        Args:
            selection: kept bands (default all).
            size: ``"minimal"``: the smallest image that holds the kept bands without loss
                (Laplacian prefix to level k: 2^k smaller; DCT within the top-left k x k: 8/k
                smaller; FFT up to radius r: r times smaller, rounded up). ``"full"``: source size.

        Returns:
            a PIL image in mode ``L``, ``RGB`` or ``RGBA``.
        """
        return to_pil(self.render_array(selection, size))

    def upsample(self, pixels: np.ndarray, shape: tuple[int, int] | None = None) -> np.ndarray:
        """Brings a minimal render back to full size with the scheme's exact interpolator.

        Args:
            pixels: a minimal render (:meth:`render_array`), ``(h, w)`` or ``(h, w, C)``.
            shape: the ``(H, W)`` to bring it to; default the spectrum's size.

        Returns:
            float32 ``(H, W, C)`` pixels.

        Raises:
            ConfigError: ``pixels`` is not a numeric array, ``shape`` is not two ints >= 1, or
                (from the scheme) ``pixels`` is not a render size of ``shape``.
            ShapeError: ``pixels`` is not 2-D or 3-D, or not a render size of ``shape``.
        """
        arr = _float_pixels(pixels, "upsample expects the pixels of a minimal render (a numpy array)")
        if arr.ndim not in (2, 3):
            raise ShapeError("minimal render", arr.shape, "(h, w) or (h, w, C)")
        if shape is None:
            target = (self.shape[0], self.shape[1])
        else:
            target = _shape2("upsample shape", shape)
        return self._scheme.upsample(arr, target)

    # -- display ---------------------------------------------------------------------------------
    def table(self) -> list[dict[str, Any]]:
        """One JSON-ready row per band: name, level, orientation, frequency range, shapes, tiles, energy."""
        energy = self.energy()
        return [{**b.to_dict(), "tiles": b.n_tiles, "energy": energy[b.name]} for b in self.bands]

    def text(self) -> str:
        """:meth:`table` as aligned text, one line per band (what ``specprompt demo`` prints).

        Example:
            >>> import numpy as np
            >>> from specprompt import decompose
            >>> print(decompose(np.zeros((32, 32, 3), np.float32), "laplacian").text().splitlines()[0])
            band         level  freq (x Nyquist)      coeff shape  tiles     energy
        """
        head = f"{'band':<12} {'level':>5} {'freq (x Nyquist)':>17} {'coeff shape':>16} {'tiles':>6} {'energy':>10}"
        lines = [head]
        for row in self.table():
            lo, hi = row["freq_range"]
            level = row["level"] if row["level"] is not None else "-"
            lines.append(
                f"{row['name']:<12} {level:>5} {lo:>8.3f}-{hi:<8.3f} "
                f"{'x'.join(map(str, row['coeff_shape'])):>16} {row['tiles']:>6} {row['energy']:>10.1f}"
            )
        return "\n".join(lines)

    def __repr__(self) -> str:
        h, w, _ = self.shape
        return f"Spectrum(scheme={self.scheme!r}, size={w}x{h}, mode={self.mode!r}, bands={len(self.bands)})"


def to_pil(pixels: np.ndarray) -> PILImage.Image:
    """Clips float ``(h, w, C)`` pixels to [0, 1], rounds to uint8 and wraps them in a PIL image.

    Shape:
        pixels: ``(h, w, C)`` with C in 1 (mode ``L``), 3 (``RGB``) or 4 (``RGBA``).

    Raises:
        ConfigError: ``pixels`` is not a numeric array.
        ShapeError: another shape.
    """
    from PIL import Image

    arr = _float_pixels(pixels, "to_pil expects a numpy array of pixels")
    if arr.ndim != 3 or arr.shape[2] not in _MODES or 0 in arr.shape:
        raise ShapeError("to_pil pixels", arr.shape, "(h, w, C) with h, w >= 1 and C in 1, 3, 4")
    arr = np.clip(np.rint(arr * 255.0), 0, 255).astype(np.uint8)
    if arr.shape[2] == 1:
        return Image.fromarray(arr[:, :, 0], mode="L")
    return Image.fromarray(arr, mode=_MODES[arr.shape[2]])


def scheme_for(scheme: str, **options: Any) -> Scheme:
    """The configured backend of ``scheme`` (``options`` are fields of its config).

    Raises:
        UnknownNameError: unknown scheme. ConfigError: bad option.
    """
    cls = get_scheme(scheme)
    try:
        config = cls.config_cls(**options)
    except TypeError as exc:
        raise ConfigError(f"bad option for scheme {scheme!r}: {exc}") from None
    return cls(config)


def band_layout(scheme: str, shape: tuple[int, int], channels: int = 3, **options: Any) -> tuple[Band, ...]:
    """The bands of ``decompose(image, scheme, **options)`` for an ``(H, W)`` image with ``channels``
    channels, from the size alone (:meth:`Scheme.band_layout`).

    Raises:
        UnknownNameError: unknown scheme. ConfigError: bad option, a ``shape`` that is not two
        ints >= 1, or ``channels`` not 1, 3 or 4 (the channel counts :func:`decompose` reads).

    Example:
        >>> [b.name for b in band_layout("laplacian", (64, 48))]
        ['L0', 'L1', 'residual']
    """
    size = _shape2("band_layout shape", shape)
    if not isinstance(channels, (int, np.integer)) or isinstance(channels, bool) or channels not in _MODES:
        raise ConfigError(f"band_layout channels must be 1, 3 or 4, got {channels!r}")
    return scheme_for(scheme, **options).band_layout(size, int(channels))


def _shape2(name: str, shape: object) -> tuple[int, int]:
    """``shape`` as ``(H, W)``, two ints >= 1; a ConfigError naming ``name`` otherwise."""
    if isinstance(shape, (tuple, list)) and len(shape) == 2:
        h, w = shape
        if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1 for v in (h, w)):
            return int(h), int(w)
    raise ConfigError(f"{name} must be (height, width), two ints >= 1, got {shape!r}")


def decompose(image: Any, scheme: str = "laplacian", **options: Any) -> Spectrum:
    """Splits an image into frequency bands.

    Args:
        image: anything :func:`specprompt.load_image` accepts (path, bytes, PIL image, data URI,
            ``dspy.Image``), or a numpy array ``(H, W)`` / ``(H, W, C)`` with C in 1, 3, 4:
            float arrays are taken as [0, 1] pixels, uint8 arrays are divided by 255.
        scheme: a registered scheme name (see :func:`specprompt.available_schemes`).
        **options: fields of the scheme's config (e.g. ``levels=4`` for ``laplacian``).

    Returns:
        a :class:`Spectrum`; ``spectrum.reconstruct()`` is the exact inverse.

    Raises:
        UnknownNameError: unknown scheme. ConfigError: bad option. ImageInputError / ShapeError:
        bad image.

    Example:
        >>> import numpy as np
        >>> spec = decompose(np.full((32, 48, 3), 0.5, np.float32), "laplacian")
        >>> bool(np.abs(spec.reconstruct() - 0.5).max() < 1e-5)
        True
    """
    from specprompt.io import as_array

    backend = scheme_for(scheme, **options)
    borrow = backend.borrows_input  # the caller's float32 array itself, NaN / inf found in the bands
    arr = as_array(image, copy=not borrow, check_finite=not borrow)
    analysis = backend.analyze(arr)
    if borrow and not backend.input_is_finite(analysis):
        as_array(image)  # the full scan raises ImageInputError naming the NaN / inf (if not a false alarm)
    return Spectrum(backend, analysis, (arr.shape[0], arr.shape[1], arr.shape[2]))


def _float_pixels(pixels: Any, expects: str) -> np.ndarray:
    """``pixels`` as a float32 array; a :class:`ConfigError` saying ``expects`` for ``None`` or
    anything numpy cannot read as numbers."""
    if pixels is None:
        raise ConfigError(f"{expects}, got None")
    try:
        return np.asarray(pixels, np.float32)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{expects}: {exc}") from None
