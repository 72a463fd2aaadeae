"""Scoring programs with the user's metric: parallel, counted, and never twice for one prompt."""

from __future__ import annotations

import contextvars
import logging
import math
import numbers
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import dspy

__all__ = ["Scorer", "metric_value"]

logger = logging.getLogger("specprompt.search")

Metric = Callable[..., Any]


def metric_value(result: Any) -> float:
    """A metric's return value as a float (bools, numbers, or an object with ``.score``).

    Raises:
        TypeError: the value is not numeric. ValueError: it is NaN.
    """
    if hasattr(result, "score") and not isinstance(result, numbers.Real):
        result = result.score
    try:
        if isinstance(result, (str, bytes)):
            raise TypeError
        value = float(result)
    except (TypeError, ValueError):
        raise TypeError(
            f"the metric must return a number, a bool or an object with .score, got {result!r:.60}"
        ) from None
    if math.isnan(value):
        raise ValueError("the metric returned NaN")
    return value


class Scorer:
    """Scores candidate programs on validation examples, caching per (candidate key, example).

    Args:
        metric: ``metric(example, prediction, trace=None)``; called as ``metric(example, pred)``.
        valset: the validation examples (indices into it identify examples).
        num_threads: worker threads; ``None`` = ``dspy.settings.num_threads``.

    Attributes:
        calls: number of (program, example) evaluations run so far (thread-safe).

    Convention:
        An example whose program or metric raises scores 0.0 and is logged; if every example of
        a batch raises, the first error is re-raised (a broken setup must not look like a bad
        candidate). DSPy settings (LM, adapter) of the calling thread reach the workers through
        ``contextvars.copy_context``.
    """

    def __init__(self, metric: Metric, valset: Sequence[Any], num_threads: int | None) -> None:
        self.metric = metric
        self.valset = list(valset)
        self.num_threads = int(num_threads or dspy.settings.num_threads or 1)
        self.calls = 0
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, int], float] = {}

    def known(self, key: str, indices: Sequence[int]) -> dict[int, float]:
        """The cached scores of ``key`` among ``indices``."""
        with self._lock:
            return {i: self._cache[(key, i)] for i in indices if (key, i) in self._cache}

    def remember(self, key: str, scores: dict[int, float]) -> None:
        """Adds scores measured earlier (e.g. read back from a resumed study)."""
        with self._lock:
            for i, s in scores.items():
                self._cache[(key, int(i))] = float(s)

    def _one(self, program: dspy.Module, index: int) -> float:
        example = self.valset[index]
        with self._lock:
            self.calls += 1
        prediction = program(**example.inputs())
        return metric_value(self.metric(example, prediction))

    def score(self, key: str, build: Callable[[], dspy.Module], indices: Sequence[int]) -> dict[int, float]:
        """Scores of the candidate ``key`` on ``indices``; only uncached examples run.

        Args:
            key: the candidate key (equal keys render equal prompts).
            build: makes the program; called only when something must run.
            indices: valset positions.
        """
        have = self.known(key, indices)
        todo = [i for i in indices if i not in have]
        if not todo:
            return {i: have[i] for i in indices}
        program = build()
        errors: list[BaseException] = []
        results: dict[int, float] = {}

        def run(i: int) -> tuple[int, float]:
            try:
                return i, self._one(program, i)
            except Exception as exc:  # scored as a failure, like dspy.Evaluate's failure_score
                with self._lock:
                    errors.append(exc)
                logger.warning("example %d failed and scores 0.0: %s: %s", i, type(exc).__name__, exc)
                return i, 0.0

        if self.num_threads == 1 or len(todo) == 1:
            pairs = [run(i) for i in todo]
        else:
            with ThreadPoolExecutor(max_workers=min(self.num_threads, len(todo))) as pool:
                futures = [pool.submit(contextvars.copy_context().run, run, i) for i in todo]
                pairs = [f.result() for f in futures]
        if errors and len(errors) == len(todo):
            raise errors[0]
        results.update(pairs)
        self.remember(key, results)
        return {i: (results[i] if i in results else have[i]) for i in indices}
