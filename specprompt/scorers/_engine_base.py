"""What every offline scorer engine shares: reading DSPy's chat, answering in the adapter's format,
counting calls and usage.

A DSPy adapter (ChatAdapter, JSONAdapter, XMLAdapter) turns each complete demo into a user
message (text and image parts) followed by an assistant message holding the demo's output fields
exactly as the adapter wants them back, and ends with a user message holding the query. An engine
that answers with a demo's assistant text therefore answers in the right format for any adapter.
"""

from __future__ import annotations

import ast
import hashlib
import io
import itertools
import json
import math
import re
import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, Generic, TypeVar

import numpy as np
from dspy.clients.engines.base import validate_request
from dspy.lm15 import ImagePart, Message, Request, Response, TextPart, Usage, response_to_events

from specprompt.errors import ConfigError, ImageInputError

K = TypeVar("K")
V = TypeVar("V")

__all__ = [
    "ChatImage",
    "LRUCache",
    "ParsedChat",
    "ScorerEngine",
    "default_answer",
    "engine_config",
    "need_query_image",
    "parse_chat",
    "parse_messages",
    "supplied_answer",
    "text_tokens",
    "with_query",
]

_NOT_SUPPLIED = "Not supplied for this particular example."
#: A ``reasoning`` field a demo does not supply (``dspy.ChainOfThought`` over demos without one), in the
#: ChatAdapter's markers and XML tags: emptied, so the demo still shows its answer.
_UNSUPPLIED_REASONING = (
    re.compile(r"(\[\[ ## reasoning ## \]\]\n)\s*" + re.escape(_NOT_SUPPLIED) + r"\s*(?=\[\[ ## |\Z)"),
    re.compile(r"(<reasoning>)\s*" + re.escape(_NOT_SUPPLIED) + r"\s*(?=</reasoning>)"),
)
_OUTPUT_FIELD = re.compile(r"^\s*\d+\.\s+`(\w+)`\s+\((.*)\)\s*:?.*$")


class LRUCache(Generic[K, V]):
    """A small thread-safe least-recently-used map."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._data: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)


@dataclass(frozen=True)
class ChatImage:
    """One image part of a request; its base64 payload is decoded only when needed.

    Attributes:
        payload: base64 text (inline data) or raw bytes (a part read from a path).
        media_type: the part's media type (``"image/png"``).
        detail: the OpenAI ``detail`` hint the part carried, or ``None``.
        key: a digest of the payload, used to cache what is computed from the image.
        where: which message the part came from, for error messages.
    """

    payload: str | bytes
    media_type: str
    detail: str | None
    key: str
    where: str

    @classmethod
    def from_part(cls, part: ImagePart, where: str) -> ChatImage:
        """Reads an ``ImagePart``; remote URLs and file ids are refused (nothing is fetched)."""
        payload: str | bytes
        if part.data is not None:
            payload = part.data
        elif part.path is not None:
            try:
                payload = part.bytes
            except OSError as exc:
                raise ImageInputError(f"{str(part.path)!r} in {where}", str(exc)) from None
        else:
            ref = part.url if part.url is not None else part.file_id
            head, sep, payload = (ref or "").partition(";base64,")
            if not (head.startswith("data:") and sep):
                raise ImageInputError(
                    f"{ref!r:.60} in {where}", "the offline scorer reads inline image data only, never a URL or file id"
                )
        raw = payload.encode("ascii", "replace") if isinstance(payload, str) else payload
        return cls(payload, part.media_type, part.detail, hashlib.blake2b(raw, digest_size=16).hexdigest(), where)

    @property
    def data(self) -> bytes:
        """The encoded image bytes.

        Raises:
            ImageInputError: the base64 payload is malformed.
        """
        from specprompt.io import parse_data_uri

        if isinstance(self.payload, bytes):
            return self.payload
        return parse_data_uri(f"data:{self.media_type};base64,{self.payload}", self.describe())

    def describe(self) -> str:
        """A short description for error messages."""
        return f"<{self.media_type} part in {self.where}>"


@dataclass(frozen=True)
class DemoTurn:
    """A demo as the model sees it: the images of a user turn and the assistant's answer text."""

    images: tuple[ChatImage, ...]
    answer: str


@dataclass(frozen=True)
class ParsedChat:
    """A request split into demos and query.

    Attributes:
        system: the system text (the adapter's field descriptions and instructions).
        demos: user/assistant pairs whose user turn holds at least one image and whose answer
            supplies every field, in order.
        query: the images of the final user message, in order.
        query_text: the text of the final user message.
        images: every image part of the request (for usage), in order.
        text_chars: characters of text in the whole request (system and messages).
    """

    system: str
    demos: tuple[DemoTurn, ...]
    query: tuple[ChatImage, ...]
    query_text: str
    images: tuple[ChatImage, ...]
    text_chars: int


def _texts(parts: Any) -> str:
    return "".join(p.text for p in parts if isinstance(p, TextPart))


def parse_chat(request: Request) -> ParsedChat:
    """Splits a DSPy request into demos and the query.

    Raises:
        ImageInputError: the final message is not a user message, or a part cannot be read.
    """
    if isinstance(request.system, str):
        system = request.system
    else:
        system = _texts(request.system or ())
    converted: list[tuple[str, tuple[ChatImage, ...], str]] = []
    for i, message in enumerate(request.messages):
        where = "the query" if i == len(request.messages) - 1 else f"message {i}"
        imgs = tuple(ChatImage.from_part(p, where) for p in message.parts if isinstance(p, ImagePart))
        converted.append((message.role, imgs, _texts(message.parts)))
    return _assemble(system, converted)


def _openai_parts(content: Any, where: str) -> tuple[tuple[ChatImage, ...], str]:
    """The images and the text of one OpenAI-format message content (a string or a list of parts)."""
    if isinstance(content, str):
        return (), content
    images: list[ChatImage] = []
    text: list[str] = []
    for part in content or ():
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            text.append(str(part.get("text", "")))
        elif kind == "image_url":
            spec = part.get("image_url") or {}
            url = str(spec.get("url", "")) if isinstance(spec, dict) else str(spec)
            head, sep, payload = url.partition(";base64,")
            if not (head.startswith("data:") and sep):
                raise ImageInputError(
                    f"{url!r:.60} in {where}", "the offline scorer reads inline image data only, never a URL or file id"
                )
            detail = spec.get("detail") if isinstance(spec, dict) else None
            digest = hashlib.blake2b(payload.encode("ascii", "replace"), digest_size=16).hexdigest()
            images.append(ChatImage(payload, head[len("data:") :], detail, digest, where))
        else:
            raise ImageInputError(f"<{kind!r} part in {where}>", "only text and inline image parts can be read")
    return tuple(images), "".join(text)


def parse_messages(messages: Sequence[dict[str, Any]]) -> ParsedChat:
    """Splits OpenAI-format chat messages (what a DSPy adapter's ``format`` returns) into demos and
    the query: the same :class:`ParsedChat` that :func:`parse_chat` reads from the request DSPy
    builds from those messages.

    Raises:
        ImageInputError: no user message last, an image that is not inline data, or an unknown part.
    """
    system = ""
    converted: list[tuple[str, tuple[ChatImage, ...], str]] = []
    body = list(messages)
    while body and body[0].get("role") == "system":
        system += _openai_parts(body.pop(0).get("content"), "the system message")[1]
    for i, message in enumerate(body):
        where = "the query" if i == len(body) - 1 else f"message {i}"
        imgs, text = _openai_parts(message.get("content"), where)
        converted.append((str(message.get("role")), imgs, text))
    return _assemble(system, converted)


def with_query(chat: ParsedChat, other: ParsedChat) -> ParsedChat:
    """``chat`` with the query (images and text) of ``other``: the chat of the same system and demos
    asking about another input.

    Example:
        >>> a = ParsedChat("sys", (), (), "q1", (), 5); with_query(a, ParsedChat("sys", (), (), "query 2", (), 10))
        ParsedChat(system='sys', demos=(), query=(), query_text='query 2', images=(), text_chars=10)
    """
    shown = chat.images[: len(chat.images) - len(chat.query)]
    chars = chat.text_chars - len(chat.query_text) + len(other.query_text)
    return replace(chat, query=other.query, query_text=other.query_text, images=shown + other.query, text_chars=chars)


def _assemble(system: str, converted: list[tuple[str, tuple[ChatImage, ...], str]]) -> ParsedChat:
    if not converted or converted[-1][0] != "user":
        got = f"a {converted[-1][0]!r}" if converted else "no"
        raise ImageInputError("<request>", f"the last message must be the user's query, got {got} message")
    images = tuple(img for _, imgs, _ in converted for img in imgs)
    text_chars = len(system) + sum(len(text) for _, _, text in converted)
    demos: list[DemoTurn] = []
    for (role, imgs, _), (next_role, _, answer) in itertools.pairwise(converted[:-1]):
        if role != "user" or next_role != "assistant" or not imgs or not answer.strip():
            continue
        supplied = supplied_answer(answer)
        if supplied is not None:
            demos.append(DemoTurn(imgs, supplied))
    _, query, query_text = converted[-1]
    return ParsedChat(system, tuple(demos), query, query_text, images, text_chars)


def supplied_answer(answer: str) -> str | None:
    """A demo's assistant message with an unsupplied ``reasoning`` emptied, or ``None`` when it
    lacks an answer field.

    DSPy shows a demo that lacks some output fields with the text ``"Not supplied for this
    particular example."`` in their place; a ``dspy.ChainOfThought`` program's demos drawn from a
    trainset lack ``reasoning`` only. Such a demo still answers (its other fields are there) and is
    kept, with an empty reasoning (ChatAdapter markers, XML tags or a JSON object); a demo that
    lacks any other field is no demo to answer from.

    Example:
        >>> cot = "[[ ## reasoning ## ]]\\nNot supplied for this particular example. \\n\\n[[ ## label ## ]]\\nred"
        >>> supplied_answer(cot)
        '[[ ## reasoning ## ]]\\n\\n[[ ## label ## ]]\\nred'
        >>> supplied_answer("[[ ## label ## ]]\\nNot supplied for this particular example.") is None
        True
    """
    if _NOT_SUPPLIED not in answer:
        return answer
    chat, xml = _UNSUPPLIED_REASONING
    text = xml.sub(r"\1", chat.sub(r"\1\n", answer))
    stripped = text.strip()
    if _NOT_SUPPLIED in text and stripped.startswith("{"):
        try:
            obj = json.loads(stripped)
        except ValueError:
            obj = None
        if isinstance(obj, dict) and str(obj.get("reasoning", "")).strip() == _NOT_SUPPLIED:
            text = json.dumps({**obj, "reasoning": ""})
    return None if _NOT_SUPPLIED in text else text


def need_query_image(chat: ParsedChat) -> None:
    """Refuses a chat whose query has no image, naming which of two mistakes it is.

    The offline engines answer by comparing the query's images with the demos'. A request with
    no image part anywhere is a text-only prompt (the text step of a multi-step module), which
    they cannot answer at all: the fix is another LM for that predictor, not other inputs. A
    request whose demos show images while its query shows none lost the query's image (a path,
    PIL image or ``None`` in an image field).

    Raises:
        InvalidRequestError: no image part in the whole request (lm15's error: DSPy raises
            ``LMInvalidRequestError``, ``specprompt serve`` answers 400).
        ImageInputError: images in the demos but none in the query.
    """
    if chat.query:
        return
    if not chat.images:
        from dspy.lm15 import InvalidRequestError

        raise InvalidRequestError(
            "this offline scorer answers only prompts with images (it compares the query's images with the "
            "demos'), and this request holds no image part: a text-only predictor (such as a text step of a "
            "multi-step module) needs an LM of its own, e.g. predictor.set_lm(dspy.LM(...)); a predictor with "
            "image fields needs dspy.Image objects in them (not paths, PIL images or None)"
        )
    raise ImageInputError(
        "<query>",
        "the final user message has no image part; pass dspy.Image objects (not paths, PIL images or None) "
        "in the image fields",
    )


def text_tokens(chars: int) -> int:
    """Text tokens estimated as one per four characters (rounded up)."""
    return math.ceil(chars / 4)


def _output_fields(system: str) -> list[tuple[str, str]]:
    lines = system.split("Your output fields are:", 1)
    if len(lines) < 2:
        return []
    fields = []
    for line in lines[1].splitlines():
        if line.startswith(("All interactions", "Outputs will be", "In adhering")):
            break
        m = _OUTPUT_FIELD.match(line)
        if m:
            fields.append((m.group(1), m.group(2)))
    return fields


def _placeholder(annotation: str) -> Any:
    """A parseable value for a field type: the first option of a Literal, else an empty value."""
    ann = annotation.strip()
    m = re.match(r"^Literal\[(.*)\]$", ann)
    if m:
        try:
            options = ast.literal_eval(f"[{m.group(1)}]")
        except (ValueError, SyntaxError):
            options = []
        if options:
            return options[0]
    base = ann.split("[", 1)[0]
    return {"int": 0, "float": 0.0, "bool": False, "list": [], "dict": {}}.get(base, "")


def default_answer(chat: ParsedChat) -> str:
    """An answer to give when there is no demo to copy: every output field set to a placeholder
    (the first option of a ``Literal``, 0, False, an empty string or list), in the format the
    adapter asked for (read from the final user message: ChatAdapter, JSONAdapter or XMLAdapter)."""
    fields = [(name, _placeholder(ann)) for name, ann in _output_fields(chat.system)]
    if "Respond with a JSON object" in chat.query_text:
        return json.dumps(dict(fields))

    def _text(value: Any) -> str:
        return value if isinstance(value, str) else json.dumps(value)

    if "wrapped in XML tags" in chat.query_text:
        return "\n".join(f"<{name}>{_text(value)}</{name}>" for name, value in fields)
    body = "".join(f"[[ ## {name} ## ]]\n{_text(value)}\n\n" for name, value in fields)
    return body + "[[ ## completed ## ]]\n"


C = TypeVar("C")


def engine_config(config_cls: type[C], config: C | None, options: dict[str, Any], engine: str) -> C:
    """An engine's config: ``config`` as given, or ``config_cls(**options)``, never both.

    Raises:
        ConfigError: both given, an unknown option (naming the allowed ones), or a ``config`` of
            another type.
    """
    if config is not None and options:
        raise ConfigError(f"give {engine} either a {config_cls.__name__} or keyword options, not both")
    if config is None:
        try:
            return config_cls(**options)
        except TypeError as exc:
            names = sorted(f.name for f in fields(config_cls))  # type: ignore[arg-type]
            raise ConfigError(f"bad {engine} option: {exc}; allowed: {names}") from None
    if not isinstance(config, config_cls):
        raise ConfigError(f"config must be a {config_cls.__name__}, got {type(config).__name__}")
    return config


class ScorerEngine(ABC):
    """Base of specprompt's offline DSPy engines (``dspy.LM(model, engine=...)``).

    Subclasses implement :meth:`answer`. The base validates the request (a chat with neither
    demonstrations nor output fields, such as a plain "hello", is refused with lm15's
    ``InvalidRequestError``: a 400 from ``specprompt serve``), parses the chat, counts
    calls (thread-safe :attr:`calls`) and reports usage: ``input_tokens`` = text tokens (one per
    four characters) + image tokens of every image part under ``cost_model``; ``output_tokens`` =
    text tokens of the answer. ``provider_data["specprompt"]`` holds the image tokens and the
    subclass's details.
    """

    model_name: str = "specprompt/engine"

    def __init__(self, cost_model: str, cache_size: int = 256) -> None:
        self.cost_model = cost_model
        self._lock = threading.Lock()
        self._calls = 0
        self._sizes: LRUCache[str, tuple[int, int]] = LRUCache(max(cache_size, 1024))

    def decode(self, image: ChatImage) -> np.ndarray:
        """Float32 ``(H, W, C)`` pixels of ``image`` (:func:`specprompt.io.as_array`).

        Raises:
            ImageInputError: the bytes are not a supported image.
        """
        from specprompt.io import as_array

        try:
            arr = as_array(image.data)
        except ImageInputError as exc:
            raise ImageInputError(image.describe(), exc.reason) from None
        self._sizes.put(image.key, (arr.shape[1], arr.shape[0]))
        return arr

    def image_size(self, image: ChatImage) -> tuple[int, int]:
        """``(width, height)`` of ``image``, read from its header (cached).

        Raises:
            ImageInputError: the bytes are not a supported image.
        """
        size = self._sizes.get(image.key)
        if size is None:
            from PIL import Image, UnidentifiedImageError

            try:
                with Image.open(io.BytesIO(image.data)) as im:
                    size = (int(im.size[0]), int(im.size[1]))
            except (UnidentifiedImageError, OSError, ValueError) as exc:
                raise ImageInputError(image.describe(), f"not an image ({exc})") from None
            self._sizes.put(image.key, size)
        return size

    @property
    def calls(self) -> int:
        """Number of requests answered so far (cache hits of ``dspy.LM`` do not reach the engine)."""
        with self._lock:
            return self._calls

    @abstractmethod
    def answer(self, chat: ParsedChat) -> tuple[str, dict[str, Any]]:
        """The answer text and JSON-ready details for ``provider_data``."""

    def image_tokens(self, chat: ParsedChat) -> int:
        """Image tokens of every image in the request under :attr:`cost_model`."""
        from specprompt.cost import image_tokens

        total = 0
        for img in chat.images:
            w, h = self.image_size(img)
            detail = img.detail if img.detail in ("low", "high", "auto") else "auto"
            total += image_tokens(self.cost_model, w, h, detail=detail)  # type: ignore[arg-type]
        return total

    def answer_batch(self, chats: Sequence[ParsedChat]) -> list[tuple[str, dict[str, Any]]]:
        """:meth:`answer` for several chats; engines that can share work between them override it."""
        return [self.answer(chat) for chat in chats]

    def complete(self, request: Request) -> Response:
        """Answers one DSPy request (the ``dspy.LM`` engine contract)."""
        validate_request(request)
        chat = parse_chat(request)
        self._check(chat)
        return self._response(chat, *self.answer(chat))

    def respond(self, chats: Sequence[ParsedChat]) -> list[Response]:
        """Answers parsed chats together (:meth:`answer_batch`): the same responses, usage and
        :attr:`calls` (one per chat) as :meth:`complete` gives for each chat's request.

        Raises:
            InvalidRequestError: a chat with neither demonstrations nor output fields (as :meth:`complete`).
        """
        for chat in chats:
            self._check(chat)
        return [self._response(chat, *out) for chat, out in zip(chats, self.answer_batch(chats), strict=True)]

    def _check(self, chat: ParsedChat) -> None:
        if not chat.demos and not _output_fields(chat.system):
            from dspy.lm15 import InvalidRequestError

            raise InvalidRequestError(
                f"{self.model_name} answers by comparing the query image with the demonstrations of the chat, "
                "but this chat has none (user turns with an image, each followed by an assistant answer) and "
                "names no output fields to fill (DSPy's 'Your output fields are:' system text); send the "
                "request as a DSPy adapter does"
            )

    def _response(self, chat: ParsedChat, text: str, details: dict[str, Any]) -> Response:
        image_toks = self.image_tokens(chat)
        with self._lock:
            self._calls += 1
        usage = Usage(
            input_tokens=text_tokens(chat.text_chars) + image_toks,
            output_tokens=max(1, text_tokens(len(text))),
        )
        return Response(
            id=None,
            model=self.model_name,
            message=Message.assistant((TextPart(text),)),
            finish_reason="stop",
            usage=usage,
            provider_data={"specprompt": {"image_tokens": image_toks, **details}},
        )

    def stream(self, request: Request) -> Iterator[Any]:
        """The answer of :meth:`complete` as stream events."""
        return iter(response_to_events(self.complete(request)))

    def close(self) -> None:  # noqa: B027  (an optional hook with nothing to release by default)
        """Nothing to release."""
