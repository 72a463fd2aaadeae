"""Samplers and pruners by name (compile --sampler/--pruner)."""

from __future__ import annotations

import optuna
import pytest

from specprompt import ConfigError
from specprompt.cli._optuna import PRUNERS, SAMPLERS, make_pruner, make_sampler


def test_every_name_builds() -> None:
    assert make_sampler("tpe", 0) is None and make_pruner("percentile", 8) is None  # the library defaults
    for name in SAMPLERS[1:]:
        assert isinstance(make_sampler(name, 3), optuna.samplers.BaseSampler)
    for name in PRUNERS[1:]:
        assert isinstance(make_pruner(name, 8), optuna.pruners.BasePruner)
    assert isinstance(make_pruner("none", 8, multi_objective=True), optuna.pruners.NopPruner)


def test_unknown_names_and_multi_objective_pruning() -> None:
    with pytest.raises(ConfigError, match="unknown sampler 'cma'; known: tpe, random, gp, nsga2"):
        make_sampler("cma", 0)
    with pytest.raises(ConfigError, match="unknown pruner 'x'; known: percentile, median, hyperband, none"):
        make_pruner("x", 8)
    with pytest.raises(ConfigError, match="--pruner hyperband needs a single-objective search"):
        make_pruner("hyperband", 8, multi_objective=True)
