"""Options of ``specprompt serve``: where it binds, who may call it, and how much one request may ask."""

from __future__ import annotations

import ipaddress
import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from specprompt.errors import ConfigError

__all__ = [
    "DEFAULT_MAX_IMAGE_PIXELS",
    "DEFAULT_MAX_REQUEST_BYTES",
    "DEFAULT_MAX_REQUEST_PIXELS",
    "ServeConfig",
    "is_loopback",
]

DEFAULT_MAX_REQUEST_BYTES = 20 * 1024 * 1024
"""Largest accepted request body (20 MiB), checked before the body is parsed."""

DEFAULT_MAX_IMAGE_PIXELS = 4096 * 4096
"""Largest accepted ``width * height`` of one image (16,777,216 pixels), read from its header."""

DEFAULT_MAX_REQUEST_PIXELS = 2 * 4096 * 4096
"""Largest accepted sum of ``width * height`` over the images of one request (33,554,432 pixels:
two images at the per-image limit, or 32 of 1024 x 1024), read from their headers before any
image is decoded."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine.

    ``localhost`` and loopback addresses (``127.0.0.0/8``, ``::1``) are; everything else,
    ``0.0.0.0`` and other host names included, is not.

    Example:
        >>> is_loopback("127.0.0.1"), is_loopback("::1"), is_loopback("0.0.0.0"), is_loopback("example.org")
        (True, True, False, False)
    """
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class ServeConfig:
    """Options of the OpenAI-compatible server (:func:`~specprompt.serve.create_app`).

    Convention:
        - The API key is required whenever ``host`` is not a loopback address; when set, every
          ``/v1`` route needs ``Authorization: Bearer <key>`` (``/health`` stays open).
        - ``to_dict`` leaves the API key out unless ``secrets=True``.

    Example:
        >>> ServeConfig().host, ServeConfig(port=0).port
        ('127.0.0.1', 0)
        >>> ServeConfig(host="0.0.0.0")
        Traceback (most recent call last):
        ...
        specprompt.errors.ConfigError: refusing to listen on '0.0.0.0' without an API key: ...
    """

    host: str = field(
        default="127.0.0.1", metadata={"help": "interface to bind; anything but loopback needs an API key"}
    )
    port: int = field(default=8000, metadata={"help": "TCP port (0 lets the OS pick one)"})
    api_key: str | None = field(
        default=None,
        repr=False,
        metadata={"help": "key clients send as 'Authorization: Bearer <key>'; required off loopback"},
    )
    allow_remote_images: bool = field(
        default=False, metadata={"help": "fetch http(s) image URLs (otherwise only data URIs are accepted)"}
    )
    max_request_bytes: int = field(
        default=DEFAULT_MAX_REQUEST_BYTES, metadata={"help": "largest request body in bytes, checked before parsing"}
    )
    max_image_pixels: int = field(
        default=DEFAULT_MAX_IMAGE_PIXELS, metadata={"help": "largest width * height of one image"}
    )
    max_request_pixels: int = field(
        default=DEFAULT_MAX_REQUEST_PIXELS,
        metadata={"help": "largest sum of width * height over the images of one request"},
    )
    max_images: int = field(default=64, metadata={"help": "most image parts in one request"})
    remote_timeout_s: float = field(default=10.0, metadata={"help": "timeout in seconds of one remote image fetch"})
    remote_max_bytes: int = field(
        default=10 * 1024 * 1024, metadata={"help": "largest remote image in bytes (the download stops there)"}
    )
    workers: int = field(default=4, metadata={"help": "threads that decode images and run engines at once"})

    def __post_init__(self) -> None:
        if not isinstance(self.host, str) or not self.host.strip():
            raise ConfigError(f"host must be a non-empty string such as '127.0.0.1', got {self.host!r}")
        if not _is_int(self.port) or not 0 <= self.port <= 65535:
            raise ConfigError(f"port must be an int in 0..65535, got {self.port!r}")
        if self.api_key is not None and (not isinstance(self.api_key, str) or not self.api_key.strip()):
            raise ConfigError("api_key must be a non-empty string or None")
        if not isinstance(self.allow_remote_images, bool):
            raise ConfigError(f"allow_remote_images must be a bool, got {self.allow_remote_images!r}")
        for name in (
            "max_request_bytes",
            "max_image_pixels",
            "max_request_pixels",
            "max_images",
            "remote_max_bytes",
            "workers",
        ):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise ConfigError(f"{name} must be a positive int, got {value!r}")
        t = self.remote_timeout_s
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or t <= 0:
            raise ConfigError(f"remote_timeout_s must be a finite number of seconds > 0, got {t!r}")
        if self.api_key is None and not is_loopback(self.host):
            raise ConfigError(
                f"refusing to listen on {self.host!r} without an API key: other machines could call the server. "
                "Set SPECPROMPT_API_KEY (or pass --api-key), or bind a loopback address such as 127.0.0.1"
            )

    def to_dict(self, *, secrets: bool = False) -> dict[str, Any]:
        """The options as JSON-ready data; ``api_key`` only with ``secrets=True``."""
        data = asdict(self)
        if not secrets:
            data.pop("api_key")
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ServeConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`ConfigError`.

        Example:
            >>> ServeConfig.from_dict(ServeConfig(port=9).to_dict()) == ServeConfig(port=9)
            True
        """
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"unknown ServeConfig option(s) {unknown}; allowed: {sorted(names)}")
        return cls(**data)
