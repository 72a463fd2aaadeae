"""Gemini's 258-token tiles, both tilings."""

from __future__ import annotations

import itertools

import pytest

from specprompt.cost import GeminiCostModel, get_cost_model, image_tokens
from specprompt.errors import ConfigError


@pytest.mark.parametrize(
    ("size", "tokens"),
    [
        ((1, 1), 258),
        ((384, 384), 258),
        ((385, 384), 258),
        ((768, 768), 258),
        ((769, 768), 516),
        ((1000, 1000), 1032),
        ((1536, 1537), 6 * 258),
        ((4000, 100), 6 * 258),
    ],
)
def test_grid_tiling(size: tuple[int, int], tokens: int) -> None:
    for name in ("gemini", "gemini:gemini-2.0-flash", "gemini:gemini-2.5-flash", "gemini:gemini-2.5-pro"):
        assert image_tokens(name, *size) == tokens
        assert image_tokens(name, *size, detail="low") == tokens


def test_grid_resized_is_the_tile_canvas() -> None:
    m = get_cost_model("gemini")
    assert m.resized(100, 200) == (768, 768)
    assert m.resized(1000, 2000) == (1536, 2304)


@pytest.mark.parametrize(
    ("size", "tokens"),
    [
        ((384, 384), 258),
        ((385, 385), 4 * 258),
        ((1000, 1000), 4 * 258),
        ((3000, 3000), 16 * 258),
        ((384, 2000), 16 * 258),
        ((500, 2000), 14 * 258),
    ],
)
def test_crop_unit_tiling(size: tuple[int, int], tokens: int) -> None:
    assert image_tokens("gemini:gemini-1.5-pro", *size) == tokens
    assert image_tokens("gemini", *size, overrides={"tiling": "crop_unit"}) == tokens


def test_monotonicity() -> None:
    grid = GeminiCostModel()
    for w, h in itertools.product(range(1, 3000, 97), repeat=2):
        assert grid.tokens(w + 97, h) >= grid.tokens(w, h)
        assert grid.tokens(w, h + 97) >= grid.tokens(w, h)
    # documented: crop_unit is not monotone (a wider short side gives a larger crop unit)
    crop = GeminiCostModel(tiling="crop_unit")
    assert crop.tokens(384, 2000) > crop.tokens(500, 2000)


def test_config_errors() -> None:
    with pytest.raises(ConfigError, match="tiling"):
        GeminiCostModel(tiling="hex")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="min_crop"):
        GeminiCostModel(min_crop=800)
    with pytest.raises(ConfigError, match="crop_divisor"):
        GeminiCostModel(crop_divisor=-1.5)
    with pytest.raises(ConfigError, match="tokens_per_tile"):
        GeminiCostModel(tokens_per_tile=0)
