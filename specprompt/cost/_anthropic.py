"""Anthropic (Claude) image pricing: pixel area / 750 after a size cap.

Source: Anthropic, "Vision" guide, sections "Evaluate image size" and "Calculate image costs",
https://docs.anthropic.com/en/docs/build-with-claude/vision (text as of 2025).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from specprompt.cost._base import CostModel, Detail, positive_int
from specprompt.cost._registry import register_cost_model

__all__ = ["AnthropicCostModel"]


@dataclass(frozen=True)
class AnthropicCostModel(CostModel):
    """Claude pricing: ``tokens = ceil(w * h / 750)`` of the image after Anthropic's downscale.

    The guide: "If your image's long edge is more than 1568 pixels, or your image is more than
    ~1,600 tokens, it will first be scaled down, preserving aspect ratio, until it's within the
    size limits", and "tokens = (width px * height px)/750" (examples: 200x200 ~54,
    1000x1000 ~1334, 1092x1092 ~1590 tokens, which round up).

    Convention:
        the downscale factor is ``min(max_long_edge / long_edge, sqrt(max_tokens * 750 / (w * h)))``
        and sides are floored (at least 1 px). "~1,600 tokens" is read as ``w * h / 750 <= 1600``
        (1.2 megapixels). Unsure: the guide's own table of largest sizes that are "not resized"
        (951x1268, 896x1344, 784x1568) is slightly above 1600 tokens by its formula (1608, 1606,
        1640), so the exact cap is not published; those sizes are shrunk here by at most 1.2 %
        and priced at <= 1600. ``detail`` is ignored (Claude has no such option).
        Not monotone in one side alone: widening an image past the long-edge cap shrinks it
        (1568x500 costs 1046, 3136x500 costs 523), and at the token cap flooring jitters the
        count by a token or two.

    Example:
        >>> AnthropicCostModel().tokens(1000, 1000)
        1334
    """

    family = "anthropic"

    pixels_per_token: int = field(default=750, metadata={"help": "pixels per token: tokens = ceil(w * h / this)"})
    max_long_edge: int = field(default=1568, metadata={"help": "longer sides are scaled down to this, px"})
    max_tokens: int = field(default=1600, metadata={"help": "larger images are scaled down to about this many tokens"})

    def __post_init__(self) -> None:
        for name in ("pixels_per_token", "max_long_edge", "max_tokens"):
            positive_int("AnthropicCostModel", name, getattr(self, name))

    def _resized(self, width: int, height: int, detail: Detail) -> tuple[int, int]:
        max_pixels = self.max_tokens * self.pixels_per_token
        long, edge = max(width, height), self.max_long_edge
        if long <= edge and width * height <= max_pixels:
            return width, height
        # Exact integer arithmetic. The long-edge limit binds when edge / long <= sqrt(max_pixels / (w h)).
        if edge * edge * width * height <= max_pixels * long * long:
            if width >= height:
                return edge, max(1, height * edge // width)
            return max(1, width * edge // height), edge
        # Otherwise w * s = sqrt(max_pixels * w / h), and floor(sqrt(x)) == isqrt(floor(x)).
        return max(1, math.isqrt(max_pixels * width // height)), max(1, math.isqrt(max_pixels * height // width))

    def _tokens(self, width: int, height: int, detail: Detail) -> int:
        w, h = self._resized(width, height, detail)
        return -(-(w * h) // self.pixels_per_token)


# Every Claude 3 / 4 model shares the rule above (the guide gives one rule for "Claude 3 and 4").
_NAMES = (
    "anthropic",
    "anthropic:claude-3-opus",
    "anthropic:claude-3-haiku",
    "anthropic:claude-3-5-sonnet",
    "anthropic:claude-3-5-haiku",
    "anthropic:claude-3-7-sonnet",
    "anthropic:claude-sonnet-4",
    "anthropic:claude-opus-4",
    "anthropic:claude-opus-4-1",
    "anthropic:claude-sonnet-4-5",
    "anthropic:claude-haiku-4-5",
)
for _name in _NAMES:
    register_cost_model(_name, AnthropicCostModel())
