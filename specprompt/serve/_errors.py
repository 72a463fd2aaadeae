"""Errors the server answers with, in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["APIError", "error_body"]

_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    500: "server_error",
    503: "server_error",
}


def error_body(message: str, *, type: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    """The JSON body of an OpenAI error.

    Example:
        >>> error_body("no", type="invalid_request_error", code="x")
        {'error': {'message': 'no', 'type': 'invalid_request_error', 'param': None, 'code': 'x'}}
    """
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


class APIError(Exception):
    """An error answered to the client with ``status`` and an OpenAI error body.

    Args:
        status: the HTTP status code.
        message: what went wrong, for the client (never a traceback).
        param: the request field at fault, as a path (``"messages[2].content[1].image_url"``).
        code: a short machine-readable code (``"invalid_api_key"``, ``"model_not_found"``).
        type: OpenAI's error type; by default ``invalid_request_error`` for 4xx, ``server_error`` for 5xx.
        headers: extra response headers (``WWW-Authenticate``, ``Allow``).

    Example:
        >>> err = APIError(404, "The model `x` does not exist", param="model", code="model_not_found")
        >>> err.status, err.body()["error"]["type"]
        (404, 'invalid_request_error')
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        type: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.type = type or _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        """The JSON body sent to the client."""
        return error_body(self.message, type=self.type, param=self.param, code=self.code)
