"""What a search spends on its scorer: calls, billed tokens, failures; the caps that stop it.

Billed numbers come from the responses' usage (DSPy's usage tracker): a DSPy cache hit costs
nothing and a failed call that billed nothing counts as a failure only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from specprompt.search._config import SearchConfig

__all__ = ["Spend", "cap_reached", "cost_of", "repays_after", "usage_tokens"]


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
