"""Failure classes, retry delays and spend counting of the scorer, without a server."""

from __future__ import annotations

import random
from typing import Any

import dspy
import numpy as np
import pytest
from dspy.utils import exceptions as dx

from specprompt.errors import ConfigError, EndpointError, ScoringError, TransportError
from specprompt.search import RetryPolicy, SearchConfig, Spend
from specprompt.search._scoring import Scorer
from specprompt.search._spend import cap_reached, repays_after
from specprompt.search._transport import classify, endpoint_of, remote_lm


def _parse_error(text: str) -> dx.AdapterParseError:
    sig = dspy.Signature("x -> y")
    return dx.AdapterParseError(adapter_name="ChatAdapter", signature=sig, lm_response=text, message=text)


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (dx.LMRateLimitError("slow down", status=429, retry_after=1.0), "transport"),
        (dx.LMServerError("boom", status=503), "transport"),
        (dx.LMTimeoutError("late"), "transport"),
        (dx.LMTransportError("reset"), "transport"),
        (dx.LMProviderError("the reply is not JSON", status=200), "transport"),
        (dx.LMAuthError("bad key", status=401), "refused"),
        (dx.LMUnsupportedModelError("no such model", status=404), "refused"),
        (dx.LMInvalidRequestError("too many images", status=400), "error"),
        (_parse_error("The LM returned an empty or null response."), "transport"),
        (_parse_error("no [[ ## y ## ]] field"), "answer"),
        (ConnectionResetError("reset"), "transport"),
        (TimeoutError(), "transport"),
        (ValueError("bug in the program"), "error"),
        (dx.LMStreamAssemblyError("stream ended early"), "transport"),
    ],
)
def test_classify(exc: BaseException, kind: str) -> None:
    assert classify(exc) == kind


def _unexpected(cause: BaseException) -> dx.LMUnexpectedError:
    try:
        raise dx.LMUnexpectedError("engine failed") from cause
    except dx.LMUnexpectedError as exc:
        return exc


def test_an_engine_failure_is_transport_only_when_its_cause_is() -> None:
    assert classify(_unexpected(ConnectionResetError("reset"))) == "transport"
    assert classify(_unexpected(ValueError("a bug in a local engine"))) == "error"


def test_retry_delays_back_off_with_jitter_and_honour_retry_after() -> None:
    policy = RetryPolicy(retries=5, backoff=0.5, max_delay=3.0)
    rng = random.Random(1)
    delays = [[policy.delay(k, None, rng) for k in range(5)] for _ in range(200)]
    for k in range(5):
        column = [d[k] for d in delays]
        assert 0 <= min(column) and max(column) <= min(3.0, 0.5 * 2**k)
        assert len(set(column)) > 100  # jittered
    assert policy.delay(0, 2.0, rng) == 2.0 and policy.delay(3, 99.0, rng) == 3.0


class Flaky(dspy.Module):
    """Raises the queued errors one by one, then answers ``y = x``."""

    def __init__(self, errors: list[BaseException]) -> None:
        super().__init__()
        self.errors = errors

    def forward(self, x: str) -> dspy.Prediction:
        if self.errors:
            raise self.errors.pop(0)
        return dspy.Prediction(y=x)


def _val(*xs: str) -> list[dspy.Example]:
    return [dspy.Example(x=x, y=x).with_inputs("x") for x in xs]


def _metric(ex: Any, pred: Any, trace: Any = None) -> float:
    return float(ex.y == pred.y)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("retries", -1, r"RetryPolicy.retries must be an int >= 0, got -1"),
        ("retries", 1.5, r"RetryPolicy.retries must be an int >= 0, got 1.5"),
        ("endpoint_failures", 0, r"RetryPolicy.endpoint_failures must be an int >= 1, got 0"),
        ("backoff", -1.0, r"RetryPolicy.backoff must be a finite number >= 0, got -1.0"),
        ("max_delay", float("inf"), r"RetryPolicy.max_delay must be a finite number >= 0, got inf"),
        ("max_delay", "5", r"RetryPolicy.max_delay must be a finite number >= 0, got '5'"),
    ],
)
def test_retry_policy_values_are_checked(field: str, value: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        RetryPolicy(**{field: value})
    assert RetryPolicy(retries=np.int64(3), backoff=np.float32(0.5)) == RetryPolicy(retries=3, backoff=0.5)


def test_unparsed_answers_score_zero_and_are_counted_apart() -> None:
    scorer = Scorer(_metric, _val("a", "b"), 1, RetryPolicy(backoff=0.0))
    program = Flaky([_parse_error("no field"), _parse_error("still no field")])
    assert scorer.score("k", lambda: program, [0, 1]) == {0: 0.0, 1: 0.0}  # no error: every answer arrived
    assert scorer.spend.unparsed == 2 and scorer.spend.failed == 0


def test_transport_failures_are_retried_then_raised_never_scored() -> None:
    scorer = Scorer(_metric, _val("a"), 1, RetryPolicy(retries=2, backoff=0.0))
    program = Flaky([dx.LMServerError("boom", status=500), dx.LMTransportError("reset")])
    assert scorer.score("k", lambda: program, [0]) == {0: 1.0}
    assert scorer.spend == Spend(failed=2, retries=2)
    broken = Flaky([dx.LMServerError("boom", status=500)] * 3)
    scorer = Scorer(_metric, _val("a"), 1, RetryPolicy(retries=2, backoff=0.0), endpoint="http://x/v1")
    with pytest.raises(TransportError, match=r"a call to http://x/v1 failed 3 time\(s\); last error: LMServerError"):
        scorer.score("k", lambda: broken, [0])
    assert scorer.known("k", [0]) == {}


def test_a_refusal_stops_at_once() -> None:
    scorer = Scorer(_metric, _val("a", "b"), 1, RetryPolicy(backoff=0.0), endpoint="http://x/v1")
    program = Flaky([dx.LMAuthError("Incorrect API key provided.", status=401)])
    with pytest.raises(EndpointError, match="it refused the call; last error: LMAuthError: Incorrect API key"):
        scorer.score("k", lambda: program, [0, 1])


def test_every_example_failing_otherwise_is_a_scoring_error() -> None:
    scorer = Scorer(_metric, _val("a", "b"), 2)
    program = Flaky([ValueError("bug")] * 2)
    with pytest.raises(ScoringError, match="every example of the batch failed; first error: ValueError: bug"):
        scorer.score("k", lambda: program, [0, 1])


def test_remote_lm_sets_the_timeout_and_leaves_local_engines_alone() -> None:
    from specprompt.scorers import nearest_lm

    lm = dspy.LM("openai/m", api_base="http://127.0.0.1:9/v1", api_key="x")
    fast = remote_lm(lm, 2.5)
    assert fast.kwargs["timeout"] == 2.5 and fast.num_retries == 0 and lm.num_retries == 3
    assert endpoint_of(fast) == "http://127.0.0.1:9/v1 (openai/m)"
    local = nearest_lm()
    assert remote_lm(local, 2.5) is local


def test_spend_caps_and_repay_point() -> None:
    cfg = SearchConfig(max_tokens=100, price_per_million_tokens=2.0, max_cost=0.0001)
    assert cap_reached(Spend(prompt_tokens=40, completion_tokens=9), cfg) is None
    assert cap_reached(Spend(prompt_tokens=50), cfg) == "max_cost=0.0001 reached (0.0001 at 2 per 1M tokens)"
    assert cap_reached(Spend(prompt_tokens=100), cfg) == "max_tokens=100 reached (100 billed tokens)"
    assert repays_after(0, 5) == 0 and repays_after(11, 5) == 3 and repays_after(11, -1) is None
    with pytest.raises(ConfigError, match="max_cost needs price_per_million_tokens"):
        SearchConfig(max_cost=1.0)


def test_an_endpoint_without_an_api_key_says_so_and_not_to_run_again() -> None:
    last = "LMNotConfiguredError: no API key found for provider 'openai-chat'. Set OPENAI_API_KEY in the environment"
    said = str(EndpointError("http://127.0.0.1:8765/v1", 1, last))
    assert said.startswith("the endpoint http://127.0.0.1:8765/v1 needs an API key and none was found; ")
    assert "Set OPENAI_API_KEY" in said and "run the same command again" not in said
    assert "run the same command again" in str(EndpointError("x", 20, "TimeoutError: read timed out"))
