"""The ``local`` cost models: the image tokens of specprompt's local band VLM (its tokenizer), one
per shipped checkpoint's working resolution."""

from __future__ import annotations

from dataclasses import dataclass, field

from specprompt.cost._base import CostModel, Detail
from specprompt.cost._registry import register_cost_model
from specprompt.errors import ConfigError

__all__ = ["CANVASES", "FINE_GRIDS", "LocalCostModel"]

#: Working resolutions of the local band VLM (``ModelConfig.canvas``): 64 is ``band-vlm-v1``.
CANVASES: tuple[int, ...] = (64, 128, 256, 512)
#: Fine grids of the local band VLM (``ModelConfig.fine_grid``; the same as :data:`specprompt.vlm.FINE_GRIDS`).
FINE_GRIDS: tuple[int, ...] = (4, 8, 16)


@dataclass(frozen=True)
class LocalCostModel(CostModel):
    """Image tokens the local band VLM of working resolution ``canvas`` creates for a full
    ``width x height`` image.

    The formula is the model's tokenizer, :func:`specprompt.vlm.image_token_count` with the
    checkpoint's ``canvas`` (computed from the size alone, without torch). Every checkpoint sees
    the image at a 64 px working resolution (longer side = 64) and cuts each working band ``L0`` ..
    ``L3``, ``residual`` into patches, one token per patch that lies in the image: at most 44
    tokens (:data:`~specprompt.vlm.MAX_TOKENS`). An image smaller than 64 px has no content above
    its own Nyquist rate and creates fewer tokens (no ``L0`` tokens at 32 px or less). A checkpoint
    with ``canvas`` > 64 (``band-vlm-v2``: 256) also reads up to 16 pooled tokens per fine level
    ``F0``, ``F1``, ... (one octave each above 64 px), created only where the image size has
    content there: ``F1`` of ``band-vlm-v2`` needs more than 64 px, ``F0`` more than 128 px.

    Registered as ``"local:band-vlm-v1"`` (canvas 64), ``"local:band-vlm-v2"`` (canvas 256),
    ``"local:canvas-<canvas>"`` for every working resolution of :data:`CANVASES` (a checkpoint of
    your own: ``"local:canvas-" + str(read_config(path).canvas)``, :func:`specprompt.vlm.read_config`),
    ``"local:canvas-<canvas>-grid-<g>"`` for a checkpoint whose fine levels have ``g`` x ``g`` tokens
    (``ModelConfig.fine_grid`` 8 or 16; the shipped checkpoints use 4),
    and ``"local"``. ``"local"`` alone (``image_tokens("local", ...)``) prices the default
    checkpoint, ``band-vlm-v1``; as the ``cost_model`` of a band search
    (:class:`~specprompt.search.BandOptimizer`) it follows the checkpoint that scores: when the
    local band VLM of another working resolution scores (``local_lm("band-vlm-v2")``), the search
    prices with the registered name of its resolution (``"local:band-vlm-v2"``), and the result
    reports that name.

    Convention:
        :meth:`resized` is the size itself (the cost model resizes nothing; the working
        resolutions are internal to the model); ``detail`` is ignored. The price depends on the
        size alone: it is the *upper bound* of the tokens the model creates for that size. A
        model with fine levels drops a fine token whose patch carries no energy
        (``ModelConfig.fine_threshold``, e.g. a flat or blurred-away region), so it may read fewer
        tokens than it is priced; the price never depends on pixel values, so a token budget holds
        before any image is rendered, and the budget is never exceeded. A *selection* of bands is
        priced by the image that would be sent (:func:`specprompt.cost.selection_tokens` prices
        its minimal render, as for every model): equal pixels cost equal tokens whatever the
        decomposition scheme, and kept bands finer than the model's working resolution are not
        free, since they are part of the pixels sent.

    Example:
        >>> LocalCostModel().tokens(64, 64)
        44
        >>> LocalCostModel().tokens(4000, 3000)  # works as 64 x 48: L0 and L1 have 4 x 3 tokens
        36
        >>> LocalCostModel().tokens(32, 32)  # nothing above the source Nyquist: no L0 tokens
        28
        >>> v2 = LocalCostModel(canvas=256)  # band-vlm-v2: 44 + F1 (above 64 px) + F0 (above 128 px)
        >>> v2.tokens(64, 64), v2.tokens(128, 128), v2.tokens(256, 256), v2.tokens(4000, 3000)
        (44, 60, 76, 60)
    """

    canvas: int = field(
        default=64,
        metadata={
            "help": "working resolution (longer side, px) of the checkpoint that reads the image "
            "(ModelConfig.canvas): 64 (band-vlm-v1) or 128/256/512 (fine levels; band-vlm-v2: 256)"
        },
    )
    fine_grid: int = field(
        default=4,
        metadata={"help": "tokens per side of each fine level (ModelConfig.fine_grid): 4 (shipped), 8 or 16"},
    )

    family = "local"

    def __post_init__(self) -> None:
        if not isinstance(self.canvas, int) or isinstance(self.canvas, bool) or self.canvas not in CANVASES:
            raise ConfigError(
                f"LocalCostModel.canvas must be one of {', '.join(map(str, CANVASES))}, got {self.canvas!r}"
            )
        if not isinstance(self.fine_grid, int) or isinstance(self.fine_grid, bool) or self.fine_grid not in FINE_GRIDS:
            raise ConfigError(
                f"LocalCostModel.fine_grid must be one of {', '.join(map(str, FINE_GRIDS))}, got {self.fine_grid!r}"
            )

    def _resized(self, width: int, height: int, detail: Detail) -> tuple[int, int]:
        return width, height

    def _tokens(self, width: int, height: int, detail: Detail) -> int:
        from specprompt.vlm import image_token_count

        return image_token_count(width, height, canvas=self.canvas, fine_grid=self.fine_grid)


register_cost_model("local", LocalCostModel())
register_cost_model("local:band-vlm-v1", LocalCostModel())
register_cost_model("local:band-vlm-v2", LocalCostModel(canvas=256))
for _canvas in CANVASES:
    register_cost_model(f"local:canvas-{_canvas}", LocalCostModel(canvas=_canvas))
    for _grid in FINE_GRIDS[1:] if _canvas > 64 else ():
        register_cost_model(f"local:canvas-{_canvas}-grid-{_grid}", LocalCostModel(canvas=_canvas, fine_grid=_grid))
