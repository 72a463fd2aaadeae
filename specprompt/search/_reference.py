"""The baseline prompts as candidates of the band search (trials with origin ``baseline:<name>``).

==========  ===================================================================================
name        what the demo images are
==========  ===================================================================================
full        every image at full resolution (all bands)
uniform     every image resized by one common factor (PIL Lanczos), the largest whose provider
            tokens fit the budget (none without a budget); :meth:`SearchContext.uniform_resize`
sharpened   ``uniform`` with every image sharpened by :data:`SHARPENED_PERCENT` (an unsharp mask
            of radius 1 pixel of the sent image; the same tokens), where the search has a
            ``sharpen`` dimension (a cost model that prices pixels, ``SearchConfig.sharpen``)
low_detail  every image at full resolution sent with ``detail="low"`` (OpenAI cost models that bill
            it below full detail: not the patch-billed gpt-4.1-mini)
text_only   no images: the demos keep their text and labels
==========  ===================================================================================

``low_detail``, and ``uniform`` under a cost model without a ``size`` dimension (``local``), show
images that are not points of the band space: their trial carries the parameters of
:meth:`SearchContext.full` and :func:`candidate_of` swaps in the baseline's images by the trial's
``origin``. Under a cost model that prices pixels, ``uniform`` is the point of the band space that
keeps every band at the common sent size (:meth:`SearchContext.uniform_fit`). A candidate's key
covers those images, so a stored trial whose origin names another image than the current context
makes is never used.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from specprompt.search._budget import fits
from specprompt.search._context import SHARPEN_LEVELS, Candidate, SearchContext

__all__ = [
    "BASELINE_ORIGIN",
    "REFERENCES",
    "SHARPENED_LEVEL",
    "SHARPENED_PERCENT",
    "candidate_of",
    "reference",
    "reference_candidates",
    "shows_band_space",
]

#: Baselines that are candidates of the study, in the order they are enqueued.
REFERENCES: tuple[str, ...] = ("uniform", "sharpened", "low_detail", "text_only", "full")
#: Level of :data:`~specprompt.search._context.SHARPEN_LEVELS` of the ``sharpened`` baseline.
SHARPENED_LEVEL = 2
#: Its unsharp-mask percent.
SHARPENED_PERCENT = SHARPEN_LEVELS[SHARPENED_LEVEL]
#: Origin prefix of a baseline trial.
BASELINE_ORIGIN = "baseline:"
#: Baselines whose images are not points of the band space.
_OVERRIDES = ("uniform", "low_detail")


_MADE: weakref.WeakKeyDictionary[SearchContext, dict[str, tuple[Candidate | None, str]]] = weakref.WeakKeyDictionary()


def reference(ctx: SearchContext, name: str) -> tuple[Candidate | None, str]:
    """The candidate of baseline ``name`` (``None`` when it does not exist) and a note.

    Made once per context (resizing every demo image is not free) and then reused.

    Raises:
        KeyError: ``name`` is not in :data:`REFERENCES`.
    """
    made = _MADE.setdefault(ctx, {})
    if name not in made:
        made[name] = _make(ctx, name)
    return made[name]


def _make(ctx: SearchContext, name: str) -> tuple[Candidate | None, str]:
    if name == "full":
        return ctx.full(), "all bands of every image"
    if name == "text_only":
        return ctx.dropped(), "images removed, text and labels kept"
    if name == "uniform":
        if ctx.config.token_budget is None:
            return None, "skipped: no token_budget to fit"
        found = ctx.uniform_resize(ctx.config.token_budget)
        if found is None:
            return None, "skipped: even 1-pixel images exceed the budget"
        cand, scale = found
        if scale >= 1.0:
            return None, "skipped: full resolution fits the budget (the full baseline)"
        return cand, f"scale {scale:.4f} (Lanczos)"
    if name == "sharpened":
        if not ctx.sharpens:
            return None, "skipped: the search has no sharpen dimension (a cost model that prices pixels, sharpen=True)"
        plain, note = reference(ctx, "uniform")
        if plain is None:
            return None, note
        return replace(plain, sharpen=SHARPENED_LEVEL), f"{note}, sharpened {SHARPENED_PERCENT}%"
    if name == "low_detail":
        model = ctx.config.cost_model
        if not model.lower().startswith("openai"):
            return None, f"skipped: detail='low' only prices differently for openai, not {model!r}"
        low = ctx.low_detail()
        if ctx.tokens(low) >= ctx.tokens(ctx.full()):  # e.g. gpt-4.1-mini: patches are billed at any detail
            return None, f"skipped: detail='low' costs what full resolution does under {model!r}"
        return low, "full images, detail='low'"
    raise KeyError(name)


def reference_candidates(ctx: SearchContext) -> list[tuple[str, Candidate]]:
    """The baselines that exist and fit the budget, as ``(name, candidate)``, one per prompt."""
    out: dict[str, tuple[str, Candidate]] = {}
    for name in REFERENCES:
        cand, _ = reference(ctx, name)
        if cand is not None and fits(ctx.tokens(cand), ctx.config.token_budget):
            out.setdefault(ctx.key(cand), (name, cand))
    return list(out.values())


def candidate_of(ctx: SearchContext, params: Mapping[str, Any], origin: str | None) -> Candidate:
    """The candidate a trial showed: its parameters, or a baseline's images by its origin.

    Raises:
        ConfigError: the parameters do not belong to this context's space.
    """
    cand = ctx.from_params(params)
    if origin and origin.startswith(BASELINE_ORIGIN):
        name = origin[len(BASELINE_ORIGIN) :]
        if name in _OVERRIDES:
            ref, _ = reference(ctx, name)
            if ref is not None:
                return ref
    return cand


def shows_band_space(ctx: SearchContext, origin: str | None) -> bool:
    """Whether a trial of this origin shows the point of the band space its parameters name.

    A baseline whose images are overrides (``low_detail``; ``uniform`` without a ``size``
    dimension) does not; every other trial does.
    """
    if not (origin and origin.startswith(BASELINE_ORIGIN)):
        return True
    name = origin[len(BASELINE_ORIGIN) :]
    if name not in _OVERRIDES:
        return True
    ref, _ = reference(ctx, name)
    return ref is not None and not ref.overrides
