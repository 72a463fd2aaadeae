"""The band tokenizer's working resolution and the ``local`` token count."""

from __future__ import annotations

import numpy as np
import pytest

from specprompt import ConfigError, Selection, SelectionError, decompose
from specprompt.vlm import MAX_TOKENS, image_token_count, token_layout, working_shape
from specprompt.vlm._tokenizer import default_bands


def test_full_square_image_has_max_tokens_whatever_its_size() -> None:
    assert MAX_TOKENS == 44
    for side in (64, 100, 512, 4000):
        assert image_token_count(side, side) == 44


def test_small_images_create_no_tokens_above_their_nyquist() -> None:
    assert image_token_count(32, 32) == 28  # no L0
    assert image_token_count(16, 16) == 12  # no L0, L1
    assert image_token_count(33, 33) == 44


def test_working_shape_keeps_aspect_and_the_longer_side() -> None:
    assert working_shape(640, 480) == (48, 64)
    assert working_shape(10, 1000) == (64, 1)
    layout = token_layout(640, 480)
    assert layout.per_band() == {"L0": 12, "L1": 12, "L2": 4, "L3": 4, "residual": 4}
    assert layout.n_tokens == image_token_count(640, 480) == 36


def test_dropping_fine_bands_drops_tokens_and_never_adds_any() -> None:
    full = image_token_count(512, 512)
    spec_bands = default_bands(512, 512)
    names = [b.name for b in spec_bands]
    prev = full
    for k in range(len(names)):
        count = image_token_count(512, 512, Selection.of(names[k:]))
        assert count <= prev
        prev = count
    # 512 px: L0..L2 of the source are finer than 64 px -> dropping them changes nothing
    assert image_token_count(512, 512, Selection.of(names[3:])) == full
    assert image_token_count(512, 512, Selection.of(["residual"])) < full
    assert image_token_count(512, 512, Selection.none()) == 0


def test_tiles_restrict_the_created_tokens_spatially() -> None:
    bands = default_bands(64, 64)
    res = next(b for b in bands if b.name == "residual")
    assert res.tile_grid == (1, 1)
    l0 = next(b for b in bands if b.name == "L0")
    one_tile = Selection.of(["L0"], tiles={"L0": [(0, 0)]})
    layout = token_layout(64, 64, one_tile)
    # L0 of a 64 px image is 64 x 64 with a 4 x 4 tile grid -> exactly the working L0's top-left token
    assert l0.tile_grid == (4, 4)
    assert layout.per_band()["L0"] == 1 and bool(layout.created[0][0, 0])
    assert layout.n_tokens == 1


def test_other_schemes_map_by_frequency_range() -> None:
    img = np.random.default_rng(0).random((128, 96, 3)).astype(np.float32)
    spec = decompose(img, "dct")
    lowest = min(spec.bands, key=lambda b: b.freq_range[1])
    n_all = image_token_count(96, 128, None, spec.bands)
    n_low = image_token_count(96, 128, Selection.of([lowest.name]), spec.bands)
    assert 0 < n_low < n_all


def test_bad_inputs_raise_specprompt_errors() -> None:
    with pytest.raises(ConfigError, match="width"):
        image_token_count(0, 10)
    with pytest.raises(ConfigError, match="height"):
        image_token_count(10, True)  # type: ignore[arg-type]
    with pytest.raises(SelectionError, match="unknown band"):
        image_token_count(64, 64, Selection.of(["nope"]))
    with pytest.raises(SelectionError, match="outside its tile grid"):
        image_token_count(64, 64, Selection.of(["L0"], tiles={"L0": [(9, 9)]}))
    with pytest.raises(SelectionError, match="Selection or None"):
        image_token_count(64, 64, "all")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="Band"):
        image_token_count(64, 64, None, ["L0"])  # type: ignore[list-item]


def test_invisible_bands_are_the_ones_that_create_no_token() -> None:
    import numpy as np

    from specprompt import Selection, decompose
    from specprompt.vlm import image_token_count, invisible_bands

    assert invisible_bands(256, 256) == ("L0", "L1")
    assert invisible_bands(64, 64) == () and invisible_bands(8, 8) == ()
    assert invisible_bands(4000, 3000)[:3] == ("L0", "L1", "L2")
    spec = decompose(np.zeros((96, 200, 3), np.float32), "fft")
    hidden = invisible_bands(200, 96, spec.bands)
    assert hidden and set(hidden) < {b.name for b in spec.bands}
    for band in spec.bands:
        seen = image_token_count(200, 96, Selection.of([band.name]), spec.bands) > 0
        assert seen == (band.name not in hidden)
