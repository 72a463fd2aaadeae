"""Request and response shapes of the OpenAI chat-completions API, as far as this server speaks it.

The request's top-level parameters are checked by :class:`ChatCompletionRequest` (unknown ones are
accepted and ignored, as OpenAI-compatible servers usually do); ``messages`` is checked part by part
in :mod:`specprompt.serve._convert`, so errors can name the exact part.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from specprompt.serve._errors import APIError

#: OpenAI's bound of integer parameters (int64).
_INT64 = 2**63 - 1

__all__ = [
    "ChatCompletionRequest",
    "StreamOptions",
    "chat_completion",
    "completion_chunks",
    "model_card",
    "parse_chat_request",
    "usage_body",
]


class StreamOptions(BaseModel):
    """``stream_options``: only ``include_usage`` means something here."""

    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """The top-level parameters of ``POST /v1/chat/completions``.

    Sampling parameters are checked and passed to the engine (which may ignore them); ``n`` must
    be 1; tools, function calling and logprobs are refused with a 400 rather than ignored.
    """

    model_config = ConfigDict(extra="allow", protected_namespaces=(), allow_inf_nan=False)

    model: str = Field(min_length=1)
    messages: list[Any] = Field(min_length=1)
    n: int | None = Field(default=None, strict=True)
    stream: bool | None = Field(default=False, strict=True)
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(default=None, ge=0, le=2, strict=True)
    top_p: float | None = Field(default=None, ge=0, le=1, strict=True)
    max_tokens: int | None = Field(default=None, ge=1, le=_INT64, strict=True)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=_INT64, strict=True)
    stop: str | list[str] | None = None
    seed: int | None = Field(default=None, ge=-_INT64 - 1, le=_INT64, strict=True)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2, strict=True)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2, strict=True)
    response_format: dict[str, Any] | None = None
    tools: list[Any] | None = None
    functions: list[Any] | None = None
    tool_choice: Any = None
    logprobs: bool | None = Field(default=None, strict=True)
    top_logprobs: int | None = Field(default=None, strict=True)
    user: str | None = None


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for item in loc:
        out += f"[{item}]" if isinstance(item, int) else (f".{item}" if out else str(item))
    return out


def parse_chat_request(body: bytes) -> ChatCompletionRequest:
    """Parses and checks a request body.

    Raises:
        APIError: 400 for a body that is not JSON, not an object, misses ``model`` or
            ``messages``, or has a parameter of the wrong type or out of range.

    Example:
        >>> parse_chat_request(b'{"model": "m", "messages": [{"role": "user", "content": "hi"}]}').model
        'm'
    """
    try:
        data = json.loads(body)
    except RecursionError:
        raise APIError(400, "The JSON body of your request is nested too deeply.", code="invalid_json") from None
    except UnicodeDecodeError:
        raise APIError(400, "The request body is not valid UTF-8 JSON.", code="invalid_json") from None
    except json.JSONDecodeError as exc:
        raise APIError(
            400,
            f"We could not parse the JSON body of your request: {exc.msg} at line {exc.lineno} column {exc.colno}. "
            "The body must be a JSON object.",
            code="invalid_json",
        ) from None
    if not isinstance(data, dict):
        raise APIError(
            400, f"The request body must be a JSON object, got a JSON {type(data).__name__}.", code="invalid_json"
        )
    try:
        return ChatCompletionRequest.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        param = _loc(err["loc"])
        if err["type"] == "missing":
            raise APIError(
                400, f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter"
            ) from None
        raise APIError(400, f"Invalid value for '{param}': {err['msg']}.", param=param, code="invalid_value") from None


def usage_body(
    prompt_tokens: int, completion_tokens: int, total_tokens: int, image_tokens: int | None
) -> dict[str, Any]:
    """OpenAI's ``usage`` object; ``prompt_tokens`` includes the image tokens, also listed on their own.

    Example:
        >>> usage_body(10, 2, 12, 7)["prompt_tokens_details"]
        {'cached_tokens': 0, 'image_tokens': 7}
    """
    details: dict[str, Any] = {"cached_tokens": 0}
    if image_tokens is not None:
        details["image_tokens"] = image_tokens
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": total_tokens,
        "prompt_tokens_details": details,
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


FinishReason = Literal["stop", "length", "tool_calls", "content_filter"]


def _new_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def chat_completion(
    model: str, content: str, finish_reason: FinishReason, usage: dict[str, Any], *, fingerprint: str | None = None
) -> dict[str, Any]:
    """A ``chat.completion`` object with one choice.

    Example:
        >>> body = chat_completion("m", "hi", "stop", usage_body(1, 1, 2, None))
        >>> body["object"], body["choices"][0]["message"], body["id"].startswith("chatcmpl-")
        ('chat.completion', {'role': 'assistant', 'content': 'hi', 'refusal': None}, True)
    """
    return {
        "id": _new_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": fingerprint,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "finish_reason": finish_reason,
                "logprobs": None,
            }
        ],
        "usage": usage,
    }


def completion_chunks(completion: dict[str, Any], *, include_usage: bool) -> list[dict[str, Any]]:
    """The ``chat.completion.chunk`` objects that stream ``completion`` in one piece.

    The first chunk carries the role and the whole content, the second the finish reason; with
    ``include_usage`` a last chunk with no choices carries the usage (as OpenAI does).

    Example:
        >>> c = chat_completion("m", "hi", "stop", usage_body(1, 1, 2, None))
        >>> [len(k["choices"]) for k in completion_chunks(c, include_usage=True)]
        [1, 1, 0]
    """
    choice = completion["choices"][0]
    base = {
        "id": completion["id"],
        "object": "chat.completion.chunk",
        "created": completion["created"],
        "model": completion["model"],
        "system_fingerprint": completion["system_fingerprint"],
    }
    delta = {"role": "assistant", "content": choice["message"]["content"]}
    chunks: list[dict[str, Any]] = [
        {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None, "logprobs": None}]},
        {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": choice["finish_reason"], "logprobs": None}]},
    ]
    if include_usage:
        chunks.append({**base, "choices": [], "usage": completion["usage"]})
    return chunks


def model_card(model_id: str, created: int) -> dict[str, Any]:
    """One entry of ``GET /v1/models``.

    Example:
        >>> model_card("m", 0)
        {'id': 'm', 'object': 'model', 'created': 0, 'owned_by': 'specprompt'}
    """
    return {"id": model_id, "object": "model", "created": created, "owned_by": "specprompt"}
