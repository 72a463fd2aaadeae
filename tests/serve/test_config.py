"""ServeConfig, the servable-model registry, the CLI options and the optional-dependency check."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest

from specprompt.cli._main import build_parser
from specprompt.cli._serve import config_from_args
from specprompt.errors import ConfigError, DuplicateNameError, UnknownNameError
from specprompt.serve import (
    DEFAULT_MODEL,
    APIError,
    ServableModel,
    ServeConfig,
    _models,
    get_servable_model,
    is_loopback,
    register_servable_model,
    require_serve_deps,
    servable_models,
    serve,
)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"host": ""}, "host must be a non-empty string"),
        ({"port": 70000}, "port must be an int in 0..65535"),
        ({"port": True}, "port must be an int"),
        ({"api_key": "  "}, "api_key must be a non-empty string"),
        ({"allow_remote_images": "yes"}, "allow_remote_images must be a bool"),
        ({"max_request_bytes": 0}, "max_request_bytes must be a positive int"),
        ({"max_image_pixels": 1.5}, "max_image_pixels must be a positive int"),
        ({"max_images": -1}, "max_images must be a positive int"),
        ({"workers": 0}, "workers must be a positive int"),
        ({"remote_timeout_s": float("inf")}, "remote_timeout_s must be a finite number"),
        ({"remote_timeout_s": 0}, "remote_timeout_s must be a finite number"),
        ({"host": "0.0.0.0"}, "refusing to listen on '0.0.0.0' without an API key"),
        ({"host": "192.168.1.5"}, "without an API key"),
        ({"host": "example.org"}, "without an API key"),
    ],
)
def test_config_rejects_bad_values(kwargs: dict[str, Any], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        ServeConfig(**kwargs)


def test_config_defaults_keys_and_round_trip() -> None:
    cfg = ServeConfig()
    assert (cfg.host, cfg.api_key, cfg.allow_remote_images) == ("127.0.0.1", None, False)
    public = ServeConfig(host="0.0.0.0", api_key="s3cret", port=9000)
    assert "s3cret" not in repr(public)
    assert "api_key" not in public.to_dict()
    assert ServeConfig.from_dict(public.to_dict(secrets=True)) == public
    with pytest.raises(ConfigError, match=r"unknown ServeConfig option\(s\) \['bogus'\]"):
        ServeConfig.from_dict({"bogus": 1})


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("LOCALHOST", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.1", False),
        ("my-host", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.fixture
def clean_models() -> Iterator[None]:
    saved = dict(_models._MODELS._entries)
    yield
    _models._MODELS._entries.clear()
    _models._MODELS._entries.update(saved)


def test_registry(clean_models: None, kit: Any) -> None:
    assert DEFAULT_MODEL in servable_models()
    assert callable(get_servable_model(DEFAULT_MODEL).build().complete)
    entry = register_servable_model(ServableModel("local-abc123", kit.RecordingEngine, description="test"))
    assert get_servable_model("local-abc123") is entry and "local-abc123" in servable_models()
    with pytest.raises(DuplicateNameError, match="already registered"):
        register_servable_model(ServableModel("local-abc123", kit.RecordingEngine))
    register_servable_model(ServableModel("local-abc123", kit.RecordingEngine, thread_safe=True), replace=True)
    assert get_servable_model("local-abc123").thread_safe
    with pytest.raises(UnknownNameError, match=f"known: .*{DEFAULT_MODEL}"):
        get_servable_model("nope")
    with pytest.raises(ConfigError, match="lowercase"):
        register_servable_model(ServableModel("Bad Name", kit.RecordingEngine))
    with pytest.raises(ConfigError, match="takes a ServableModel"):
        register_servable_model("local-x")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="must be callable"):
        ServableModel("x", "not callable")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="thread_safe must be a bool"):
        ServableModel("x", kit.RecordingEngine, thread_safe="yes")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="returned object, which has no complete"):
        ServableModel("x", object).build()


def _args(*argv: str) -> Any:
    return build_parser().parse_args(["serve", *argv])


def test_cli_options_make_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPECPROMPT_API_KEY", raising=False)
    args = _args("--port", "9001", "--allow-remote-images", "--max-request-bytes", "5000", "--remote-timeout", "2.5")
    cfg = config_from_args(args)
    assert (cfg.port, cfg.allow_remote_images, cfg.max_request_bytes, cfg.remote_timeout_s) == (9001, True, 5000, 2.5)
    assert cfg.api_key is None and args.models is None
    monkeypatch.setenv("SPECPROMPT_API_KEY", "from-env")
    assert config_from_args(_args("--host", "0.0.0.0")).api_key == "from-env"
    assert config_from_args(_args("--api-key", "from-flag")).api_key == "from-flag"
    monkeypatch.setenv("SPECPROMPT_API_KEY", "")
    with pytest.raises(ConfigError, match="without an API key"):
        config_from_args(_args("--host", "0.0.0.0"))
    assert _args("--model", "a", "--model", "b").models == ["a", "b"]


def test_serve_checks_its_models_before_loading_anything() -> None:
    with pytest.raises(ConfigError, match="at least one model"):
        serve(ServeConfig(), [])
    with pytest.raises(ConfigError, match="named twice"):
        serve(ServeConfig(), [DEFAULT_MODEL, DEFAULT_MODEL])
    with pytest.raises(UnknownNameError, match="unknown servable model 'nope'"):
        serve(ServeConfig(), ["nope"])


@pytest.mark.parametrize("missing", ["fastapi", "uvicorn"])
def test_missing_server_dependencies_say_what_to_install(monkeypatch: pytest.MonkeyPatch, missing: str) -> None:
    monkeypatch.setitem(sys.modules, missing, None)  # makes `import <missing>` raise ImportError
    with pytest.raises(ImportError, match=rf"needs {missing}.*pip install 'specprompt\[serve\]'"):
        require_serve_deps()


def test_api_error_types() -> None:
    assert APIError(400, "x").type == "invalid_request_error"
    assert APIError(503, "x").type == "server_error"
    assert APIError(429, "x", type="rate_limit_error").body()["error"]["type"] == "rate_limit_error"
