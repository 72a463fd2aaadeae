"""Optuna samplers and pruners by name, for ``specprompt compile --sampler/--pruner``.

The names map onto Optuna classes with the search's seed; ``tpe`` and ``percentile`` are the
library's defaults (:class:`specprompt.search.BandOptimizer` with no ``sampler``/``pruner``).
Each sampler is the base sampler of the search's :class:`~specprompt.search._sampler.BandSampler`, which
reseeds it before every trial. Trials report the running minibatch score at the step of how many
examples are scored, so ``percentile``, ``median`` and ``hyperband`` compare running scores; with
``wilcoxon`` they report each example's score at its valset index instead, which the pruner pairs
with the best trial's. ``percentile`` and ``median`` start pruning once five trials of the search
were scored: baselines and never-scored infeasible trials do not count
(:class:`specprompt.search.SearchedStartupPruner`).
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING

from specprompt.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Sequence

    import optuna

__all__ = ["N_STARTUP_TRIALS", "PRUNERS", "SAMPLERS", "SINGLE_OBJECTIVE_SAMPLERS", "make_pruner", "make_sampler"]

#: ``--sampler`` names: ``tpe`` (default: seeded multivariate TPE), ``random``, ``gp`` (Gaussian
#: process; its over-budget proposals are coarsened to fit, not asked again), ``nsga2`` (genetic;
#: suits ``--multi-objective``), ``qmc`` (scrambled Sobol sequence), ``cmaes`` (CMA-ES; needs the
#: ``cmaes`` package), ``bruteforce`` (every combination once, in a seeded order).
SAMPLERS = ("tpe", "random", "gp", "nsga2", "qmc", "cmaes", "bruteforce")
#: Samplers Optuna runs on single-objective studies only.
SINGLE_OBJECTIVE_SAMPLERS = ("cmaes",)
#: ``--pruner`` names: ``percentile`` (default: bottom quarter after half the minibatch), ``median``,
#: ``hyperband``, ``wilcoxon`` (paired test against the best trial, example by example; prunes
#: nothing with a minibatch of 4 or fewer), ``none``.
PRUNERS = ("percentile", "median", "hyperband", "wilcoxon", "none")
#: Trials of the search scored before ``median`` prunes (as the default ``percentile``).
N_STARTUP_TRIALS = 5


def _cmaes_sampler(seed: int) -> optuna.samplers.BaseSampler:
    """Optuna's CmaEsSampler, without its warning after every trial that it does not read the
    budget constraint: CMA-ES proposes every parameter at once, so the search's
    :class:`~specprompt.search._sampler.BandSampler` already draws again a proposal over budget.

    Raises:
        ConfigError: the ``cmaes`` package is not installed (the message says how to install it).
    """
    import optuna

    try:
        import cmaes  # noqa: F401  (Optuna imports it lazily, at the first CMA-ES proposal)
    except ImportError:
        raise ConfigError(
            "--sampler cmaes needs the cmaes package, which is not installed: "
            "pip install 'specprompt[cmaes]' (or pip install cmaes)"
        ) from None

    class CmaEs(optuna.samplers.CmaEsSampler):
        def after_trial(
            self,
            study: optuna.Study,
            trial: optuna.trial.FrozenTrial,
            state: optuna.trial.TrialState,
            values: Sequence[float] | None,
        ) -> None:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", "Constraints have been set, but CmaEsSampler", UserWarning)
                super().after_trial(study, trial, state, values)

    return CmaEs(seed=seed)


def make_sampler(name: str, seed: int, *, multi_objective: bool = False) -> optuna.samplers.BaseSampler | None:
    """The sampler called ``name`` seeded with ``seed``; ``None`` for ``tpe`` (the library default).

    ``qmc`` scrambles its Sobol sequence with ``seed`` (unscrambled, the seed would change nothing).
    Optuna's experimental-feature warning of ``qmc`` and ``bruteforce`` is not shown: the name
    was chosen on purpose.

    Raises:
        ConfigError: an unknown name, ``cmaes`` without the ``cmaes`` package, or a sampler of
            :data:`SINGLE_OBJECTIVE_SAMPLERS` with ``multi_objective``.

    Example:
        >>> type(make_sampler("random", 0)).__name__, make_sampler("tpe", 0)
        ('RandomSampler', None)
    """
    import optuna

    if name not in SAMPLERS:
        raise ConfigError(f"unknown sampler {name!r}; known: {', '.join(SAMPLERS)}")
    if multi_objective and name in SINGLE_OBJECTIVE_SAMPLERS:
        raise ConfigError(
            f"--sampler {name} needs a single-objective search (Optuna runs it on one objective only): "
            "leave --multi-objective out, or pick another sampler"
        )
    if name == "tpe":
        return None
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    if name == "cmaes":
        return _cmaes_sampler(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if name == "qmc":
            return optuna.samplers.QMCSampler(qmc_type="sobol", scramble=True, seed=seed)
        return optuna.samplers.BruteForceSampler(seed=seed)


def make_pruner(name: str, minibatch: int, *, multi_objective: bool = False) -> optuna.pruners.BasePruner | None:
    """The pruner called ``name`` for trials of ``minibatch`` steps; ``None`` for ``percentile`` (the default).

    Raises:
        ConfigError: an unknown name, or a pruner other than ``none`` with ``multi_objective``
            (Optuna prunes single-objective studies only).

    Example:
        >>> type(make_pruner("median", 16).base).__name__, make_pruner("percentile", 16)
        ('MedianPruner', None)
    """
    import optuna

    from specprompt.search import SearchedStartupPruner

    if name not in PRUNERS:
        raise ConfigError(f"unknown pruner {name!r}; known: {', '.join(PRUNERS)}")
    if multi_objective and name not in ("none", "percentile"):
        raise ConfigError(f"--pruner {name} needs a single-objective search; Optuna does not prune multi-objective")
    if name == "percentile":
        return None
    if name == "none":
        return optuna.pruners.NopPruner()
    if name == "median":
        median = optuna.pruners.MedianPruner(n_startup_trials=0, n_warmup_steps=math.ceil(minibatch / 2))
        return SearchedStartupPruner(median, N_STARTUP_TRIALS)
    if name == "wilcoxon":
        with warnings.catch_warnings():  # experimental in Optuna 5
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.pruners.WilcoxonPruner(p_threshold=0.1)
    return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=minibatch)
