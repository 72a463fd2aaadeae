"""SearchConfig.timeout: a study starts no new trial after it; re-running resumes the study."""

from __future__ import annotations

from pathlib import Path

import dspy
import optuna

from specprompt.search import BandOptimizer
from specprompt.tasks import Task

from .conftest import exact, options


def test_timeout_stops_starting_trials_and_the_study_resumes(colour_task: Task, lm: dspy.LM, tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    opts = options(storage=storage, n_trials=6, token_budget=40, cost_model="openai:gpt-4.1-mini")
    student = dspy.Predict(colour_task.signature)
    first = BandOptimizer(exact, timeout=1e-6, **opts)
    first.compile(student, trainset=colour_task.trainset, valset=colour_task.valset)
    assert first.last_result is not None
    name = first.last_result.study_name
    trials = optuna.load_study(study_name=name, storage=storage).trials
    finished = [t for t in trials if t.state.is_finished()]
    assert len(finished) < 6  # the first trial ran, then no new one started
    second = BandOptimizer(exact, **opts)
    second.compile(student, trainset=colour_task.trainset, valset=colour_task.valset)
    assert second.last_result is not None and second.last_result.study_name == name
    assert second.last_result.n_trials >= 6
