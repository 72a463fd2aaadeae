"""End to end: ``python -m specprompt serve`` as a real process, called with the official clients."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import dspy
import httpx
import openai
import pytest

from specprompt.serve import NEAREST_MODEL


def _error(resp: httpx.Response, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert "Traceback" not in err["message"]
    return dict(err)


def image_token_count(usage: Any) -> int:
    """``usage.prompt_tokens_details.image_tokens`` on any openai client generation.

    openai 1.x/2.x keep the field in ``model_extra``; openai 3.x declares it as an attribute.
    """
    assert usage is not None and usage.prompt_tokens_details is not None
    details = usage.prompt_tokens_details
    value = getattr(details, "image_tokens", None)
    if value is None:
        value = (details.model_extra or {}).get("image_tokens")
    assert value is not None, f"no image_tokens in {details!r}"
    return int(value)


@pytest.fixture
def client(cli_server: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=cli_server.base_url, api_key=cli_server.api_key, max_retries=0, timeout=60)


def test_openai_client_gets_the_nearest_demos_label_and_image_tokens(client: openai.OpenAI, kit: Any) -> None:
    for kind in "hvd":
        resp = client.chat.completions.create(
            model=NEAREST_MODEL, messages=kit.demo_messages(kit.stripes(kind, seed=7)), temperature=0, max_tokens=50
        )
        assert resp.object == "chat.completion" and resp.id.startswith("chatcmpl-")
        assert resp.model == NEAREST_MODEL
        choice = resp.choices[0]
        assert choice.message.role == "assistant" and choice.finish_reason == "stop"
        assert choice.message.content == kit.LABELS[kind]
        usage = resp.usage
        assert usage is not None
        image_tokens = image_token_count(usage)
        assert 0 < image_tokens < usage.prompt_tokens  # image tokens are inside prompt_tokens, with the text
        assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_image_tokens_grow_with_the_query_image(client: openai.OpenAI, kit: Any) -> None:
    def image_tokens(size: int) -> int:
        msgs = kit.demo_messages(kit.stripes("v", seed=3, size=size))
        usage = client.chat.completions.create(model=NEAREST_MODEL, messages=msgs).usage
        return image_token_count(usage)

    # the local cost model: at most 44 tokens per image, none of the finest working band below 33 px
    from specprompt.cost import image_tokens as priced

    assert image_tokens(200) - image_tokens(24) == priced("local", 200, 200) - priced("local", 24, 24) == 16


def test_streaming_sends_one_chunk_then_done(client: openai.OpenAI, kit: Any) -> None:
    stream = client.chat.completions.create(
        model=NEAREST_MODEL,
        messages=kit.demo_messages(kit.stripes("h", seed=9)),
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "horizontal"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens > 0


@pytest.mark.parametrize("adapter", [dspy.ChatAdapter(), dspy.JSONAdapter()], ids=["chat", "json"])
def test_dspy_lm_with_image_demos_end_to_end(
    cli_server: Any, kit: Any, adapter: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network look-up of model metadata

    class Orientation(dspy.Signature):
        """Say the orientation of the stripes."""

        image: dspy.Image = dspy.InputField()
        label: str = dspy.OutputField()

    lm = dspy.LM(f"openai/{NEAREST_MODEL}", api_base=cli_server.base_url, api_key=cli_server.api_key, cache=False)
    program = dspy.Predict(Orientation)
    program.demos = [
        dspy.Example(image=dspy.Image(kit.stripes(k, 1)), label=kit.LABELS[k]).with_inputs("image") for k in "hvd"
    ]
    with dspy.context(lm=lm, adapter=adapter, track_usage=True):
        for kind in "dhv":
            pred = program(image=dspy.Image(kit.stripes(kind, seed=11)))
            assert pred.label == kit.LABELS[kind]
            usage = pred.get_lm_usage()[f"openai/{NEAREST_MODEL}"]
            assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0


def test_models_lists_the_served_model(client: openai.OpenAI, cli_server: Any) -> None:
    assert [m.id for m in client.models.list()] == [NEAREST_MODEL]
    assert client.models.retrieve(NEAREST_MODEL).id == NEAREST_MODEL
    assert httpx.get(cli_server.root + "/health", timeout=10).json() == {"status": "ok", "models": [NEAREST_MODEL]}


def test_sixteen_concurrent_requests_all_get_their_answer(client: openai.OpenAI, kit: Any) -> None:
    kinds = "hvd" * 5 + "h"

    def ask(i: int) -> str | None:
        msgs = kit.demo_messages(kit.stripes(kinds[i], seed=100 + i))
        return client.chat.completions.create(model=NEAREST_MODEL, messages=msgs).choices[0].message.content

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(ask, range(16)))
    assert answers == [kit.LABELS[k] for k in kinds]


def _with_query(kit: Any, url: str) -> dict[str, Any]:
    msgs = kit.demo_messages(kit.stripes("h", 1))
    msgs[-1]["content"][1]["image_url"]["url"] = url
    return {"model": NEAREST_MODEL, "messages": msgs}


def test_bad_requests_get_openai_errors(cli_server: Any, kit: Any) -> None:
    query = "messages[7].content[1].image_url"
    err = _error(cli_server.post(content=b'{"model": "x", "messages": ['), 400)
    assert err["type"] == "invalid_request_error" and "could not parse the JSON" in err["message"]
    err = _error(cli_server.post({"model": NEAREST_MODEL}), 400)
    assert err["param"] == "messages" and "Missing required parameter" in err["message"]
    err = _error(cli_server.post(_with_query(kit, "data:image/png;base64,iVBOR!!!")), 400)
    assert err["param"] == query and "base64" in err["message"]
    junk = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 40).decode()
    err = _error(cli_server.post(_with_query(kit, f"data:image/png;base64,{junk}")), 400)
    assert err["param"] == query and "cannot be decoded" in err["message"]
    err = _error(cli_server.post(_with_query(kit, "https://example.com/cat.png")), 400)
    assert err["param"] == query and "--allow-remote-images" in err["message"]
    err = _error(cli_server.post({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}), 404)
    assert err["code"] == "model_not_found" and err["param"] == "model" and NEAREST_MODEL in err["message"]
    err = _error(cli_server.post({**_with_query(kit, kit.stripes("h", 2)), "n": 2}), 400)
    assert err["param"] == "n"


def test_a_plain_chat_without_demonstrations_gets_a_clear_400(cli_server: Any, kit: Any) -> None:
    err = _error(cli_server.post({"model": NEAREST_MODEL, "messages": [{"role": "user", "content": "hello"}]}), 400)
    assert err["code"] == "invalid_request" and "this chat has none" in err["message"]
    assert "[[ ## completed ## ]]" not in err["message"]
    one_image = [{"role": "user", "content": [kit.image_part(kit.stripes("h", 2))]}]
    err = _error(cli_server.post({"model": NEAREST_MODEL, "messages": one_image}), 400)
    assert "demonstrations" in err["message"]
    demos = kit.demo_messages(kit.stripes("h", 2))
    assert cli_server.post({"model": NEAREST_MODEL, "messages": demos}).status_code == 200


def test_too_large_body_gets_413(cli_server: Any, kit: Any) -> None:
    big = {"model": NEAREST_MODEL, "messages": [{"role": "user", "content": "x" * (kit.CLI_MAX_REQUEST_BYTES + 1)}]}
    err = _error(cli_server.post(big), 413)
    assert err["code"] == "request_too_large" and f"{kit.CLI_MAX_REQUEST_BYTES:,}" in err["message"]

    def chunks() -> Any:  # no Content-Length: the limit is enforced while streaming the body
        yield b'{"model": "m", "messages": [{"role": "user", "content": "'
        for _ in range(12):
            yield b"x" * 100_000

    err = _error(cli_server.post(content=chunks()), 413)
    assert err["code"] == "request_too_large"


def test_api_key_is_required_and_checked(cli_server: Any) -> None:
    body = {"model": NEAREST_MODEL, "messages": [{"role": "user", "content": "hi"}]}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {cli_server.api_key}"}):
        resp = httpx.post(cli_server.base_url + "/chat/completions", json=body, headers=headers, timeout=10)
        assert _error(resp, 401)["code"] == "invalid_api_key"
        assert resp.headers["www-authenticate"] == "Bearer"
        assert _error(httpx.get(cli_server.base_url + "/models", headers=headers, timeout=10), 401)
    bad = openai.OpenAI(base_url=cli_server.base_url, api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError, match="Incorrect API key"):
        bad.models.list()


def test_unknown_route_and_method(cli_server: Any) -> None:
    err = _error(httpx.get(cli_server.base_url + "/completions", headers=cli_server.headers(), timeout=10), 404)
    assert err["code"] == "unknown_url"
    resp = httpx.get(cli_server.base_url + "/chat/completions", headers=cli_server.headers(), timeout=10)
    assert _error(resp, 405)["code"] == "method_not_allowed" and resp.headers["allow"] == "POST"


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "SPECPROMPT_API_KEY"}
    return subprocess.run(
        [sys.executable, "-m", "specprompt", "serve", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**environ, **(env or {})},
    )


def test_cli_refuses_a_public_interface_without_a_key() -> None:
    out = _cli("--host", "0.0.0.0", "--port", "1")
    assert out.returncode == 2
    assert "refusing to listen on '0.0.0.0' without an API key" in out.stderr and "SPECPROMPT_API_KEY" in out.stderr
    assert "Traceback" not in out.stderr


def test_cli_rejects_an_unknown_model_and_lists_the_servable_ones() -> None:
    out = _cli("--model", "nope", "--port", "1")
    assert out.returncode == 2 and "known: " in out.stderr and NEAREST_MODEL in out.stderr.split("known: ")[1]
    listed = _cli("--list-models")
    assert listed.returncode == 0 and NEAREST_MODEL in [line.split("\t")[0] for line in listed.stdout.splitlines()]


def test_server_log_has_the_startup_line_and_no_traceback(cli_server: Any) -> None:
    assert cli_server.log is not None
    text = cli_server.log.read_text()
    assert "Uvicorn running on http://127.0.0.1:" in text
    assert "Traceback" not in text  # no request of this module hit an unhandled error
