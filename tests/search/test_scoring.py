"""Scorer: caching per (key, example), counting, threads, failures and metric values."""

from __future__ import annotations

import threading
from typing import Any

import dspy
import numpy as np
import pytest

from specprompt.errors import ConfigError, ScoringError
from specprompt.search._scoring import Failures, Scorer, metric_value


class Echo(dspy.Module):
    """A program without an LM: predicts the input back, and fails on ``x == "boom"``."""

    def forward(self, x: str) -> dspy.Prediction:
        if x == "boom":
            raise RuntimeError("boom")
        return dspy.Prediction(y=x)


def _val(*xs: str) -> list[dspy.Example]:
    return [dspy.Example(x=x, y=x).with_inputs("x") for x in xs]


def test_scores_are_cached_per_key_and_example() -> None:
    builds: list[int] = []
    scorer = Scorer(lambda ex, pred, trace=None: pred.y == ex.y, _val("a", "b", "c"), num_threads=2)

    def build() -> dspy.Module:
        builds.append(1)
        return Echo()

    assert scorer.score("k", build, [0, 1]) == {0: 1.0, 1: 1.0}
    assert scorer.calls == 2
    assert scorer.score("k", build, [0, 1, 2]) == {0: 1.0, 1: 1.0, 2: 1.0}
    assert scorer.calls == 3 and len(builds) == 2
    assert scorer.score("k", build, [2, 0]) == {2: 1.0, 0: 1.0}
    assert scorer.calls == 3 and len(builds) == 2  # nothing to run: the program is not even built
    scorer.remember("other", {1: 0.25})
    assert scorer.known("other", [0, 1]) == {1: 0.25}


def test_dspy_settings_reach_the_worker_threads() -> None:
    seen: set[Any] = set()
    lock = threading.Lock()

    def metric(ex: Any, pred: Any, trace: Any = None) -> float:
        with lock:
            seen.add(dspy.settings.lm)
        return 1.0

    marker = dspy.LM("openai/marker", api_key="x")
    with dspy.context(lm=marker):
        Scorer(metric, _val("a", "b", "c", "d"), num_threads=4).score("k", Echo, range(4))
    assert seen == {marker}


def test_failures_score_zero_unless_everything_fails() -> None:
    scorer = Scorer(lambda ex, pred, trace=None: 1.0, _val("a", "boom"), num_threads=1)
    assert scorer.score("k", Echo, [0, 1]) == {0: 1.0, 1: 0.0}
    broken = Scorer(lambda ex, pred, trace=None: 1.0, _val("boom", "boom"), num_threads=2)
    with pytest.raises(RuntimeError, match="boom"):
        broken.score("k", Echo, [0, 1])
    nan = Scorer(lambda ex, pred, trace=None: float("nan"), _val("a"), num_threads=1)
    with pytest.raises(
        ValueError, match=r"the metric test_failures_score_zero_unless_everything_fails.<locals>.<lambda> returned NaN"
    ):
        nan.score("k", Echo, [0])


def test_metric_value() -> None:
    assert metric_value(True) == 1.0 and metric_value(0) == 0.0 and metric_value(0.25) == 0.25
    assert metric_value(dspy.Prediction(score=0.5, feedback="ok")) == 0.5
    with pytest.raises(ConfigError, match=r"the metric returned 'high' \(a str\); return a number, a bool or an obj"):
        metric_value("high")
    with pytest.raises(ConfigError, match=r"the metric m returned None \(a NoneType\) for the example \{y='a'\}; "):
        metric_value(None, "the metric m", _val("a")[0])
    with pytest.raises(ConfigError, match=r"an object whose \.score is None \(a NoneType\) for the example \{x="):
        metric_value(dspy.Prediction(score=None), "the metric m", dspy.Example(x="a"))  # no inputs set: every field
    assert metric_value(np.bool_(True)) == 1.0 and metric_value(np.float32(0.5)) == 0.5


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (float("inf"), r"the metric m returned inf; return a finite number \(e\.g\. 0\.0"),
        (float("-inf"), r"the metric m returned -inf; return a finite number"),
        (1e308, r"the metric m returned 1e\+308; return a number of magnitude at most 1e\+300"),
        (-(10**400), r"the metric m returned -inf; return a finite number"),
        (dspy.Prediction(score=float("inf")), "returned inf"),
    ],
)
def test_metric_value_refuses_values_that_cannot_be_averaged(value: Any, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        metric_value(value, "the metric m")
    assert metric_value(1e300) == 1e300 and metric_value(-2.5) == -2.5  # finite values outside [0, 1] stay


@pytest.mark.parametrize("value", [None, "yes", [1.0]])
def test_a_metric_value_that_is_not_a_number_stops_the_scoring(value: Any) -> None:
    """Not a failed example scored 0.0 (as an example whose program raises): a bug of the metric, as NaN is."""
    scorer = Scorer(lambda ex, pred, trace=None: value if ex.x == "b" else 1.0, _val("a", "b", "c"), 2)
    with pytest.raises(ConfigError, match=rf"the metric .*<lambda> returned .*\(a {type(value).__name__}\) for the "):
        scorer.score("k", Echo, [0, 1, 2])
    assert scorer.known("k", [0, 1, 2]) == {}  # nothing is remembered of it


def test_a_bad_metric_value_on_one_example_stops_the_scoring() -> None:
    scorer = Scorer(lambda ex, pred, trace=None: float("inf") if ex.x == "b" else 1.0, _val("a", "b", "c"), 2)
    with pytest.raises(ConfigError, match="returned inf"):
        scorer.score("k", Echo, [0, 1, 2])


def test_the_every_example_failed_rule_spans_the_calls_of_one_evaluation() -> None:
    scorer = Scorer(lambda ex, pred, trace=None: 1.0, _val("a", "boom", "boom"), num_threads=1)
    failures = Failures()
    assert scorer.score("k", Echo, [1], failures) == {1: 0.0}  # alone in its call: no error yet
    assert scorer.score("k", Echo, [0], failures) == {0: 1.0}
    scorer.check("k", failures)
    assert failures.ran == [1, 0] and len(failures.errors) == 1
    broken = Failures()
    assert scorer.score("j", Echo, [1], broken) == {1: 0.0}
    assert scorer.score("j", Echo, [2], broken) == {2: 0.0}
    with pytest.raises(ScoringError, match="every example of the trial failed; first error: RuntimeError: boom"):
        scorer.check("j", broken)
    assert scorer.known("j", [1, 2]) == {}  # forgotten: the candidate runs again when retried
    assert scorer.known("k", [0, 1]) == {0: 1.0, 1: 0.0}


def test_a_phase_counts_every_example_its_threads_run_and_no_cached_one() -> None:
    scorer = Scorer(lambda ex, pred, trace=None: pred.y == ex.y, _val(*"abcdefgh", "boom"), num_threads=4)
    scorer.score("k", Echo, [0, 1])
    with scorer.counting("finalists", enabled=False) as bar:
        scores = scorer.score("k", Echo, range(9))
    assert bar.counts == (7, 7)  # 0 and 1 were cached; "boom" failed and counts as run
    assert scores[8] == 0.0 and scorer.calls == 9
    with scorer.counting("outer", enabled=False) as outer:
        with scorer.counting("inner", enabled=False) as inner:
            scorer.score("k2", Echo, [0])
        scorer.score("k2", Echo, [1, 2])
    assert inner.counts == (1, 1) and outer.counts == (2, 2)
    scorer.score("k3", Echo, [0])  # outside a phase: no bar to count on
    assert outer.counts == (2, 2)
