"""Held-out accuracy: the returned program and every baseline scored on the user's ``testset``."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import dspy

from specprompt.search._scoring import Scorer

if TYPE_CHECKING:
    from specprompt.search._config import SearchConfig
    from specprompt.search._result import BaselineResult, ParetoRow

__all__ = ["held_out"]

logger = logging.getLogger("specprompt.search")


def held_out(
    metric: Callable[..., Any],
    config: SearchConfig,
    testset: list[Any],
    best: ParetoRow,
    program: dspy.Module,
    base: dict[str, BaselineResult] | None,
) -> tuple[float, dict[str, BaselineResult] | None, int]:
    """Scores the returned ``program`` and every baseline program on the held-out ``testset``.

    The scoring shows a bar of examples (``"test"``) when ``config.progress`` is on.

    Returns:
        ``(score, baselines, calls)``: the program's mean metric, the baselines with their
        ``test_score`` (``None`` when none were scored) and the scorer calls made.
    """
    scorer = Scorer(metric, testset, config.num_threads)
    every = range(len(testset))

    def mean(key: str, prog: dspy.Module) -> float:
        scores = scorer.score(key, lambda: prog, every)
        return sum(scores.values()) / len(scores)

    with scorer.counting("test", enabled=config.progress):
        score = mean(best.key, program)
        if base is not None:
            base = {
                k: b if b.program is None else dataclasses.replace(b, test_score=mean(str(b.key or k), b.program))
                for k, b in base.items()
            }
    logger.info("held-out score of the returned program: %.4f (%d examples)", score, len(testset))
    return score, base, scorer.calls
