"""The contract every band-decomposition backend implements."""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from specprompt.errors import ConfigError
from specprompt.spectral._types import Band

__all__ = ["Analysis", "Scheme", "SchemeConfig"]


@dataclass(frozen=True)
class SchemeConfig:
    """Base of the frozen, JSON-round-trippable config of a scheme."""

    def to_dict(self) -> dict[str, Any]:
        """Field values as JSON-compatible data (tuples become lists)."""
        data: dict[str, Any] = json_ready(dataclasses.asdict(self))
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SchemeConfig:
        """Builds the config from :meth:`to_dict` output; unknown keys raise :class:`ConfigError`."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"unknown option(s) {unknown} for {cls.__name__}; allowed: {sorted(names)}")
        conv = {
            k: tuple(tuple(x) if isinstance(x, list) else x for x in v) if isinstance(v, list) else v
            for k, v in data.items()
        }
        return cls(**conv)


def json_ready(value: Any) -> Any:
    """Recursively turns tuples into lists so ``json.dumps`` output is canonical."""
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    return value


@dataclass
class Analysis:
    """What a scheme's :meth:`Scheme.analyze` returns.

    Attributes:
        bands: the bands, in the scheme's canonical order.
        coeffs: band name -> coefficient array whose two leading dims are spatial, so tiles of
            ``band.tile_grid`` map onto regions of it (see ``specprompt.spectral._tiles``).
        extra: scheme-private state needed for synthesis (e.g. padding), never user data.
    """

    bands: tuple[Band, ...]
    coeffs: dict[str, np.ndarray]
    extra: dict[str, Any] = field(default_factory=dict)


class Scheme(ABC):
    """A band-decomposition backend: pure analysis/synthesis over float32 ``(H, W, C)`` arrays.

    Subclasses set ``name`` and ``config_cls`` and register themselves with
    :func:`specprompt.register_scheme`.
    """

    name: ClassVar[str]
    config_cls: ClassVar[type[SchemeConfig]]
    #: False when zeroing some tiles of a band breaks the band limit :meth:`minimal_shape` relies on
    #: (``fft``: its coefficients are full-size band images); such selections then render at full size.
    tiles_keep_band_limit: ClassVar[bool] = True
    #: True when :meth:`band_layout` needs no pixels (cheap at any size); otherwise it analyzes a blank image.
    layout_from_shape: ClassVar[bool] = False

    def __init__(self, config: SchemeConfig) -> None:
        self.config = config

    @abstractmethod
    def analyze(self, image: np.ndarray) -> Analysis:
        """Splits ``image`` (float32, ``(H, W, C)``, C in 1, 3, 4) into bands."""

    @abstractmethod
    def synthesize(
        self, analysis: Analysis, coeffs: dict[str, np.ndarray | None], shape: tuple[int, int]
    ) -> np.ndarray:
        """Inverse transform at ``shape`` (``(h, w)``, the full size or a minimal size).

        ``coeffs`` maps every band name to its (possibly tile-masked) coefficients, or ``None``
        when the band is dropped. Returns float32 ``(h, w, C)``, unclipped.
        """

    @abstractmethod
    def minimal_shape(self, analysis: Analysis, kept: frozenset[str], image_shape: tuple[int, int]) -> tuple[int, int]:
        """Smallest ``(h, w)`` at which the kept bands can be rendered without loss.

        Upsampling the render at this size with the scheme's own interpolator must give the
        full-size band-limited reconstruction (up to float rounding).
        """

    def band_layout(self, shape: tuple[int, int], channels: int) -> tuple[Band, ...]:
        """The bands :meth:`analyze` returns for an ``(H, W)`` image with ``channels`` channels,
        without its pixels: the one way to rebuild a band layout (from a SpectralImage's metadata,
        for pricing or for a report).

        The default analyzes a blank image of that size; a scheme whose layout follows from the
        shape alone overrides it (``laplacian``) and sets :attr:`layout_from_shape`.
        """
        return self.analyze(np.zeros((int(shape[0]), int(shape[1]), int(channels)), np.float32)).bands

    @abstractmethod
    def upsample(self, image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """The scheme's exact interpolator from a minimal render to ``shape`` (used in tests and
        by scorers that receive a minimal render)."""
