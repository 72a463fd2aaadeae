"""The search space of one demo image: a few integer choices that map to a band Selection.

One factory per scheme, registered by name. A factory gets the image's :class:`Spectrum` and
returns an :class:`ImageSpace`: integer dimensions (Optuna ``IntDistribution`` s) plus the
mapping from their values to a :class:`~specprompt.Selection`. ``Selection.none()`` means "drop
the image".

=========  ============================  ====================================================
scheme     dimensions                    meaning
=========  ============================  ====================================================
laplacian  ``keep_from`` in 0 .. n+1     keep bands of level >= keep_from (level n is the
wavelet                                  residual / approximation); n+1 = drop the image
dct        one per component (``y``,     keep the first v zigzag groups of that component;
           ``cb``, ``cr``, ``a``) 0..G   all zero = drop the image
fft        ``rings`` in 0 .. R           keep the R lowest rings (all orientations);
                                         0 = drop the image
=========  ============================  ====================================================

What an image keeps is separate from the size it is sent at. Under a cost model that prices
pixels (every provider), :func:`with_size` adds a ``size`` dimension: the longest side of the
sent image in pixels, any integer from ``min(MIN_SIDE, longest)`` to the source's longest side
(an Optuna log-scale ``IntDistribution``). The kept bands are reconstructed at full size and
resampled to that size with PIL's Lanczos filter (see
:meth:`specprompt.SpectralImage.from_spectrum`), so sizes are not restricted to the powers of
two of a pyramid. Under the ``local`` cost model the spaces have no ``size`` dimension: images are sent at
their minimal render size, priced by the local model's tokens of those pixels.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from specprompt._registry import Registry
from specprompt.errors import ConfigError
from specprompt.spectral import Selection, Spectrum

__all__ = [
    "MIN_SIDE",
    "SCALE_LADDER",
    "SIZE_DIM",
    "Dim",
    "ImageSpace",
    "available_search_spaces",
    "register_search_space",
    "search_space_for",
    "sent_size",
    "with_size",
]

#: Name of the dimension holding the sent image's longest side in pixels.
SIZE_DIM = "size"
#: The smallest longest side (pixels) a sent image gets, unless the source is smaller.
MIN_SIDE = 8
#: Scales of the longest side tried, in order, by :meth:`ImageSpace.ladder` (warm starts and
#: fallbacks); the search itself may pick any integer side in between.
SCALE_LADDER: tuple[float, ...] = (
    1.0, 0.85, 0.7, 0.6, 0.5, 0.4, 0.33, 0.25, 0.2, 0.16, 0.125, 0.1, 0.08, 0.0625, 0.05, 0.04, 0.03125,
)  # fmt: skip


def sent_size(source: tuple[int, int], side: int) -> tuple[int, int]:
    """``(width, height)`` of a ``source`` image (``(width, height)``) sent with longest side ``side``.

    Convention:
        The longest side is exactly ``side``; the other is ``round(other * side / longest)``,
        at least 1. The aspect ratio is kept as closely as integers allow.

    Example:
        >>> sent_size((640, 480), 100), sent_size((30, 90), 45)
        ((100, 75), (15, 45))
    """
    w, h = source
    if w >= h:
        return side, max(1, round(h * side / w))
    return max(1, round(w * side / h)), side


@dataclass(frozen=True)
class Dim:
    """One integer dimension ``low .. high`` (inclusive) of an image's search space.

    ``log``: sample it on a log scale (Optuna ``IntDistribution(..., log=True)``).
    """

    name: str
    low: int
    high: int
    log: bool = False


@dataclass(frozen=True)
class ImageSpace:
    """The search space of one image.

    Attributes:
        dims: the integer dimensions.
        groups: per dimension, its band names grouped by ``Band.level``, level 0 first
            (finest for pyramids, lowest frequency for DCT and FFT).
        reverse: dimensions that count from the fine end: value ``v`` keeps ``groups[name][v:]``
            (``keep_from``); the others keep ``groups[name][:v]`` (a low-frequency prefix).
        source_size: ``(width, height)`` of the source when the space has a ``size`` dimension
            (:func:`with_size`), else ``None`` (images are sent at their minimal render size).

    Convention:
        The largest ``reverse`` value and a 0 prefix keep nothing; when no band is kept the
        selection is ``Selection.none()`` and the image is dropped. The ``size`` dimension
        never changes what is kept, only the size it is sent at (:meth:`sent_size`).

    Example:
        >>> import numpy as np
        >>> from specprompt import decompose
        >>> space = search_space_for(decompose(np.zeros((64, 64, 3), np.float32)))
        >>> space.dims
        (Dim(name='keep_from', low=0, high=3, log=False),)
        >>> sorted(space.selection({"keep_from": 1}).bands), space.describe({"keep_from": 3})
        (['L1', 'residual'], {'keep_from': 'drop'})
    """

    dims: tuple[Dim, ...]
    groups: Mapping[str, tuple[tuple[str, ...], ...]]
    reverse: frozenset[str] = frozenset()
    source_size: tuple[int, int] | None = None

    @property
    def band_dims(self) -> tuple[Dim, ...]:
        """The dimensions that choose the kept bands (all but ``size``)."""
        return tuple(d for d in self.dims if d.name != SIZE_DIM)

    @property
    def size_dim(self) -> Dim | None:
        """The ``size`` dimension, or ``None``."""
        return next((d for d in self.dims if d.name == SIZE_DIM), None)

    def sent_size(self, values: Mapping[str, int]) -> tuple[int, int] | None:
        """``(width, height)`` the image is sent at, or ``None`` for its minimal render size."""
        if self.source_size is None or self.size_dim is None:
            return None
        return sent_size(self.source_size, int(values[SIZE_DIM]))

    def check(self, values: Mapping[str, int]) -> None:
        for d in self.dims:
            v = values.get(d.name)
            if not isinstance(v, int) or isinstance(v, bool) or not d.low <= v <= d.high:
                raise ConfigError(f"search value {d.name}={v!r} outside {d.low}..{d.high}")

    def selection(self, values: Mapping[str, int]) -> Selection:
        """The bands kept for ``values``; ``Selection.none()`` when the image is dropped."""
        self.check(values)
        kept: list[str] = []
        for d in self.band_dims:
            groups = self.groups[d.name]
            chosen = groups[values[d.name] :] if d.name in self.reverse else groups[: values[d.name]]
            for g in chosen:
                kept.extend(g)
        return Selection.of(kept) if kept else Selection.none()

    def full(self) -> dict[str, int]:
        """Values keeping every band, sent at full size."""
        return {d.name: d.low if d.name in self.reverse else d.high for d in self.dims}

    def ladder(self) -> list[dict[str, int]]:
        """Values from "keep everything" to "drop", one step at a time.

        Without a ``size`` dimension every band dimension coarsens one step per rung. With one,
        every band is kept and the longest side steps down :data:`SCALE_LADDER` (then the
        smallest side), and the last rung drops the image.
        """
        size = self.size_dim
        if size is not None:
            full = self.full()
            sides = dict.fromkeys(max(size.low, round(size.high * s)) for s in (*SCALE_LADDER, 0.0))
            out = [{**full, SIZE_DIM: side} for side in sides]
            drop = {d.name: d.high if d.name in self.reverse else d.low for d in self.band_dims}
            return [*out, {**drop, SIZE_DIM: size.low}]
        steps = max(d.high - d.low for d in self.dims)
        out = []
        for i in range(steps + 1):
            out.append(
                {
                    d.name: min(d.low + i, d.high) if d.name in self.reverse else max(d.high - i, d.low)
                    for d in self.dims
                }
            )
        return out

    def describe(self, values: Mapping[str, int]) -> dict[str, Any]:
        """JSON form of ``values`` (a dropped image reads ``"drop"``)."""
        if not self.selection(values).bands:
            return {d.name: "drop" for d in self.dims}
        return {d.name: int(values[d.name]) for d in self.dims}


def with_size(space: ImageSpace, source_size: tuple[int, int]) -> ImageSpace:
    """``space`` plus a ``size`` dimension: the sent longest side, ``min(MIN_SIDE, longest)`` .. longest.

    Example:
        >>> import numpy as np
        >>> from specprompt import decompose
        >>> space = with_size(search_space_for(decompose(np.zeros((48, 64, 3), np.float32))), (64, 48))
        >>> space.size_dim, space.sent_size({"keep_from": 0, "size": 40})
        (Dim(name='size', low=8, high=64, log=True), (40, 30))
        >>> [r["size"] for r in space.ladder()][:5]
        [64, 54, 45, 38, 32]
    """
    if space.size_dim is not None:
        raise ConfigError("the search space already has a size dimension")
    longest = max(source_size)
    dim = Dim(SIZE_DIM, min(MIN_SIDE, longest), longest, log=True)
    return ImageSpace((*space.dims, dim), space.groups, space.reverse, (int(source_size[0]), int(source_size[1])))


SpaceFactory = Callable[[Spectrum], ImageSpace]

_SPACES: Registry[SpaceFactory] = Registry("search space")


def register_search_space(scheme: str, factory: SpaceFactory, *, replace: bool = False) -> SpaceFactory:
    """Registers the search-space factory of a scheme (``factory(spectrum) -> ImageSpace``).

    Raises:
        DuplicateNameError: the scheme has one and ``replace`` is false.
    """
    return _SPACES.register(scheme, factory, replace=replace)


def available_search_spaces() -> list[str]:
    """Schemes with a registered search space, sorted."""
    return _SPACES.names()


def search_space_for(spectrum: Spectrum) -> ImageSpace:
    """The search space of one decomposed image.

    Args:
        spectrum: the image decomposed (:func:`specprompt.decompose`); the space depends on its
            bands, so a scheme name alone is not enough.

    Raises:
        ConfigError: ``spectrum`` is not a :class:`~specprompt.spectral.Spectrum` (the message
            names the schemes with a search space).
        UnknownNameError: no search space is registered for ``spectrum.scheme``.

    Example:
        >>> search_space_for("laplacian")
        Traceback (most recent call last):
        ...
        specprompt.errors.ConfigError: search_space_for needs a Spectrum ... got str 'laplacian'; ...
    """
    if not isinstance(spectrum, Spectrum):
        raise ConfigError(
            f"search_space_for needs a Spectrum (specprompt.decompose(image, scheme)), got "
            f"{type(spectrum).__name__} {spectrum!r:.60}; schemes with a search space: {', '.join(_SPACES.names())}"
        )
    return _SPACES.get(spectrum.scheme)(spectrum)


def _levels(spectrum: Spectrum, names: list[str] | None = None) -> list[tuple[str, ...]]:
    by_level: dict[int, list[str]] = {}
    for b in spectrum.bands:
        if names is not None and b.name not in names:
            continue
        by_level.setdefault(b.level if b.level is not None else b.index, []).append(b.name)
    return [tuple(by_level[k]) for k in sorted(by_level)]


def pyramid_space(spectrum: Spectrum) -> ImageSpace:
    """``keep_from``: the finest kept level of a fine-to-coarse pyramid (Laplacian, wavelet)."""
    levels = _levels(spectrum)
    dim = Dim("keep_from", 0, len(levels))
    return ImageSpace((dim,), {"keep_from": tuple(levels)}, frozenset({"keep_from"}))


def component_prefix_space(spectrum: Spectrum) -> ImageSpace:
    """Per colour component, the number of zigzag groups kept, lowest frequency first (DCT)."""
    comps: dict[str, list[str]] = {}
    for b in spectrum.bands:
        comps.setdefault(b.component or "all", []).append(b.name)
    dims: list[Dim] = []
    groups: dict[str, tuple[tuple[str, ...], ...]] = {}
    for comp, names in comps.items():
        levels = _levels(spectrum, names)
        dims.append(Dim(comp, 0, len(levels)))
        groups[comp] = tuple(levels)
    return ImageSpace(tuple(dims), groups)


def ring_prefix_space(spectrum: Spectrum) -> ImageSpace:
    """``rings``: the number of radial rings kept, lowest first, every orientation (FFT)."""
    levels = _levels(spectrum)
    return ImageSpace((Dim("rings", 0, len(levels)),), {"rings": tuple(levels)})


register_search_space("laplacian", pyramid_space)
register_search_space("wavelet", pyramid_space)
register_search_space("dct", component_prefix_space)
register_search_space("fft", ring_prefix_space)
