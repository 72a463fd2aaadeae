"""What a search spends on its scorer: calls, billed tokens, failures; the caps that stop it.

Billed numbers come from the responses' usage (DSPy's usage tracker): a DSPy cache hit costs
nothing and a failed call that billed nothing counts as a failure only.

The study is the unit of spend: a compile resumed after a kill, or run again, adds to what the
study recorded before (:class:`StudySpend`, kept by :class:`~specprompt.search._guards.SpendCap`),
and the caps apply to that sum.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from specprompt.search._config import SearchConfig

__all__ = ["Spend", "SpendReport", "StudySpend", "cap_reached", "cost_of", "repays_after", "usage_tokens"]


@dataclass(frozen=True)
class Spend:
    """Counters of scorer calls; ``a + b`` and ``a - b`` work field by field.

    Attributes:
        calls: billed LM requests (responses that carried usage). With the local band VLM the
            search answers a chunk of examples in one batch; each example still counts as one
            call, with the usage its own request would have reported.
        prompt_tokens: billed input tokens (images included).
        completion_tokens: billed output tokens.
        failed: calls that failed in transport (timeout, 429, 5xx, reset, malformed or empty reply).
        retries: calls repeated after such a failure.
        unparsed: answers that arrived but did not parse (scored as failures by the metric's
            rules: 0.0), counted apart from transport failures.

    Example:
        >>> (Spend(calls=2, prompt_tokens=10) + Spend(calls=1, completion_tokens=3)).tokens
        13
    """

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    failed: int = 0
    retries: int = 0
    unparsed: int = 0

    @property
    def tokens(self) -> int:
        """Billed tokens: prompt plus completion."""
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Spend) -> Spend:
        return Spend(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def __sub__(self, other: Spend) -> Spend:
        return Spend(*(getattr(self, f.name) - getattr(other, f.name) for f in fields(self)))

    def to_dict(self) -> dict[str, int]:
        """JSON-ready counters, ``tokens`` included."""
        data = {f.name: int(getattr(self, f.name)) for f in fields(self)}
        data["tokens"] = self.tokens
        return data

    @classmethod
    def from_dict(cls, data: Any) -> Spend:
        """The counters of a stored :meth:`to_dict` (``tokens`` and unknown keys ignored; a missing
        or non-integer counter, or a record that is not a mapping, reads as 0).

        Example:
            >>> Spend.from_dict({"calls": 3, "tokens": 9, "prompt_tokens": 9}) == Spend(calls=3, prompt_tokens=9)
            True
        """
        if not isinstance(data, Mapping):
            return cls()

        def count(name: str) -> int:
            value = data.get(name)
            return int(value) if isinstance(value, int) and not isinstance(value, bool) else 0

        return cls(*(count(f.name) for f in fields(cls)))


@dataclass(frozen=True)
class StudySpend:
    """The spend a study recorded over all its compiles, in a compile's two parts.

    Sum of the ``spend`` records of its trials (any state) and of the study user attribute
    ``spend:outside`` (:data:`~specprompt.search._record.OUTSIDE_SPEND`): what the scorer billed
    that no trial record holds. A lower bound: a killed process loses the calls of the trial it was
    scoring and those made outside trials since its last record (one phase of ``compile``).

    Attributes:
        search: the band search: its trials, periodic and final full-valset evaluations.
        baselines: the rest: baselines (random search included) and the trim's ``trim:<n>`` trials.

    Example:
        >>> s = StudySpend(Spend(calls=2), Spend(calls=1)) + StudySpend(search=Spend(calls=4))
        >>> s.search.calls, s.total.calls
        (6, 7)
    """

    search: Spend = Spend()
    baselines: Spend = Spend()

    @property
    def total(self) -> Spend:
        """Both parts together."""
        return self.search + self.baselines

    def __add__(self, other: StudySpend) -> StudySpend:
        return StudySpend(self.search + other.search, self.baselines + other.baselines)

    def __sub__(self, other: StudySpend) -> StudySpend:
        return StudySpend(self.search - other.search, self.baselines - other.baselines)

    def to_dict(self) -> dict[str, dict[str, int]]:
        """JSON-ready: ``search``, ``baselines`` and their ``total``."""
        return {"search": self.search.to_dict(), "baselines": self.baselines.to_dict(), "total": self.total.to_dict()}

    @classmethod
    def from_dict(cls, data: Any) -> StudySpend:
        """The spend of a stored :meth:`to_dict` (a record that is not a mapping reads as none)."""
        if not isinstance(data, Mapping):
            return cls()
        return cls(Spend.from_dict(data.get("search")), Spend.from_dict(data.get("baselines")))


@dataclass(frozen=True)
class SpendReport:
    """What a compile spent on its scorer, what its study spent over all its compiles, and when the
    chosen program pays the study's search back.

    Attributes:
        search: the band search's :class:`Spend` in this compile
            (trials, periodic and final full-valset evaluations).
        baselines: the rest of this compile's spend: the baselines (random search included) and
            the trim's variants (:attr:`~specprompt.search.CompileResult.trim_calls`).
        cost: the search's cost at ``price_per_million_tokens``, or ``None`` without a price.
        stopped_by: the spend cap that stopped the search early, or ``None``.
        saved_tokens_per_call: image tokens a production call of the chosen program saves
            against full-resolution demos.
        repays_after_calls: production calls after which those savings exceed the billed tokens
            of the study's search (``study.search``; in a study's first compile, ``search``);
            ``None`` when nothing is saved per call.
        study: the study's recorded spend, all its compiles and processes included (what the caps
            apply to; a lower bound, see :class:`StudySpend`), or ``None``.
        study_cost: ``study.total`` at ``price_per_million_tokens``, or ``None``.
        below_full: how far the chosen program's valset score lies below full-resolution demos'
            (positive), ``0.0`` when at or above it, ``None`` when full demos were not scored: the
            saved tokens are bought with that much accuracy.
        test: what scoring the returned program and the baselines on the ``testset`` billed
            (``None`` without a testset). It comes after the search: no spend cap stops it, and
            the study's recorded spend (``study``) leaves it out.
    """

    search: Spend
    baselines: Spend
    cost: float | None
    stopped_by: str | None
    saved_tokens_per_call: int
    repays_after_calls: int | None
    study: StudySpend | None = None
    study_cost: float | None = None
    below_full: float | None = None
    test: Spend | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "search": self.search.to_dict(),
            "baselines": self.baselines.to_dict(),
            "cost": self.cost,
            "stopped_by": self.stopped_by,
            "saved_tokens_per_call": self.saved_tokens_per_call,
            "repays_after_calls": self.repays_after_calls,
            "study": None if self.study is None else self.study.to_dict(),
            "study_cost": self.study_cost,
            "below_full": self.below_full,
            "test": None if self.test is None else self.test.to_dict(),
        }

    def summary(self) -> str:
        """One line: the search's calls, billed tokens and cost, the study's, failures and the repay point."""
        s = self.search
        parts = [f"search spend: {s.calls} billed calls, {s.tokens} tokens"]
        if self.cost is not None:
            parts[0] += f" (cost {self.cost:.4g})"
        if self.study is not None:
            t = self.study.total
            parts.append(f"study total (all runs): {t.calls} billed calls, {t.tokens} tokens")
            if self.study_cost is not None:
                parts[-1] += f" (cost {self.study_cost:.4g})"
        if self.test is not None:
            parts.append(f"held-out test: {self.test.calls} billed calls, {self.test.tokens} tokens (outside the caps)")
        parts.append(f"{s.failed} failed calls, {s.retries} retries, {s.unparsed} unparsed answers")
        if self.repays_after_calls is None:
            parts.append("the chosen program saves no image tokens against full demos")
        else:
            parts.append(
                f"repaid after {self.repays_after_calls} production calls "
                f"({self.saved_tokens_per_call} image tokens saved per call vs full demos"
                + (f", at a valset score {self.below_full:.4f} below theirs)" if self.below_full else ")")
            )
        if self.stopped_by:
            parts.append(f"stopped early: {self.stopped_by}")
        return "; ".join(parts)


def usage_tokens(usage: dict[str, Any]) -> tuple[int, int]:
    """``(prompt, completion)`` tokens of one usage entry (OpenAI or lm15 field names)."""

    def number(*names: str) -> int:
        for name in names:
            value = usage.get(name)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                return int(value)
        return 0

    return number("prompt_tokens", "input_tokens"), number("completion_tokens", "output_tokens")


def cost_of(spend: Spend, price_per_million_tokens: float | None) -> float | None:
    """The money ``spend`` cost at a flat price per million billed tokens, or ``None`` without a price."""
    if price_per_million_tokens is None:
        return None
    return spend.tokens * float(price_per_million_tokens) / 1e6


def cap_reached(spend: Spend, config: SearchConfig) -> str | None:
    """Which spend cap of ``config`` ``spend`` has reached (a sentence), or ``None``.

    Example:
        >>> from specprompt.search._config import SearchConfig
        >>> cap_reached(Spend(calls=5), SearchConfig(max_calls=5))
        'max_calls=5 reached (5 billed calls)'
    """
    if config.max_calls is not None and spend.calls >= config.max_calls:
        return f"max_calls={config.max_calls} reached ({spend.calls} billed calls)"
    if config.max_tokens is not None and spend.tokens >= config.max_tokens:
        return f"max_tokens={config.max_tokens} reached ({spend.tokens} billed tokens)"
    cost = cost_of(spend, config.price_per_million_tokens)
    if config.max_cost is not None and cost is not None and cost >= config.max_cost:
        return f"max_cost={config.max_cost:g} reached ({cost:.4g} at {config.price_per_million_tokens:g} per 1M tokens)"
    return None


def repays_after(search_tokens: int, saved_per_call: int) -> int | None:
    """Production calls after which ``saved_per_call`` tokens a call repay ``search_tokens``.

    ``None`` when nothing is saved per call (the chosen program is as expensive as full demos).

    Example:
        >>> repays_after(1000, 30), repays_after(1000, 0)
        (34, None)
    """
    if saved_per_call <= 0:
        return None
    return max(0, math.ceil(search_tokens / saved_per_call))
