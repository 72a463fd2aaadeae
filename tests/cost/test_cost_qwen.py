"""Qwen2-VL smart_resize, checked against hand computation of the transformers rule."""

from __future__ import annotations

import itertools

import pytest

from specprompt.cost import QwenVLCostModel, get_cost_model, image_tokens, smart_resize
from specprompt.errors import ConfigError


@pytest.mark.parametrize(
    ("size", "resized", "tokens"),
    [
        ((224, 224), (224, 224), 64),
        ((1000, 1000), (1008, 1008), 1296),  # round(35.71) = 36
        ((100, 4000), (112, 4004), 572),  # round(3.57) = 4, round(142.86) = 143
        ((70, 70), (56, 56), 4),  # round(2.5) = 2: Python rounds halves to even, as transformers does
        ((42, 42), (56, 56), 4),  # round(1.5) = 2
        ((10, 10), (56, 56), 4),  # 0 x 0 < min_pixels: beta = 5.6, ceil(56 / 28) = 2
        ((5000, 5000), (3556, 3556), 16129),  # 5012^2 > max_pixels: beta = 1.3951, floor(127.997) = 127
    ],
)
def test_hand_computed(size: tuple[int, int], resized: tuple[int, int], tokens: int) -> None:
    for name in ("qwen2-vl", "qwen2.5-vl"):
        m = get_cost_model(name)
        assert m.resized(*size) == resized
        assert m.tokens(*size) == tokens
    w, h = size
    assert smart_resize(h, w) == resized[::-1]


def test_max_pixels_override() -> None:
    # transformers' class default (28 * 28 * 1280): 1008^2 > 1003520, beta = 0.99825, floor(35.78) = 35
    m = QwenVLCostModel(max_pixels=1003520)
    assert m.resized(1000, 1000) == (980, 980)
    assert m.tokens(1000, 1000) == 1225
    assert image_tokens("qwen2-vl", 1000, 1000, overrides={"max_pixels": 1003520}) == 1225


def test_aspect_ratio_limit() -> None:
    assert image_tokens("qwen2-vl", 28, 5600) == 200
    with pytest.raises(ConfigError, match="aspect ratio"):
        image_tokens("qwen2-vl", 28, 6000)
    with pytest.raises(ConfigError, match="aspect ratio"):
        smart_resize(1, 201)


def test_sides_are_multiples_of_the_factor_within_bounds() -> None:
    m = QwenVLCostModel()
    for w, h in itertools.product([1, 13, 28, 29, 100, 999, 4000, 7000], repeat=2):
        if max(w, h) / min(w, h) > 200:
            continue
        rw, rh = m.resized(w, h)
        assert rw % 28 == 0 and rh % 28 == 0
        assert 3136 <= rw * rh <= 12845056


def test_monotone_in_the_middle_range_but_not_for_tiny_images() -> None:
    m = QwenVLCostModel()
    for w, h in itertools.product(range(60, 3000, 89), repeat=2):
        assert m.tokens(w + 89, h) >= m.tokens(w, h)
        assert m.tokens(w, h + 89) >= m.tokens(w, h)
    # documented: the min_pixels upscale of a thin tiny image can cost more than a larger square one
    assert m.tokens(16, 53) == 8
    assert m.tokens(53, 53) == 4


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((-5, 10), {}, "height must be an int >= 1, got -5"),
        ((10, 0), {}, "width must be an int >= 1, got 0"),
        ((10.5, 10), {}, "height must be an int >= 1, got 10.5"),
        ((50, 10), {"factor": 0}, "factor must be an int >= 1, got 0"),
        ((50, 10), {"min_pixels": 0}, "min_pixels must be an int >= 1"),
        ((50, 10), {"min_pixels": 10, "max_pixels": 5}, r"min_pixels \(10\) exceeds max_pixels \(5\)"),
        ((50, 10), {"max_ratio": 0}, "max_ratio must be a number >= 1, got 0"),
    ],
)
def test_smart_resize_refuses_bad_arguments(args: tuple[object, ...], kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        smart_resize(*args, **kwargs)  # type: ignore[arg-type]


def test_config_errors() -> None:
    with pytest.raises(ConfigError, match="min_pixels"):
        QwenVLCostModel(min_pixels=10, max_pixels=5)
    with pytest.raises(ConfigError, match="patch_size"):
        QwenVLCostModel(patch_size=0)
