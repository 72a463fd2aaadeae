"""``specprompt serve``: run the OpenAI-compatible server from the command line."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from dataclasses import fields
from typing import Any

from specprompt.cli._args import DeprecatedAlias, positive_float, positive_int
from specprompt.errors import ConfigError
from specprompt.serve import DEFAULT_MODEL, ServeConfig

__all__ = ["API_KEY_ENV", "add_parser", "check_bind", "config_from_args", "run"]

#: Environment variable read for the API key when ``--api-key`` is not given.
API_KEY_ENV = "SPECPROMPT_API_KEY"

_HELP = {f.name: f.metadata.get("help", "") for f in fields(ServeConfig)}
_DEFAULTS = ServeConfig()


def _port(text: str) -> int:
    """``argparse`` type of ``--port``: an int from 0 (any free port) to 65535."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 0 to 65535, got {text!r}")
    return value


def _non_empty(text: str) -> str:
    """``argparse`` type of ``--host`` and ``--api-key``: a string that is not blank."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a non-empty value")
    return text


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Registers ``serve`` on the ``specprompt`` sub-command parsers."""
    p: argparse.ArgumentParser = sub.add_parser(
        "serve",
        help="run an OpenAI-compatible server for specprompt's local models",
        description="Serve specprompt's local models over an OpenAI-compatible HTTP API "
        "(/v1/models, /v1/chat/completions, /health).",
    )
    p.add_argument("--host", type=_non_empty, default=_DEFAULTS.host, help=_HELP["host"] + " (default: %(default)s)")
    p.add_argument("--port", type=_port, default=_DEFAULTS.port, help=_HELP["port"] + " (default: %(default)s)")
    p.add_argument(
        "--model",
        action="append",
        dest="models",
        metavar="NAME",
        help=f"model to serve; repeat to serve several (default: {DEFAULT_MODEL}; see --list-models)",
    )
    p.add_argument("--list-models", action="store_true", help="print the servable models and exit")
    p.add_argument(
        "--checkpoint",
        default=None,
        metavar="DIR",
        help="checkpoint of specprompt/local: a directory or a shipped name such as band-vlm-v2 (default: band-vlm-v1)",
    )
    p.add_argument(
        "--adapter", default=None, metavar="DIR", help="FourierFT adapter for specprompt/local (specprompt finetune)"
    )
    p.add_argument(
        "--api-key",
        type=_non_empty,
        default=None,
        help=f"{_HELP['api_key']} (default: ${API_KEY_ENV}; prefer the variable, arguments are visible to other users)",
    )
    p.add_argument("--allow-remote-images", action="store_true", help=_HELP["allow_remote_images"])
    for flag, name, kind in (
        ("--max-request-bytes", "max_request_bytes", positive_int),
        ("--max-image-pixels", "max_image_pixels", positive_int),
        ("--max-request-pixels", "max_request_pixels", positive_int),
        ("--max-images", "max_images", positive_int),
        ("--remote-timeout", "remote_timeout_s", positive_float),
        ("--remote-max-bytes", "remote_max_bytes", positive_int),
        ("--threads", "workers", positive_int),
    ):
        p.add_argument(
            flag,
            dest=name,
            type=kind,
            default=getattr(_DEFAULTS, name),
            metavar="N" if kind is positive_int else "X",
            help=_HELP[name] + " (default: %(default)s)",
        )
    p.add_argument(
        "--workers", dest="workers", type=positive_int, action=DeprecatedAlias, new="--threads", help=argparse.SUPPRESS
    )
    p.add_argument("--no-access-log", action="store_true", help="do not log one line per HTTP request")
    p.set_defaults(run=run)
    return p


def config_from_args(args: argparse.Namespace) -> ServeConfig:
    """The :class:`ServeConfig` of parsed arguments (the API key falls back to ``$SPECPROMPT_API_KEY``).

    Raises:
        ConfigError: an option is out of range, or a non-loopback host has no API key.
    """
    key = args.api_key if args.api_key is not None else os.environ.get(API_KEY_ENV) or None
    return ServeConfig(
        host=args.host,
        port=args.port,
        api_key=key,
        allow_remote_images=args.allow_remote_images,
        max_request_bytes=args.max_request_bytes,
        max_image_pixels=args.max_image_pixels,
        max_request_pixels=args.max_request_pixels,
        max_images=args.max_images,
        remote_timeout_s=args.remote_timeout_s,
        remote_max_bytes=args.remote_max_bytes,
        workers=args.workers,
    )


def check_bind(host: str, port: int) -> None:
    """Raises :class:`ConfigError` naming ``--host`` or ``--port`` unless the server could listen there.

    The check binds a socket to the address and closes it at once (``SO_REUSEADDR``, as the
    server's own socket), so another process could still take the port in between; it turns the
    common mistakes (a name that does not resolve, a port in use) into one error line.
    """
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(f"--host {host!r} does not resolve to an address to listen on: {reason}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on --host {host!r} --port {port}: {exc.strerror or exc} (another server on that "
                "port? pass another --port)"
            ) from None


def run(args: argparse.Namespace) -> int:
    """Runs ``specprompt serve``; returns the exit code."""
    from specprompt.serve import get_servable_model, servable_models, serve

    if args.list_models:
        for name in servable_models():
            model = get_servable_model(name)
            sys.stdout.write(f"{name}\t{model.description}\n")
        return 0
    config = config_from_args(args)
    models = args.models or [DEFAULT_MODEL]
    for name in models:
        get_servable_model(name)  # UnknownNameError lists the servable models, before anything loads
    if args.checkpoint is not None or args.adapter is not None:
        from specprompt.serve import LOCAL_MODEL, local_servable, register_servable_model

        if LOCAL_MODEL not in models:
            raise ConfigError(f"--checkpoint and --adapter configure {LOCAL_MODEL}; add --model {LOCAL_MODEL}")
        register_servable_model(local_servable(args.checkpoint, args.adapter), replace=True)
    check_bind(config.host, config.port)  # before the models load: uvicorn would exit 3 with its own words
    verbose = getattr(args, "verbose", 0)
    logging.captureWarnings(True)
    if verbose:
        logging.getLogger("specprompt").setLevel(logging.INFO if verbose == 1 else logging.DEBUG)
    try:
        serve(config, models, log_level="debug" if verbose >= 2 else "info", access_log=not args.no_access_log)
    except ImportError as exc:
        sys.stderr.write(f"specprompt serve: error: {exc}\n")
        return 2
    return 0
