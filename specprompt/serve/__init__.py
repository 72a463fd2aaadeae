"""``specprompt serve``: an OpenAI-compatible HTTP server for DSPy engines (specprompt's local scorers).

Any DSPy engine (``complete(request) -> Response``) can be served; the CLI serves the models in a
small registry (:func:`servable_models`, :func:`register_servable_model`). Clients call it like
OpenAI::

    openai.OpenAI(base_url="http://127.0.0.1:8000/v1", api_key=KEY)
    dspy.LM("openai/specprompt/local", api_base="http://127.0.0.1:8000/v1", api_key=KEY)

``specprompt serve`` serves the local band VLM (``specprompt/local``) unless ``--model`` names
others (``specprompt/nearest-v1``: the offline nearest-demo scorer).

FastAPI and uvicorn are optional: ``pip install 'specprompt[serve]'``.
"""

from specprompt.serve._config import (
    DEFAULT_MAX_IMAGE_PIXELS,
    DEFAULT_MAX_REQUEST_BYTES,
    DEFAULT_MAX_REQUEST_PIXELS,
    ServeConfig,
    is_loopback,
)
from specprompt.serve._errors import APIError
from specprompt.serve._models import (
    DEFAULT_MODEL,
    LOCAL_MODEL,
    NEAREST_MODEL,
    Engine,
    ServableModel,
    get_servable_model,
    local_servable,
    register_servable_model,
    servable_models,
)
from specprompt.serve._server import create_app, require_serve_deps, serve

__all__ = [
    "APIError",
    "DEFAULT_MAX_IMAGE_PIXELS",
    "DEFAULT_MAX_REQUEST_BYTES",
    "DEFAULT_MAX_REQUEST_PIXELS",
    "DEFAULT_MODEL",
    "Engine",
    "LOCAL_MODEL",
    "NEAREST_MODEL",
    "ServableModel",
    "ServeConfig",
    "create_app",
    "get_servable_model",
    "is_loopback",
    "local_servable",
    "register_servable_model",
    "require_serve_deps",
    "servable_models",
    "serve",
]
