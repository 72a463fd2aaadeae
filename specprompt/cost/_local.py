"""The ``local`` cost model: one token per spatial tile of every band of a Laplacian spectrum."""

from __future__ import annotations

from dataclasses import dataclass, field

from specprompt.cost._base import CostModel, Detail
from specprompt.cost._registry import register_cost_model
from specprompt.errors import ConfigError
from specprompt.spectral._laplacian import LaplacianConfig, auto_levels, level_shapes
from specprompt.spectral._tiles import grid_for

__all__ = ["LocalCostModel"]


@dataclass(frozen=True)
class LocalCostModel(CostModel):
    """Image tokens of specprompt's local model for a full image: the token count of the whole
    Laplacian spectrum, computed from shapes alone.

    ``tokens = sum over levels k = 0..n of prod(grid_for(level_shape_k))`` where ``n`` detail
    levels come from :class:`~specprompt.spectral.LaplacianConfig` (``levels``, ``min_size``)
    and level ``n`` is the residual; equal to ``decompose(img).token_count()``.

    Convention:
        :meth:`resized` is the size itself (nothing is resized); ``detail`` is ignored. For a
        *selection* of bands use :func:`specprompt.cost.selection_tokens`, which counts kept tiles.

    Example:
        >>> LocalCostModel().tokens(32, 32)  # L0: 2 x 2 tiles, residual 16 x 16: 1 tile
        5
    """

    family = "local"

    levels: int | None = field(default=None, metadata={"help": "Laplacian detail levels; None = automatic"})
    min_size: int = field(default=16, metadata={"help": "longest side of the residual when levels is None"})

    def __post_init__(self) -> None:
        try:
            self.config()
        except ConfigError as exc:
            raise ConfigError(f"LocalCostModel: {exc}") from None

    def config(self) -> LaplacianConfig:
        """The Laplacian config whose spectrum this model prices."""
        return LaplacianConfig(levels=self.levels, min_size=self.min_size)

    def _resized(self, width: int, height: int, detail: Detail) -> tuple[int, int]:
        return width, height

    def _tokens(self, width: int, height: int, detail: Detail) -> int:
        n = auto_levels((height, width), self.config())
        total = 0
        for rows, cols in level_shapes((height, width), n):
            gr, gc = grid_for(rows, cols)
            total += gr * gc
        return total


register_cost_model("local", LocalCostModel())
