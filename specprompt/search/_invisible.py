"""Warns when the scoring LM is the local band VLM and some demo bands are finer than it can see."""

from __future__ import annotations

import os
import sys
import warnings
from typing import Any

import dspy

import specprompt
from specprompt.errors import SpecPromptWarning
from specprompt.search._context import SearchContext

__all__ = ["invisible_report", "warn_invisible"]


def invisible_report(ctx: SearchContext, canvas: int = 64) -> dict[str, tuple[str, ...]]:
    """Per distinct demo source (hash), the names of its bands the local model (working at
    ``canvas`` px) cannot see."""
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
    ``dspy.settings.lm``) runs the local band VLM's engine and demo bands are finer than its 64 px working
    resolution: its scores cannot tell whether those bands matter (they are still priced, as part
    of the pixels sent)."""
    engine = getattr(lm if lm is not None else dspy.settings.lm, "engine", None)
    if engine is None:
        return
    from specprompt.scorers import LocalVLMEngine

    if not isinstance(engine, LocalVLMEngine):
        return
    canvas = engine.vlm.model.config.canvas
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


def _caller_level() -> int:
    """``stacklevel`` of the first frame outside specprompt and dspy (the user's ``compile`` call)."""
    skip = tuple(os.path.dirname(m.__file__ or "") + os.sep for m in (specprompt, dspy))
    frame, level = sys._getframe(1), 1
    while frame.f_back is not None and frame.f_code.co_filename.startswith(skip):
        frame, level = frame.f_back, level + 1
    return level
