"""What a trial reports to the pruner, and a startup that counts the search's own scored trials.

A trial is scored on a fixed minibatch of the valset (the same examples in every trial of a
study), in :data:`~specprompt.search._objective.REPORTS_PER_TRIAL` chunks; the pruner is asked
after each chunk but the last. What it reports depends on the pruner (:func:`reports_examples`):

================  ===============================================================================
pruner            reports
================  ===============================================================================
``WilcoxonPruner``  each example's score, at the step of its valset index: the same step ids in
                  every trial, so its paired signed-rank test compares a trial with the best one
                  example by example. Baselines report too (never pruned): the best trial is
                  often one. A trial that reuses another's scores reports them.
the others        the running mean of the minibatch scores, at the step of how many examples are
                  scored (``PercentilePruner``, ``MedianPruner``, ``HyperbandPruner``)
================  ===============================================================================

A one-sided Wilcoxon test on ``n`` paired examples cannot reach ``p < 0.1`` before ``n = 4``, and
the pruner is not asked after the last chunk, so ``WilcoxonPruner`` (``p_threshold=0.1``) prunes
nothing with a minibatch of 4 examples or fewer.

Startup: Optuna's ``PercentilePruner`` and ``MedianPruner`` count every complete trial toward
``n_startup_trials``, baselines (which report nothing) and never-scored infeasible trials
included, so with its defaults pruning began after the first guesses alone, against a single
scored trial. :class:`SearchedStartupPruner` counts only :func:`searched_scored` trials; the
library's default pruner and the CLI's ``--pruner percentile|median`` use it. A pruner you pass
yourself keeps Optuna's count.
"""

from __future__ import annotations

import weakref

import optuna

from specprompt.errors import ConfigError
from specprompt.search._record import TrialRecord

__all__ = ["SearchedStartupPruner", "reports_examples", "searched_scored"]


def _unwrapped(pruner: optuna.pruners.BasePruner) -> optuna.pruners.BasePruner:
    """The pruner inside :class:`SearchedStartupPruner` and Optuna's ``PatientPruner``."""
    for _ in range(4):
        inner = getattr(pruner, "base", None) or getattr(pruner, "_wrapped_pruner", None)
        if not isinstance(inner, optuna.pruners.BasePruner):
            break
        pruner = inner
    return pruner


def reports_examples(pruner: optuna.pruners.BasePruner) -> bool:
    """Whether trials report each example's score at its valset index (``WilcoxonPruner``)."""
    return isinstance(_unwrapped(pruner), optuna.pruners.WilcoxonPruner)


def searched_scored(study: optuna.Study) -> int:
    """Complete trials the search proposed and scored: not baselines or the fallback (they are
    never pruned), not never-scored infeasible ones, not reuses of an earlier trial's scores."""
    n = 0
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        rec = TrialRecord.from_trial(t)
        n += rec.score is not None and rec.reused_from is None and rec.label_rule_binds
    return n


class SearchedStartupPruner(optuna.pruners.BasePruner):
    """``base``, silent until ``n_startup_trials`` trials of the search are scored.

    Args:
        base: the pruner that decides afterwards (build it with ``n_startup_trials=0``).
        n_startup_trials: :func:`searched_scored` trials before the first pruning.

    Raises:
        ConfigError: ``base`` is not an Optuna pruner, or ``n_startup_trials`` not an int >= 0.

    Example:
        >>> p = SearchedStartupPruner(optuna.pruners.MedianPruner(n_startup_trials=0), 5)
        >>> type(p.base).__name__, p.n_startup_trials
        ('MedianPruner', 5)
    """

    def __init__(self, base: optuna.pruners.BasePruner, n_startup_trials: int) -> None:
        if not isinstance(base, optuna.pruners.BasePruner):
            raise ConfigError(f"base must be an optuna pruner, got {type(base).__name__}")
        n = n_startup_trials
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ConfigError(f"n_startup_trials must be an int >= 0, got {n!r}")
        self.base = base
        self.n_startup_trials = n
        # studies whose count reached n_startup_trials: complete trials stay complete, so a study
        # is counted until then and never again (one pruner may serve several studies)
        self._started: weakref.WeakSet[optuna.Study] = weakref.WeakSet()

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        if study not in self._started:
            if searched_scored(study) < self.n_startup_trials:
                return False
            self._started.add(study)
        return self.base.prune(study, trial)
