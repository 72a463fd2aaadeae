"""OpenAI tile and patch formulas against the worked examples of OpenAI's vision guide."""

from __future__ import annotations

import itertools

import pytest

from specprompt.cost import OpenAIPatchCostModel, OpenAITileCostModel, get_cost_model, image_tokens
from specprompt.errors import ConfigError

# -- tile formula ---------------------------------------------------------------------------------


def test_tile_worked_examples() -> None:
    gpt4o = get_cost_model("openai:gpt-4o")
    assert gpt4o.resized(1024, 1024, "high") == (768, 768)
    assert gpt4o.tokens(1024, 1024, "high") == 765
    assert gpt4o.resized(2048, 4096, "high") == (768, 1536)
    assert gpt4o.tokens(2048, 4096, "high") == 1105
    assert gpt4o.tokens(4096, 8192, "low") == 85


@pytest.mark.parametrize(
    ("name", "base", "tile"),
    [
        ("openai:gpt-4o", 85, 170),
        ("openai:gpt-4o-2024-08-06", 85, 170),
        ("openai:chatgpt-4o-latest", 85, 170),
        ("openai:gpt-4.1", 85, 170),
        ("openai:gpt-4.5", 85, 170),
        ("openai:gpt-5", 70, 140),
        ("openai:gpt-5-chat-latest", 70, 140),
        ("openai:gpt-4o-mini", 2833, 5667),
        ("openai:o1", 75, 150),
        ("openai:o1-pro", 75, 150),
        ("openai:o3", 75, 150),
        ("openai:computer-use-preview", 65, 129),
    ],
)
def test_tile_table(name: str, base: int, tile: int) -> None:
    model = get_cost_model(name)
    assert isinstance(model, OpenAITileCostModel)
    assert (model.base, model.tile) == (base, tile)
    assert image_tokens(name, 1024, 1024, detail="high") == base + 4 * tile
    assert image_tokens(name, 1024, 1024, detail="auto") == base + 4 * tile
    assert image_tokens(name, 4096, 8192, detail="low") == base
    assert image_tokens(name, 10, 10, detail="high") == base + tile


def test_tile_never_enlarges_and_rounds_to_nearest() -> None:
    m = OpenAITileCostModel()
    assert m.resized(300, 200, "high") == (300, 200)
    assert m.resized(513, 100, "high") == (513, 100)
    # rounding measured on gpt-4.1 bills (OpenAI community thread 1281361)
    assert m.resized(2049, 513, "high") == (2048, 513)
    assert m.tokens(2049, 513, "high") == 85 + 8 * 170
    assert m.resized(2050, 513, "high") == (2048, 512)
    assert m.tokens(2050, 513, "high") == 85 + 4 * 170
    assert m.resized(1000, 3000, "high") == (683, 2048)


def test_tile_low_detail_size_and_bound() -> None:
    m = OpenAITileCostModel()
    assert m.resized(4096, 8192, "low") == (256, 512)
    assert m.resized(300, 200, "low") == (300, 200)
    for w, h in itertools.product([1, 100, 511, 512, 513, 768, 769, 1500, 2048, 2049, 5000], repeat=2):
        assert m.tokens(w, h, "low") == 85
        # after the resize the short side is <= 768 and the long side <= 2048: at most 2 x 4 tiles
        assert m.tokens(w, h, "high") <= 85 + 8 * 170


def test_tile_monotone_without_resize_but_not_in_general() -> None:
    m = OpenAITileCostModel()
    sizes = range(1, 769, 23)
    for w, h in itertools.product(sizes, repeat=2):
        assert m.tokens(w + 23, h, "high") >= m.tokens(w, h, "high") or w + 23 > 768
        assert m.tokens(w, h + 23, "high") >= m.tokens(w, h, "high") or h + 23 > 768
    # documented counterexample: more pixels, fewer tiles (800x1600 shrinks to 768x1536)
    assert m.tokens(600, 1600, "high") == 85 + 8 * 170
    assert m.tokens(800, 1600, "high") == 85 + 6 * 170


def test_tile_overrides() -> None:
    m = get_cost_model("openai:gpt-4o").with_overrides(base=10, tile=1)
    assert m.tokens(1024, 1024, "high") == 14
    assert image_tokens("openai:gpt-4o", 1024, 1024, detail="high", overrides={"tile": 0}) == 85
    assert image_tokens(m, 1024, 1024, detail="low") == 10
    with pytest.raises(ConfigError, match="base"):
        m.with_overrides(base=-1)
    with pytest.raises(ConfigError, match="tile_size"):
        OpenAITileCostModel(tile_size=0)
    with pytest.raises(ConfigError, match="short_side"):
        OpenAITileCostModel(short_side=1.5)  # type: ignore[arg-type]


# -- patch formula --------------------------------------------------------------------------------


def test_patch_worked_examples() -> None:
    m = OpenAIPatchCostModel(multiplier=1.0)
    assert m.resized(1024, 1024) == (1024, 1024)
    assert m.patches(1024, 1024) == 1024
    assert m.tokens(1024, 1024) == 1024
    assert m.resized(1800, 2400) == (1056, 1408)
    assert m.patches(1800, 2400) == 1452
    assert m.tokens(1800, 2400) == 1452
    assert m.resized(2400, 1800) == (1408, 1056)


@pytest.mark.parametrize(
    ("name", "mult", "t1024", "t1800"),
    [
        ("openai:gpt-4.1-mini", 1.62, 1659, 2353),  # ceil(1024 * 1.62 = 1658.88), ceil(1452 * 1.62 = 2352.24)
        ("openai:gpt-4.1-nano", 2.46, 2520, 3572),  # 2519.04, 3571.92
        ("openai:o4-mini", 1.72, 1762, 2498),  # 1761.28, 2497.44
        ("openai:gpt-5-mini", 1.62, 1659, 2353),
        ("openai:gpt-5-nano", 2.46, 2520, 3572),
    ],
)
def test_patch_multipliers(name: str, mult: float, t1024: int, t1800: int) -> None:
    model = get_cost_model(name)
    assert isinstance(model, OpenAIPatchCostModel)
    assert model.multiplier == mult
    assert image_tokens(name, 1024, 1024) == t1024
    assert image_tokens(name, 1800, 2400) == t1800
    # detail is ignored by the patch models
    assert image_tokens(name, 1800, 2400, detail="low") == t1800


def test_patch_multiplier_is_exact() -> None:
    # 100 patches * 1.62 is 162 exactly; float arithmetic would give 162.00000000000003 -> 163
    assert image_tokens("openai:gpt-4.1-mini", 320, 320) == 162
    # OpenAI's own pricing calculator gives 2348 for 4000x1474 on gpt-4.1-mini (1449 patches * 1.62 = 2347.38)
    m = get_cost_model("openai:gpt-4.1-mini")
    assert isinstance(m, OpenAIPatchCostModel)
    assert m.patches(4000, 1474) == 1449
    assert m.tokens(4000, 1474) == 2348


def test_patch_cap_and_no_enlargement() -> None:
    m = OpenAIPatchCostModel()
    for w, h in itertools.product([1, 31, 32, 33, 500, 1247, 1248, 1249, 2000, 5000, 20000], repeat=2):
        rw, rh = m.resized(w, h)
        assert rw <= w and rh <= h
        assert m.patches(w, h) <= 1536
    # images so thin that one side rounds to zero patches still get priced, at the cap
    assert m.patches(1, 100000) == 1536
    assert m.patches(10, 100000) == 1536


def test_patch_monotone_below_cap_but_not_at_it() -> None:
    m = OpenAIPatchCostModel()
    for w, h in itertools.product(range(1, 1200, 41), repeat=2):
        if (-(-(w + 41) // 32)) * (-(-(h + 41) // 32)) <= 1536:  # no resize on either step
            assert m.patches(w + 41, h) >= m.patches(w, h)
            assert m.patches(w, h + 41) >= m.patches(w, h)
    # documented counterexample near the cap
    assert m.patches(1200, 1280) == 1520
    assert m.patches(1200, 1290) == 1480


def test_patch_config_errors() -> None:
    for bad in (0, -1.0, float("inf"), float("nan"), True, "1.6"):
        with pytest.raises(ConfigError, match="multiplier"):
            OpenAIPatchCostModel(multiplier=bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="max_patches"):
        OpenAIPatchCostModel(max_patches=0)
    assert OpenAIPatchCostModel().with_overrides(multiplier=1.2).tokens(1024, 1024) == 1229  # ceil(1228.8)
