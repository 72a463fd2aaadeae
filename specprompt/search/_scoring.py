"""Scoring programs with the user's metric: parallel, counted, and never twice for one prompt."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import math
import numbers
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import dspy

from specprompt._progress import GrowingBar
from specprompt.errors import ConfigError, EndpointError, ScoringError, SpecPromptError, TransportError
from specprompt.search._batched import ChatCache, predict_together
from specprompt.search._spend import Spend, usage_tokens
from specprompt.search._transport import EMPTY_REPLY, RetryPolicy, classify, endpoint_of, retry_after, short

__all__ = ["LARGEST_METRIC_VALUE", "Failures", "Scorer", "metric_name", "metric_value"]

logger = logging.getLogger("specprompt.search")

Metric = Callable[..., Any]


def metric_name(metric: Callable[..., Any]) -> str:
    """The name a study and messages know ``metric`` by: its ``__qualname__`` (a callable object's class's).

    Example:
        >>> metric_name(metric_name), metric_name(str.upper)
        ('metric_name', 'str.upper')
    """
    return str(getattr(metric, "__qualname__", type(metric).__qualname__))


#: The largest magnitude a metric value may have: sums of up to a million of them stay finite.
LARGEST_METRIC_VALUE = 1e300


class MetricValueError(ConfigError):
    """A metric returned a value the search cannot add up (not a number, NaN, infinite or too
    large): the metric is broken, so the scoring stops at once instead of scoring the example 0.0."""


def _example_fields(example: Any) -> dict[str, Any] | None:
    """The labels of a ``dspy.Example`` with inputs set, else its fields, else ``None``."""
    try:
        return dict(example.labels().items())
    except (AttributeError, TypeError, ValueError):  # labels() raises ValueError before with_inputs
        pass
    try:
        return dict(example.items())
    except (AttributeError, TypeError, ValueError):
        return None


def _example_text(example: Any) -> str:
    """A short description of an example for messages: its labels or fields, each value cut short
    (an image's data URI would fill the screen)."""
    fields = _example_fields(example)
    if fields is None:
        return f"{example!r:.80}"
    return "{" + ", ".join(f"{k}={v!r:.40}" for k, v in fields.items()) + "}"


def _for(example: Any) -> str:
    """`` for the example {label='a'}`` in a refusal; nothing when no example is known (made only
    when a value is refused: metric values are checked on every call)."""
    return "" if example is None else f" for the example {_example_text(example)}"


def metric_value(result: Any, name: str = "the metric", example: Any = None) -> float:
    """A metric's return value as a float (bools, numbers, or an object with ``.score``).

    ``name`` names the metric in the errors (``"the metric exact_match"``); ``example``, when
    given, is the example it scored, named in the errors by its labels.

    Raises:
        MetricValueError (a ConfigError, a ValueError): the value is not numeric (``None``, a
            string, ...), NaN, infinite, or larger in magnitude than :data:`LARGEST_METRIC_VALUE`
            (means over examples would overflow). Such a value is a bug of the metric, never a
            failed example: a metric scores an example it cannot score 0.0.

    Example:
        >>> metric_value(float("inf"))
        Traceback (most recent call last):
        ...
        specprompt.search._scoring.MetricValueError: the metric returned inf; return a finite number ...
        >>> metric_value(None, "m", dspy.Example(image="...", label="a").with_inputs("image"))
        Traceback (most recent call last):
        ...
        specprompt.search._scoring.MetricValueError: m returned None (a NoneType) for the example {label='a'}; ...
    """
    returned = result
    if hasattr(result, "score") and not isinstance(result, numbers.Real):
        result = result.score
    try:
        if isinstance(result, (str, bytes)):
            raise TypeError
        value = float(result)
    except (TypeError, ValueError):
        what = f"{result!r:.60} (a {type(result).__name__})"
        if result is not returned:
            what = f"an object whose .score is {what}"
        raise MetricValueError(
            f"{name} returned {what}{_for(example)}; return a number, a bool or an object with .score "
            "(e.g. 0.0 for an example it cannot score)"
        ) from None
    except OverflowError:  # an int beyond the float range
        value = math.inf if result > 0 else -math.inf
    if math.isnan(value):
        raise MetricValueError(
            f"{name} returned NaN{_for(example)}; return a number (e.g. 0.0 for an example it cannot score)"
        )
    if math.isinf(value):
        raise MetricValueError(
            f"{name} returned {value}{_for(example)}; return a finite number (e.g. 0.0 for an example it cannot score)"
        )
    if abs(value) > LARGEST_METRIC_VALUE:
        raise MetricValueError(
            f"{name} returned {value:g}{_for(example)}; return a number of magnitude at most {LARGEST_METRIC_VALUE:g} "
            "(means over the examples would overflow), e.g. a score in [0, 1]"
        )
    return value


@dataclass
class Failures:
    """The examples one candidate's evaluation ran, over all the :meth:`Scorer.score` calls it
    made (a trial's pruning chunks), and the errors they raised.

    Attributes:
        ran: valset indices of the examples that ran (cached ones do not count).
        errors: the errors of those that failed (each scored 0.0).
    """

    ran: list[int] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)

    @property
    def all_failed(self) -> bool:
        """Whether some example ran and every one that ran failed."""
        return bool(self.errors) and len(self.errors) >= len(self.ran)

    def error(self, what: str) -> SpecPromptError:
        """The error that reports :attr:`all_failed`: the first error itself when specprompt raised
        it, else a :class:`~specprompt.errors.ScoringError` naming it (``what``: ``"batch"``, ``"trial"``)."""
        first = self.errors[0]
        if isinstance(first, SpecPromptError):
            return first
        error = ScoringError(f"every example of the {what} failed; first error: {short(first)}")
        error.__cause__ = first
        return error


class Scorer:
    """Scores candidate programs on validation examples, caching per (candidate key, example).

    Args:
        metric: ``metric(example, prediction, trace=None)``; called as ``metric(example, pred)``.
        valset: the validation examples (indices into it identify examples).
        num_threads: worker threads; ``None`` = ``dspy.settings.num_threads``.
        policy: how calls that fail in transport are retried (default :class:`RetryPolicy`).
        endpoint: where the calls go, for messages; default: the configured LM's API base.
        seed: seed of the retry jitter.
        expected: score an example the local band VLM answers in a batch by the metric's
            expectation over the model's answer probabilities (``sum_a p(a) * metric(example, a)``
            over the answers it can give, :attr:`~specprompt.search._batched.Batch.alternatives`)
            instead of the metric of its most probable answer. For a judge that *ranks* prompts
            (a screen, the local side of a calibration): the expectation moves smoothly as demos
            get clearer or blurrier, where the answer flips only at the argmax, so a small
            minibatch ranks prompts with far less noise. Examples answered call by call (other
            LMs, other programs) keep the metric of the answer.

    Attributes:
        calls: number of (program, example) evaluations run so far (thread-safe).
        spend: the :class:`~specprompt.search._spend.Spend` of every call so far.

    Convention:
        - A reply that arrives is the model's answer: one that does not parse scores 0.0 and is
          counted in ``spend.unparsed``.
        - A call that fails in transport (:func:`~specprompt.search._transport.classify`) is
          retried (after an empty reply, which DSPy caches, without DSPy's response cache); when
          it still fails, :class:`~specprompt.errors.TransportError` is raised after the other
          examples of the batch finished: the failed example is never scored or cached, the
          others are. After ``policy.endpoint_failures`` failed calls in a row, or a refusal
          (authentication, billing, unknown model), :class:`~specprompt.errors.EndpointError`.
        - An example whose program or metric raises another error scores 0.0 and is logged; if
          every example of a batch raises (of all the batches of one evaluation, with
          :class:`Failures`), :class:`~specprompt.errors.ScoringError` names the first error (a
          specprompt error is raised as it is): a broken setup must not look like a bad candidate.
        - A metric value that is not a number (``None``, a string), NaN, infinite or larger than
          :data:`LARGEST_METRIC_VALUE` (:func:`metric_value`) stops the scoring at once with a
          :class:`~specprompt.errors.ConfigError` naming the metric, the value and the example: no
          score is made of it (an example the metric cannot score is the metric's to score 0.0).
        - DSPy settings (LM, adapter) of the calling thread reach the workers through
          ``contextvars.copy_context``.
        - With the local band VLM as LM, a ``dspy.Predict`` program's examples are answered
          together (:func:`~specprompt.search._batched.predict_together`: one encoder pass, the
          same answers and the same spend, one call per example); other LMs and programs, and an
          example whose batched answer does not parse, are scored call by call.
    """

    def __init__(
        self,
        metric: Metric,
        valset: Sequence[Any],
        num_threads: int | None,
        policy: RetryPolicy | None = None,
        endpoint: str | None = None,
        seed: int = 0,
        expected: bool = False,
    ) -> None:
        self.metric = metric
        #: how errors name the metric
        self._name = f"the metric {metric_name(metric)}"
        self.expected = expected
        self.valset = list(valset)
        self.num_threads = int(num_threads or dspy.settings.num_threads or 1)
        self.policy = policy or RetryPolicy()
        self.endpoint = endpoint
        self.calls = 0
        self.spend = Spend()
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, int], float] = {}
        self._rng = random.Random(seed)
        self._in_a_row = 0
        self._down: EndpointError | None = None
        self._chats = ChatCache()
        #: the bar of the phase in progress (:meth:`counting`), ``None`` outside one
        self._bar: GrowingBar | None = None

    @contextlib.contextmanager
    def counting(self, desc: str, *, enabled: bool) -> Iterator[GrowingBar]:
        """Shows one bar, named ``desc``, of the examples this scorer runs inside the block.

        For the phases that score whole valsets between the trials, which the trial bar does not
        cover (the baselines, the finalists, the trim, the test set): a full valset on a remote
        LM is minutes of billed calls. Its total grows by the uncached examples of each
        :meth:`score` call; cached examples cost nothing and are not counted. Updates come from
        the scoring threads and hold the bar's lock. Nothing about the scoring changes: the same
        examples run in the same order. Blocks nest; the inner bar counts until it closes.

        Args:
            desc: the phase, e.g. ``"baseline full"``, ``"finalists"``.
            enabled: the ``progress`` switch (``SearchConfig.progress``); ``False`` shows nothing.

        Example:
            >>> import dspy
            >>> scorer = Scorer(lambda ex, pred: 1.0, [], num_threads=1)
            >>> with scorer.counting("baseline full", enabled=False) as bar:
            ...     pass
            >>> bar.counts
            (0, 0)
        """
        bar = GrowingBar(desc, "example", enabled=enabled)
        outer, self._bar = self._bar, bar
        try:
            yield bar
        finally:
            self._bar = outer
            bar.close()

    def _counted(self, n: int) -> None:
        """``n`` examples of the phase's bar done (no bar: nothing)."""
        bar = self._bar
        if bar is not None:
            bar.update(n)

    @property
    def scored(self) -> int:
        """How many (candidate, example) scores are cached (grows with every scored example)."""
        with self._lock:
            return len(self._cache)

    def known(self, key: str, indices: Sequence[int]) -> dict[int, float]:
        """The cached scores of ``key`` among ``indices``."""
        with self._lock:
            return {i: self._cache[(key, i)] for i in indices if (key, i) in self._cache}

    def remember(self, key: str, scores: dict[int, float]) -> None:
        """Adds scores measured earlier (e.g. read back from a resumed study)."""
        with self._lock:
            for i, s in scores.items():
                self._cache[(key, int(i))] = float(s)

    def _where(self) -> str:
        return self.endpoint or endpoint_of(dspy.settings.lm)

    def _count(self, tracker: Any, **more: int) -> None:
        prompt = completion = calls = 0
        for entries in tracker.usage_data.values():
            for usage in entries:
                p, c = usage_tokens(usage)
                prompt, completion, calls = prompt + p, completion + c, calls + 1
        with self._lock:
            self.spend = self.spend + Spend(calls=calls, prompt_tokens=prompt, completion_tokens=completion, **more)

    def _failed(self, exc: BaseException) -> EndpointError | None:
        """Counts a transport failure; the endpoint's error once too many came in a row."""
        with self._lock:
            self._in_a_row += 1
            if self._down is None and self._in_a_row >= self.policy.endpoint_failures:
                self._down = EndpointError(self._where(), self._in_a_row, short(exc))
            return self._down

    def _call(self, program: dspy.Module, example: Any, fresh: bool) -> Any:
        """One attempt: the prediction, or the error it raised (usage counted either way).

        ``fresh`` bypasses DSPy's response cache (after an empty reply, which DSPy caches).
        DSPy's call history is off while scoring: a search makes hundreds to thousands of calls,
        each holding every demo image as base64, and the history would keep them all in memory."""
        from dspy.utils.usage_tracker import track_usage

        lm = dspy.settings.lm
        retry_lm = lm.copy(cache=False) if fresh and isinstance(lm, dspy.BaseLM) else lm
        with track_usage() as tracker, dspy.context(lm=retry_lm, disable_history=True):
            try:
                return program(**example.inputs())
            finally:
                self._count(tracker)

    def _one(self, program: dspy.Module, index: int) -> float:
        example = self.valset[index]
        with self._lock:
            self.calls += 1
        fresh = False
        for attempt in range(self.policy.retries + 1):
            if self._down is not None:
                raise self._down
            try:
                prediction = self._call(program, example, fresh)
            except Exception as exc:
                kind = classify(exc)
                if kind == "answer":  # the model answered, in a form that does not parse
                    with self._lock:
                        self._in_a_row = 0
                        self.spend = self.spend + Spend(unparsed=1)
                    logger.debug("example %d: the answer does not parse: %s", index, short(exc))
                    return 0.0
                if kind == "refused":
                    with self._lock:
                        self._down = self._down or EndpointError(self._where(), 1, short(exc))
                    raise self._down from None
                if kind == "error":
                    raise
                down = self._failed(exc)
                with self._lock:
                    self.spend = self.spend + Spend(failed=1)
                if down is not None:
                    raise down from None
                fresh = fresh or EMPTY_REPLY in str(exc)
                if attempt == self.policy.retries:
                    raise TransportError(self._where(), attempt + 1, short(exc)) from None
                wait = self.policy.delay(attempt, retry_after(exc), self._rng)
                logger.info("example %d: %s; retry %d in %.1f s", index, short(exc), attempt + 1, wait)
                with self._lock:
                    self.spend = self.spend + Spend(retries=1)
                time.sleep(wait)
                continue
            with self._lock:
                self._in_a_row = 0
            return metric_value(self.metric(example, prediction), self._name, example)
        raise AssertionError("unreachable")  # pragma: no cover

    def _together(
        self, program: dspy.Module, todo: list[int], errors: list[BaseException]
    ) -> tuple[dict[int, float], list[int]]:
        """Scores what :func:`~specprompt.search._batched.predict_together` answers in one batch
        (the local band VLM); returns those scores and the indices left to score call by call."""
        batch = predict_together(program, [self.valset[i] for i in todo], self._chats, self.expected)
        if batch is None:
            return {}, todo
        with self._lock:
            self.spend = self.spend + batch.spend
            self._in_a_row = 0
        results: dict[int, float] = {}
        options = batch.alternatives or [[] for _ in todo]
        for i, prediction, alternatives in zip(todo, batch.predictions, options, strict=True):
            if prediction is None:
                continue
            try:
                if self.expected and alternatives:
                    total = sum(p for _, p in alternatives)
                    example = self.valset[i]
                    results[i] = sum(
                        p * metric_value(self.metric(example, alt), self._name, example) for alt, p in alternatives
                    ) / (total or 1.0)
                    continue
                results[i] = metric_value(self.metric(self.valset[i], prediction), self._name, self.valset[i])
            except MetricValueError:  # a broken metric, not a failed example
                raise
            except Exception as exc:  # scored as a failure, as on the per-call path
                errors.append(exc)
                logger.warning("example %d failed and scores 0.0: %s", i, short(exc))
                results[i] = 0.0
        with self._lock:
            self.calls += len(results)
        return results, [i for i in todo if i not in results]

    def score(
        self,
        key: str,
        build: Callable[[], dspy.Module],
        indices: Sequence[int],
        failures: Failures | None = None,
    ) -> dict[int, float]:
        """Scores of the candidate ``key`` on ``indices``; only uncached examples run.

        Args:
            key: the candidate key (equal keys render equal prompts).
            build: makes the program; called only when something must run.
            indices: valset positions.
            failures: when one evaluation of ``key`` spans several calls (a trial's pruning
                chunks), the :class:`Failures` they share: this call adds its examples and errors
                to it and leaves the every-example-failed rule to the caller (:meth:`check`), so a
                chunk whose only example fails scores it 0.0 like any other failed example.

        Raises:
            TransportError: an example's call still failed after its retries (the other
                examples' scores are cached). EndpointError: the endpoint is down or refuses.
            ScoringError: every example raised another error (without ``failures``).
            ConfigError: the metric returned a value that is not a number, NaN, an infinite or a
                too large value (:func:`metric_value`).
        """
        have = self.known(key, indices)
        todo = [i for i in indices if i not in have]
        if not todo:
            return {i: have[i] for i in indices}
        if self._bar is not None:
            self._bar.add(len(todo))
        program = build()
        errors: list[BaseException] = []
        lost: list[ScoringError] = []
        results, rest = self._together(program, todo, errors)
        self._counted(len(results))

        def run(i: int) -> tuple[int, float] | None:
            try:
                return i, self._one(program, i)
            except ScoringError as exc:  # transport: not a score
                with self._lock:
                    lost.append(exc)
                return None
            except MetricValueError:  # a broken metric, not a failed example
                raise
            except Exception as exc:  # scored as a failure, like dspy.Evaluate's failure_score
                with self._lock:
                    errors.append(exc)
                logger.warning("example %d failed and scores 0.0: %s", i, short(exc))
                return i, 0.0
            finally:
                self._counted(1)

        if self.num_threads == 1 or len(rest) <= 1:
            pairs = [run(i) for i in rest]
        else:
            with ThreadPoolExecutor(max_workers=min(self.num_threads, len(rest))) as pool:
                futures = [pool.submit(contextvars.copy_context().run, run, i) for i in rest]
                pairs = [f.result() for f in futures]
        results.update(p for p in pairs if p is not None)
        if lost:
            self.remember(key, results)
            down = [e for e in lost if isinstance(e, EndpointError)]
            raise (down or lost)[0]
        if failures is None:
            here = Failures(todo, errors)
            if here.all_failed:
                raise here.error("batch")
        else:
            failures.ran.extend(todo)
            failures.errors.extend(errors)
        self.remember(key, results)
        return {i: (results[i] if i in results else have[i]) for i in indices}

    def check(self, key: str, failures: Failures, what: str = "trial") -> None:
        """The every-example-failed rule over all the calls ``failures`` counted (``what``, e.g. a trial).

        Raises:
            ScoringError: every example that ran failed (naming the first error; a specprompt
                error is raised as it is); their 0.0 scores are forgotten first, so the
                candidate runs again when it is tried again.
        """
        if failures.all_failed:
            with self._lock:
                for i in failures.ran:
                    self._cache.pop((key, i), None)
            raise failures.error(what)
