"""Samplers and pruners by name (compile --sampler/--pruner)."""

from __future__ import annotations

import sys

import optuna
import pytest

from specprompt import ConfigError
from specprompt.cli._optuna import PRUNERS, SAMPLERS, make_pruner, make_sampler
from specprompt.search import SearchedStartupPruner


def test_every_name_builds() -> None:
    assert make_sampler("tpe", 0) is None and make_pruner("percentile", 8) is None  # the library defaults
    for name in SAMPLERS[1:]:
        assert isinstance(make_sampler(name, 3), optuna.samplers.BaseSampler)
    for name in PRUNERS[1:]:
        assert isinstance(make_pruner(name, 8), optuna.pruners.BasePruner)
    assert isinstance(make_pruner("none", 8, multi_objective=True), optuna.pruners.NopPruner)
    median = make_pruner("median", 8)  # waits for scored search trials, not for the baselines
    assert isinstance(median, SearchedStartupPruner) and median.n_startup_trials == 5
    assert isinstance(make_pruner("wilcoxon", 8), optuna.pruners.WilcoxonPruner)


def test_unknown_names_and_multi_objective_pruning() -> None:
    with pytest.raises(
        ConfigError, match="unknown sampler 'cma'; known: tpe, random, gp, nsga2, qmc, cmaes, bruteforce"
    ):
        make_sampler("cma", 0)
    with pytest.raises(ConfigError, match="unknown pruner 'x'; known: percentile, median, hyperband, wilcoxon, none"):
        make_pruner("x", 8)
    for name in ("hyperband", "wilcoxon"):
        with pytest.raises(ConfigError, match=f"--pruner {name} needs a single-objective search"):
            make_pruner(name, 8, multi_objective=True)


def test_the_new_samplers_are_optunas_seeded() -> None:
    # built under pytest's warnings-as-errors: Optuna's experimental warning of qmc and bruteforce is not shown
    qmc, brute, cma = make_sampler("qmc", 7), make_sampler("bruteforce", 7), make_sampler("cmaes", 7)
    assert isinstance(qmc, optuna.samplers.QMCSampler) and qmc._seed == 7 and qmc._scramble
    assert isinstance(brute, optuna.samplers.BruteForceSampler)
    assert isinstance(cma, optuna.samplers.CmaEsSampler)
    # the seed decides the proposals
    firsts = []
    for name, seed in (("qmc", 1), ("qmc", 1), ("qmc", 2), ("bruteforce", 1), ("bruteforce", 1), ("bruteforce", 2)):
        study = optuna.create_study(sampler=make_sampler(name, seed))
        study.optimize(lambda t: float(t.suggest_int("x", 0, 1000)), n_trials=3)
        firsts.append([t.params["x"] for t in study.trials])
    assert firsts[0] == firsts[1] != firsts[2] and firsts[3] == firsts[4] != firsts[5]


def test_cmaes_without_its_package_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cmaes", None)  # the import system's way to make an import fail
    with pytest.raises(
        ConfigError, match=r"--sampler cmaes needs the cmaes package.*pip install 'specprompt\[cmaes\]'"
    ):
        make_sampler("cmaes", 0)


def test_cmaes_is_single_objective() -> None:
    with pytest.raises(ConfigError, match="--sampler cmaes needs a single-objective search"):
        make_sampler("cmaes", 0, multi_objective=True)
    for name in SAMPLERS[1:]:
        if name != "cmaes":
            assert make_sampler(name, 0, multi_objective=True) is not None
