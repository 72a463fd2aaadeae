"""Remote scoring that a flaky API cannot bias: which failures are retried, how long to wait, where calls go.

A scorer call ends in one of three ways (:func:`classify`):

=============  =================================================================================
``answer``     a reply arrived; it may not parse (``unparsed``): that is the model's answer
``transport``  timeout, 429, 5xx, connection error, a malformed body, an empty reply (no
               ``choices``): retried with exponential backoff and full jitter, honouring
               ``Retry-After``; never scored
``refused``    the endpoint refuses the call itself (authentication, billing, unknown model):
               retrying cannot help, the compile stops
``error``      anything else (a bug in the program or metric): scored as a failure (0.0)
=============  =================================================================================
"""

from __future__ import annotations

import math
import numbers
import random
from dataclasses import dataclass
from typing import Any, Literal

from specprompt.errors import ConfigError

__all__ = ["EMPTY_REPLY", "RetryPolicy", "classify", "endpoint_of", "model_name", "remote_lm", "retry_after", "short"]

#: DSPy's message when the LM returned no text (an empty ``choices`` list or an empty message).
EMPTY_REPLY = "The LM returned an empty or null response."

Kind = Literal["answer", "transport", "refused", "error"]


@dataclass(frozen=True)
class RetryPolicy:
    """How a failed scorer call is retried.

    Attributes:
        retries: retries after the first attempt (so ``retries + 1`` attempts in all).
        backoff: the first delay in seconds; delay ``k`` is drawn uniformly from
            ``[0, min(max_delay, backoff * 2**k)]`` (full jitter).
        max_delay: the longest delay in seconds; a ``Retry-After`` hint is honoured up to it.
        endpoint_failures: consecutive failed calls (over all threads) after which the endpoint
            counts as down and the compile stops.

    Example:
        >>> p = RetryPolicy(retries=3, backoff=1.0, max_delay=4.0)
        >>> rng = random.Random(0)
        >>> [p.delay(k, None, rng) <= min(4.0, 2.0**k) for k in range(4)]
        [True, True, True, True]
        >>> p.delay(0, 2.5, rng)
        2.5
    """

    retries: int = 4
    backoff: float = 1.0
    max_delay: float = 60.0
    endpoint_failures: int = 20

    def __post_init__(self) -> None:
        for name, low in (("retries", 0), ("endpoint_failures", 1)):
            value = getattr(self, name)
            if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < low:
                raise ConfigError(f"RetryPolicy.{name} must be an int >= {low}, got {value!r}")
            object.__setattr__(self, name, int(value))  # numpy ints, as SearchConfig takes them
        for name in ("backoff", "max_delay"):
            value = getattr(self, name)
            if not isinstance(value, numbers.Real) or isinstance(value, bool) or not 0 <= float(value) < math.inf:
                raise ConfigError(f"RetryPolicy.{name} must be a finite number >= 0, got {value!r}")
            object.__setattr__(self, name, float(value))

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait before retry ``attempt`` (0-based)."""
        if retry_after is not None and math.isfinite(retry_after) and retry_after >= 0:
            return min(float(retry_after), self.max_delay)
        return rng.uniform(0.0, min(self.max_delay, self.backoff * 2.0**attempt))


def classify(exc: BaseException) -> Kind:
    """What a failed scorer call means (see the module docstring).

    Example:
        >>> classify(TimeoutError("read timed out")), classify(ValueError("bug"))
        ('transport', 'error')
    """
    from dspy.utils.exceptions import (
        AdapterParseError,
        LMAuthError,
        LMBillingError,
        LMConfigurationError,
        LMError,
        LMInvalidRequestError,
        LMProviderError,
        LMStreamAssemblyError,
        LMUnexpectedError,
        LMUnsupportedModelError,
        is_retryable_lm_error,
    )

    if isinstance(exc, AdapterParseError):
        return "transport" if EMPTY_REPLY in str(exc) else "answer"
    if isinstance(exc, (LMAuthError, LMBillingError, LMUnsupportedModelError, LMConfigurationError)):
        return "refused"
    if isinstance(exc, Exception) and is_retryable_lm_error(exc):
        return "transport"
    if isinstance(exc, LMInvalidRequestError):
        return "error"  # a 4xx for this prompt: not the endpoint's fault, not the model's answer
    if isinstance(exc, LMStreamAssemblyError):
        return "transport"  # a stream cut short
    if isinstance(exc, LMUnexpectedError):  # an engine's own failure: transport only if its cause is
        cause = exc.__cause__
        return "transport" if cause is not None and cause is not exc and classify(cause) == "transport" else "error"
    if isinstance(exc, LMProviderError):
        status = getattr(exc, "status", None)
        # a 2xx whose body is not a completion (cut-off JSON), or an unclassified server reply
        return "transport" if status is None or status >= 500 or status < 300 or status == 408 else "error"
    if isinstance(exc, LMError):
        return "error"
    if isinstance(exc, (TimeoutError, ConnectionError)):
        return "transport"
    try:
        import httpx
    except ImportError:  # pragma: no cover - httpx comes with dspy
        return "error"
    if isinstance(exc, (httpx.TransportError, httpx.RemoteProtocolError)):
        return "transport"
    return "error"


def retry_after(exc: BaseException) -> float | None:
    """The ``Retry-After`` hint (seconds) an error carries, if any."""
    value = getattr(exc, "retry_after", None)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def short(exc: BaseException, limit: int = 200) -> str:
    """``"<type>: <first line of the message>"``, at most ``limit`` characters."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    out = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return out if len(out) <= limit else out[: limit - 3] + "..."


def endpoint_of(lm: Any) -> str:
    """The API base URL of ``lm`` when it has one, else its model string."""
    kwargs = getattr(lm, "kwargs", None) or {}
    base = kwargs.get("api_base") or kwargs.get("base_url")
    model = getattr(lm, "model", None)
    if base:
        return f"{base} ({model})" if model else str(base)
    return str(model or type(lm).__name__)


def model_name(lm: Any) -> str:
    """The model string of ``lm`` (``lm.model`` for a ``dspy.LM``), as reports and stored records name it.

    Example:
        >>> import dspy
        >>> model_name(dspy.LM("openai/gpt-4.1-mini")), model_name("a-name")
        ('openai/gpt-4.1-mini', 'a-name')
    """
    return str(getattr(lm, "model", lm))


def remote_lm(lm: Any, timeout: float | None) -> Any:
    """``lm`` with a per-call ``timeout`` and DSPy's own retries off, when it calls a remote API.

    DSPy's retries would stack under the scorer's (and retry neither malformed nor empty
    replies); an LM with a custom engine (the local scorers) owns its connection and is
    returned unchanged.
    """
    import dspy

    if not isinstance(lm, dspy.LM) or not isinstance(lm.engine, (str, type(None))):
        return lm
    updates: dict[str, Any] = {"num_retries": 0}
    if timeout is not None:
        updates["timeout"] = float(timeout)
    return lm.copy(**updates)
