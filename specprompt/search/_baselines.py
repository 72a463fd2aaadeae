"""Reference prompts scored with the same metric and valset as the band search.

``full``, ``uniform``, ``sharpened``, ``low_detail`` and ``text_only`` are the prompts of
:mod:`specprompt.search._reference`; those that fit the budget are also candidates of the band
search itself (trials with origin ``baseline:<name>``), so their scores here cost nothing more.

==========  ===================================================================================
name        what the demo images are
==========  ===================================================================================
random      pure random search over the band space with the same trial budget: RandomSampler,
            same objective, its own study ``<study_name>-random``, no warm starts, no local
            search, no baseline trials: :class:`BandSampler` over ``RandomSampler``, the same
            code as the band search (``None`` when no random trial fits the budget)
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

import optuna

from specprompt.errors import ConfigError, TransportError
from specprompt.search._budget import fits
from specprompt.search._context import Candidate, SearchContext
from specprompt.search._reference import reference
from specprompt.search._result import BaselineResult, ParetoRow
from specprompt.search._scoring import Scorer

__all__ = ["BASELINES", "BASELINE_PREFIX", "BaselineStore", "check_baselines", "run_baselines"]

logger = logging.getLogger("specprompt.search")

#: The baseline names, in the order they run.
BASELINES: tuple[str, ...] = ("full", "uniform", "sharpened", "low_detail", "text_only", "random")
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
        except TransportError as exc:  # [faults] not a score: nothing stored, the next compile scores it
            logger.warning("baseline %s not scored: %s", name, exc)
            return BaselineResult(name, None, tokens, fits(tokens, budget), f"not scored: {exc}", program, key=key)
        score = sum(scores.values()) / len(scores)
        store.put(name, key, {"score": score, "tokens": tokens})
    return BaselineResult(name, score, tokens, fits(tokens, budget), note, program, key=key, candidate=cand)


def _random(
    ctx: SearchContext,
    random_search: Callable[[], ParetoRow | None],
    store: BaselineStore,
    random_study: str | None,
) -> BaselineResult:
    cfg = ctx.config
    what = {"sampler": "random", "n_trials": cfg.n_trials, "seed": cfg.seed, "v": 3}
    known = store.get("random", what)
    if known is not None and isinstance(known.get("params"), dict):
        try:
            cand = ctx.from_params(known["params"])
        except ConfigError:  # stored for another program: search again
            cand = None
        if cand is not None and fits(ctx.tokens(cand), cfg.token_budget):
            note = str(known.get("note", "best of random search"))
            return BaselineResult(
                "random",
                float(known["score"]),
                ctx.tokens(cand),
                True,
                note,
                ctx.build(cand),
                key=ctx.key(cand),
                candidate=cand,
            )
    row = random_search()
    if row is None:
        return BaselineResult("random", None, None, True, "no feasible random trial completed")
    params = json.loads(row.params)
    where = f"study {random_study!r}" if random_study else "the random-search study"
    note = f"best of random search: trial {row.trial} of {where}"
    store.put("random", what, {"score": row.score, "tokens": row.tokens, "note": note, "params": params})
    cand = ctx.from_params(params)
    return BaselineResult("random", row.score, row.tokens, True, note, ctx.build(cand), key=row.key, candidate=cand)


def run_baselines(
    ctx: SearchContext,
    scorer: Scorer,
    names: Sequence[str],
    random_search: Callable[[], ParetoRow | None],
    store: BaselineStore | None = None,
    random_study: str | None = None,
) -> dict[str, BaselineResult]:
    """Scores the named baselines on the full valset (or reuses their stored results).

    Each scored baseline shows a bar of its examples (``"baseline full"``, ...) when the search
    shows progress (``SearchConfig.progress``): a full valset is one call per example.

    Args:
        ctx: the search context of the compile.
        scorer: the compile's scorer (shared cache: a baseline that was a finalist of the
            search costs nothing more).
        names: baseline names from :data:`BASELINES`.
        random_search: runs the random-search study and returns its chosen row (or ``None``).
        store: where results are kept between runs; ``None`` keeps nothing.
        random_study: the name of the study ``random_search`` runs (its trial numbers are that
            study's, not the compile's), for the random baseline's note.
    """
    store = store or BaselineStore(None, {})
    out: dict[str, BaselineResult] = {}
    for name in check_baselines(list(names)):
        logger.info("baseline %s", name)
        if name == "random":
            out[name] = _random(ctx, random_search, store, random_study)
            continue
        cand, note = reference(ctx, name)
        if cand is None:
            out[name] = BaselineResult(name, None, None, "exceed" not in note, note)
            continue
        with scorer.counting(f"baseline {name}", enabled=ctx.config.progress):
            out[name] = _scored(name, ctx, scorer, cand, note, store)
    return out
