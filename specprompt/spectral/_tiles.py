"""Spatial tiles of a band: the grid a Selection's ``tiles`` refer to."""

from __future__ import annotations

import math

import numpy as np

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
    """
    (n0, n1), (g0, g1), (i, j) = shape, grid, tile
    return slice(i * n0 // g0, (i + 1) * n0 // g0), slice(j * n1 // g1, (j + 1) * n1 // g1)


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
