"""OpenAI image pricing: the 512-px tile formula and the 32-px patch formula.

Source of every number here: OpenAI, "Images and vision" guide, section "Calculating costs",
https://platform.openai.com/docs/guides/images-vision#calculating-costs (text as of 2025-08,
which lists the gpt-5 rows; checked against a mirror of the page).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

from specprompt.cost._base import CostModel, Detail, positive_int, positive_number
from specprompt.cost._registry import register_cost_model

__all__ = ["OpenAIPatchCostModel", "OpenAITileCostModel"]


def _round_div(num: int, den: int) -> int:
    """``round(num / den)`` with halves rounded up, in exact integer arithmetic."""
    return max(1, (2 * num + den) // (2 * den))


@dataclass(frozen=True)
class OpenAITileCostModel(CostModel):
    """GPT-4o-style pricing: a base cost plus a cost per 512-px tile of the resized image.

    ``detail="high"``: scale down to fit a ``max_side`` square, then scale down so the shortest
    side is ``short_side``, then ``tokens = base + tile * ceil(w / 512) * ceil(h / 512)``.
    ``detail="low"``: ``base`` only. ``detail="auto"`` lets OpenAI choose; it is priced as
    ``"high"``, an upper bound (for images within one tile the two differ only by ``tile``).

    Convention:
        both resize steps only shrink (an image with a short side under 768 px is not enlarged,
        which matches OpenAI's worked examples and measured bills); sizes are rounded to the
        nearest pixel, halves up. Rounding is not documented: nearest matches reported bills
        (2049x513 -> 8 tiles, 2050x513 -> 4 tiles on gpt-4.1, OpenAI community thread 1281361).
        ``low`` is processed as a 512x512 version of the image per the guide's ``detail``
        section; :meth:`resized` reports the image scaled down to fit 512x512 (aspect kept).
        Not monotone in pixels: 600x1600 costs 8 tiles, 800x1600 (shrunk to 768x1536) costs 6.

    Example:
        >>> OpenAITileCostModel(base=85, tile=170).tokens(2048, 4096, "high")
        1105
    """

    family = "openai-tile"

    base: int = field(default=85, metadata={"help": "tokens every image costs (the whole cost at detail='low')"})
    tile: int = field(default=170, metadata={"help": "tokens per tile of the resized image at detail='high'"})
    tile_size: int = field(default=512, metadata={"help": "side of a tile, px"})
    max_side: int = field(default=2048, metadata={"help": "first resize: fit in a max_side x max_side square"})
    short_side: int = field(default=768, metadata={"help": "second resize: shortest side at most this, px"})
    low_side: int = field(default=512, metadata={"help": "the low-detail image fits in low_side x low_side"})

    def __post_init__(self) -> None:
        positive_int("OpenAITileCostModel", "base", self.base, minimum=0)
        positive_int("OpenAITileCostModel", "tile", self.tile, minimum=0)
        for name in ("tile_size", "max_side", "short_side", "low_side"):
            positive_int("OpenAITileCostModel", name, getattr(self, name))

    def _fit(self, width: int, height: int, side: int) -> tuple[int, int]:
        long = max(width, height)
        if long <= side:
            return width, height
        if width >= height:
            return side, _round_div(height * side, width)
        return _round_div(width * side, height), side

    def _resized(self, width: int, height: int, detail: Detail) -> tuple[int, int]:
        if detail == "low":
            return self._fit(width, height, self.low_side)
        w, h = self._fit(width, height, self.max_side)
        short = min(w, h)
        if short > self.short_side:
            if w <= h:
                w, h = self.short_side, _round_div(h * self.short_side, w)
            else:
                w, h = _round_div(w * self.short_side, h), self.short_side
        return w, h

    def _tokens(self, width: int, height: int, detail: Detail) -> int:
        if detail == "low":
            return self.base
        w, h = self._resized(width, height, detail)
        tiles = -(-w // self.tile_size) * -(-h // self.tile_size)
        return self.base + self.tile * tiles


@dataclass(frozen=True)
class OpenAIPatchCostModel(CostModel):
    """GPT-4.1-mini-style pricing: 32-px patches, capped at 1536, times a per-model multiplier.

    ``raw = ceil(w / 32) * ceil(h / 32)``; above the cap the image is shrunk by
    ``r = sqrt(32^2 * 1536 / (w * h))``, then by ``min(floor(w r / 32) / (w r / 32), floor(h r / 32) / (h r / 32))``
    so one side fits a whole number of patches; ``patches = min(1536, ceil(w' / 32) * ceil(h' / 32))``;
    ``tokens = ceil(patches * multiplier)``.

    Convention:
        ``detail`` is ignored: OpenAI's guide gives no low-detail rule for these models, and
        measured bills are the same for ``low`` and ``high`` (OpenAI community thread 1262691).
        The guide does not say how ``patches * multiplier`` is rounded; we round up, which is
        what OpenAI's pricing calculator shows (4000x1474 on gpt-4.1-mini: 1449 patches * 1.62 =
        2347.38 -> 2348, community thread 1281361; the same thread saw the API bill that image at
        the 1536-patch cap, so real bills can exceed the documented formula). The resize is computed in exact integer
        arithmetic (``floor(sqrt(x)) == isqrt(floor(x))``) so 1800x2400 lands exactly on 1056x1408; resized
        sides are floored and at least 1 px, a side whose patch count would round to zero is
        left to the other side's ratio, and the image is never enlarged.
        Not monotone in pixels near the cap: 1200x1280 is 1520 patches, 1200x1290 is 1480.

    Example:
        >>> m = OpenAIPatchCostModel(multiplier=1.0)
        >>> m.resized(1800, 2400), m.tokens(1800, 2400)
        ((1056, 1408), 1452)
    """

    family = "openai-patch"

    multiplier: float = field(default=1.0, metadata={"help": "billed tokens per patch"})
    patch: int = field(default=32, metadata={"help": "side of a patch, px"})
    max_patches: int = field(default=1536, metadata={"help": "patch cap; larger images are shrunk to fit it"})

    def __post_init__(self) -> None:
        positive_number("OpenAIPatchCostModel", "multiplier", self.multiplier)
        positive_int("OpenAIPatchCostModel", "patch", self.patch)
        positive_int("OpenAIPatchCostModel", "max_patches", self.max_patches)

    def _raw(self, width: int, height: int) -> int:
        return -(-width // self.patch) * -(-height // self.patch)

    def _resized(self, width: int, height: int, detail: Detail) -> tuple[int, int]:
        if self._raw(width, height) <= self.max_patches:
            return width, height
        # w r / patch = sqrt(cap * w / h), so floor(w r / patch) = isqrt(floor(cap * w / h)).
        fw = math.isqrt(self.max_patches * width // height)
        fh = math.isqrt(self.max_patches * height // width)
        ratios = [Fraction(self.patch * f, side) for f, side in ((fw, width), (fh, height)) if f > 0]
        r = min([*ratios, Fraction(1)])
        return max(1, math.floor(width * r)), max(1, math.floor(height * r))

    def patches(self, width: int, height: int) -> int:
        """Patches of the resized image (the guide's "image tokens", before the multiplier)."""
        w, h = self.resized(width, height)
        return min(self.max_patches, self._raw(w, h))

    def _tokens(self, width: int, height: int, detail: Detail) -> int:
        w, h = self._resized(width, height, detail)
        patches = min(self.max_patches, self._raw(w, h))
        # Fraction(str(.)) keeps 1.62 exact, so 100 patches cost 162 tokens, not 163.
        return math.ceil(patches * Fraction(str(self.multiplier)))


# -- built-in models (numbers: "Calculating costs" section of the guide cited above) -------------
_TILE = {
    # "4o, 4.1, 4.5: base 85, tile 170"
    "openai:gpt-4o": (85, 170),
    "openai:gpt-4o-2024-08-06": (85, 170),
    "openai:gpt-4o-2024-05-13": (85, 170),
    "openai:chatgpt-4o-latest": (85, 170),
    "openai:gpt-4.1": (85, 170),
    "openai:gpt-4.5": (85, 170),
    "openai:gpt-4.5-preview": (85, 170),
    # "gpt-5, gpt-5-chat-latest: base 70, tile 140" (the guide's gpt-5 row, not 85/170)
    "openai:gpt-5": (70, 140),
    "openai:gpt-5-chat-latest": (70, 140),
    # "4o-mini: base 2833, tile 5667"
    "openai:gpt-4o-mini": (2833, 5667),
    # "o1, o1-pro, o3: base 75, tile 150"
    "openai:o1": (75, 150),
    "openai:o1-pro": (75, 150),
    "openai:o3": (75, 150),
    # "computer-use-preview: base 65, tile 129"
    "openai:computer-use-preview": (65, 129),
}
_PATCH = {
    # the guide's multiplier table ("Apply a multiplier based on the model to get the total tokens")
    "openai:gpt-4.1-mini": 1.62,
    "openai:gpt-4.1-nano": 2.46,
    "openai:o4-mini": 1.72,
    # Unsure: the guide lists 1.62 / 2.46 for gpt-5-mini / gpt-5-nano, but bills measured by users
    # (OpenAI community thread "Introducing GPT-5.4 mini and nano", 2026) show 1.2 / 1.5. We keep
    # the documented values; override with .with_overrides(multiplier=...) if your bills differ.
    "openai:gpt-5-mini": 1.62,
    "openai:gpt-5-nano": 2.46,
}

for _name, (_base, _tile) in _TILE.items():
    register_cost_model(_name, OpenAITileCostModel(base=_base, tile=_tile))
for _name, _mult in _PATCH.items():
    register_cost_model(_name, OpenAIPatchCostModel(multiplier=_mult))
