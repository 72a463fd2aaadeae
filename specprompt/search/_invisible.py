"""What the local band VLM reads when it scores: its working resolution (``ModelConfig.canvas`` of
the checkpoint), the ``local`` cost model that prices it (the bare ``"local"`` follows it), and
warnings about demo bands finer than it and about an explicit ``local`` cost model of another
checkpoint."""

from __future__ import annotations

import logging
import os
import sys
import warnings
from typing import Any

import dspy

import specprompt
from specprompt.errors import SpecPromptWarning
from specprompt.search._config import SearchConfig
from specprompt.search._context import SearchContext

__all__ = [
    "invisible_report",
    "local_canvas",
    "local_cost_name",
    "resolve_local_cost",
    "warn_invisible",
    "warn_local_price",
]

logger = logging.getLogger("specprompt.search")


def _local_config(lm: Any = None) -> Any:
    """The ``ModelConfig`` of the local band VLM that ``lm`` (default: ``dspy.settings.lm``) runs,
    or ``None`` when ``lm`` is not a local band VLM engine."""
    engine = getattr(lm if lm is not None else dspy.settings.lm, "engine", None)
    if engine is None:
        return None
    from specprompt.scorers import LocalVLMEngine

    return engine.vlm.model.config if isinstance(engine, LocalVLMEngine) else None


def local_canvas(lm: Any = None) -> int | None:
    """The working resolution (``ModelConfig.canvas``) of the local band VLM that ``lm`` (default:
    ``dspy.settings.lm``) runs, or ``None`` when ``lm`` is not a local band VLM engine.

    Example:
        >>> from specprompt.scorers import local_lm, nearest_lm
        >>> local_canvas(local_lm()), local_canvas(local_lm("band-vlm-v2")), local_canvas(nearest_lm())
        (64, 256, None)
    """
    cfg = _local_config(lm)
    return None if cfg is None else int(cfg.canvas)


def _local_grid(lm: Any = None) -> int:
    """``ModelConfig.fine_grid`` of the local band VLM that ``lm`` runs (4 when it runs none)."""
    cfg = _local_config(lm)
    return 4 if cfg is None else int(cfg.fine_grid)


def local_cost_name(canvas: int, fine_grid: int = 4) -> str | None:
    """The first registered cost model name, in sorted order, that prices like
    ``LocalCostModel(canvas=canvas, fine_grid=fine_grid)``, or ``None`` when none does.

    Example:
        >>> local_cost_name(64), local_cost_name(256), local_cost_name(128), local_cost_name(256, 8)
        ('local', 'local:band-vlm-v2', 'local:canvas-128', 'local:canvas-256-grid-8')
    """
    from specprompt.cost import LocalCostModel, available_cost_models, get_cost_model

    want = LocalCostModel(canvas=canvas, fine_grid=fine_grid)
    return next((n for n in available_cost_models() if get_cost_model(n) == want), None)


def resolve_local_cost(config: SearchConfig, lm: Any = None) -> SearchConfig:
    """``config`` whose bare ``"local"`` cost model follows the checkpoint that scores.

    When ``config.cost_model`` is the bare alias ``"local"`` (any case, as the cost registry
    reads names) and ``lm`` (default: ``dspy.settings.lm``) runs the local band VLM of a working
    resolution other than 64 px (``band-vlm-v2``: 256), returns a copy whose ``cost_model`` is the
    registered name of that resolution (:func:`local_cost_name`: ``"local:band-vlm-v2"``) and logs
    it at INFO; otherwise (another scorer, ``band-vlm-v1``, an explicit name such as
    ``"local:band-vlm-v1"``) returns ``config`` itself.

    Example:
        >>> from specprompt.scorers import local_lm, nearest_lm
        >>> cfg = SearchConfig(cost_model="local")
        >>> resolve_local_cost(cfg, local_lm("band-vlm-v2")).cost_model
        'local:band-vlm-v2'
        >>> resolve_local_cost(cfg, local_lm()).cost_model, resolve_local_cost(cfg, nearest_lm()).cost_model
        ('local', 'local')
    """
    from specprompt.cost import resolve_name

    canvas = local_canvas(lm)
    if canvas is None or resolve_name(config.cost_model) != "local":
        return config
    name = local_cost_name(canvas, _local_grid(lm))
    if name is None or resolve_name(name) == "local":
        return config
    logger.info(
        "cost_model %r prices the tokens of the local band VLM that scores (%d px working resolution): %r",
        config.cost_model,
        canvas,
        name,
    )
    return config.replace(cost_model=name)


def invisible_report(ctx: SearchContext, canvas: int = 64) -> dict[str, tuple[str, ...]]:
    """Per distinct demo source (hash), the names of its bands the local model (working at
    ``canvas`` px: 64 for ``band-vlm-v1``, 256 for ``band-vlm-v2``) cannot see: bands finer than
    ``1/canvas`` of the image (:func:`specprompt.vlm.invisible_bands`)."""
    from specprompt.vlm import invisible_bands

    out: dict[str, tuple[str, ...]] = {}
    for source, spec in ctx.spectra.items():
        rows, cols = spec.shape[:2]
        names = invisible_bands(cols, rows, spec.bands, canvas=canvas)
        if names:
            out[source] = names
    return out


def warn_invisible(ctx: SearchContext, lm: Any = None) -> None:
    """Issues one :class:`~specprompt.errors.SpecPromptWarning` when ``lm`` (default:
    ``dspy.settings.lm``) runs the local band VLM's engine and demo bands are finer than the working
    resolution of its checkpoint (64 px for ``band-vlm-v1``, 256 px for ``band-vlm-v2``): its scores
    cannot tell whether those bands matter (they are still priced, as part of the pixels sent)."""
    canvas = local_canvas(lm)
    if canvas is None:
        return
    report = invisible_report(ctx, canvas)
    if not report:
        return
    names = sorted({n for bands in report.values() for n in bands})
    warnings.warn(
        f"the local band VLM sees images at {canvas} px: band(s) {', '.join(names)} of {len(report)} of "
        f"{len(ctx.spectra)} demo image(s) are finer and invisible to it, so its scores cannot say whether "
        "they matter (they are still priced as part of the pixels sent). If answers depend on fine detail "
        "(small text, fine texture), score with a remote VLM or the nearest-band engine instead.",
        SpecPromptWarning,
        stacklevel=_caller_level(),
    )


def warn_local_price(ctx: SearchContext, lm: Any = None) -> None:
    """Issues one :class:`~specprompt.errors.SpecPromptWarning` when ``lm`` (default:
    ``dspy.settings.lm``) runs the local band VLM and the search's cost model is a ``local`` one of
    another working resolution, e.g. ``"local:band-vlm-v1"`` (64 px) while ``band-vlm-v2`` (256 px)
    scores: its fine tokens would be free. The message names the matching cost model
    (:func:`local_cost_name`). A search resolves the bare ``"local"`` first
    (:func:`resolve_local_cost`), so only a name the user chose explicitly gets here."""
    from specprompt.cost import LocalCostModel, get_cost_model

    canvas = local_canvas(lm)
    grid = _local_grid(lm)
    model = get_cost_model(ctx.config.cost_model)
    if canvas is None or not isinstance(model, LocalCostModel) or (model.canvas, model.fine_grid) == (canvas, grid):
        return
    matching = local_cost_name(canvas, grid)
    hint = (
        f"cost_model={matching!r}"
        if matching
        else f"a cost model registered as LocalCostModel(canvas={canvas}, fine_grid={grid})"
    )
    warnings.warn(
        f"the local band VLM that scores reads images at {canvas} px ({grid} x {grid} tokens per fine level), "
        f"but cost_model {ctx.config.cost_model!r} prices a {model.canvas} px local model with "
        f"{model.fine_grid} x {model.fine_grid}, so the budget does not price the tokens it reads; use {hint}.",
        SpecPromptWarning,
        stacklevel=_caller_level(),
    )


def _caller_level() -> int:
    """``stacklevel`` of the first frame outside specprompt and dspy (the user's ``compile`` call)."""
    skip = tuple(os.path.dirname(m.__file__ or "") + os.sep for m in (specprompt, dspy))
    frame, level = sys._getframe(1), 1
    while frame.f_back is not None and frame.f_code.co_filename.startswith(skip):
        frame, level = frame.f_back, level + 1
    return level
