"""The ``local`` cost model: the image tokens of specprompt's local band VLM (its tokenizer)."""

from __future__ import annotations

from dataclasses import dataclass

from specprompt.cost._base import CostModel, Detail
from specprompt.cost._registry import register_cost_model

__all__ = ["LocalCostModel"]


@dataclass(frozen=True)
class LocalCostModel(CostModel):
    """Image tokens the local band VLM creates for a full ``width x height`` image.

    The formula is the model's tokenizer, :func:`specprompt.vlm._tokenizer.image_token_count`
    (computed from the size alone, without torch): the image is seen at a 64 px working
    resolution (longer side = 64) and each working band ``L0`` .. ``L3``, ``residual`` is cut into
    patches, one token per patch that lies in the image, so a full image costs at most 44 tokens
    (:data:`~specprompt.vlm._tokenizer.MAX_TOKENS`) whatever its size. An image smaller than 64 px
    has no content above its own Nyquist rate and creates fewer tokens (no ``L0`` tokens at
    32 px or less).

    Convention:
        :meth:`resized` is the size itself (the cost model resizes nothing; the tokenizer's
        working resolution is internal to the model); ``detail`` is ignored. The model has no
        numbers to override. A *selection* of bands is priced by the image that would be sent
        (:func:`specprompt.cost.selection_tokens` prices its minimal render, as for every model):
        equal pixels cost equal tokens whatever the decomposition scheme, and kept bands finer
        than the working resolution are not free, since they are part of the pixels sent.

    Example:
        >>> LocalCostModel().tokens(64, 64)
        44
        >>> LocalCostModel().tokens(4000, 3000)  # works as 64 x 48: L0 and L1 have 4 x 3 tokens
        36
        >>> LocalCostModel().tokens(32, 32)  # nothing above the source Nyquist: no L0 tokens
        28
    """

    family = "local"

    def _resized(self, width: int, height: int, detail: Detail) -> tuple[int, int]:
        return width, height

    def _tokens(self, width: int, height: int, detail: Detail) -> int:
        from specprompt.vlm import image_token_count

        return image_token_count(width, height)


register_cost_model("local", LocalCostModel())
