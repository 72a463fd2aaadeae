"""Anthropic's area formula against the examples and the max-size table of its vision guide."""

from __future__ import annotations

import itertools

import pytest

from specprompt.cost import AnthropicCostModel, get_cost_model, image_tokens
from specprompt.errors import ConfigError


@pytest.mark.parametrize(("size", "tokens"), [((200, 200), 54), ((1000, 1000), 1334), ((1092, 1092), 1590)])
def test_worked_examples(size: tuple[int, int], tokens: int) -> None:
    assert image_tokens("anthropic", *size) == tokens
    assert get_cost_model("anthropic").resized(*size) == size


@pytest.mark.parametrize("size", [(1092, 1092), (951, 1268), (896, 1344), (819, 1456), (784, 1568)])
def test_max_size_table(size: tuple[int, int]) -> None:
    m = get_cost_model("anthropic")
    for w, h in (size, size[::-1]):
        rw, rh = m.resized(w, h)
        assert m.tokens(w, h) <= 1600
        assert m.tokens(w, h) >= 1590
        assert rw >= 0.985 * w and rh >= 0.985 * h  # at most a slight shrink


def test_limits_hold_for_large_images() -> None:
    m = AnthropicCostModel()
    for w, h in itertools.product([1, 50, 1000, 1568, 1569, 2000, 3000, 8000, 20000], repeat=2):
        rw, rh = m.resized(w, h)
        assert max(rw, rh) <= 1568
        assert rw * rh <= 1600 * 750
        assert m.tokens(w, h) <= 1600
        assert rw <= w and rh <= h
    assert m.resized(3000, 1000) == (1568, 522)
    assert m.tokens(3000, 1000) == 1092


def test_monotone_without_resize_but_not_in_general() -> None:
    m = AnthropicCostModel()
    for w, h in itertools.product(range(1, 1000, 37), repeat=2):
        assert m.tokens(w + 37, h) >= m.tokens(w, h)
        assert m.tokens(w, h + 37) >= m.tokens(w, h)
    # documented counterexample: past the long-edge cap a wider image is shrunk more
    assert m.tokens(1568, 500) == 1046
    assert m.tokens(3136, 500) == 523


def test_detail_ignored_and_overrides() -> None:
    assert image_tokens("anthropic:claude-sonnet-4", 500, 500, detail="low") == 334
    assert image_tokens("anthropic", 1000, 1000, overrides={"max_tokens": 1000}) == 1000
    assert image_tokens("anthropic", 3000, 100, overrides={"max_long_edge": 3000}) == 400
    with pytest.raises(ConfigError, match="pixels_per_token"):
        AnthropicCostModel(pixels_per_token=0)
