"""The app with a recording test engine, in-process under uvicorn: conversion, limits and every error path."""

from __future__ import annotations

import base64
import io
import json
import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from specprompt.errors import ConfigError, ImageInputError
from specprompt.serve import ServeConfig, create_app

M = "test/recording"


def _error(resp: httpx.Response, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert "Traceback" not in err["message"]
    return dict(err)


def _user(*content: Any) -> dict[str, Any]:
    return {"role": "user", "content": list(content)}


def _text(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


@pytest.fixture
def engine(kit: Any) -> Any:
    return kit.RecordingEngine()


@pytest.fixture
def server(app_server: Any, engine: Any) -> Any:
    return app_server({M: engine})


def _chat(server: Any, messages: list[Any], **params: Any) -> httpx.Response:
    return server.post({"model": M, "messages": messages, **params})


# -- conversion -----------------------------------------------------------------------------------


def test_messages_reach_the_engine_as_dspy_parts(server: Any, engine: Any, kit: Any) -> None:
    jpeg = kit.stripes("h", 1, fmt="JPEG").replace("image/jpeg", "image/jpg")
    messages = [
        {"role": "system", "content": "be brief"},
        _user(_text("look:"), kit.image_part(kit.stripes("v", 1), "low"), {"type": "image_url", "image_url": jpeg}),
        {"role": "assistant", "content": [{"type": "text", "text": "vertical"}], "name": "bot"},
        {"role": "system", "content": [_text("later instruction")]},
        {"role": "user", "content": "and this?", "name": "someone"},
        _user(kit.image_part(kit.stripes("d", 1, fmt="WEBP"), "high"), _text("q")),
    ]
    resp = _chat(server, messages)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["choices"][0]["message"]["content"] == "3 images: q"
    assert body["usage"] == {
        "prompt_tokens": 31,
        "completion_tokens": 3,
        "total_tokens": 34,
        "prompt_tokens_details": {"cached_tokens": 0, "image_tokens": 21},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }
    req = engine.requests[0]
    assert req.system == "be brief" and req.model == M
    assert [m.role for m in req.messages] == ["user", "assistant", "developer", "user", "user"]
    images = [p for m in req.messages for p in m.parts if p.type == "image"]
    assert [(p.media_type, p.detail) for p in images] == [
        ("image/png", "low"),
        ("image/jpeg", None),
        ("image/webp", "high"),
    ]
    assert images[0].bytes == base64.b64decode(kit.stripes("v", 1).split(",", 1)[1])


def test_sampling_parameters_and_response_format_are_passed_on(server: Any, engine: Any) -> None:
    schema = {"type": "object", "properties": {"label": {"type": "string"}}}
    fmt = {"type": "json_schema", "json_schema": {"name": "out", "schema": schema, "strict": True}}
    resp = _chat(
        server,
        [_user(_text("hi"))],
        temperature=0.5,
        top_p=0.9,
        max_completion_tokens=20,
        stop="END",
        seed=3,
        response_format=fmt,
        user="u1",
        some_unknown_parameter=1,
    )
    assert resp.status_code == 200, resp.text
    cfg = engine.requests[0].config
    assert (cfg.temperature, cfg.top_p, cfg.max_tokens, cfg.stop, cfg.seed) == (0.5, 0.9, 20, ("END",), 3)
    assert cfg.response_format == {"type": "json_schema", "schema": schema, "name": "out", "strict": True}
    for fmt_in, expected in (({"type": "json_object"}, {"type": "json_object"}), ({"type": "text"}, None)):
        assert _chat(server, [_user(_text("hi"))], response_format=fmt_in, max_tokens=5).status_code == 200
        assert engine.requests[-1].config.response_format == expected
        assert engine.requests[-1].config.max_tokens == 5


def test_stop_and_max_tokens_end_the_answer_as_openai_does(server: Any) -> None:
    # the recording engine answers "0 images: <last user text>"
    full = _chat(server, [_user(_text("red label END more"))]).json()["choices"][0]
    assert (full["message"]["content"], full["finish_reason"]) == ("0 images: red label END more", "stop")
    stopped = _chat(server, [_user(_text("red label END more"))], stop=["END", "label"]).json()
    assert stopped["choices"][0]["message"]["content"] == "0 images: red "
    assert stopped["choices"][0]["finish_reason"] == "stop"
    capped = _chat(server, [_user(_text("red label END more"))], max_tokens=2).json()
    assert capped["choices"][0]["message"]["content"] == "0 images"  # 2 tokens of 4 characters
    assert capped["choices"][0]["finish_reason"] == "length" and capped["usage"]["completion_tokens"] == 2
    usage = capped["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_streaming_is_server_sent_events_ending_in_done(server: Any) -> None:
    with httpx.stream(
        "POST",
        server.base_url + "/chat/completions",
        json={"model": M, "messages": [_user(_text("hi"))], "stream": True},
        timeout=10,
    ) as resp:
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in resp.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]
    assert [c["object"] for c in chunks] == ["chat.completion.chunk"] * 2  # no usage chunk unless asked
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "0 images: hi"}
    assert chunks[1]["choices"][0]["finish_reason"] == "stop" and len({c["id"] for c in chunks}) == 1


# -- request errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "param", "needle"),
    [
        (b"[1, 2]", None, "must be a JSON object"),
        (b"[" * 100_000, None, "nested too deeply"),
        (b'{"model": "\xff"}', None, "not valid UTF-8"),
        (b'{"messages": [{"role": "user", "content": "x"}]}', "model", "Missing required parameter: 'model'"),
        (b'{"model": "test/recording", "messages": []}', "messages", "Invalid value for 'messages'"),
        (b'{"model": "test/recording", "messages": "hi"}', "messages", "Invalid value for 'messages'"),
        (
            b'{"model": "test/recording", "messages": [{"role": "user", "content": "x"}], "temperature": 3}',
            "temperature",
            "less than or equal to 2",
        ),
        (
            b'{"model": "test/recording", "messages": [{"role": "user", "content": "x"}], "temperature": NaN}',
            "temperature",
            "Input should be a finite number",
        ),
        (
            b'{"model": "test/recording", "messages": [{"role": "user", "content": "x"}], "top_p": -Infinity}',
            "top_p",
            "Input should be a finite number",
        ),
        (
            b'{"model": "test/recording", "messages": [{"role": "user", "content": "x"}], "stream_options": 1}',
            "stream_options",
            "Invalid value",
        ),
    ],
)
def test_bad_bodies_get_400(server: Any, body: bytes, param: str | None, needle: str) -> None:
    err = _error(server.post(content=body), 400)
    assert err["param"] == param and needle in err["message"] and err["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    ("messages", "params", "param", "needle"),
    [
        (["hi"], {}, "messages[0]", "must be an object"),
        ([{"role": "tool", "content": "x", "tool_call_id": "1"}], {}, "messages[0].role", "tools and function"),
        ([{"role": "robot", "content": "x"}], {}, "messages[0].role", "allowed: system, developer, user, assistant"),
        ([{"role": "user"}], {}, "messages[0].content", "Missing required parameter"),
        ([{"role": "user", "content": 5}], {}, "messages[0].content", "string or a list"),
        ([{"role": "user", "content": []}], {}, "messages[0].content", "empty list"),
        ([_user("text")], {}, "messages[0].content[0]", "must be an object"),
        ([_user({"type": "text", "text": 1})], {}, "messages[0].content[0].text", "must be a string"),
        ([_user({"type": "input_audio"})], {}, "messages[0].content[0].type", "allowed: text, image_url"),
        (
            [{"role": "assistant", "content": [{"type": "image_url", "image_url": "x"}]}],
            {},
            "messages[0].content[0]",
            "cannot hold images",
        ),
        (
            [{"role": "assistant", "content": None, "tool_calls": [{"id": "1"}]}],
            {},
            "messages[0].tool_calls",
            "tools are not supported",
        ),
        ([{"role": "system", "content": "only me"}], {}, "messages", "add a user message"),
        ([_user(_text("x"))], {"n": 2}, "n", "n=1"),
        ([_user(_text("x"))], {"n": 10**40}, "n", "'n': 10000000000000000...."),
        ([_user(_text("x"))], {"max_tokens": "5"}, "max_tokens", "a valid integer"),
        ([_user(_text("x"))], {"max_tokens": 5.0}, "max_tokens", "a valid integer"),
        ([_user(_text("x"))], {"temperature": True}, "temperature", "a valid number"),
        ([_user(_text("x"))], {"stream": "yes"}, "stream", "a valid boolean"),
        ([_user(_text("x"))], {"seed": 2**63}, "seed", "less than or equal to 9223372036854775807"),
        ([_user(_text("x"))], {"tools": [{"type": "function"}]}, "tools", "not supported"),
        ([_user(_text("x"))], {"logprobs": True}, "logprobs", "not supported"),
        ([_user(_text("x"))], {"max_tokens": 5, "max_completion_tokens": 6}, "max_tokens", "disagree"),
        ([_user(_text("x"))], {"response_format": {"type": "yaml"}}, "response_format.type", "json_schema"),
        ([_user(_text("x"))], {"response_format": {"type": "json_schema"}}, "response_format.json_schema", "schema"),
    ],
)
def test_bad_messages_and_parameters_get_400_naming_the_field(
    server: Any, engine: Any, messages: list[Any], params: dict[str, Any], param: str, needle: str
) -> None:
    err = _error(_chat(server, messages, **params), 400)
    assert err["param"] == param and needle in err["message"]
    assert not engine.requests


def _png_bytes(width: int, height: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), (10, 20, 30)).save(buf, format="PNG")
    return buf.getvalue()


def _gif_uri() -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("P", (4, 4)).save(buf, format="GIF")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


@pytest.mark.parametrize(
    ("url", "code", "needle"),
    [
        ("data:image/png,notbase64", "invalid_image_url", "only base64 data URIs"),
        ("data:image/png;base64", "invalid_image_url", "needs a comma"),
        ("data:image/gif;base64,R0lGOD", "invalid_image_url", "allowed: image/png, image/jpeg, image/webp"),
        ("data:image/png;base64,abc!", "invalid_image_url", "invalid base64"),
        ("data:image/png;base64,", "invalid_image_url", "carries no data"),
        ("file:///etc/passwd", "invalid_image_url", "unsupported URL scheme 'file'"),
        ("http://127.0.0.1:1/x.png", "remote_images_disabled", "not fetched by this server"),
        ("", "invalid_image_url", "non-empty string"),
        ("__gif__", "invalid_image_format", "not a PNG, JPEG or WebP"),
        ("__truncated__", "invalid_image", "cannot be decoded"),
    ],
)
def test_bad_images_get_400_naming_the_part(server: Any, engine: Any, url: str, code: str, needle: str) -> None:
    if url == "__gif__":
        url = _gif_uri()
    elif url == "__truncated__":
        url = "data:image/png;base64," + base64.b64encode(_png_bytes(64, 64)[:60]).decode()
    messages = [
        _user(_text("a")),
        {"role": "assistant", "content": "b"},
        _user(_text("q"), {"type": "image_url", "image_url": {"url": url}}),
    ]
    err = _error(_chat(server, messages), 400)
    assert err["param"] == "messages[2].content[1].image_url"
    assert err["code"] == code and needle in err["message"]
    assert not engine.requests


def test_bad_detail_gets_400(server: Any, kit: Any) -> None:
    err = _error(_chat(server, [_user(kit.image_part(kit.stripes("h", 1), "ultra"))]), 400)
    assert err["param"] == "messages[0].content[0].image_url.detail" and "allowed: auto, low, high" in err["message"]


def test_pixel_and_image_count_limits(app_server: Any, kit: Any) -> None:
    server = app_server({M: kit.RecordingEngine()}, ServeConfig(max_image_pixels=100 * 100, max_images=2))
    big = "data:image/png;base64," + base64.b64encode(_png_bytes(101, 100)).decode()
    err = _error(_chat(server, [_user({"type": "image_url", "image_url": big})]), 400)
    assert (
        err["code"] == "image_too_large" and "101x100 = 10,100 pixels" in err["message"] and "10,000" in err["message"]
    )
    ok = "data:image/png;base64," + base64.b64encode(_png_bytes(100, 100)).decode()
    assert _chat(server, [_user({"type": "image_url", "image_url": ok})] * 2).status_code == 200
    err = _error(_chat(server, [_user({"type": "image_url", "image_url": ok})] * 3), 400)
    assert err["code"] == "too_many_images" and err["param"] == "messages[2].content[0]"


def test_total_pixel_limit_per_request(app_server: Any, kit: Any) -> None:
    engine = kit.RecordingEngine()
    cfg = ServeConfig(max_image_pixels=100 * 100, max_request_pixels=25_000)
    server = app_server({M: engine}, cfg)
    ok = "data:image/png;base64," + base64.b64encode(_png_bytes(100, 100)).decode()
    assert _chat(server, [_user({"type": "image_url", "image_url": ok})] * 2).status_code == 200
    err = _error(_chat(server, [_user({"type": "image_url", "image_url": ok})] * 3), 400)
    assert err["code"] == "request_too_large" and err["param"] == "messages[2].content[0].image_url"
    assert "more than the server's limit of 25,000 pixels per request" in err["message"]
    assert len(engine.requests) == 1  # the refused request never reached the engine


def test_request_body_limit(app_server: Any, kit: Any) -> None:
    server = app_server({M: kit.RecordingEngine()}, ServeConfig(max_request_bytes=1000))
    assert _chat(server, [_user(_text("x" * 100))]).status_code == 200
    err = _error(_chat(server, [_user(_text("x" * 1000))]), 413)
    assert "1,000 bytes" in err["message"]


# -- remote images --------------------------------------------------------------------------------


@pytest.fixture
def image_host() -> Iterator[str]:
    """A loopback HTTP server: /ok.png, /big.png (300 KB, no Content-Length), /sized.png (with it),
    /slow.png (sleeps 2 s), /text, others 404."""
    png = _png_bytes(8, 8)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            big = png + b"\0" * 300_000
            routes = {"/ok.png": png, "/big.png": big, "/sized.png": big, "/text": b"hello", "/slow.png": png}
            if self.path not in routes:
                self.send_error(404)
                return
            if self.path == "/slow.png":
                time.sleep(2)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            if self.path == "/sized.png":
                self.send_header("Content-Length", str(len(routes[self.path])))
            self.end_headers()
            self.wfile.write(routes[self.path])

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def test_remote_images_when_allowed(app_server: Any, kit: Any, image_host: str) -> None:
    engine = kit.RecordingEngine()
    cfg = ServeConfig(allow_remote_images=True, remote_max_bytes=100_000, remote_timeout_s=0.5)
    server = app_server({M: engine}, cfg)
    resp = _chat(server, [_user({"type": "image_url", "image_url": {"url": image_host + "/ok.png"}})])
    assert resp.status_code == 200 and resp.json()["choices"][0]["message"]["content"] == "1 images: "
    assert engine.requests[0].messages[0].parts[0].bytes == _png_bytes(8, 8)
    for path, needle in (
        ("/big.png", "more than the limit of 100,000 bytes"),
        ("/sized.png", "is 300,077 bytes, more than the limit of 100,000"),
        ("/missing.png", "HTTP 404"),
        ("/text", "not a PNG, JPEG or WebP"),
        ("/slow.png", "could not fetch the image URL (ReadTimeout"),
    ):
        err = _error(_chat(server, [_user({"type": "image_url", "image_url": image_host + path})]), 400)
        assert err["param"] == "messages[0].content[0].image_url" and needle in err["message"], path


# -- engines --------------------------------------------------------------------------------------


def test_engine_errors(app_server: Any, kit: Any) -> None:
    from dspy.lm15 import ContextLengthError

    blamed = kit.RecordingEngine(fail=ImageInputError("<query>", "the final user message has no image part"))
    broken = kit.RecordingEngine(fail=RuntimeError("secret internal detail"))
    too_long = kit.RecordingEngine(fail=ContextLengthError("prompt too long"))
    server = app_server({"blamed": blamed, "broken": broken, "long": too_long})
    msgs = [_user(_text("x"))]
    err = _error(server.post({"model": "blamed", "messages": msgs}), 400)
    assert "no image part" in err["message"] and err["code"] == "invalid_request"
    err = _error(server.post({"model": "broken", "messages": msgs}), 500)
    assert err["type"] == "server_error" and "secret" not in err["message"] and "'broken' failed" in err["message"]
    assert _error(server.post({"model": "long", "messages": msgs}), 400)["code"] == "context_length_exceeded"


def test_an_engine_returning_garbage_is_a_500(app_server: Any) -> None:
    class Garbage:
        def complete(self, request: Any) -> Any:
            return "not a response"

    server = app_server({"g": Garbage()})
    err = _error(server.post({"model": "g", "messages": [_user(_text("x"))]}), 500)
    assert err["type"] == "server_error"


@pytest.mark.parametrize("thread_safe", [False, True])
def test_engines_run_one_at_a_time_unless_thread_safe(app_server: Any, kit: Any, thread_safe: bool) -> None:
    engine = kit.RecordingEngine(delay=0.3)
    server = app_server({M: engine}, ServeConfig(workers=4), thread_safe=[M] if thread_safe else [])
    with ThreadPoolExecutor(4) as pool:
        codes = list(pool.map(lambda i: _chat(server, [_user(_text(str(i)))]).status_code, range(4)))
    assert codes == [200] * 4
    assert (engine.max_active > 1) if thread_safe else (engine.max_active == 1)


def test_no_key_means_no_auth_and_health_is_always_open(app_server: Any, kit: Any) -> None:
    open_server = app_server({M: kit.RecordingEngine()})
    assert httpx.get(open_server.base_url + "/models", timeout=10).status_code == 200
    keyed = app_server({M: kit.RecordingEngine()}, ServeConfig(api_key="k"))
    assert httpx.get(keyed.root + "/health", timeout=10).json()["status"] == "ok"
    assert _error(httpx.get(keyed.base_url + "/models/" + M, timeout=10), 401)["code"] == "invalid_api_key"
    assert httpx.get(keyed.base_url + "/models/" + M, headers=keyed.headers(), timeout=10).json()["id"] == M
    err = _error(httpx.get(keyed.base_url + "/models/nope", headers=keyed.headers(), timeout=10), 404)
    assert err["code"] == "model_not_found"


def test_create_app_checks_its_engines(kit: Any) -> None:
    with pytest.raises(ConfigError, match="at least one engine"):
        create_app({})
    with pytest.raises(ConfigError, match="without a complete"):
        create_app({"m": object()})
    with pytest.raises(ConfigError, match=r"thread_safe names models that are not served: \['x'\]"):
        create_app({"m": kit.RecordingEngine()}, thread_safe=["x"])
    with pytest.raises(ConfigError, match="non-empty strings"):
        create_app({" m": kit.RecordingEngine()})


def test_assistant_turns_without_content_or_with_a_refusal(server: Any, engine: Any) -> None:
    messages = [
        _user(_text("a")),
        {"role": "assistant", "content": None},
        _user(_text("b")),
        {"role": "assistant", "content": [{"type": "refusal", "refusal": "no"}]},
        {"role": "developer", "content": "mid-conversation"},
        _user(_text("c")),
    ]
    assert _chat(server, messages).status_code == 200
    req = engine.requests[0]
    assert req.system is None
    assert [(m.role, m.parts[0].text) for m in req.messages] == [
        ("user", "a"),
        ("assistant", ""),
        ("user", "b"),
        ("assistant", "no"),
        ("developer", "mid-conversation"),
        ("user", "c"),
    ]


def test_other_routes_get_openai_errors_too(app_server: Any, kit: Any) -> None:
    """FastAPI's 422 becomes a 400 and an unhandled error a 500, both in OpenAI's shape, for any route."""

    def routes(app: Any) -> None:
        @app.get("/v1/probe")
        async def probe(count: int) -> dict[str, int]:
            return {"count": count}

        @app.get("/v1/crash")
        async def crash() -> None:
            raise RuntimeError("secret internal detail")

    server = app_server({M: kit.RecordingEngine()}, routes=routes)
    assert httpx.get(server.base_url + "/probe?count=2", timeout=10).json() == {"count": 2}
    err = _error(httpx.get(server.base_url + "/probe?count=x", timeout=10), 400)
    assert err["param"] == "count" and "valid integer" in err["message"]
    err = _error(httpx.get(server.base_url + "/crash", timeout=10), 500)
    assert err["type"] == "server_error" and "secret" not in err["message"]


def test_a_client_gone_mid_body_leaves_no_traceback(server: Any, engine: Any, caplog: pytest.LogCaptureFixture) -> None:
    import socket
    from urllib.parse import urlsplit

    where = urlsplit(server.root)
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {where.hostname}\r\nContent-Type: application/json\r\n"
        "Content-Length: 5000\r\n\r\n"
    )
    with caplog.at_level(logging.DEBUG, logger="specprompt.serve"):
        with socket.create_connection((where.hostname, where.port)) as sock:
            sock.sendall(head.encode() + b'{"model":')  # 9 of 5000 bytes, then the client is gone
        time.sleep(0.5)
        assert _chat(server, [_user(_text("hi"))]).status_code == 200  # the server goes on
    assert "Exception in ASGI application" not in caplog.text and "ClientDisconnect" not in caplog.text
    assert "client disconnected after 9 bytes of the request body" in caplog.text
    assert engine.requests and len(engine.requests) == 1
