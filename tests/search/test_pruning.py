"""What trials report to the pruner: WilcoxonPruner pairs examples; startup counts searched trials."""

from __future__ import annotations

import warnings
from typing import Any

import dspy
import optuna
import pytest

from specprompt.errors import ConfigError
from specprompt.scorers import nearest_lm
from specprompt.search import BandOptimizer, SearchedStartupPruner
from specprompt.search._pruning import reports_examples, searched_scored
from specprompt.search._record import TrialRecord
from specprompt.tasks import Task, get_task
from specprompt.types import SpectralImage

from .conftest import exact, options


class FullOnly(dspy.Module):
    """Answers without an LM: right exactly when every demo shows its image at full resolution."""

    def __init__(self, signature: Any) -> None:
        super().__init__()
        self.p = dspy.Predict(signature)

    def forward(self, image: Any) -> dspy.Prediction:
        shown = [d.image for d in self.p.demos]
        full = all(
            isinstance(i, dspy.Image) and (not isinstance(i, SpectralImage) or i.render_size == i.source_size)
            for i in shown
        )
        return dspy.Prediction(label="yes" if full else "no")


def _yes(example: Any, pred: Any, trace: Any = None) -> float:
    return float(pred.label == "yes")


def _wilcoxon(patience: int | None = None) -> optuna.pruners.BasePruner:
    with warnings.catch_warnings():  # both are experimental in Optuna 5
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        pruner = optuna.pruners.WilcoxonPruner(p_threshold=0.1)
        return pruner if patience is None else optuna.pruners.PatientPruner(pruner, patience)


def test_wilcoxon_prunes_a_clearly_worse_trial_example_by_example(colour_task: Task) -> None:
    """Full-resolution demos answer every example right, any other prompt none: WilcoxonPruner pairs a
    searched trial's examples with the best trial's (the full-resolution baseline) and prunes it."""
    val = [dspy.Example(image=colour_task.valset[0].image, label="yes").with_inputs("image") for _ in range(12)]
    opt = BandOptimizer(_yes, **options(n_trials=8, minibatch_size=12, local_search=0.0, pruner=_wilcoxon()))
    opt.compile(FullOnly(colour_task.signature), trainset=colour_task.trainset, valset=val)
    result = opt.last_result
    assert result is not None
    trials = result.study.trials
    minibatch = set(TrialRecord.from_trial(trials[0]).example_scores or {})
    assert len(minibatch) == 12
    (full,) = [t for t in trials if t.user_attrs.get("origin") == "baseline:full"]
    assert full.state == optuna.trial.TrialState.COMPLETE and full.intermediate_values == dict.fromkeys(minibatch, 1.0)
    pruned = [t for t in trials if t.state == optuna.trial.TrialState.PRUNED]
    assert pruned, "a prompt that answers nothing right ran to the end"
    for t in pruned:  # each example at its valset index, stopped before the end of the minibatch
        assert set(t.intermediate_values) < minibatch and set(t.intermediate_values.values()) == {0.0}
        assert len(t.intermediate_values) >= 4  # a paired test on fewer cannot reach p < 0.1


def test_percentile_waits_for_five_scored_search_trials() -> None:
    """The default pruner's startup counts scored search trials, not baselines or unscored ones."""
    task = get_task("colour-position", n_train=8, n_val=16, n_test=0, size=64, seed=0)
    opt = BandOptimizer(exact, **options(n_trials=25, k_demos=4, minibatch_size=16, local_search=0.0))
    with dspy.context(lm=nearest_lm()):
        opt.compile(dspy.Predict(task.signature), trainset=task.trainset, valset=task.valset)
    result = opt.last_result
    assert result is not None
    trials = result.study.trials
    pruned = [t for t in trials if t.state == optuna.trial.TrialState.PRUNED]
    assert pruned, "nothing was pruned: nothing to check"
    unscored = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE and "score" not in t.user_attrs]
    assert unscored, "the study should hold never-scored complete trials (the label rule, the budget)"
    for t in pruned:
        before = optuna.create_study(direction="maximize")
        before.add_trials([x for x in trials if x.number < t.number])
        assert searched_scored(before) >= 5, t.number


def test_pruner_wrapping_and_what_trials_report() -> None:
    median = optuna.pruners.MedianPruner(n_startup_trials=0)
    assert not reports_examples(SearchedStartupPruner(median, 5))
    assert reports_examples(_wilcoxon()) and reports_examples(_wilcoxon(patience=2))
    for bad, match in ((-1, "n_startup_trials"), (True, "n_startup_trials"), (2.0, "n_startup_trials")):
        with pytest.raises(ConfigError, match=match):
            SearchedStartupPruner(median, bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="base must be an optuna pruner"):
        SearchedStartupPruner("median", 5)  # type: ignore[arg-type]


def test_startup_is_counted_per_study_until_it_is_reached(monkeypatch: pytest.MonkeyPatch) -> None:
    """One pruner serving two studies: each starts pruning after its own scored trials, and a study
    that has started is not counted again (its complete trials cannot become fewer)."""
    from specprompt.search import _pruning

    counts: list[int] = []
    real = _pruning.searched_scored

    def counting(study: optuna.Study) -> int:
        counts.append(n := real(study))
        return n

    monkeypatch.setattr(_pruning, "searched_scored", counting)
    pruner = SearchedStartupPruner(optuna.pruners.MedianPruner(n_startup_trials=0), 2)
    scored = {"score": 0.5, "origin": "sampler"}

    def study_with(n: int) -> optuna.Study:
        study = optuna.create_study(direction="maximize", pruner=pruner)
        for _ in range(n):
            study.add_trial(optuna.trial.create_trial(value=0.5, user_attrs=scored, intermediate_values={1: 0.5}))
        return study

    early, ready = study_with(1), study_with(2)
    low = optuna.trial.create_trial(value=0.0, intermediate_values={1: 0.0})
    assert not pruner.prune(early, low) and counts == [1]
    assert pruner.prune(ready, low) and counts == [1, 2]
    assert pruner.prune(ready, low) and counts == [1, 2]  # started: not counted again
    assert not pruner.prune(early, low) and counts == [1, 2, 1]
