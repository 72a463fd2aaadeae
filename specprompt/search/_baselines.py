"""Reference prompts scored with the same metric and valset as the band search.

==========  ===================================================================================
name        what the demo images are
==========  ===================================================================================
full        every image at full resolution (all bands)
uniform     every image resized by one common factor (PIL Lanczos), the largest whose provider
            tokens fit the budget (skipped without a budget)
low_detail  every image at full resolution sent with ``detail="low"`` (OpenAI cost models only)
text_only   no images: the demos keep their text and labels
random      random search over the band space with the same trial budget (RandomSampler,
            same objective, its own study ``<study_name>-random``)
==========  ===================================================================================
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import dspy

from specprompt.errors import ConfigError
from specprompt.io import load_image
from specprompt.search._budget import fits, uniform_sizes
from specprompt.search._context import Candidate, SearchContext
from specprompt.search._result import BaselineResult, ParetoRow
from specprompt.search._scoring import Scorer

__all__ = ["BASELINES", "check_baselines", "run_baselines"]

logger = logging.getLogger("specprompt.search")

#: The baseline names, in the order they run.
BASELINES: tuple[str, ...] = ("full", "uniform", "low_detail", "text_only", "random")


def check_baselines(which: bool | Sequence[str] | None) -> tuple[str, ...]:
    """Normalizes a ``baselines=`` argument: ``True`` = all, ``False``/``None`` = none, or names.

    Raises:
        ConfigError: an unknown name (the message lists the known ones).
    """
    if which is None or which is False:
        return ()
    if which is True:
        return BASELINES
    if isinstance(which, str) or not all(isinstance(n, str) for n in which):
        raise ConfigError(f"baselines must be True, False or a list of names from {list(BASELINES)}, got {which!r}")
    unknown = [n for n in which if n not in BASELINES]
    if unknown:
        raise ConfigError(f"unknown baseline(s) {unknown}; known: {', '.join(BASELINES)}")
    return tuple(n for n in BASELINES if n in which)


def _score(ctx: SearchContext, scorer: Scorer, cand: Candidate) -> tuple[float, dspy.Module]:
    program = ctx.build(cand)
    scores = scorer.score(ctx.key(cand), lambda: program, range(len(scorer.valset)))
    return sum(scores.values()) / len(scores), program


def _scored(name: str, ctx: SearchContext, scorer: Scorer, cand: Candidate, note: str) -> BaselineResult:
    budget = ctx.config.token_budget
    tokens = ctx.tokens(cand)
    score, program = _score(ctx, scorer, cand)
    return BaselineResult(name, score, tokens, fits(tokens, budget), note, program)


def _uniform(ctx: SearchContext, scorer: Scorer) -> BaselineResult:
    budget = ctx.config.token_budget
    if budget is None:
        return BaselineResult("uniform", None, None, True, "skipped: no token_budget to fit")
    from PIL import Image

    slots = ctx.plan.slots
    pils = [load_image(ctx.plan.images[s.id]) for s in slots]
    found = uniform_sizes([p.size for p in pils], ctx.pricer, budget)
    if found is None:
        return BaselineResult("uniform", None, None, False, "skipped: even 1-pixel images exceed the budget")
    scale, sizes, _ = found
    overrides = {
        s.id: dspy.Image(p.resize(size, Image.Resampling.LANCZOS))
        for s, p, size in zip(slots, pils, sizes, strict=True)
    }
    cand = Candidate(ctx.full().values, overrides=overrides)
    return _scored("uniform", ctx, scorer, cand, f"scale {scale:.4f} (Lanczos)")


def _low_detail(ctx: SearchContext, scorer: Scorer) -> BaselineResult:
    if not ctx.config.cost_model.lower().startswith("openai"):
        return BaselineResult(
            "low_detail",
            None,
            None,
            True,
            f"skipped: detail='low' only prices differently for openai, not {ctx.config.cost_model!r}",
        )
    full = ctx.full()
    overrides = {
        s.id: ctx.render(s.id, ctx.spaces[s.id].selection(full.values[s.id])).with_detail("low") for s in ctx.plan.slots
    }
    return _scored("low_detail", ctx, scorer, Candidate(full.values, overrides=overrides), "full images, detail='low'")


def run_baselines(
    ctx: SearchContext,
    scorer: Scorer,
    names: Sequence[str],
    random_search: Callable[[], ParetoRow | None],
) -> dict[str, BaselineResult]:
    """Scores the named baselines on the full valset.

    Args:
        ctx: the search context of the compile.
        scorer: the compile's scorer (shared cache: a baseline equal to a searched candidate is free).
        names: baseline names from :data:`BASELINES`.
        random_search: runs the random-search study and returns its best row (or ``None``).
    """
    out: dict[str, BaselineResult] = {}
    for name in check_baselines(list(names)):
        logger.info("baseline %s", name)
        if name == "full":
            out[name] = _scored(name, ctx, scorer, ctx.full(), "all bands of every image")
        elif name == "uniform":
            out[name] = _uniform(ctx, scorer)
        elif name == "low_detail":
            out[name] = _low_detail(ctx, scorer)
        elif name == "text_only":
            out[name] = _scored(name, ctx, scorer, ctx.dropped(), "images removed, text and labels kept")
        else:
            row = random_search()
            if row is None:
                out[name] = BaselineResult(name, None, None, True, "no feasible random trial completed")
            else:
                import json

                program = ctx.build(ctx.from_params(json.loads(row.params)))
                note = f"best of random search, trial {row.trial}"
                out[name] = BaselineResult(name, row.score, row.tokens, True, note, program)
    return out
