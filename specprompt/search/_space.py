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
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from specprompt._registry import Registry
from specprompt.errors import ConfigError
from specprompt.spectral import Selection, Spectrum

__all__ = [
    "Dim",
    "ImageSpace",
    "available_search_spaces",
    "register_search_space",
    "search_space_for",
]


@dataclass(frozen=True)
class Dim:
    """One integer dimension ``low .. high`` (inclusive) of an image's search space."""

    name: str
    low: int
    high: int


@dataclass(frozen=True)
class ImageSpace:
    """The search space of one image.

    Attributes:
        dims: the integer dimensions.
        groups: per dimension, its band names grouped by ``Band.level``, level 0 first
            (finest for pyramids, lowest frequency for DCT and FFT).
        reverse: dimensions that count from the fine end: value ``v`` keeps ``groups[name][v:]``
            (``keep_from``); the others keep ``groups[name][:v]`` (a low-frequency prefix).

    Convention:
        The largest ``reverse`` value and a 0 prefix keep nothing; when no band is kept the
        selection is ``Selection.none()`` and the image is dropped.

    Example:
        >>> import numpy as np
        >>> from specprompt import decompose
        >>> space = search_space_for(decompose(np.zeros((64, 64, 3), np.float32)))
        >>> space.dims
        (Dim(name='keep_from', low=0, high=3),)
        >>> sorted(space.selection({"keep_from": 1}).bands), space.describe({"keep_from": 3})
        (['L1', 'residual'], {'keep_from': 'drop'})
    """

    dims: tuple[Dim, ...]
    groups: Mapping[str, tuple[tuple[str, ...], ...]]
    reverse: frozenset[str] = frozenset()

    def check(self, values: Mapping[str, int]) -> None:
        for d in self.dims:
            v = values.get(d.name)
            if not isinstance(v, int) or isinstance(v, bool) or not d.low <= v <= d.high:
                raise ConfigError(f"search value {d.name}={v!r} outside {d.low}..{d.high}")

    def selection(self, values: Mapping[str, int]) -> Selection:
        """The bands kept for ``values``; ``Selection.none()`` when the image is dropped."""
        self.check(values)
        kept: list[str] = []
        for d in self.dims:
            groups = self.groups[d.name]
            chosen = groups[values[d.name] :] if d.name in self.reverse else groups[: values[d.name]]
            for g in chosen:
                kept.extend(g)
        return Selection.of(kept) if kept else Selection.none()

    def full(self) -> dict[str, int]:
        """Values keeping every band."""
        return {d.name: d.low if d.name in self.reverse else d.high for d in self.dims}

    def ladder(self) -> list[dict[str, int]]:
        """Values from "keep everything" to "drop", coarsening every dimension one step at a time."""
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

    Raises:
        UnknownNameError: no search space is registered for ``spectrum.scheme``.
    """
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
