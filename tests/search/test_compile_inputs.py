"""BandOptimizer.compile on bad input: a metric that fails on one example, run_dir, trainset items."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import dspy
import optuna
import pytest

from specprompt import ConfigError, SpecPromptWarning
from specprompt.search import BandOptimizer
from specprompt.search._objective import REPORTS_PER_TRIAL
from specprompt.search._record import TrialRecord
from specprompt.tasks import Task

from .conftest import exact, options
from .test_calibrate import GOOD


def test_a_metric_failing_on_one_example_scores_it_zero_in_every_trial(
    colour_task: Task, lm: dspy.LM, caplog: pytest.LogCaptureFixture
) -> None:
    bad = colour_task.valset[1]

    def metric(example: Any, pred: Any, trace: Any = None) -> float:
        if example is bad:
            raise ZeroDivisionError("division by zero")
        return exact(example, pred)

    # 4 examples in 4 pruning reports: every chunk of a search trial holds one example
    assert len(colour_task.valset) == 4 == REPORTS_PER_TRIAL
    opt = BandOptimizer(metric, **options(pruner=optuna.pruners.NopPruner(), trim=False))
    with caplog.at_level(logging.WARNING, logger="specprompt.search"):
        opt.compile(dspy.Predict(colour_task.signature), trainset=colour_task.trainset, valset=colour_task.valset)
    result = opt.last_result
    assert result is not None and 0.0 <= result.best.score <= 0.75
    records = [TrialRecord.from_trial(t) for t in result.study.get_trials(deepcopy=False)]
    searched = [r for r in records if r.example_scores and not r.is_baseline and r.reused_from is None]
    assert searched and all(r.example_scores is not None and r.example_scores[1] == 0.0 for r in searched)
    assert "example 1 failed and scores 0.0: ZeroDivisionError: division by zero" in caplog.text


def test_a_metric_failing_everywhere_stops_the_compile(colour_task: Task, lm: dspy.LM) -> None:
    def broken(example: Any, pred: Any, trace: Any = None) -> float:
        raise KeyError("label")

    opt = BandOptimizer(broken, **options(trim=False))
    with pytest.raises(RuntimeError, match="every example of the trial failed; first error: KeyError"):
        opt.compile(dspy.Predict(colour_task.signature), trainset=colour_task.trainset, valset=colour_task.valset)


def test_a_setup_that_breaks_mid_search_is_not_pruned_into_zeros(colour_task: Task, lm: dspy.LM) -> None:
    calls = [0]

    def breaks(example: Any, pred: Any, trace: Any = None) -> float:
        calls[0] += 1
        if calls[0] > 12:  # the metric's service goes down after three trials of four examples
            raise RuntimeError("metric service down")
        return exact(example, pred)

    storage = optuna.storages.InMemoryStorage()
    prune = optuna.pruners.ThresholdPruner(lower=0.5)  # prunes a trial whose first example scores 0
    opt = BandOptimizer(breaks, **{**options(n_trials=8, trim=False, pruner=prune), "storage": storage})
    with pytest.raises(RuntimeError, match="every example of the trial failed; first error: RuntimeError"):
        opt.compile(dspy.Predict(colour_task.signature), trainset=colour_task.trainset, valset=colour_task.valset)
    (study,) = optuna.get_all_study_summaries(storage)
    trials = optuna.load_study(study_name=study.study_name, storage=storage).get_trials(deepcopy=False)
    zeros = [
        t.number
        for t in trials
        if t.state == optuna.trial.TrialState.PRUNED
        and not any((TrialRecord.from_trial(t).example_scores or {0: 1.0}).values())
    ]
    assert zeros == []  # no trial of the broken setup was pruned with its failures stored as zeros


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), 1e308, None, "1.0"])
def test_a_metric_value_that_cannot_be_averaged_stops_the_compile(colour_task: Task, lm: dspy.LM, value: Any) -> None:
    def metric(example: Any, pred: Any, trace: Any = None) -> Any:
        return value if example.label == pred.label else 0.0

    opt = BandOptimizer(metric, **options(trim=False))
    returned = r"(-?inf|1e\+308|None \(a NoneType\)|'1\.0' \(a str\)) for the example \{label='[a-z-]+'\}; return a"
    with pytest.raises(ConfigError, match=rf"the metric .*metric returned {returned}"):
        opt.compile(dspy.Predict(colour_task.signature), trainset=colour_task.trainset, valset=colour_task.valset)


@pytest.mark.parametrize("storage", ["memory", None])
def test_a_run_dir_that_is_a_file_fails_before_any_scoring(
    colour_task: Task, lm: dspy.LM, tmp_path: Path, storage: str | None
) -> None:
    file = tmp_path / "ok.png"
    file.write_bytes(b"not a folder")
    opt = BandOptimizer(exact, **options(run_dir=str(file), storage=storage))
    with pytest.raises(ConfigError, match=r"run_dir '.*ok\.png'.* is a file, not a folder|run folder .*ok\.png"):
        opt.compile(dspy.Predict(colour_task.signature), trainset=colour_task.trainset, valset=colour_task.valset)
    assert lm.engine.calls == 0 and file.read_bytes() == b"not a folder"


def test_a_result_path_that_is_a_folder_fails_before_any_scoring(
    colour_task: Task, lm: dspy.LM, tmp_path: Path
) -> None:
    student = dspy.Predict(colour_task.signature)
    first = BandOptimizer(exact, **options(n_trials=1, run_dir=str(tmp_path / "a"), trim=False))
    first.compile(student, trainset=colour_task.trainset, valset=colour_task.valset)
    assert first.last_result is not None
    run_dir = tmp_path / "b"
    (run_dir / f"{first.last_result.study_name}.result.json").mkdir(parents=True)
    calls = lm.engine.calls
    with pytest.raises(ConfigError, match=r"run_dir '.*b': .*\.result\.json' is a folder"):
        BandOptimizer(exact, **options(n_trials=1, run_dir=str(run_dir), trim=False)).compile(
            student, trainset=colour_task.trainset, valset=colour_task.valset
        )
    assert lm.engine.calls == calls


def test_trainset_items_must_be_examples(colour_task: Task) -> None:
    opt = BandOptimizer(exact, **options())
    student = dspy.Predict(colour_task.signature)
    with pytest.raises(ConfigError, match=r"trainset\[0\] must be a dspy\.Example .*got str 'a'"):
        opt.compile(student, trainset=["a", "b"])
    with pytest.raises(ConfigError, match=r"trainset\[2\] must be a dspy\.Example .*got dict"):
        opt.compile(student, trainset=[*colour_task.trainset[:2], {"image": None, "label": "x"}])


def test_a_calibration_file_with_an_impossible_value_fails_in_the_constructor(tmp_path: Path) -> None:
    path = tmp_path / "cal.json"
    path.write_text(json.dumps({**GOOD, "spearman": 5.0}))
    with pytest.raises(ConfigError, match=r"calibration file '.*cal\.json' is not a calibration: .*'spearman'"):
        BandOptimizer(exact, screen="nearest", calibration=path)


def test_a_budget_that_holds_full_resolution_is_said_to_limit_nothing(
    colour_task: Task, lm: dspy.LM, caplog: pytest.LogCaptureFixture
) -> None:
    student = dspy.Predict(colour_task.signature)
    with caplog.at_level(logging.WARNING, logger="specprompt.search"):
        BandOptimizer(exact, **options(n_trials=2, token_budget=10**6, trim=False)).compile(
            student, trainset=colour_task.trainset, valset=colour_task.valset
        )
    assert "the token budget (1000000 image tokens per prompt) holds every demo image at full resolution" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="specprompt.search"):
        BandOptimizer(exact, **options(n_trials=2, token_budget=40, trim=False)).compile(
            student, trainset=colour_task.trainset, valset=colour_task.valset
        )
    assert "limits nothing" not in caplog.text


def test_demos_that_miss_an_answer_are_said_to_leave_it_to_guesses(
    colour_task: Task, lm: dspy.LM, caplog: pytest.LogCaptureFixture
) -> None:
    first = list({ex.label: ex for ex in reversed(colour_task.trainset)}.values())
    student = dspy.Predict(colour_task.signature)
    student.demos = first[1:]  # every answer but one
    missing = first[0].label
    with caplog.at_level(logging.WARNING, logger="specprompt.search"):
        BandOptimizer(exact, **options(n_trials=2, trim=False)).compile(
            student, trainset=colour_task.trainset, valset=colour_task.valset
        )
    asked = sum(ex.label == missing for ex in colour_task.valset)
    assert asked > 0
    assert f"the demos show no example of answer '{missing}', the answer of {asked} of the" in caplog.text


def test_a_trainset_without_inputs_and_no_valset_fails_before_any_scoring(colour_task: Task, lm: dspy.LM) -> None:
    bare = [dspy.Example(image=ex.image, label=ex.label) for ex in colour_task.trainset]
    with pytest.raises(ConfigError, match=r"trainset\[\d\] has no inputs, and with valset=None"):
        BandOptimizer(exact, **options(n_trials=1, trim=False)).compile(
            dspy.Predict(colour_task.signature), trainset=bare
        )
    assert lm.engine.calls == 0


def test_validation_examples_that_are_bootstrapped_demos_are_warned_about(colour_task: Task, lm: dspy.LM) -> None:
    student = dspy.Predict(colour_task.signature)
    student.demos = [ex.copy(augmented=True) for ex in colour_task.trainset[:3]]
    valset = [*colour_task.trainset[:2], *colour_task.valset]
    with pytest.warns(SpecPromptWarning, match=rf"2 of the {len(valset)} validation examples are demos of the program"):
        BandOptimizer(exact, **options(n_trials=1, trim=False)).compile(
            student, trainset=colour_task.trainset, valset=valset
        )


def test_compiling_a_compiled_program_warns_that_its_images_are_compressed(
    colour_task: Task, lm: dspy.LM, caplog: pytest.LogCaptureFixture
) -> None:
    from specprompt.types import DROPPED_IMAGE, SpectralImage

    compiled = BandOptimizer(
        exact, **options(n_trials=2, token_budget=16, cost_model="openai:gpt-4.1-mini", trim=False)
    ).compile(dspy.Predict(colour_task.signature), trainset=colour_task.trainset, valset=colour_task.valset)
    n = sum(isinstance(d.image, SpectralImage) or d.image == DROPPED_IMAGE for d in compiled.demos)
    assert n > 0
    with (
        caplog.at_level(logging.WARNING, logger="specprompt.search"),
        pytest.warns(SpecPromptWarning, match=rf"^{n} of the 3 demos hold images an earlier compile compressed .*"),
    ):
        BandOptimizer(exact, **options(n_trials=2, token_budget=10**6, trim=False)).compile(
            compiled, trainset=colour_task.trainset, valset=colour_task.valset
        )
    assert "holds every demo image as given (" in caplog.text and "at full resolution (" not in caplog.text
    assert f"{n} demo(s) hold images an earlier compile compressed, so not at full resolution" in caplog.text


def test_a_testset_that_shares_demos_or_validation_examples_is_warned_about(colour_task: Task, lm: dspy.LM) -> None:
    from specprompt.tasks import get_task

    opt = BandOptimizer(exact, **options(n_trials=1, trim=False))
    # the trainset as the testset: 3 of its 6 examples are the demos, the other 3 the default valset
    match = (
        r"of the 6 test examples, 3 are demos of the program and 3 are validation examples the program was chosen on"
    )
    with pytest.warns(SpecPromptWarning, match=match):
        opt.compile(dspy.Predict(colour_task.signature), trainset=colour_task.trainset, testset=colour_task.trainset)
    # a testset of other pictures: no warning (warnings are errors here)
    other = get_task("colour-position", n_train=4, n_val=0, n_test=0, size=64, seed=7).trainset
    opt.compile(
        dspy.Predict(colour_task.signature), trainset=colour_task.trainset, valset=colour_task.valset, testset=other
    )
    assert opt.last_result is not None and opt.last_result.test_n == len(other)
