"""Optuna samplers and pruners by name, for ``specprompt compile --sampler/--pruner``.

The names map onto Optuna classes with the search's seed; ``tpe`` and ``percentile`` are the
library's defaults (:func:`specprompt.search.BandOptimizer` with no ``sampler``/``pruner``).
Trials report one step per scored minibatch example, so pruners compare running minibatch scores.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from specprompt.errors import ConfigError

if TYPE_CHECKING:
    import optuna

__all__ = ["PRUNERS", "SAMPLERS", "make_pruner", "make_sampler"]

#: ``--sampler`` names: ``tpe`` (default: seeded multivariate TPE), ``random``, ``gp`` (Gaussian
#: process), ``nsga2`` (genetic; suits ``--multi-objective``).
SAMPLERS = ("tpe", "random", "gp", "nsga2")
#: ``--pruner`` names: ``percentile`` (default: bottom quarter after half the minibatch), ``median``,
#: ``hyperband``, ``none``.
PRUNERS = ("percentile", "median", "hyperband", "none")


def make_sampler(name: str, seed: int) -> optuna.samplers.BaseSampler | None:
    """The sampler called ``name`` seeded with ``seed``; ``None`` for ``tpe`` (the library default).

    Raises:
        ConfigError: an unknown name.

    Example:
        >>> type(make_sampler("random", 0)).__name__, make_sampler("tpe", 0)
        ('RandomSampler', None)
    """
    import optuna

    if name == "tpe":
        return None
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    raise ConfigError(f"unknown sampler {name!r}; known: {', '.join(SAMPLERS)}")


def make_pruner(name: str, minibatch: int, *, multi_objective: bool = False) -> optuna.pruners.BasePruner | None:
    """The pruner called ``name`` for trials of ``minibatch`` steps; ``None`` for ``percentile`` (the default).

    Raises:
        ConfigError: an unknown name, or a pruner other than ``none`` with ``multi_objective``
            (Optuna prunes single-objective studies only).

    Example:
        >>> type(make_pruner("median", 16)).__name__, make_pruner("percentile", 16)
        ('MedianPruner', None)
    """
    import optuna

    if name not in PRUNERS:
        raise ConfigError(f"unknown pruner {name!r}; known: {', '.join(PRUNERS)}")
    if multi_objective and name not in ("none", "percentile"):
        raise ConfigError(f"--pruner {name} needs a single-objective search; Optuna does not prune multi-objective")
    if name == "percentile":
        return None
    if name == "none":
        return optuna.pruners.NopPruner()
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=math.ceil(minibatch / 2))
    return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=minibatch)
