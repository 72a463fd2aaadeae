"""The FastAPI application: ``/health``, ``/v1/models`` and ``/v1/chat/completions``.

Imported only through :func:`specprompt.serve.create_app`, which checks first that FastAPI is installed.
"""

from __future__ import annotations

import functools
import hmac
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import anyio
import anyio.to_thread
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from specprompt.errors import ConfigError, SpecPromptError
from specprompt.serve._config import ServeConfig
from specprompt.serve._convert import engine_request, image_tokens_of, to_completion
from specprompt.serve._errors import APIError
from specprompt.serve._models import Engine
from specprompt.serve._schemas import ChatCompletionRequest, completion_chunks, model_card, parse_chat_request

__all__ = ["build_app"]

log = logging.getLogger("specprompt.serve")
T = TypeVar("T")


@dataclass(frozen=True)
class _Served:
    """One served model: its engine, and a lock when the engine must answer one request at a time."""

    id: str
    engine: Any
    lock: threading.Lock | None
    created: int


def _check_engines(engines: Mapping[str, Engine], thread_safe: Collection[str]) -> dict[str, _Served]:
    if not isinstance(engines, Mapping) or not engines:
        raise ConfigError("create_app needs at least one engine: a mapping of model id -> engine")
    unknown = sorted(set(thread_safe) - set(engines))
    if unknown:
        raise ConfigError(f"thread_safe names models that are not served: {unknown}; served: {sorted(engines)}")
    now = int(time.time())
    served = {}
    for model_id, engine in engines.items():
        if not isinstance(model_id, str) or not model_id or model_id != model_id.strip():
            raise ConfigError(f"model ids must be non-empty strings without surrounding spaces, got {model_id!r}")
        if not callable(getattr(engine, "complete", None)):
            raise ConfigError(
                f"the engine of model {model_id!r} is a {type(engine).__name__} without a complete(request) method"
            )
        lock = None if model_id in thread_safe else threading.Lock()
        served[model_id] = _Served(model_id, engine, lock, now)
    return served


def _call(served: _Served, request: Any) -> Any:
    if served.lock is None:
        return served.engine.complete(request)
    with served.lock:
        return served.engine.complete(request)


def _engine_error(exc: Exception, model_id: str) -> APIError:
    """A 400 for errors the engine blames on the request, a 500 (logged, no details) for the rest."""
    from dspy.lm15 import CapabilityError, ContextLengthError, InvalidRequestError

    if isinstance(exc, ContextLengthError):
        return APIError(400, f"The request is too long for model {model_id!r}: {exc}", code="context_length_exceeded")
    if isinstance(exc, (SpecPromptError, InvalidRequestError, CapabilityError)):
        return APIError(400, f"Model {model_id!r} cannot answer this request: {exc}", code="invalid_request")
    log.error("model %r failed on a request", model_id, exc_info=exc)
    return APIError(500, f"The model {model_id!r} failed while answering; the server log has the details.")


async def _read_body(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length")
    if length is not None and length.strip().isdigit() and int(length) > limit:  # the HTTP layer checks its syntax
        raise APIError(
            413,
            f"The request body is {int(length):,} bytes, more than this server's limit of {limit:,} bytes "
            "(--max-request-bytes).",
            code="request_too_large",
        )
    from starlette.requests import ClientDisconnect

    chunks = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise APIError(
                    413,
                    f"The request body is more than this server's limit of {limit:,} bytes (--max-request-bytes).",
                    code="request_too_large",
                )
            chunks.append(chunk)
    except ClientDisconnect:  # the client is gone: nothing to answer, nothing for the error log
        log.debug("client disconnected after %d bytes of the request body", size)
        raise APIError(400, "The client closed the connection before sending the whole body.") from None
    return b"".join(chunks)


def _sse(chunks: list[dict[str, Any]]) -> Callable[[], AsyncIterator[str]]:
    async def events() -> AsyncIterator[str]:
        for chunk in chunks:
            yield f"data: {json.dumps(chunk, separators=(',', ':'))}\n\n"
        yield "data: [DONE]\n\n"

    return events


def _install_error_handlers(app: FastAPI) -> None:
    async def server_error(_: Request, exc: Exception) -> Response:
        # Starlette re-raises the exception after this response, so the ASGI server logs it.
        err = APIError(500, "Internal server error; the server log has the details.")
        return JSONResponse(err.body(), status_code=500)

    async def api_error(_: Request, exc: Exception) -> Response:
        err = cast(APIError, exc)  # registered for APIError only
        return JSONResponse(err.body(), status_code=err.status, headers=err.headers or None)

    async def http_error(request: Request, exc: Exception) -> Response:
        http = cast(StarletteHTTPException, exc)  # registered for HTTPException only
        where = f"{request.method} {request.url.path}"
        if http.status_code == 404:
            err = APIError(404, f"Unknown request URL: {where}.", code="unknown_url")
        elif http.status_code == 405:
            err = APIError(405, f"Method not allowed: {where}.", code="method_not_allowed", headers=http.headers)
        else:
            err = APIError(http.status_code, str(http.detail), headers=http.headers)
        return JSONResponse(err.body(), status_code=err.status, headers=err.headers or None)

    async def validation_error(_: Request, exc: Exception) -> Response:
        """FastAPI's 422 for a parameter of a typed route, as OpenAI's 400."""
        errors = cast(RequestValidationError, exc).errors()
        first = errors[0] if errors else {}
        param = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")) or None
        err = APIError(
            400, f"Invalid value for '{param}': {first.get('msg', 'bad value')}.", param=param, code="invalid_value"
        )
        return JSONResponse(err.body(), status_code=400)

    app.add_exception_handler(APIError, api_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, server_error)


def build_app(engines: Mapping[str, Engine], config: ServeConfig, thread_safe: Collection[str] = ()) -> FastAPI:
    """The application serving ``engines`` (model id -> engine) under ``config``; see ``create_app``."""
    from specprompt import __version__

    served = _check_engines(engines, thread_safe)
    key = config.api_key.encode() if config.api_key is not None else None
    limiter: list[anyio.CapacityLimiter] = []

    async def in_thread(fn: Callable[..., T], *args: Any) -> T:
        if not limiter:  # created on first use, inside the event loop
            limiter.append(anyio.CapacityLimiter(config.workers))
        return await anyio.to_thread.run_sync(functools.partial(fn, *args), limiter=limiter[0])

    def check_auth(request: Request) -> None:
        if key is None:
            return
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        challenge = {"WWW-Authenticate": "Bearer"}
        if scheme.lower() != "bearer" or not token.strip():
            raise APIError(
                401,
                "You didn't provide an API key. Send it in an Authorization header using Bearer auth "
                "(Authorization: Bearer YOUR_KEY).",
                code="invalid_api_key",
                headers=challenge,
            )
        if not hmac.compare_digest(token.strip().encode(), key):
            raise APIError(401, "Incorrect API key provided.", code="invalid_api_key", headers=challenge)

    def lookup(model_id: str) -> _Served:
        try:
            return served[model_id]
        except KeyError:
            raise APIError(
                404,
                f"The model `{model_id}` does not exist on this server; served: {', '.join(sorted(served))}.",
                param="model",
                code="model_not_found",
            ) from None

    app = FastAPI(
        title="specprompt",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    _install_error_handlers(app)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "models": sorted(served)}

    @app.get("/v1/models")
    async def list_models(request: Request) -> dict[str, Any]:
        check_auth(request)
        return {"object": "list", "data": [model_card(s.id, s.created) for s in served.values()]}

    @app.get("/v1/models/{model_id:path}")
    async def get_model(request: Request, model_id: str) -> dict[str, Any]:
        check_auth(request)
        s = lookup(model_id)
        return model_card(s.id, s.created)

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Response:
        check_auth(request)
        start = time.perf_counter()
        body: ChatCompletionRequest = parse_chat_request(await _read_body(request, config.max_request_bytes))
        log.debug("chat request parameters: %s", sorted(body.model_fields_set | set(body.model_extra or {})))
        s = lookup(body.model)
        engine_req, n_images = await in_thread(engine_request, body, s.id, config)
        try:
            response = await in_thread(_call, s, engine_req)
        except Exception as exc:
            raise _engine_error(exc, s.id) from None
        try:
            completion = to_completion(response, s.id, engine_req.config)
        except Exception as exc:
            raise _engine_error(exc, s.id) from None
        log.info(
            "chat model=%s images=%d image_tokens=%s prompt_tokens=%d stream=%s %.0f ms",
            s.id,
            n_images,
            image_tokens_of(response),
            completion["usage"]["prompt_tokens"],
            bool(body.stream),
            1000 * (time.perf_counter() - start),
        )
        if body.stream:
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            events = _sse(completion_chunks(completion, include_usage=include_usage))
            return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
        return JSONResponse(completion)

    return app
