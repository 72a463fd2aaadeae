"""tile_slices: the tiles of a band's grid cover it exactly, and bad grids or tiles are refused."""

from __future__ import annotations

import numpy as np
import pytest

from specprompt import ConfigError
from specprompt.spectral import tile_slices


def test_tiles_cover_the_array_without_overlap() -> None:
    shape, grid = (17, 10), (3, 2)
    seen = np.zeros(shape, int)
    for i in range(grid[0]):
        for j in range(grid[1]):
            rs, cs = tile_slices(shape, grid, (i, j))
            seen[rs, cs] += 1
    assert np.all(seen == 1)
    assert tile_slices((np.int64(16), 16), (np.int64(2), 2), (np.int64(1), 1)) == (slice(8, 16), slice(8, 16))


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (((16, 16), (0, 0), (0, 0)), r"grid must be two ints >= 1, got \(0, 0\)"),
        (((16, 16), (2, 2), (5, 5)), r"tile \(5, 5\) is outside the 2x2 tile grid \(rows 0\.\.1, cols 0\.\.1\)"),
        (((16, 16), (2, 2), (0, 2)), r"tile \(0, 2\) is outside the 2x2 tile grid"),
        (((16, 16), (2, 2), (-1, 0)), r"tile must be two ints >= 0, got \(-1, 0\)"),
        (((16, -1), (2, 2), (0, 0)), "shape must be two ints >= 0"),
        (((16, 16), (2,), (0, 0)), "grid must be two ints"),
        (((16, 16), (2, 2), (0.0, 0)), "tile must be two ints"),
        (((16, 16), (True, 2), (0, 0)), "grid must be two ints"),
        ((None, (2, 2), (0, 0)), "shape must be two ints"),
    ],
)
def test_bad_grids_and_tiles_are_refused(args: tuple[object, object, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        tile_slices(*args)  # type: ignore[arg-type]
