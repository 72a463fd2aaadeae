"""Value types of the spectral core: :class:`Band` (one frequency band) and :class:`Selection`."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from specprompt.errors import ConfigError

__all__ = ["Band", "Selection"]

Tile = tuple[int, int]


@dataclass(frozen=True)
class Band:
    """One frequency band of a :class:`~specprompt.Spectrum`.

    Attributes:
        name: stable identifier, unique within the spectrum (``"L0"``, ``"y/z1-2"``, ``"r2/s0"``).
        index: position in ``Spectrum.bands`` (0 = finest for Laplacian, DC first for DCT).
        level: pyramid level or radial ring (0 = finest / lowest index), ``None`` if not applicable.
        orientation: orientation sector as ``(start_deg, end_deg)`` in [0, 180), or ``None``.
        component: colour component the band belongs to (``"y"``, ``"cb"``, ``"cr"``, ``"a"``),
            or ``None`` when the band covers all channels.
        freq_range: ``(low, high)`` radial frequency covered, as a fraction of Nyquist (0 .. 1);
            a lower bound of 0 means the band contains the DC term.
        coeff_shape: shape of the band's coefficient array.
        tile_grid: ``(rows, cols)`` of the spatial tiles of this band; a :class:`Selection`
            may keep a subset of these tiles (:meth:`Spectrum.tile_count` counts kept tiles; the
            ``local`` cost model maps kept tiles onto the local VLM's working tokens).
    """

    name: str
    index: int
    level: int | None
    orientation: tuple[float, float] | None
    component: str | None
    freq_range: tuple[float, float]
    coeff_shape: tuple[int, ...]
    tile_grid: tuple[int, int]

    @property
    def n_tiles(self) -> int:
        """Number of spatial tiles of the whole band."""
        return self.tile_grid[0] * self.tile_grid[1]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable description of the band."""
        return {
            "name": self.name,
            "index": self.index,
            "level": self.level,
            "orientation": list(self.orientation) if self.orientation else None,
            "component": self.component,
            "freq_range": list(self.freq_range),
            "coeff_shape": list(self.coeff_shape),
            "tile_grid": list(self.tile_grid),
        }


def _norm_tiles(band: str, tiles: Iterable[Any]) -> frozenset[Tile]:
    out: set[Tile] = set()
    for t in tiles:
        if (
            not isinstance(t, (tuple, list))
            or len(t) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in t)
        ):
            raise ConfigError(f"tile {t!r} of band {band!r} must be a pair of non-negative ints (row, col)")
        out.add((int(t[0]), int(t[1])))
    return frozenset(out)


@dataclass(frozen=True)
class Selection:
    """Which bands of a spectrum are kept, and optionally which spatial tiles of some bands.

    A Selection is a hashable value, independent of any one Spectrum: it names bands. Validate it
    against a spectrum with ``spectrum.check(selection)``.

    Args:
        bands: names of the kept bands.
        tiles: for some kept bands, the kept ``(row, col)`` tiles of the band's ``tile_grid``;
            a kept band absent from ``tiles`` keeps all its tiles. Stored as a sorted tuple of
            ``(band, frozenset(tiles))`` pairs so the object stays hashable.

    Convention:
        ``Selection.all()`` (``bands=None``) means "every band of whatever spectrum it is applied to".

    Example:
        >>> sel = Selection.of(["L2", "L3"], tiles={"L2": [(0, 0)]})
        >>> "L2" in sel, "L0" in sel
        (True, False)
        >>> Selection.from_json(sel.to_json()) == sel
        True
    """

    bands: frozenset[str] | None = None
    tiles: tuple[tuple[str, frozenset[Tile]], ...] = field(default=())

    def __post_init__(self) -> None:
        if self.bands is not None:
            if isinstance(self.bands, str) or not all(isinstance(b, str) for b in self.bands):
                raise ConfigError(f"Selection bands must be a collection of band names, got {self.bands!r}")
            object.__setattr__(self, "bands", frozenset(self.bands))
        norm: dict[str, frozenset[Tile]] = {}
        for item in self.tiles:
            if not isinstance(item, (tuple, list)) or len(item) != 2 or not isinstance(item[0], str):
                raise ConfigError(f"Selection tiles must be (band, tiles) pairs, got {item!r}")
            name, ts = item
            if self.bands is not None and name not in self.bands:
                raise ConfigError(f"tiles given for band {name!r}, which is not kept")
            norm[name] = _norm_tiles(name, ts)
        object.__setattr__(self, "tiles", tuple(sorted(norm.items())))

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def all(cls) -> Selection:
        """Keeps every band of any spectrum."""
        return cls(None)

    @classmethod
    def none(cls) -> Selection:
        """Keeps no band (reconstructs to zeros)."""
        return cls(frozenset())

    @classmethod
    def of(cls, bands: Iterable[str], tiles: Mapping[str, Iterable[Tile]] | None = None) -> Selection:
        """Builds a Selection from band names and an optional ``{band: [(row, col), ...]}`` map.

        Raises:
            ConfigError: ``bands`` is not a collection of names (a string, ``None``: use
                :meth:`all` to keep every band), ``tiles`` is not a mapping, or a tile is malformed.
        """
        if isinstance(bands, str):
            raise ConfigError(f"Selection.of expects a collection of band names, got the string {bands!r}")
        if not isinstance(bands, Iterable):
            raise ConfigError(
                f"Selection.of expects a collection of band names, got {bands!r} (Selection.all() keeps every band)"
            )
        if tiles is not None and not isinstance(tiles, Mapping):
            raise ConfigError(f"Selection.of tiles must be a mapping of band -> [(row, col), ...], got {tiles!r}")
        names = list(bands)
        if not all(isinstance(b, str) for b in names):
            raise ConfigError(f"Selection bands must be a collection of band names, got {names!r}")
        bands = names
        return cls(frozenset(bands), tuple((k, _norm_tiles(k, v)) for k, v in (tiles or {}).items()))

    # -- queries ------------------------------------------------------------------------------
    @property
    def is_all(self) -> bool:
        """True for the "every band, every tile" selection."""
        return self.bands is None and not self.tiles

    def __contains__(self, band: object) -> bool:
        return isinstance(band, str) and (self.bands is None or band in self.bands)

    def tiles_of(self, band: str) -> frozenset[Tile] | None:
        """The kept tiles of ``band``, or ``None`` when every tile of a kept band is kept."""
        for name, ts in self.tiles:
            if name == band:
                return ts
        return None

    # -- serialization -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable form: ``{"bands": [...] | null, "tiles": {band: [[r, c], ...]}}``."""
        return {
            "bands": None if self.bands is None else sorted(self.bands),
            "tiles": {name: sorted([list(t) for t in ts]) for name, ts in self.tiles},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Selection:
        """Inverse of :meth:`to_dict`; raises :class:`ConfigError` on malformed input."""
        if not isinstance(data, Mapping) or not set(data) <= {"bands", "tiles"}:
            raise ConfigError(f"a Selection dict has keys 'bands' and 'tiles', got {data!r}")
        bands = data.get("bands")
        tiles = data.get("tiles") or {}
        if bands is not None and (isinstance(bands, str) or not isinstance(bands, (list, tuple))):
            raise ConfigError(f"Selection 'bands' must be a list of names or null, got {bands!r}")
        if not isinstance(tiles, Mapping):
            raise ConfigError(f"Selection 'tiles' must be a mapping, got {tiles!r}")
        return cls(
            None if bands is None else frozenset(bands),
            tuple((k, _norm_tiles(k, v)) for k, v in tiles.items()),
        )

    def to_json(self) -> str:
        """Compact JSON string of :meth:`to_dict` (sorted keys, stable across runs)."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Selection:
        """Inverse of :meth:`to_json`."""
        try:
            data = json.loads(text)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"not a Selection JSON string: {text!r:.80} ({exc})") from None
        return cls.from_dict(data)
