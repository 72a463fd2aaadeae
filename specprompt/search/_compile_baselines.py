"""The baselines as one compile runs them: the random-search baseline's own study
(``<study name>-random``) and its pick, where the compile's baseline results are kept (the main
study's user attributes, under a fingerprint of what they were scored with), and the scored
baselines made trials of the main study. The baselines themselves are
:mod:`specprompt.search._baselines`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from specprompt.search._baselines import BaselineStore
from specprompt.search._choice import decide
from specprompt.search._identity import NAMING_FIELDS
from specprompt.search._loop import search
from specprompt.search._prepare import open_study
from specprompt.search._reference import BASELINE_ORIGIN
from specprompt.search._sampler import BandSampler
from specprompt.search._scoring import metric_name
from specprompt.search._study import add_trial, default_sampler

if TYPE_CHECKING:
    import optuna

    from specprompt.search._config import SearchConfig
    from specprompt.search._prepare import Run
    from specprompt.search._result import BaselineResult, ParetoRow

__all__ = ["RANDOM_SUFFIX", "adopt_baselines", "baseline_store", "open_random_study", "random_best"]

#: The random-search baseline runs in its own study: the compile's study name plus this.
RANDOM_SUFFIX = "-random"


def adopt_baselines(run: Run, base: dict[str, BaselineResult], rows: Sequence[ParetoRow]) -> None:
    """Makes every scored baseline that fits a candidate of the main study (if no trial shows it)."""
    known = {r.key for r in rows}
    for name, b in base.items():
        if b.score is None or not b.fits or b.candidate is None or b.key in known:
            continue
        add_trial(run.study, run.ctx, run.scorer, b.candidate, BASELINE_ORIGIN + name)
        known.add(str(b.key))


def open_random_study(run: Run, config: SearchConfig, pruner: optuna.pruners.BasePruner | None) -> optuna.Study:
    """The random-search baseline's own study, ``<study name>-random``: the same sampler over
    ``RandomSampler`` (:func:`~specprompt.search._prepare.open_study` refuses a study of that
    name that holds another compile's band search)."""
    cfg = config
    sampler = BandSampler(default_sampler(cfg, random=True), run.ctx, local_search=0.0, seed=cfg.seed)
    name = run.study_name + RANDOM_SUFFIX
    return open_study(run.ctx, run.storage, name, sampler, len(run.valset), pruner, run.identity, "random")


def random_best(
    run: Run,
    config: SearchConfig,
    pruner: optuna.pruners.BasePruner | None,
    study: optuna.Study | None = None,
) -> ParetoRow | None:
    """The random-search baseline: runs (or resumes) its study (``study``: opened before) and returns its pick."""
    study = study or open_random_study(run, config, pruner)
    rows = search(run, study, "random search", guided=False)
    decision = decide(study, rows, config)
    return None if decision is None else decision.row


def baseline_store(run: Run, study: optuna.Study, metric: Callable[..., Any]) -> BaselineStore:
    """Where baseline results of this compile are kept: the main study's user attributes."""
    full = run.ctx.config.to_dict()
    fingerprint = {
        "v": 1,
        "config": {k: full[k] for k in NAMING_FIELDS},
        "valset": run.valset_digest,
        "metric": metric_name(metric),
    }
    return BaselineStore(study, fingerprint)
