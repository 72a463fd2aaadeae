"""Reference prompts scored with the same metric and valset as the band search.

==========  ===================================================================================
name        what the demo images are
==========  ===================================================================================
full        every image at full resolution (all bands)
uniform     every image resized by one common factor (PIL Lanczos), the largest whose provider
            tokens fit the budget (skipped without a budget)
low_detail  every image at full resolution sent with ``detail="low"`` (OpenAI cost models only)
text_only   no images: the demos keep their text and labels
random      pure random search over the band space with the same trial budget: RandomSampler,
            same objective, its own study ``<study_name>-random``, no warm starts, no local
            search, no fallback (``None`` when no random trial fits the budget)
==========  ===================================================================================

A baseline whose scorer call still fails in transport gets ``score=None`` and a note, and is not
stored (the next compile scores it). Results are stored as JSON in the main study's user
attributes (``baseline:<hash>``, see :class:`BaselineStore`), so a resumed compile reuses them
instead of scoring them again.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import dspy
import optuna

from specprompt.errors import ConfigError, TransportError
from specprompt.io import load_image
from specprompt.search._budget import fits, uniform_sizes
from specprompt.search._context import Candidate, SearchContext
from specprompt.search._result import BaselineResult, ParetoRow
from specprompt.search._scoring import Scorer

__all__ = ["BASELINES", "BASELINE_PREFIX", "BaselineStore", "check_baselines", "run_baselines"]

logger = logging.getLogger("specprompt.search")

#: The baseline names, in the order they run.
BASELINES: tuple[str, ...] = ("full", "uniform", "low_detail", "text_only", "random")
#: Study user-attribute prefix of stored baseline results.
BASELINE_PREFIX = "baseline:"


class BaselineStore:
    """Baseline results kept as JSON user attributes of a study, to be reused on resume.

    Args:
        study: the compile's (main) study, or ``None`` to store nothing.
        fingerprint: JSON data of everything besides the prompt that a score depends on (token
            budget, cost model, detail, valset hashes, ...).

    Convention:
        An entry is ``baseline:<hash>`` where the hash covers the baseline name, ``fingerprint``
        and what the baseline shows (the prompt key, or the random search's settings), so a
        changed budget, cost model or valset never reuses an old score.

    Example:
        >>> import optuna
        >>> store = BaselineStore(optuna.create_study(), {"budget": 10})
        >>> store.get("full", "k1") is None
        True
        >>> store.put("full", "k1", {"score": 0.5}); store.get("full", "k1")
        {'score': 0.5}
    """

    def __init__(self, study: optuna.Study | None, fingerprint: Mapping[str, Any]) -> None:
        self.study = study
        self.fingerprint = dict(fingerprint)

    def _attr(self, name: str, what: object) -> str:
        payload = json.dumps([name, self.fingerprint, what], sort_keys=True, default=str)
        return BASELINE_PREFIX + hashlib.sha256(payload.encode()).hexdigest()[:24]

    def get(self, name: str, what: object) -> dict[str, Any] | None:
        """The stored entry of baseline ``name`` showing ``what``, if any."""
        if self.study is None:
            return None
        entry = self.study.user_attrs.get(self._attr(name, what))
        return dict(entry) if isinstance(entry, dict) else None

    def put(self, name: str, what: object, entry: Mapping[str, Any]) -> None:
        """Stores ``entry`` (JSON data) for baseline ``name`` showing ``what``."""
        if self.study is not None:
            self.study.set_user_attr(self._attr(name, what), dict(entry))


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


def _scored(
    name: str, ctx: SearchContext, scorer: Scorer, cand: Candidate, note: str, store: BaselineStore
) -> BaselineResult:
    budget = ctx.config.token_budget
    tokens = ctx.tokens(cand)
    key = ctx.key(cand)
    program = ctx.build(cand)
    known = store.get(name, key)
    if known is not None and isinstance(known.get("score"), (int, float)):
        score = float(known["score"])
    else:
        try:
            scores = scorer.score(key, lambda: program, range(len(scorer.valset)))
        except TransportError as exc:  # not a score: nothing stored, the next compile scores it
            logger.warning("baseline %s not scored: %s", name, exc)
            return BaselineResult(name, None, tokens, fits(tokens, budget), f"not scored: {exc}", program)
        score = sum(scores.values()) / len(scores)
        store.put(name, key, {"score": score, "tokens": tokens})
    return BaselineResult(name, score, tokens, fits(tokens, budget), note, program)


def _uniform(ctx: SearchContext, scorer: Scorer, store: BaselineStore) -> BaselineResult:
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
    return _scored("uniform", ctx, scorer, cand, f"scale {scale:.4f} (Lanczos)", store)


def _low_detail(ctx: SearchContext, scorer: Scorer, store: BaselineStore) -> BaselineResult:
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
    cand = Candidate(full.values, overrides=overrides)
    return _scored("low_detail", ctx, scorer, cand, "full images, detail='low'", store)


def _random(ctx: SearchContext, random_search: Callable[[], ParetoRow | None], store: BaselineStore) -> BaselineResult:
    cfg = ctx.config
    what = {"sampler": "random", "n_trials": cfg.n_trials, "seed": cfg.seed, "v": 2}
    known = store.get("random", what)
    if known is not None and isinstance(known.get("params"), dict):
        try:
            cand = ctx.from_params(known["params"])
        except ConfigError:  # stored for another program: search again
            cand = None
        if cand is not None and fits(ctx.tokens(cand), cfg.token_budget):
            program = ctx.build(cand)
            note = str(known.get("note", "best of random search"))
            return BaselineResult("random", float(known["score"]), ctx.tokens(cand), True, note, program)
    row = random_search()
    if row is None:
        return BaselineResult("random", None, None, True, "no feasible random trial completed")
    params = json.loads(row.params)
    note = f"best of random search, trial {row.trial}"
    store.put("random", what, {"score": row.score, "tokens": row.tokens, "note": note, "params": params})
    return BaselineResult("random", row.score, row.tokens, True, note, ctx.build(ctx.from_params(params)))


def run_baselines(
    ctx: SearchContext,
    scorer: Scorer,
    names: Sequence[str],
    random_search: Callable[[], ParetoRow | None],
    store: BaselineStore | None = None,
) -> dict[str, BaselineResult]:
    """Scores the named baselines on the full valset (or reuses their stored results).

    Args:
        ctx: the search context of the compile.
        scorer: the compile's scorer (shared cache: a baseline equal to a searched candidate is free).
        names: baseline names from :data:`BASELINES`.
        random_search: runs the random-search study and returns its best row (or ``None``).
        store: where results are kept between runs; ``None`` keeps nothing.
    """
    store = store or BaselineStore(None, {})
    out: dict[str, BaselineResult] = {}
    for name in check_baselines(list(names)):
        logger.info("baseline %s", name)
        if name == "full":
            out[name] = _scored(name, ctx, scorer, ctx.full(), "all bands of every image", store)
        elif name == "uniform":
            out[name] = _uniform(ctx, scorer, store)
        elif name == "low_detail":
            out[name] = _low_detail(ctx, scorer, store)
        elif name == "text_only":
            out[name] = _scored(name, ctx, scorer, ctx.dropped(), "images removed, text and labels kept", store)
        else:
            out[name] = _random(ctx, random_search, store)
    return out
