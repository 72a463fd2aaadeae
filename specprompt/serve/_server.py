"""Public entry points: :func:`create_app` (an ASGI app) and :func:`serve` (run it with uvicorn).

FastAPI and uvicorn are optional (``pip install 'specprompt[serve]'``) and imported only here.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING

from specprompt.errors import ConfigError, MissingDependencyError
from specprompt.serve._config import ServeConfig
from specprompt.serve._models import DEFAULT_MODEL, Engine, get_servable_model

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["create_app", "require_serve_deps", "serve"]

log = logging.getLogger("specprompt.serve")

_INSTALL = "pip install 'specprompt[serve]'"


def require_serve_deps() -> None:
    """Imports FastAPI and uvicorn, or raises an ImportError that says how to install them.

    Raises:
        ImportError: one of them is missing; the message names it and the install command.
    """
    for name in ("fastapi", "uvicorn"):
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise MissingDependencyError(f"specprompt serve needs {name}, which is not installed: {_INSTALL}") from exc


def create_app(
    engines: Mapping[str, Engine],
    config: ServeConfig | None = None,
    *,
    thread_safe: Collection[str] = (),
) -> FastAPI:
    """An OpenAI-compatible ASGI app answering chat completions with DSPy engines.

    Args:
        engines: model id -> engine; an engine has DSPy's ``complete(request) -> Response``
            (``dspy/clients/engines/base.py``). Clients pick one with ``"model": <id>``.
        config: limits and the API key (default :class:`ServeConfig`); ``host`` and ``port``
            matter only to :func:`serve`.
        thread_safe: ids of models whose engines may answer several requests at once; the
            others answer one request at a time (a lock per engine).

    Returns:
        a FastAPI app with ``GET /health``, ``GET /v1/models``, ``GET /v1/models/{id}`` and
        ``POST /v1/chat/completions``. The caller keeps ownership of the engines.

    Raises:
        ImportError: FastAPI is not installed (``pip install 'specprompt[serve]'``).
        ConfigError: no engines, an object without ``complete``, or ``thread_safe`` naming an
            unknown model.

    Example:
        >>> from specprompt.scorers import NearestBandEngine
        >>> app = create_app({"specprompt/nearest-v1": NearestBandEngine()})
        >>> sorted(r.path for r in app.routes)
        ['/health', '/v1/chat/completions', '/v1/models', '/v1/models/{model_id:path}']
    """
    require_serve_deps()
    from specprompt.serve._app import build_app

    return build_app(engines, config or ServeConfig(), thread_safe)


def serve(
    config: ServeConfig | None = None,
    models: Sequence[str] = (DEFAULT_MODEL,),
    *,
    log_level: str = "info",
    access_log: bool = True,
) -> None:
    """Builds the engines of ``models`` (names of :func:`~specprompt.serve.servable_models`) and
    serves them with uvicorn until interrupted; the engines are closed afterwards.

    Raises:
        ImportError: FastAPI or uvicorn is not installed.
        UnknownNameError: a model is not servable; the message lists the servable ones.
        ConfigError: no models, or the same model twice.
    """
    cfg = config or ServeConfig()
    names = list(models)
    if not names:
        raise ConfigError("serve needs at least one model")
    if len(set(names)) != len(names):
        raise ConfigError(f"a model is named twice in {names}")
    entries = [get_servable_model(name) for name in names]
    require_serve_deps()
    import uvicorn

    engines: dict[str, Engine] = {}
    try:
        for entry in entries:
            log.info("loading model %s", entry.name)
            engines[entry.name] = entry.build()
        app = create_app(engines, cfg, thread_safe=[e.name for e in entries if e.thread_safe])
        if cfg.api_key is None:
            log.warning("no API key set: any program on this machine can call the server")
        uvicorn.run(
            app,
            host=cfg.host,
            port=cfg.port,
            log_level=log_level,
            access_log=access_log,
            server_header=False,
            timeout_graceful_shutdown=5,
        )
    finally:
        for engine in engines.values():
            close = getattr(engine, "close", None)
            if callable(close):
                close()
