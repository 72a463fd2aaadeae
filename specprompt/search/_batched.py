"""Batched scoring with the local band VLM: a candidate's examples answered in one encoder pass.

Through ``dspy.LM`` every validation example is its own call: the adapter formats the whole chat
(every demo image as base64 text), DSPy turns it into a request, and the engine re-reads and
re-encodes the same demo images for each example. When the scoring LM is the local band VLM
(:class:`~specprompt.scorers.LocalVLMEngine`, the default scorer), :func:`predict_together` asks
the adapter for the chat's system and demos once per candidate and for each example's query only,
and answers all of them with one :meth:`~specprompt.scorers.ScorerEngine.respond` call: the
images the engine has not embedded yet (the candidate's demo renders, new queries) are encoded in
one forward pass, and the examples that show the same demos share one readout.

What stays the same as the per-call path: the chats the engine reads (system, demos, query, text
length), so the answers, the usage and the :class:`~specprompt.search.Spend` (one billed *call*
per example: the request the per-call path would have sent) are those of ``program(**inputs)``;
the adapter's own ``parse`` turns each answer into the prediction. DSPy's callbacks, LM history
and usage tracker see no call on this path (the scorer counts the spend itself).

When it applies: the program is a :class:`dspy.Predict` (its own ``forward``), the LM (the
predictor's or ``dspy.settings.lm``) is a ``dspy.LM`` over a :class:`~specprompt.scorers.LocalVLMEngine`
without DSPy's response cache, the adapter is a plain ``ChatAdapter``, ``JSONAdapter`` or
``XMLAdapter``, one completion is asked for (``n`` = 1), no input is a ``dspy.History`` and every
output field is a ``str``, ``int``, ``float``, ``bool`` or ``Literal``. Anything else (remote LMs,
the pixel and nearest-band judges, custom modules) uses the per-call path.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import typing
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import dspy

from specprompt.search._spend import Spend

__all__ = ["Batch", "ChatCache", "predict_together"]

logger = logging.getLogger("specprompt.search")

_ADAPTERS = (dspy.ChatAdapter, dspy.JSONAdapter, dspy.XMLAdapter)
_OUTPUT_TYPES = (str, int, float, bool)


@dataclass(frozen=True)
class Batch:
    """What :func:`predict_together` answered.

    Attributes:
        predictions: per example, the prediction, or ``None`` where the answer did not parse (the
            per-call path, whose ``ChatAdapter`` retries in JSON, scores that example).
        spend: the engine's billed calls and tokens, one call per example.
        alternatives: when asked for (``predict_together(..., alternatives=True)``), per example,
            every answer the model could give (one per distinct demo answer) as
            ``(prediction, probability)`` pairs, the probabilities of the model's readout (summing
            to 1); empty where the answer did not parse or an alternative does not.
            :class:`~specprompt.search._scoring.Scorer` with ``expected=True`` scores the metric's
            expectation over them.
    """

    predictions: list[dspy.Prediction | None]
    spend: Spend
    alternatives: list[list[tuple[dspy.Prediction, float]]] = dataclasses.field(default_factory=list)


class ChatCache:
    """The chats :func:`predict_together` read from the adapter, kept between its calls by their owner
    (a :class:`~specprompt.search._scoring.Scorer`, whose examples live as long as it does).

    Each example's query is formatted once per adapter and signature; the system and demos of the
    last ``keep`` prompts are kept (a trial scores its minibatch in a few chunks of one prompt).
    """

    def __init__(self, keep: int = 8) -> None:
        self.keep = keep
        self._queries: dict[tuple[Any, ...], Any] = {}
        self._shown: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._lock = threading.Lock()

    def query(self, key: tuple[Any, ...], make: Callable[[], Any]) -> Any:
        """The chat of one example's query (``make()`` the first time)."""
        with self._lock:
            if key in self._queries:
                return self._queries[key]
        value = make()
        with self._lock:
            return self._queries.setdefault(key, value)

    def demos(self, key: tuple[Any, ...], make: Callable[[], Any]) -> Any:
        """The chat showing one prompt's system and demos (``make()`` unless among the last ``keep``)."""
        with self._lock:
            if key in self._shown:
                self._shown.move_to_end(key)
                return self._shown[key]
        value = make()
        with self._lock:
            self._shown[key] = value
            while len(self._shown) > self.keep:
                self._shown.popitem(last=False)
        return value


def _demos_key(demos: Sequence[Any]) -> tuple[Any, ...]:
    """What the demos show, by value (an image by its data URI): equal keys format equal messages."""

    def value(v: Any) -> Any:
        if isinstance(v, dspy.Image):
            return ("image", type(v).__name__, v.url, getattr(v, "detail", None))
        if isinstance(v, list):
            return tuple(value(x) for x in v)
        return repr(v)

    return tuple(tuple(sorted((k, value(v)) for k, v in demo.items())) for demo in demos)


def _plain_output(annotation: Any) -> bool:
    return annotation in _OUTPUT_TYPES or typing.get_origin(annotation) is typing.Literal


def _batchable(program: Any) -> tuple[Any, Any] | None:
    """``(engine, adapter)`` when ``program``'s calls can be answered together, else ``None``."""
    from specprompt.scorers import LocalVLMEngine

    if not isinstance(program, dspy.Predict) or type(program).forward is not dspy.Predict.forward:
        return None
    lm = program.lm or dspy.settings.lm
    engine = getattr(lm, "engine", None)
    if not isinstance(lm, dspy.LM) or not isinstance(engine, LocalVLMEngine) or lm.cache:
        return None
    adapter = dspy.settings.adapter or dspy.ChatAdapter()
    if type(adapter) not in _ADAPTERS:  # native tool calls need a ToolCalls output, which is not plain
        return None
    config = {**lm.kwargs, **program.config}
    if any((config.get(k) or 1) != 1 for k in ("n", "num_generations")):
        return None
    sig = program.signature
    if any(f.annotation is dspy.History for f in sig.input_fields.values()):
        return None
    if not all(_plain_output(f.annotation) for f in sig.output_fields.values()):
        return None
    return engine, adapter


def _inputs(signature: Any, example: Any) -> dict[str, Any]:
    """The example's inputs as ``dspy.Predict`` passes them to the adapter (defaults filled in)."""
    from pydantic_core import PydanticUndefined

    kwargs = dict(example.inputs())
    for name, field in signature.input_fields.items():
        if name not in kwargs and field.default is not PydanticUndefined:
            kwargs[name] = field.default
    return kwargs


def predict_together(
    program: dspy.Module, examples: Sequence[Any], cache: ChatCache | None = None, alternatives: bool = False
) -> Batch | None:
    """Predictions of ``program`` for ``examples`` from one batched call of the local band VLM.

    Args:
        program: the candidate's program.
        examples: the examples to answer.
        cache: chats kept from earlier calls (the caller keeps ``examples`` alive while it holds it).
        alternatives: also read every answer the model could give, with its probability
            (:attr:`Batch.alternatives`).

    Returns:
        a :class:`Batch`, or ``None`` when the per-call path must score these examples (see the
        module docstring for when the batch applies; also when an example's chat cannot be read:
        the per-call path then reports that example's error).
    """
    found = _batchable(program)
    if found is None or not examples:
        return None
    engine, adapter = found
    from dspy.adapters.utils import apply_output_field_defaults

    from specprompt.scorers import parse_messages, with_query

    sig, demos = program.signature, list(program.demos)
    chats_of = cache or ChatCache()
    inputs = [_inputs(sig, ex) for ex in examples]
    head = (type(adapter), sig)
    try:
        shown = chats_of.demos(
            (*head, _demos_key(demos)), lambda: parse_messages(adapter.format(sig, demos, inputs[0]))
        )

        def query(kw: dict[str, Any]) -> Callable[[], Any]:
            return lambda: parse_messages(adapter.format(sig, [], kw))

        chats = [
            with_query(shown, chats_of.query((*head, id(ex)), query(kw)))
            for ex, kw in zip(examples, inputs, strict=True)
        ]
        responses = engine.respond(chats)
    except Exception as exc:  # the per-call path reports each example's error its own way
        logger.debug("batched scoring does not apply (%s); scoring example by example", exc)
        return None

    fields: dict[str, dict[str, Any] | None] = {}  # the chats share their demos: each text is parsed once

    def parsed(text: str) -> dspy.Prediction | None:
        if text not in fields:
            try:
                value = apply_output_field_defaults(sig, adapter.parse(sig, text))
            except Exception:  # DSPy's AdapterParseError and whatever else a parser raises
                fields[text] = None
            else:
                for name in sig.output_fields:
                    value.setdefault(name, None)
                fields[text] = value
        found = fields[text]
        return None if found is None else dspy.Prediction.from_completions([dict(found)], signature=sig)

    predictions: list[dspy.Prediction | None] = []
    options: list[list[tuple[dspy.Prediction, float]]] = []
    spend = Spend()
    for chat, response in zip(chats, responses, strict=True):
        spend = spend + Spend(
            calls=1, prompt_tokens=response.usage.input_tokens, completion_tokens=response.usage.output_tokens
        )
        prediction = parsed(response.text or "")
        predictions.append(prediction)
        if alternatives:
            options.append([] if prediction is None else _alternatives(chat, response, parsed))
    return Batch(predictions, spend, options)


def _alternatives(
    chat: Any, response: Any, parsed: Callable[[str], dspy.Prediction | None]
) -> list[tuple[dspy.Prediction, float]]:
    """Every answer of the engine's readout with its probability: the ``scores`` (label ->
    probability) of the local band VLM's response details, each label answered with the text of
    the first demo that says it (as the engine answers). Empty when the details have no such
    scores or an alternative does not parse."""
    from specprompt.scorers import answer_label

    data = (getattr(response, "provider_data", None) or {}).get("specprompt", {})
    scores = data.get("scores") if isinstance(data, dict) else None
    if not isinstance(scores, dict) or not scores:
        return []
    texts: dict[str, str] = {}
    for demo in chat.demos:
        texts.setdefault(answer_label(demo.answer), demo.answer)
    out: list[tuple[dspy.Prediction, float]] = []
    for label, p in scores.items():
        text = texts.get(label)
        prediction = None if text is None else parsed(text)
        if prediction is None:
            return []
        out.append((prediction, float(p)))
    return out
