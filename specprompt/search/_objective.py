"""The Optuna objective: price a candidate, refuse it if over budget, reuse or score it.

Every trial stores JSON user attributes (``key``, ``tokens``, ``constraint``, ``feasible``,
``selections``, ``example_scores``, ``score``, ``spend`` (the scorer calls and billed tokens of
the trial) and, when a previous trial showed the same prompt, ``reused_from``). A trial whose
scorer call failed in transport raises :class:`~specprompt.errors.TransportError` (it FAILs, with
the reason in ``transport_error``). Full-valset scores live in study user attributes ``full:<key>``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import optuna

from specprompt.errors import EndpointError, TransportError
from specprompt.search._budget import fits
from specprompt.search._context import Candidate, SearchContext
from specprompt.search._guards import TRANSPORT_ERROR
from specprompt.search._scoring import Scorer

__all__ = ["FULL_PREFIX", "WORST", "Objective", "finished_trials", "full_score", "known_full_score"]

logger = logging.getLogger("specprompt.search")

#: Study user-attribute prefix of full-valset scores, keyed by candidate key.
FULL_PREFIX = "full:"
#: The score given to an infeasible (over-budget) trial, which is never scored.
WORST = -math.inf
#: A single-objective trial reports its running mean to the pruner this many times.
REPORTS_PER_TRIAL = 4

_DONE = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


def finished_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Complete and pruned trials (the ones that count toward ``n_trials``)."""
    return list(study.get_trials(deepcopy=False, states=_DONE))


def known_full_score(study: optuna.Study, key: str) -> float | None:
    """The stored full-valset score of a candidate key, if any."""
    entry = study.user_attrs.get(FULL_PREFIX + key)
    return None if entry is None else float(entry["score"])


def full_score(
    study: optuna.Study,
    ctx: SearchContext,
    scorer: Scorer,
    key: str,
    cand: Candidate,
    trial_number: int | None,
) -> float:
    """The candidate's mean score on the whole valset, computed once per study and stored."""
    known = known_full_score(study, key)
    if known is not None:
        return known
    indices = range(len(scorer.valset))
    scores = scorer.score(key, lambda: ctx.build(cand), indices)
    value = sum(scores.values()) / len(scores)
    study.set_user_attr(FULL_PREFIX + key, {"score": value, "trial": trial_number})
    logger.info("full-valset score of trial %s: %.4f", trial_number, value)
    return value


class Objective:
    """``objective(trial)`` for :meth:`optuna.Study.optimize`.

    Args:
        ctx: the search context.
        scorer: scores programs (shared with the final evaluation and the baselines).
        budget: the token budget, or ``None``.
        minibatch: valset indices a trial is scored on.
        multi_objective: return ``(score, tokens)`` instead of ``score`` (no pruning then:
            Optuna does not prune multi-objective trials).
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

    def _values(self, score: float, tokens: int) -> float | tuple[float, float]:
        return (score, float(tokens)) if self.multi_objective else score

    def __call__(self, trial: optuna.Trial) -> float | tuple[float, float]:
        cand = self.ctx.suggest(trial)
        # [faults] per-trial spend and transport failures: keep when restructuring (see _guards)
        before = self.scorer.spend
        try:
            return self.evaluate(trial, cand)
        except (TransportError, EndpointError) as exc:  # never scored: the trial FAILs, requeue_failed retries it
            trial.set_user_attr(TRANSPORT_ERROR, str(exc))
            if isinstance(exc, TransportError):  # an EndpointError stops the compile: its message says it all
                logger.warning("trial %d failed in transport and will be tried again: %s", trial.number, exc)
            raise
        finally:
            trial.set_user_attr("spend", (self.scorer.spend - before).to_dict())

    def evaluate(self, trial: optuna.Trial, cand: Candidate) -> float | tuple[float, float]:
        """Prices, dedupes and scores ``cand`` as ``trial``."""
        ctx = self.ctx
        tokens = ctx.tokens(cand)
        key = ctx.key(cand)
        feasible = fits(tokens, self.budget)
        trial.set_user_attr("key", key)
        trial.set_user_attr("tokens", tokens)
        trial.set_user_attr("feasible", feasible)
        trial.set_user_attr("selections", ctx.describe(cand))
        if self.budget is not None:
            excess = float(tokens - self.budget)
            trial.set_user_attr("constraint", [excess])
            trial.set_constraint("tokens", excess)
        if not feasible:
            logger.debug("trial %d: %d tokens > budget %s, not scored", trial.number, tokens, self.budget)
            return self._values(WORST, tokens)
        prior = self._prior(trial.study, key, trial.number)
        if prior is not None:
            return self._reuse(trial, prior, tokens)
        return self._score(trial, cand, key, tokens)

    def _prior(self, study: optuna.Study, key: str, number: int) -> optuna.trial.FrozenTrial | None:
        for t in finished_trials(study):
            if t.number != number and t.user_attrs.get("key") == key and "reused_from" not in t.user_attrs:
                return t
        return None

    def _reuse(self, trial: optuna.Trial, prior: optuna.trial.FrozenTrial, tokens: int) -> float | tuple[float, float]:
        trial.set_user_attr("reused_from", prior.number)
        scores = prior.user_attrs.get("example_scores", {})
        trial.set_user_attr("example_scores", scores)
        self.scorer.remember(prior.user_attrs["key"], {int(k): v for k, v in scores.items()})
        if prior.state == optuna.trial.TrialState.PRUNED:
            for step, value in sorted(prior.intermediate_values.items()):
                trial.report(value, step)
            raise optuna.TrialPruned(f"same prompt as pruned trial {prior.number}")
        score = float(prior.user_attrs["score"])
        trial.set_user_attr("score", score)
        logger.debug("trial %d shows the prompt of trial %d: reused", trial.number, prior.number)
        return self._values(score, tokens)

    def _score(self, trial: optuna.Trial, cand: Candidate, key: str, tokens: int) -> float | tuple[float, float]:
        ctx = self.ctx
        program: list[Any] = []

        def build() -> Any:
            if not program:
                program.append(ctx.build(cand))
            return program[0]

        parts = 1 if self.multi_objective else min(REPORTS_PER_TRIAL, len(self.minibatch))
        size = math.ceil(len(self.minibatch) / parts)
        done: dict[int, float] = {}
        for start in range(0, len(self.minibatch), size):
            chunk = self.minibatch[start : start + size]
            done.update(self.scorer.score(key, build, chunk))
            running = sum(done.values()) / len(done)
            last = start + size >= len(self.minibatch)
            if not self.multi_objective and not last:
                trial.report(running, len(done))
                if trial.should_prune():
                    trial.set_user_attr("example_scores", {str(i): s for i, s in done.items()})
                    raise optuna.TrialPruned(f"running score {running:.4f} after {len(done)} examples")
        score = sum(done.values()) / len(done)
        trial.set_user_attr("example_scores", {str(i): s for i, s in done.items()})
        trial.set_user_attr("score", score)
        if len(self.minibatch) == len(self.scorer.valset):
            trial.study.set_user_attr(FULL_PREFIX + key, {"score": score, "trial": trial.number})
        return self._values(score, tokens)
