"""Google Gemini image pricing: 258 tokens per 768x768 tile.

Sources:
- "grid" tiling (Gemini 2.x): Gemini API docs, "Understand and count tokens", section
  "Count multimodal tokens", https://ai.google.dev/gemini-api/docs/tokens#multimodal-tokens:
  "image inputs with both dimensions <=384 pixels are counted as 258 tokens. Images larger in
  one or both dimensions are cropped and scaled as needed into tiles of 768x768 pixels, each
  counted as 258 tokens."
- "crop_unit" tiling (Gemini 1.5): Gemini API docs, "Image understanding", section "Technical
  details" / "Tokens", https://ai.google.dev/gemini-api/docs/image-understanding (2025 text):
  "Each tile size defaults to the smallest dimension (width or height) divided by 1.5. If
  necessary, each tile is adjusted so that it's not smaller than 256 pixels and not greater than
  768 pixels. Each tile is then resized to 768x768 and uses 258 tokens."
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal

from specprompt.cost._base import CostModel, Detail, positive_int, positive_number
from specprompt.cost._registry import register_cost_model
from specprompt.errors import ConfigError

__all__ = ["GeminiCostModel"]

_TILINGS = ("grid", "crop_unit")


@dataclass(frozen=True)
class GeminiCostModel(CostModel):
    """Gemini pricing: ``tokens_per_tile`` for a small image, else per tile of a tiling.

    ``tiling="grid"``: ``tiles = ceil(w / 768) * ceil(h / 768)``. Google does not publish the
    tile count ("cropped and scaled as needed"); this grid is our reading of it (an estimate).
    ``tiling="crop_unit"``: ``crop = clamp(floor(min(w, h) / 1.5), 256, 768)``,
    ``tiles = ceil(w / crop) * ceil(h / crop)`` (ceil is our reading of "cropped into tiles").

    Convention:
        :meth:`resized` is the tile canvas the encoder sees, ``(cols * 768, rows * 768)``
        (a small image is one 768x768 tile). ``detail`` is ignored. Unsure: the tokens page
        says images used a fixed 258 tokens before Gemini 2.0, the image page gives the
        crop-unit rule for Gemini 1.5; we follow the image page for 1.5. Gemini 3's
        ``media_resolution`` setting is not modelled. "grid" is monotone in each side;
        "crop_unit" is not (384x2000 is 16 tiles, 500x2000 is 14).

    Example:
        >>> GeminiCostModel().tokens(1000, 1000)
        1032
    """

    family = "gemini"

    tokens_per_tile: int = field(default=258, metadata={"help": "tokens per 768x768 tile (and per small image)"})
    small_side: int = field(default=384, metadata={"help": "an image with both sides <= this is one tile"})
    tile_size: int = field(default=768, metadata={"help": "side of the tile the encoder sees, px"})
    tiling: Literal["grid", "crop_unit"] = field(
        default="grid", metadata={"help": "'grid': ceil(side / tile_size) tiles; 'crop_unit': Gemini 1.5 rule"}
    )
    crop_divisor: float = field(default=1.5, metadata={"help": "crop_unit: crop side = shorter side / this"})
    min_crop: int = field(default=256, metadata={"help": "crop_unit: smallest crop side, px"})
    max_crop: int = field(default=768, metadata={"help": "crop_unit: largest crop side, px"})

    def __post_init__(self) -> None:
        for name in ("tokens_per_tile", "small_side", "tile_size", "min_crop", "max_crop"):
            positive_int("GeminiCostModel", name, getattr(self, name))
        positive_number("GeminiCostModel", "crop_divisor", self.crop_divisor)
        if self.tiling not in _TILINGS:
            raise ConfigError(f"GeminiCostModel.tiling must be one of {_TILINGS}, got {self.tiling!r}")
        if self.min_crop > self.max_crop:
            raise ConfigError(f"GeminiCostModel.min_crop ({self.min_crop}) exceeds max_crop ({self.max_crop})")

    def grid(self, width: int, height: int) -> tuple[int, int]:
        """``(cols, rows)`` of tiles for a ``width`` x ``height`` image."""
        if width <= self.small_side and height <= self.small_side:
            return 1, 1
        if self.tiling == "grid":
            unit = self.tile_size
        else:
            unit = math.floor(Fraction(min(width, height)) / Fraction(str(self.crop_divisor)))
            unit = min(self.max_crop, max(self.min_crop, unit))
        return -(-width // unit), -(-height // unit)

    def _resized(self, width: int, height: int, detail: Detail) -> tuple[int, int]:
        cols, rows = self.grid(width, height)
        return cols * self.tile_size, rows * self.tile_size

    def _tokens(self, width: int, height: int, detail: Detail) -> int:
        cols, rows = self.grid(width, height)
        return self.tokens_per_tile * cols * rows


for _name in (
    "gemini",
    "gemini:gemini-2.0-flash",
    "gemini:gemini-2.0-flash-lite",
    "gemini:gemini-2.5-flash",
    "gemini:gemini-2.5-flash-lite",
    "gemini:gemini-2.5-pro",
):
    register_cost_model(_name, GeminiCostModel())
for _name in ("gemini:gemini-1.5-pro", "gemini:gemini-1.5-flash"):
    register_cost_model(_name, GeminiCostModel(tiling="crop_unit"))
