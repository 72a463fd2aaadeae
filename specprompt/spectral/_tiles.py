"""Spatial tiles of a band: the grid a Selection's ``tiles`` refer to."""

from __future__ import annotations

import math

import numpy as np

from specprompt.errors import ConfigError

__all__ = ["PATCH", "apply_tiles", "grid_for", "tile_slices"]

#: Samples per tile side at a band's own sampling rate: one tile of a Selection covers a
#: PATCH x PATCH window of a band's coefficients. (The local VLM's own token grid is in
#: :mod:`specprompt.vlm._tokenizer`.)
PATCH = 16


def grid_for(rows: int, cols: int, patch: int = PATCH) -> tuple[int, int]:
    """Tile grid ``(ceil(rows / patch), ceil(cols / patch))`` of a ``rows x cols`` sampling grid."""
    return max(1, math.ceil(rows / patch)), max(1, math.ceil(cols / patch))


def tile_slices(shape: tuple[int, int], grid: tuple[int, int], tile: tuple[int, int]) -> tuple[slice, slice]:
    """The ``(row_slice, col_slice)`` of ``tile`` in an array whose leading dims are ``shape``.

    Convention:
        tile ``i`` of ``g`` along a dim of size ``n`` covers ``[i * n // g, (i + 1) * n // g)``,
        so tiles never overlap and always cover the whole array.

    Raises:
        ConfigError: ``shape`` is not two ints >= 0, ``grid`` not two ints >= 1, or ``tile`` not
            two ints inside ``grid`` (``0 <= row < grid[0]``, ``0 <= col < grid[1]``).

    Example:
        >>> tile_slices((16, 16), (2, 2), (1, 0))
        (slice(8, 16, None), slice(0, 8, None))
    """
    (n0, n1), (g0, g1), (i, j) = _pair("shape", shape, 0), _pair("grid", grid, 1), _pair("tile", tile, 0)
    if i >= g0 or j >= g1:
        raise ConfigError(
            f"tile {tuple(tile)!r} is outside the {g0}x{g1} tile grid (rows 0..{g0 - 1}, cols 0..{g1 - 1})"
        )
    return slice(i * n0 // g0, (i + 1) * n0 // g0), slice(j * n1 // g1, (j + 1) * n1 // g1)


def _pair(name: str, value: object, minimum: int) -> tuple[int, int]:
    """``value`` as two ints >= ``minimum``; a ConfigError naming ``name`` otherwise."""
    if isinstance(value, (tuple, list)) and len(value) == 2:
        a, b = value
        if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= minimum for v in (a, b)):
            return int(a), int(b)
    raise ConfigError(f"tile_slices {name} must be two ints >= {minimum}, got {value!r}")


def apply_tiles(coeffs: np.ndarray, grid: tuple[int, int], tiles: frozenset[tuple[int, int]]) -> np.ndarray:
    """A copy of ``coeffs`` with every spatial tile outside ``tiles`` set to zero.

    Shape:
        coeffs: ``(rows, cols, ...)``; the two leading dims are spatial.
    """
    out = np.zeros_like(coeffs)
    shape = (coeffs.shape[0], coeffs.shape[1])
    for tile in tiles:
        rs, cs = tile_slices(shape, grid, tile)
        out[rs, cs] = coeffs[rs, cs]
    return out
