"""OpenAI chat messages -> a DSPy engine ``Request``, and the engine's ``Response`` -> OpenAI JSON.

Convention:
    - A first ``system`` or ``developer`` message becomes ``Request.system``; later ones become
      ``developer`` messages (as DSPy's own OpenAI reader does).
    - ``content`` is a string or a list of ``text`` and ``image_url`` parts; ``image_url`` is a
      string or ``{"url", "detail"}``. Assistant messages hold text only; ``name`` is ignored.
    - Tools, function calling, audio and file parts are refused with a 400 naming the field.
    - Image tokens are read from ``response.provider_data["specprompt"]["image_tokens"]`` (how
      specprompt's engines report them); they are already inside ``prompt_tokens``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from specprompt.serve._errors import APIError
from specprompt.serve._images import check_decodes, image_part
from specprompt.serve._schemas import FinishReason, chat_completion, usage_body

if TYPE_CHECKING:
    from dspy.lm15 import Config, Message, Request, Response

    from specprompt.serve._config import ServeConfig
    from specprompt.serve._schemas import ChatCompletionRequest

__all__ = ["engine_config", "engine_request", "image_tokens_of", "to_completion"]

_ROLES = ("system", "developer", "user", "assistant")
_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_call": "tool_calls",
    "content_filter": "content_filter",
}


def _bad(param: str, message: str, code: str | None = "invalid_value") -> APIError:
    return APIError(400, message, param=param, code=code)


def _parts(content: Any, where: str, role: str, cfg: ServeConfig, budget: list[Any]) -> list[Any]:
    """The parts of one message; ``budget`` is ``[images left, pixels left, images to decode]``."""
    from dspy.lm15 import TextPart

    if isinstance(content, str):
        return [TextPart(content)]
    if not isinstance(content, list):
        raise _bad(f"{where}.content", f"'{where}.content' must be a string or a list of content parts.")
    if not content:
        raise _bad(f"{where}.content", f"'{where}.content' is an empty list; give at least one part.")
    parts: list[Any] = []
    for j, item in enumerate(content):
        at = f"{where}.content[{j}]"
        if not isinstance(item, dict):
            raise _bad(at, f"'{at}' must be an object with a 'type', got {type(item).__name__}.")
        kind = item.get("type")
        if kind == "text":
            text = item.get("text")
            if not isinstance(text, str):
                raise _bad(f"{at}.text", f"'{at}.text' must be a string.")
            parts.append(TextPart(text))
        elif kind == "image_url" and role == "user":
            budget[0] -= 1
            if budget[0] < 0:
                raise _bad(at, f"Too many images: at most {cfg.max_images} image parts per request.", "too_many_images")
            ref = item.get("image_url")
            pixels = budget[1:2]
            if isinstance(ref, dict):
                parts.append(image_part(ref.get("url"), ref.get("detail"), f"{at}.image_url", cfg, pixels, budget[2]))
            else:
                parts.append(image_part(ref, None, f"{at}.image_url", cfg, pixels, budget[2]))
            budget[1] = pixels[0]
        elif kind == "image_url":
            raise _bad(at, f"'{at}': {role} messages cannot hold images; put images in user messages.")
        elif kind == "refusal" and role == "assistant":
            parts.append(TextPart(str(item.get("refusal", ""))))
        else:
            allowed = "text, image_url" if role == "user" else "text"
            raise _bad(f"{at}.type", f"Content part type {kind!r} in '{at}' is not supported here; allowed: {allowed}.")
    return parts


def _message(row: Any, i: int, cfg: ServeConfig, budget: list[Any]) -> tuple[str, list[Any]]:
    where = f"messages[{i}]"
    if not isinstance(row, dict):
        raise _bad(where, f"'{where}' must be an object with 'role' and 'content'.")
    role = row.get("role")
    if role in ("tool", "function"):
        raise _bad(f"{where}.role", f"'{where}' has role {role!r}: tools and function calling are not supported.")
    if role not in _ROLES:
        raise _bad(f"{where}.role", f"Invalid role {role!r} in '{where}'; allowed: {', '.join(_ROLES)}.")
    if role == "assistant":
        if row.get("tool_calls") or row.get("function_call"):
            raise _bad(f"{where}.tool_calls", f"'{where}' holds tool calls: tools are not supported.")
        content = row.get("content")
        if content is None:
            return role, _parts("", where, role, cfg, budget)
        return role, _parts(content, where, role, cfg, budget)
    if "content" not in row or row["content"] is None:
        raise _bad(f"{where}.content", f"Missing required parameter: '{where}.content'.", "missing_required_parameter")
    return role, _parts(row["content"], where, role, cfg, budget)


def _response_format(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    kind = value.get("type")
    if kind in (None, "text"):
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        inner = value.get("json_schema")
        if not isinstance(inner, dict) or not isinstance(inner.get("schema", {}), dict):
            raise _bad(
                "response_format.json_schema", "'response_format.json_schema' must be an object with a 'schema'."
            )
        out: dict[str, Any] = {"type": "json_schema", "schema": inner.get("schema", {})}
        if isinstance(inner.get("name"), str):
            out["name"] = inner["name"]
        if isinstance(inner.get("strict"), bool):
            out["strict"] = inner["strict"]
        return out
    raise _bad(
        "response_format.type", f"Invalid response_format type {kind!r}; allowed: text, json_object, json_schema."
    )


def engine_config(body: ChatCompletionRequest) -> Config:
    """The engine's ``Config`` from the request's sampling parameters.

    Raises:
        APIError: 400 for ``n`` other than 1, tools, logprobs, conflicting ``max_tokens`` and
            ``max_completion_tokens``, or a bad ``response_format``.
    """
    from dspy.lm15 import Config

    if body.n is not None and body.n != 1:
        shown = str(body.n) if len(str(body.n)) <= 20 else str(body.n)[:17] + "..."
        raise _bad("n", f"Invalid value for 'n': {shown}. This server returns one choice per request (n=1).")
    if body.tools or body.functions:
        raise _bad(
            "tools" if body.tools else "functions", "Tools and function calling are not supported by this server."
        )
    if body.logprobs:
        raise _bad("logprobs", "logprobs are not supported by this server.")
    max_tokens = body.max_completion_tokens or body.max_tokens
    if body.max_tokens and body.max_completion_tokens and body.max_tokens != body.max_completion_tokens:
        raise _bad("max_tokens", "max_tokens and max_completion_tokens disagree; give one of them.")
    stop = (body.stop,) if isinstance(body.stop, str) else tuple(s for s in body.stop or () if s)
    try:
        return Config(
            max_tokens=max_tokens,
            temperature=body.temperature,
            top_p=body.top_p,
            stop=stop,
            seed=body.seed,
            presence_penalty=body.presence_penalty,
            frequency_penalty=body.frequency_penalty,
            response_format=_response_format(body.response_format),
        )
    except (TypeError, ValueError) as exc:
        raise _bad("response_format", f"Invalid generation parameters: {exc}.") from None


def engine_request(body: ChatCompletionRequest, model: str, cfg: ServeConfig) -> tuple[Request, int]:
    """The engine request for ``body``, and the number of images it holds.

    Every image is checked and decoded here (see :func:`~specprompt.serve._images.image_part`):
    first the sizes of all images from their headers (per image and summed over the request),
    then, when they all fit, each image is decoded once.

    Raises:
        APIError: 400 naming the bad message or part.
    """
    from dspy.lm15 import Message, Request, TextPart

    config = engine_config(body)
    budget: list[Any] = [cfg.max_images, cfg.max_request_pixels, []]
    system: str | None = None
    messages: list[Message] = []
    for i, row in enumerate(body.messages):
        role, parts = _message(row, i, cfg, budget)
        if i == 0 and role in ("system", "developer"):
            system = "".join(p.text for p in parts) or None
            continue
        if role == "system":
            role = "developer"
        messages.append(Message(role=role, parts=tuple(parts) or (TextPart(""),)))
    if not messages:
        raise _bad("messages", "'messages' holds only a system message; add a user message.")
    check_decodes(budget[2], cfg)  # only once every image's size is known to fit the request's total
    return Request(model=model, messages=tuple(messages), system=system, config=config), cfg.max_images - budget[0]


def image_tokens_of(response: Response) -> int | None:
    """Image tokens an engine reported in ``provider_data["specprompt"]["image_tokens"]``, else ``None``."""
    data = response.provider_data
    if isinstance(data, dict):
        ours = data.get("specprompt")
        if isinstance(ours, dict):
            value = ours.get("image_tokens")
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                return value
    return None


def to_completion(response: Response, model: str, config: Config | None = None) -> dict[str, Any]:
    """The ``chat.completion`` body for an engine's response.

    ``prompt_tokens`` is the engine's ``input_tokens`` (image tokens included); unreported
    counters are 0. With the request's ``config``, the answer ends as OpenAI's does: before the
    first of its ``stop`` strings (``finish_reason`` ``"stop"``), and within ``max_tokens``
    (cut there, ``finish_reason`` ``"length"``; text tokens are counted as one per four
    characters, as the engines count them), whatever the engine returned.

    Example:
        >>> from dspy.lm15 import Config, Message, Response, TextPart, Usage
        >>> r = Response(id=None, model="m", message=Message.assistant((TextPart("red label END x"),)),
        ...              finish_reason="stop", usage=Usage(input_tokens=5, output_tokens=4))
        >>> choice = to_completion(r, "m", Config(stop=("END",)))["choices"][0]
        >>> choice["message"]["content"], choice["finish_reason"]
        ('red label ', 'stop')
        >>> body = to_completion(r, "m", Config(max_tokens=1))
        >>> body["choices"][0]["message"]["content"], body["choices"][0]["finish_reason"]
        ('red ', 'length')
        >>> body["usage"]["completion_tokens"]
        1
    """
    from specprompt.scorers import text_tokens

    text = response.text or ""
    usage = response.usage
    prompt = usage.input_tokens or 0
    completion = usage.output_tokens or 0
    finish = _FINISH.get(response.finish_reason, "stop")
    total = usage.total_tokens if usage.total_tokens is not None else prompt + completion
    if config is not None:
        ends = [text.find(s) for s in config.stop or () if s and s in text]
        if ends:
            text, finish = text[: min(ends)], "stop"
            completion = min(completion, text_tokens(len(text)))
        if config.max_tokens is not None and text_tokens(len(text)) > config.max_tokens:
            text, finish = text[: 4 * config.max_tokens], "length"
            completion = min(completion, config.max_tokens)
        if text != (response.text or ""):
            total = prompt + completion
    body = usage_body(prompt, completion, total, image_tokens_of(response))
    return chat_completion(model, text, finish, body, fingerprint=response.model)
