"""The Optuna objective: price a candidate, refuse it if over budget, reuse or score it.

Each trial's attributes are one :class:`~specprompt.search._record.TrialRecord`; full-valset
scores are :class:`~specprompt.search._record.FullScore` study attributes ``full:<key>``. A trial
records its scorer spend (``spend``); one whose scorer call failed in transport raises
:class:`~specprompt.errors.TransportError` and FAILs with the reason in ``transport_error``.
"""

from __future__ import annotations

import logging
import math
import os
import socket
from collections.abc import Sequence
from typing import Any

import optuna

from specprompt.errors import ConfigError, EndpointError, TransportError
from specprompt.search._context import Candidate, SearchContext
from specprompt.search._pruning import reports_examples
from specprompt.search._record import FALLBACK_ORIGIN, TRIM_ORIGIN, FullScore, TrialRecord, write_record
from specprompt.search._reference import candidate_of
from specprompt.search._scoring import Failures, Scorer

__all__ = [
    "FINISHED",
    "WORST",
    "Objective",
    "constraints",
    "counts_toward_n_trials",
    "finished_trials",
    "full_score",
    "optuna_constraints",
    "searched_trials",
    "worker_tag",
]

logger = logging.getLogger("specprompt.search")

#: The score given to an infeasible trial (over budget, or a label without an image), which is never scored.
WORST = -math.inf
#: A single-objective search trial is scored in this many chunks, the pruner asked after each but
#: the last (what it reports: :mod:`specprompt.search._pruning`).
REPORTS_PER_TRIAL = 4

#: Trial states that count toward ``n_trials``.
FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


def finished_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Complete and pruned trials (the ones that count toward ``n_trials``)."""
    return list(study.get_trials(deepcopy=False, states=FINISHED))


def counts_toward_n_trials(trial: optuna.trial.FrozenTrial) -> bool:
    """Whether ``trial`` counts toward ``n_trials``: finished (complete or pruned), not one the
    trim added after the choice (origin ``trim:<n>``) or the fallback added when no searched prompt
    fit (origin ``fallback:<name>``), and not a baseline scored outside the search
    and added to the study after it (the random-search baseline's pick; a baseline the first guesses
    left out). A baseline trial the search ran was enqueued: Optuna keeps an enqueued trial's
    parameters as its ``fixed_params`` system attribute, which an added trial does not have."""
    if trial.state not in FINISHED:
        return False
    record = TrialRecord.from_trial(trial)
    if (record.origin or "").startswith((TRIM_ORIGIN, FALLBACK_ORIGIN)):
        return False
    return not record.is_baseline or "fixed_params" in trial.system_attrs


def searched_trials(study: optuna.Study) -> int:
    """How many finished trials count toward ``n_trials`` (:func:`counts_toward_n_trials`): all but
    those added after the search (the trim's, the fallback, a baseline scored outside it), so a
    resumed or extended search runs the trials it would have run without them."""
    return sum(1 for t in finished_trials(study) if counts_toward_n_trials(t))


def constraints(
    ctx: SearchContext, cand: Candidate, budget: float | None, *, bound: bool, tokens: int | None = None
) -> dict[str, float]:
    """Optuna's constraints of a trial that shows ``cand``: feasible when every value is <= 0.

    ``tokens``: image tokens (``tokens``, when the caller priced ``cand`` already) minus ``budget``
    (with a budget). ``labels``: how many labels keep no
    image (where the label rule is on, :attr:`SearchContext.must_cover`; 0 for a trial the rule
    does not bind, ``bound=False``: a baseline or the fallback). Budget and rule are the study's,
    so every trial of a study has the same names (Optuna's ``GPSampler`` needs that).
    """
    out: dict[str, float] = {}
    if budget is not None:
        out["tokens"] = float((ctx.tokens(cand) if tokens is None else tokens) - budget)
    if ctx.must_cover:
        out["labels"] = float(len(ctx.missing_classes(cand))) if bound else 0.0
    return out


def optuna_constraints(study: optuna.Study, limits: dict[str, float]) -> dict[str, float]:
    """The part of ``limits`` (:func:`constraints`) to hand Optuna for a trial of ``study``: all of
    it, unless the study's trials carry ``tokens`` alone, as the trials of a study begun before the
    ``labels`` constraint do. ``GPSampler`` refuses a study whose trials differ in names,
    so such a study keeps its layout; the label rule then reaches Optuna through the trial's value
    (never scored) only, as it did when the study began."""
    if "labels" not in limits or "tokens" not in limits:
        return limits
    for t in study.get_trials(deepcopy=False, states=FINISHED):
        if t.constraints:
            return {"tokens": limits["tokens"]} if set(t.constraints) == {"tokens"} else limits
    return limits


def worker_tag() -> dict[str, Any]:
    """JSON identifying this process (stored on each trial to detect stale ones after a kill)."""
    return {"host": socket.gethostname(), "pid": os.getpid()}


def full_score(
    study: optuna.Study,
    ctx: SearchContext,
    scorer: Scorer,
    key: str,
    cand: Candidate,
    trial_number: int | None,
) -> FullScore:
    """The candidate's scores on the whole valset, computed once per study and stored."""
    known = FullScore.read(study, key)
    if known is not None and len(known.example_scores) == len(scorer.valset):
        return known
    scores = scorer.score(key, lambda: ctx.build(cand), range(len(scorer.valset)))
    entry = FullScore(sum(scores.values()) / len(scores), trial_number, scores)
    entry.write(study, key)
    what = f"trial {trial_number}" if trial_number is not None else "a candidate outside the trials"
    logger.info("full-valset score of %s: %.4f", what, entry.score)
    return entry


class Objective:
    """``objective(trial)`` for :meth:`optuna.Study.optimize`.

    Args:
        ctx: the search context.
        scorer: scores programs (shared with the final evaluation and the baselines).
        budget: the token budget, or ``None``.
        minibatch: valset indices a trial is scored on.
        multi_objective: return ``(score, tokens)`` instead of ``score`` (no pruning then:
            Optuna does not prune multi-objective trials).

    Convention:
        A baseline trial (origin ``baseline:<name>``) is never pruned, so every baseline that
        fits ends the search with a complete score and becomes a finalist. It reports to the
        pruner only where each example is reported (``WilcoxonPruner``: the best trial it pairs
        a trial with is often a baseline; :mod:`specprompt.search._pruning`).
    """

    def __init__(
        self,
        ctx: SearchContext,
        scorer: Scorer,
        budget: float | None,
        minibatch: Sequence[int],
        multi_objective: bool,
    ) -> None:
        self.ctx = ctx
        self.scorer = scorer
        self.budget = budget
        self.minibatch = list(minibatch)
        self.multi_objective = multi_objective
        self.worker = worker_tag()

    def _per_example(self, trial: optuna.Trial) -> bool:
        """Whether the trial reports each example's score (:func:`~specprompt.search._pruning.reports_examples`)."""
        return not self.multi_objective and reports_examples(trial.study.pruner)

    def _values(self, score: float, tokens: int) -> float | tuple[float, float]:
        return (score, float(tokens)) if self.multi_objective else score

    def __call__(self, trial: optuna.Trial) -> float | tuple[float, float]:
        write_record(trial, TrialRecord(worker=self.worker))
        record = TrialRecord.from_trial(trial)
        try:
            cand = candidate_of(self.ctx, self.ctx.suggest_params(trial), record.origin)
        except ConfigError as exc:  # parameters given by study.enqueue_trial outside the search space
            logger.warning(
                "trial %d: its enqueued parameters are outside the search space (%s): not scored", trial.number, exc
            )
            write_record(trial, TrialRecord(feasible=False))
            return self._values(WORST, 0)
        before = self.scorer.spend
        try:
            return self.evaluate(trial, cand, baseline=not record.label_rule_binds)
        except (TransportError, EndpointError) as exc:  # never scored: the trial FAILs, requeue_failed retries it
            write_record(trial, TrialRecord(transport_error=str(exc)))
            if isinstance(exc, TransportError):  # an EndpointError stops the compile: its message says it all
                logger.warning("trial %d failed in transport and will be tried again: %s", trial.number, exc)
            raise
        finally:
            write_record(trial, TrialRecord(spend=(self.scorer.spend - before).to_dict()))

    def evaluate(self, trial: optuna.Trial, cand: Candidate, *, baseline: bool = False) -> float | tuple[float, float]:
        """Prices, dedupes and scores ``cand`` as ``trial``.

        Args:
            baseline: ``cand`` is a baseline prompt (text-only, uniform, ...): never pruned, and
                exempt from the every-label-keeps-an-image rule, which binds the search's picks.
        """
        ctx = self.ctx
        tokens = ctx.tokens(cand)
        key = ctx.key(cand)
        limits = constraints(ctx, cand, self.budget, bound=not baseline, tokens=tokens)
        feasible = all(v <= 0 for v in limits.values())
        record = TrialRecord(
            key=key,
            tokens=tokens,
            feasible=feasible,
            selections=ctx.describe(cand),
            constraint=limits or None,
        )
        write_record(trial, record)
        for name, value in optuna_constraints(trial.study, limits).items():
            trial.set_constraint(name, value)
        if not feasible:
            logger.debug("trial %d: infeasible (%s), not scored", trial.number, limits)
            return self._values(WORST, tokens)
        prior = self._prior(trial.study, key, trial.number)
        if prior is not None:
            return self._reuse(trial, prior, tokens)
        return self._score(trial, cand, key, tokens, not baseline)

    def _prior(self, study: optuna.Study, key: str, number: int) -> optuna.trial.FrozenTrial | None:
        for t in finished_trials(study):
            rec = TrialRecord.from_trial(t)
            if t.number != number and rec.key == key and rec.reused_from is None:
                return t
        return None

    def _reuse(self, trial: optuna.Trial, prior: optuna.trial.FrozenTrial, tokens: int) -> float | tuple[float, float]:
        before = TrialRecord.from_trial(prior)
        scores = dict(before.example_scores or {})
        self.scorer.remember(str(before.key), scores)
        if prior.state == optuna.trial.TrialState.PRUNED:
            write_record(trial, TrialRecord(reused_from=prior.number, example_scores=scores))
            for step, value in sorted(prior.intermediate_values.items()):
                trial.report(value, step)
            raise optuna.TrialPruned(f"same prompt as pruned trial {prior.number}")
        score = float(before.score if before.score is not None else WORST)
        write_record(trial, TrialRecord(reused_from=prior.number, example_scores=scores, score=score))
        if self._per_example(trial):  # it may become the best trial, which the pruner pairs others with
            for i, value in sorted(scores.items()):
                trial.report(value, i)
        logger.debug("trial %d shows the prompt of trial %d: reused", trial.number, prior.number)
        return self._values(score, tokens)

    def _score(
        self, trial: optuna.Trial, cand: Candidate, key: str, tokens: int, prunable: bool
    ) -> float | tuple[float, float]:
        ctx = self.ctx
        program: list[Any] = []

        def build() -> Any:
            if not program:
                program.append(ctx.build(cand))
            return program[0]

        prune = prunable and not self.multi_objective
        per_example = self._per_example(trial)
        parts = min(REPORTS_PER_TRIAL, len(self.minibatch)) if prune else 1
        size = math.ceil(len(self.minibatch) / parts)
        done: dict[int, float] = {}
        failures = Failures()  # every example failing is a broken setup per trial, not per chunk
        for start in range(0, len(self.minibatch), size):
            chunk = self.minibatch[start : start + size]
            scores = self.scorer.score(key, build, chunk, failures)
            done.update(scores)
            running = sum(done.values()) / len(done)
            last = start + size >= len(self.minibatch)
            if per_example:  # :mod:`~specprompt.search._pruning`: each example at its valset index
                for i in chunk:
                    trial.report(scores[i], i)
            elif prune and not last:
                trial.report(running, len(done))
            if prune and not last:
                # while every example so far failed, the trial runs on: a broken setup is told
                # apart from a failing example over the whole trial (``check`` below), never pruned
                if trial.should_prune() and not failures.all_failed:
                    write_record(trial, TrialRecord(example_scores=done))
                    raise optuna.TrialPruned(f"running score {running:.4f} after {len(done)} examples")
        self.scorer.check(key, failures)
        score = sum(done.values()) / len(done)
        write_record(trial, TrialRecord(example_scores=done, score=score))
        if len(self.minibatch) == len(self.scorer.valset):
            FullScore(score, trial.number, done).write(trial.study, key)
        return self._values(score, tokens)
