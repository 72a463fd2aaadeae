"""What a compile returns once its search is scored: the selection rule, then the trim.

:func:`decide` applies the rule of :mod:`specprompt.search._select` to the candidates that have
full-valset scores; :func:`decide_departure` adds its step 7 when a local judge scored the search
(:mod:`specprompt.search._departures`: the judge's pick over the baselines is held back, or
confirmed by the target); :func:`trim_chosen` makes the chosen program cheaper while it loses no
validation example (:mod:`specprompt.search._trim`), and :func:`confirm_trim` asks the target
whether a local judge's trim loses one.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import optuna

from specprompt.errors import ConfigError
from specprompt.search._config import SearchConfig
from specprompt.search._context import Candidate, SearchContext
from specprompt.search._departures import DeparturePolicy, departure_policy, local_judge, target_check, trim_check
from specprompt.search._identity import image_lm
from specprompt.search._objective import finished_trials
from specprompt.search._record import FullScore, TrialRecord, trim_scored
from specprompt.search._result import ParetoRow
from specprompt.search._scoring import Failures, Scorer
from specprompt.search._select import INTERVAL_LEVEL, Decision, choose, score_interval
from specprompt.search._study import add_trial, collect_rows, row_candidate
from specprompt.search._transport import model_name
from specprompt.search._trim import CHUNK, TIE_RUN, TRIM_ORIGIN, TrimReport, loses_nothing, trim

__all__ = ["Interval", "Returned", "confirm_trim", "decide", "decide_departure", "policy_of", "trim_chosen"]

logger = logging.getLogger("specprompt.search")

#: A confidence interval of a valset score, ``(low, high)`` (:func:`~specprompt.search._select.score_interval`).
Interval = tuple[float, float]


@dataclass(frozen=True)
class Returned:
    """The program a compile returns after the trim.

    Attributes:
        row: its candidate row.
        interval: the confidence interval of its valset score.
        trim: what the trim (and the target's check of it) did.
    """

    row: ParetoRow
    interval: Interval
    trim: TrimReport


def policy_of(ctx: SearchContext, screened: bool, target: Any | None) -> tuple[DeparturePolicy, str]:
    """Step 7 of the rule for a compile scored by the LM that answers the searched predictors
    (:func:`~specprompt.search._identity.image_lm`; :func:`~specprompt.search._departures.departure_policy`)."""
    return departure_policy(
        ctx.config.local_departures,
        local_judge(image_lm(ctx)),
        not ctx.sized,
        screened,
        None if target is None else model_name(target),
    )


def decide(study: optuna.Study, rows: Sequence[ParetoRow], cfg: SearchConfig, hold: str = "") -> Decision | None:
    """The returned row by the rule of :mod:`specprompt.search._select` (``hold``: its step 7)."""
    scores: dict[str, dict[int, float]] = {}
    for r in rows:
        entry = FullScore.read(study, r.key)
        if r.full and entry is not None and entry.example_scores:
            scores[r.key] = dict(entry.example_scores)
    trimmed = trim_scored(study)  # [trim] variants scored after the choice never enter it
    pool = [r for r in rows if r.key in scores and r.key not in trimmed and not r.origin.startswith(TRIM_ORIGIN)]
    if not pool:
        return None
    return choose(
        pool,
        scores,
        float(cfg.tie_confidence),
        cfg.seed,
        splits=cfg.confirm_splits,
        min_examples=float(cfg.confirm_min_examples),
        hold=hold,
    )


def decide_departure(
    study: optuna.Study,
    ctx: SearchContext,
    rows: Sequence[ParetoRow],
    policy: tuple[DeparturePolicy, str],
    metric: Callable[..., Any],
    valset: Sequence[Any],
    target: Any | None,
) -> Decision | None:
    """:func:`decide` with step 7 of the rule: a local judge's pick over the baselines is held
    back, or confirmed by ``target`` (:mod:`specprompt.search._departures`)."""
    how, why = policy
    cfg = ctx.config
    if how == "free":
        return decide(study, rows, cfg)
    decision = decide(study, rows, cfg, why)
    if decision is None or decision.local_pick is None:
        return decision
    picked = decision.local_pick
    if how == "confirm":
        check = target_check(study, ctx, metric, valset, target, picked.pick, picked.fallback)
        picked = dataclasses.replace(picked, check=check)
    if picked.returned:
        free = decide(study, rows, cfg)
        if free is not None:  # pragma: no branch - the same pool as above
            logger.info("%s", picked.summary())
            return dataclasses.replace(free, local_pick=picked)
    logger.warning("%s", picked.summary())
    return dataclasses.replace(decision, local_pick=picked)


def trim_chosen(study: optuna.Study, ctx: SearchContext, scorer: Scorer, chosen: ParetoRow) -> Returned:
    """The cheapest variant of ``chosen`` that loses no valset example (:mod:`specprompt.search._trim`).

    Each variant is scored on the full valset by ``scorer`` and kept as a trial of origin
    ``trim:<n>`` (one per prompt: a resumed compile finds it and scores nothing). The variants'
    examples show on one bar (``"trim"``) when ``ctx.config.progress`` is on.
    """
    cfg = ctx.config
    entry = FullScore.read(study, chosen.key)
    if entry is None:  # pragma: no cover - the selection pool holds full-valset scores only
        raise ConfigError(f"the chosen trial {chosen.trial} has no full-valset score")
    baseline = TrialRecord(origin=chosen.origin).is_baseline
    if baseline and cfg.trim_baselines == "off":
        note = "a baseline was chosen: baselines are not trimmed (trim_baselines='off')"
        report = TrimReport(chosen.trial, chosen.tokens, chosen.tokens, note=note)
        return Returned(chosen, score_interval(entry.example_scores, INTERVAL_LEVEL, cfg.seed), report)
    mine = {
        rec.key: t.number
        for t in finished_trials(study)
        if (rec := TrialRecord.from_trial(t)).key and (rec.origin or "").startswith(TRIM_ORIGIN)
    }

    start, reference = row_candidate(ctx, chosen), dict(entry.example_scores)

    def score(cand: Candidate, origin: str, chunks: Sequence[Sequence[int]]) -> tuple[dict[int, float], int | None]:
        key = ctx.key(cand)
        if key in mine:  # a resumed compile: the trial holds the scores (partial up to a loss when PRUNED)
            found = FullScore.read(study, key)
            if found is not None:
                return dict(found.example_scores), mine[key]
            held = TrialRecord.from_trial(study.get_trials(deepcopy=False)[mine[key]]).example_scores
            return {int(i): float(v) for i, v in (held or {}).items()}, mine[key]
        before = scorer.spend
        if FullScore.read(study, key) is None:
            trim_scored(study, key)  # first: a kill between scoring and marking leaks nothing
            scores: dict[int, float] = {}
            failures = Failures()  # every example failing is a broken setup per variant, not per chunk
            for part in chunks:  # stop at the first chunk that loses an example of the chosen program
                got = scorer.score(key, lambda: ctx.build(cand), part, failures)
                scores.update(got)
                if loses_nothing(got, {i: reference[i] for i in got}):
                    break
            scorer.check(key, failures)
            if len(scores) < len(reference):
                add_trial(study, ctx, scorer, cand, origin, partial=scores, since=before)
                mine[key] = study.get_trials(deepcopy=False)[-1].number
                return scores, mine[key]
        add_trial(study, ctx, scorer, cand, origin, since=before)  # full_score: the cache holds every example
        mine[key] = study.get_trials(deepcopy=False)[-1].number
        found = FullScore.read(study, key)
        return ({} if found is None else dict(found.example_scores)), mine[key]

    chunk = max(CHUNK, scorer.num_threads)
    gain = baseline and cfg.trim_baselines in ("gain", "scale")
    scale = baseline and cfg.trim_baselines == "scale"  # smaller sizes only; two ties in a row suffice
    with scorer.counting("trim", enabled=cfg.progress):
        cand, report = trim(
            ctx,
            start,
            reference,
            cfg.trim_steps,
            score,
            chosen.trial,
            chunk,
            require_gain=gain,
            drops=not scale,
            tie_run=TIE_RUN if scale else 0,
        )
    logger.info("%s", report.summary())
    key = ctx.key(cand)
    if key == chosen.key:
        return Returned(chosen, score_interval(entry.example_scores, INTERVAL_LEVEL, cfg.seed), report)
    row = next((r for r in collect_rows(study, ctx, cfg.token_budget) if r.key == key), None)
    if row is None:  # pragma: no cover - a trim trial is a complete, feasible trial of its key
        logger.warning("the trimmed prompt has no candidate row; returning the chosen program")
        return Returned(chosen, score_interval(entry.example_scores, INTERVAL_LEVEL, cfg.seed), report)
    found = FullScore.read(study, key)
    scores = {} if found is None else found.example_scores
    return Returned(row, score_interval(scores, INTERVAL_LEVEL, cfg.seed), report)


def confirm_trim(
    study: optuna.Study,
    ctx: SearchContext,
    chosen: ParetoRow,
    interval: Interval,
    trimmed: Returned,
    metric: Callable[..., Any],
    valset: Sequence[Any],
    target: Any,
) -> Returned:
    """``trimmed`` when ``target`` finds that it loses no validation example ``chosen`` (valset
    interval ``interval``) got (:func:`~specprompt.search._departures.trim_check`), else
    ``chosen``; the report carries the check. Nothing is asked when the trim changed nothing."""
    if trimmed.row.key == chosen.key:
        return trimmed
    check = trim_check(study, ctx, metric, valset, target, trimmed.row, chosen)
    (logger.info if check.confirmed else logger.warning)("trim: %s", check.summary())
    report = dataclasses.replace(trimmed.trim, check=check)
    if check.confirmed:
        return dataclasses.replace(trimmed, trim=report)
    return Returned(chosen, interval, dataclasses.replace(report, tokens_after=chosen.tokens))
