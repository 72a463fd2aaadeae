"""Held-out accuracy: the returned program and every baseline scored on the user's ``testset``."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import dspy

from specprompt.search._scoring import Scorer
from specprompt.search._select import INTERVAL_LEVEL, score_interval
from specprompt.search._spend import Spend

if TYPE_CHECKING:
    from specprompt.search._config import SearchConfig
    from specprompt.search._result import BaselineResult, ParetoRow

__all__ = ["HeldOut", "held_out"]

logger = logging.getLogger("specprompt.search")


@dataclass(frozen=True)
class HeldOut:
    """The held-out scores of one compile.

    Attributes:
        score: the returned program's mean metric on the testset.
        example_scores: testset index -> its score (for the confidence interval).
        baselines: the baselines with their ``test_score`` (``None`` when none were scored).
        calls: the scorer calls made.
        spend: what those calls billed (usage the LM reported).
    """

    score: float
    example_scores: Mapping[int, float]
    baselines: dict[str, BaselineResult] | None
    calls: int
    spend: Spend = dataclasses.field(default_factory=Spend)

    def interval(self, seed: int) -> tuple[float, float]:
        """The 95% confidence interval of :attr:`score` (:func:`~specprompt.search._select.score_interval`)."""
        return score_interval(self.example_scores, INTERVAL_LEVEL, seed)


def held_out(
    metric: Callable[..., Any],
    config: SearchConfig,
    testset: list[Any],
    best: ParetoRow,
    program: dspy.Module,
    base: dict[str, BaselineResult] | None,
) -> HeldOut:
    """Scores the returned ``program`` and every baseline program on the held-out ``testset``.

    The scoring shows a bar of examples (``"test"``) when ``config.progress`` is on.

    Returns:
        a :class:`HeldOut`.
    """
    scorer = Scorer(metric, testset, config.num_threads)
    every = range(len(testset))

    def mean(key: str, prog: dspy.Module) -> float:
        scores = scorer.score(key, lambda: prog, every)
        return sum(scores.values()) / len(scores)

    with scorer.counting("test", enabled=config.progress):
        mine = dict(scorer.score(best.key, lambda: program, every))
        score = sum(mine.values()) / len(mine)
        if base is not None:
            base = {
                k: b if b.program is None else dataclasses.replace(b, test_score=mean(str(b.key or k), b.program))
                for k, b in base.items()
            }
    logger.info("held-out score of the returned program: %.4f (%d examples)", score, len(testset))
    return HeldOut(score, mine, base, scorer.calls, scorer.spend)
