"""Qwen2-VL / Qwen2.5-VL image tokens: ``smart_resize`` to multiples of 28, one token per 28x28.

Source: Hugging Face transformers, ``src/transformers/models/qwen2_vl/image_processing_qwen2_vl.py``
(``smart_resize`` and ``Qwen2VLImageProcessor``: 14-px patches merged 2x2 into one LLM token), and
the released checkpoints' ``preprocessor_config.json`` (``min_pixels`` 3136 = 4*28*28,
``max_pixels`` 12845056 = 16384*28*28, also the ``MIN_PIXELS`` / ``MAX_PIXELS`` of ``qwen-vl-utils``).
Note the transformers function and class defaults are smaller (``max_pixels`` 14*14*4*1280 =
1003520); pass ``max_pixels=1003520`` to match a processor built without the released config.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

from specprompt.cost._base import CostModel, Detail, positive_int
from specprompt.cost._registry import register_cost_model
from specprompt.errors import ConfigError

__all__ = ["QwenVLCostModel", "smart_resize"]

MIN_PIXELS = 4 * 28 * 28
MAX_PIXELS = 16384 * 28 * 28


def smart_resize(
    height: int,
    width: int,
    factor: int = 28,
    min_pixels: int = MIN_PIXELS,
    max_pixels: int = MAX_PIXELS,
    max_ratio: float = 200,
) -> tuple[int, int]:
    """Qwen2-VL's resize rule, transcribed from transformers (same float arithmetic, same ``round``).

    Both sides become multiples of ``factor``, the pixel count is brought into
    ``[min_pixels, max_pixels]``, and the aspect ratio is kept as closely as possible.

    Returns:
        ``(height, width)`` of the resized image (note the order, as in transformers).

    Raises:
        ConfigError: ``height``, ``width``, ``factor``, ``min_pixels`` or ``max_pixels`` is not an
            int >= 1, ``min_pixels > max_pixels``, ``max_ratio`` is not a number >= 1, or the
            aspect ratio exceeds ``max_ratio`` (transformers raises ValueError).

    Convention:
        ``round`` is Python's (halves to even); sizes below ``factor`` are allowed, as in current
        transformers (older releases refused sides < 10 or < factor).

    Example:
        >>> smart_resize(1000, 1000)
        (1008, 1008)
    """
    for name, value in (
        ("height", height),
        ("width", width),
        ("factor", factor),
        ("min_pixels", min_pixels),
        ("max_pixels", max_pixels),
    ):
        positive_int("smart_resize", name, value)
    if min_pixels > max_pixels:
        raise ConfigError(f"smart_resize min_pixels ({min_pixels}) exceeds max_pixels ({max_pixels})")
    if not isinstance(max_ratio, numbers.Real) or isinstance(max_ratio, bool) or not max_ratio >= 1:
        raise ConfigError(f"smart_resize max_ratio must be a number >= 1, got {max_ratio!r}")
    if max(height, width) / min(height, width) > max_ratio:
        raise ConfigError(
            f"Qwen2-VL reads images of aspect ratio at most {max_ratio} (its processor refuses others), got "
            f"{max(height, width) / min(height, width):g} for a {width}x{height} image"
        )
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


@dataclass(frozen=True)
class QwenVLCostModel(CostModel):
    """Qwen2-VL / Qwen2.5-VL: ``tokens = (h' / 28) * (w' / 28)`` with ``(h', w') = smart_resize(h, w)``.

    Counts the image-pad tokens only (not the ``<|vision_start|>`` / ``<|vision_end|>`` pair).

    Convention:
        ``detail`` is ignored. Aspect ratios above ``max_ratio`` raise :class:`ConfigError`, as
        the processor refuses them. Monotone in each side while ``round``-to-28 stays under
        ``max_pixels``; past it the floor-based shrink can lose a row of tokens.

    Example:
        >>> QwenVLCostModel().tokens(224, 224)
        64
    """

    family = "qwen-vl"

    patch_size: int = field(default=14, metadata={"help": "ViT patch side, px"})
    merge_size: int = field(default=2, metadata={"help": "patches merged per side into one LLM token"})
    min_pixels: int = field(default=MIN_PIXELS, metadata={"help": "smaller images are scaled up to this many pixels"})
    max_pixels: int = field(default=MAX_PIXELS, metadata={"help": "larger images are scaled down to this many pixels"})
    max_ratio: int = field(default=200, metadata={"help": "largest accepted long/short side ratio"})

    def __post_init__(self) -> None:
        for name in ("patch_size", "merge_size", "min_pixels", "max_pixels", "max_ratio"):
            positive_int("QwenVLCostModel", name, getattr(self, name))
        if self.min_pixels > self.max_pixels:
            raise ConfigError(f"QwenVLCostModel.min_pixels ({self.min_pixels}) exceeds max_pixels ({self.max_pixels})")

    @property
    def factor(self) -> int:
        """Side of one LLM token in pixels (``patch_size * merge_size``)."""
        return self.patch_size * self.merge_size

    def _resized(self, width: int, height: int, detail: Detail) -> tuple[int, int]:
        h, w = smart_resize(height, width, self.factor, self.min_pixels, self.max_pixels, self.max_ratio)
        return w, h

    def _tokens(self, width: int, height: int, detail: Detail) -> int:
        w, h = self._resized(width, height, detail)
        return (h // self.factor) * (w // self.factor)


register_cost_model("qwen2-vl", QwenVLCostModel())
register_cost_model("qwen2.5-vl", QwenVLCostModel())
