"""Image-token cost models: what a provider bills for an image of a given size.

:func:`image_tokens` prices one image size; :func:`selection_tokens` prices the image sent for a
:class:`~specprompt.Selection`. Models are frozen dataclasses whose fields are the published
numbers; change them with ``get_cost_model(name).with_overrides(...)`` or register your own with
:func:`register_cost_model`. Names are case-insensitive, ``provider/model`` (DSPy / LiteLLM)
equals ``provider:model``, and dated snapshots (``-2024-08-06``, ``-20241022``, ``-latest``)
resolve to their base model.

================  ===========================================  =====================================================
family            registered names                             formula and numbers (defaults)
================  ===========================================  =====================================================
openai-tile       openai:gpt-4o, gpt-4o-2024-08-06,            high: fit 2048x2048, short side <= 768, then
                  gpt-4o-2024-05-13, chatgpt-4o-latest,        base + tile * ceil(w/512) * ceil(h/512); low: base;
                  gpt-4.1, gpt-4.5, gpt-4.5-preview            auto = high. base 85, tile 170
                  openai:gpt-5, gpt-5-chat-latest              base 70, tile 140
                  openai:gpt-4o-mini                           base 2833, tile 5667
                  openai:o1, o1-pro, o3                        base 75, tile 150
                  openai:computer-use-preview                  base 65, tile 129
openai-patch      openai:gpt-4.1-mini (x1.62), gpt-4.1-nano    ceil(w/32) * ceil(h/32) patches, shrunk to <= 1536,
                  (x2.46), o4-mini (x1.72), gpt-5-mini         tokens = ceil(patches * multiplier); detail ignored
                  (x1.62), gpt-5-nano (x2.46)
anthropic         anthropic, anthropic:claude-3-opus,          shrink to long edge <= 1568 and <= 1600 tokens,
                  claude-3-haiku, claude-3-5-sonnet,           tokens = ceil(w * h / 750)
                  claude-3-5-haiku, claude-3-7-sonnet,
                  claude-sonnet-4, claude-opus-4,
                  claude-opus-4-1, claude-sonnet-4-5,
                  claude-haiku-4-5
gemini            gemini, gemini:gemini-2.0-flash(-lite),      258 if both sides <= 384, else
                  gemini-2.5-flash(-lite), gemini-2.5-pro      258 * ceil(w/768) * ceil(h/768)
                  gemini:gemini-1.5-pro, gemini-1.5-flash      crop = clamp(floor(min(w,h)/1.5), 256, 768),
                                                               258 * ceil(w/crop) * ceil(h/crop)
qwen-vl           qwen2-vl, qwen2.5-vl                         smart_resize to multiples of 28 within
                                                               [3136, 12845056] px, (h'/28) * (w'/28)
local             local, local:band-vlm-v1, local:canvas-64    the local band VLM's tokenizer of the image sent
                                                               (specprompt.vlm.image_token_count; a selection:
                                                               its minimal render): 64 px working resolution,
                                                               <= 44 tokens per image. canvas 64
                  local:band-vlm-v2, local:canvas-256          the same 44 + up to 16 tokens per fine level (F1
                                                               above 64 px, F0 above 128 px): <= 76. canvas 256
                                                               (size only: the upper bound before the energy gate)
                  local:canvas-128, local:canvas-512           one fine level (<= 60), three (<= 92)
================  ===========================================  =====================================================

``"local"`` prices ``band-vlm-v1`` here; as the ``cost_model`` of a band search it follows the
checkpoint that scores (``"local:band-vlm-v2"`` when ``local_lm("band-vlm-v2")`` scores; see
:class:`~specprompt.cost.LocalCostModel`).

Sources are cited next to every number in the family modules; where a number is uncertain
(gpt-5-mini/nano multipliers, Anthropic's exact cap, Gemini's tile count) the module says so.

Example:
    >>> image_tokens("openai:gpt-4o", 2048, 4096, detail="high")
    1105
    >>> get_cost_model("openai:gpt-4o").with_overrides(base=0).tokens(512, 512)
    170
    >>> image_tokens("local", 1024, 768), image_tokens("local:band-vlm-v2", 1024, 768)
    (36, 60)
"""

from specprompt.cost import _anthropic, _gemini, _local, _openai, _qwen  # noqa: F401  (register built-ins)
from specprompt.cost._anthropic import AnthropicCostModel
from specprompt.cost._api import image_tokens, selection_tokens
from specprompt.cost._base import CostModel, Detail, cost_model_from_dict
from specprompt.cost._gemini import GeminiCostModel
from specprompt.cost._local import LocalCostModel
from specprompt.cost._openai import OpenAIPatchCostModel, OpenAITileCostModel
from specprompt.cost._qwen import QwenVLCostModel, smart_resize
from specprompt.cost._registry import available_cost_models, get_cost_model, register_cost_model, resolve_name

__all__ = [
    "AnthropicCostModel",
    "CostModel",
    "Detail",
    "GeminiCostModel",
    "LocalCostModel",
    "OpenAIPatchCostModel",
    "OpenAITileCostModel",
    "QwenVLCostModel",
    "available_cost_models",
    "cost_model_from_dict",
    "get_cost_model",
    "image_tokens",
    "register_cost_model",
    "resolve_name",
    "selection_tokens",
    "smart_resize",
]
