"""``specprompt serve --model specprompt/local [--checkpoint DIR] [--adapter DIR]``: the local band VLM over HTTP."""

from __future__ import annotations

import base64
import io
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from dspy.lm15 import ImagePart, Message, Request, TextPart
from PIL import Image

from specprompt.cli import main
from specprompt.errors import ConfigError
from specprompt.scorers import LocalVLMEngine
from specprompt.serve import LOCAL_MODEL, get_servable_model, register_servable_model, servable_models
from specprompt.training import FinetuneConfig, finetune
from specprompt.vlm._checkpoint import DEFAULT_CHECKPOINT

KEY = "local-model-key"


@pytest.fixture(scope="module")
def checkpoint(untrained_checkpoint: Path) -> Path:
    return untrained_checkpoint


@pytest.fixture(scope="module")
def adapter(checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(0)
    data = [(rng.random((16, 16, 3)).astype(np.float32) * v, str(v)) for v in (0.3, 0.9) for _ in range(2)]
    cfg = FinetuneConfig(steps=2, n_frequency=8, episodes_per_step=1, eval_episodes=1)
    return finetune(data, tmp_path_factory.mktemp("ft") / "adapter", cfg, checkpoint=checkpoint)


@pytest.fixture
def restore_local() -> Iterator[None]:
    """``serve --checkpoint/--adapter`` re-registers specprompt/local in this process: put it back."""
    entry = get_servable_model(LOCAL_MODEL)
    yield
    register_servable_model(entry, replace=True)


def _stripes(kind: str, seed: int) -> str:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:32, 0:32].astype(np.float64)
    arr = (np.sin(y / 2.0) if kind == "h" else np.sin(x / 2.0))[..., None] * 0.4 + 0.5
    arr = arr + rng.normal(0, 0.03, (32, 32, 3))
    buf = io.BytesIO()
    Image.fromarray((np.clip(arr, 0, 1) * 255).astype(np.uint8)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _messages(query: str) -> list[dict[str, Any]]:
    msgs: list[dict[str, Any]] = [{"role": "system", "content": "Say the orientation."}]
    for kind, label in (("h", "horizontal"), ("v", "vertical")):
        msgs.append({"role": "user", "content": [{"type": "image_url", "image_url": {"url": _stripes(kind, 1)}}]})
        msgs.append({"role": "assistant", "content": label})
    msgs.append({"role": "user", "content": [{"type": "image_url", "image_url": {"url": query}}]})
    return msgs


def test_local_model_is_listed_and_resolves_to_the_shipped_checkpoint(capsys: pytest.CaptureFixture[str]) -> None:
    assert LOCAL_MODEL in servable_models() and get_servable_model(LOCAL_MODEL).thread_safe
    assert main(["serve", "--list-models"]) == 0
    assert LOCAL_MODEL in [line.split("\t")[0] for line in capsys.readouterr().out.splitlines()]
    if (DEFAULT_CHECKPOINT / "config.json").is_file():
        engine = get_servable_model(LOCAL_MODEL).build()
        sha = json.loads((DEFAULT_CHECKPOINT / "config.json").read_text())["weights_sha256"]
        assert engine.model_name == f"specprompt/local-{sha[:12]}"
    else:
        with pytest.raises(ConfigError, match="no checkpoint at"):
            get_servable_model(LOCAL_MODEL).build()


def test_cli_errors_are_clear(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], restore_local: None
) -> None:
    assert main(["serve", "--model", "specprompt/nearest-v1", "--adapter", str(tmp_path), "--port", "1"]) == 2
    assert "--checkpoint and --adapter configure specprompt/local; add --model specprompt/local" in (
        capsys.readouterr().err
    )
    args = ["serve", "--model", LOCAL_MODEL, "--checkpoint", str(checkpoint), "--port", "1"]
    assert main([*args, "--adapter", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("specprompt serve: error: no adapter at") and "Traceback" not in err
    (tmp_path / "adapter.json").write_text("{}")
    (tmp_path / "adapter.safetensors").write_bytes(b"")
    assert main([*args, "--adapter", str(tmp_path)]) == 2
    assert "is not a specprompt-fourierft-adapter config" in capsys.readouterr().err


@pytest.fixture(scope="module")
def adapted_server(checkpoint: Path, adapter: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("serve") / "server.log"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    cmd = [sys.executable, "-m", "specprompt", "serve", "--port", str(port), "--model", LOCAL_MODEL]
    cmd += ["--checkpoint", str(checkpoint), "--adapter", str(adapter), "--no-access-log"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "SPECPROMPT_API_KEY": KEY}
        )
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the server did not start; log:\n{log.read_text()}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/v1"
        assert "Traceback" not in log.read_text()
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_served_adapter_answers_like_the_in_process_engine(
    adapted_server: str, checkpoint: Path, adapter: Path
) -> None:
    engine = LocalVLMEngine(checkpoint, adapter)
    sha = json.loads((adapter / "adapter.json").read_text())["adapter_sha256"]
    assert engine.model_name == f"{LocalVLMEngine(checkpoint).model_name}+{sha[:12]}"
    headers = {"Authorization": f"Bearer {KEY}"}
    for kind in "hv":
        body = {"model": LOCAL_MODEL, "messages": _messages(_stripes(kind, 7))}
        resp = httpx.post(adapted_server + "/chat/completions", json=body, headers=headers, timeout=60)
        assert resp.status_code == 200, resp.text
        data = resp.json()
        assert data["model"] == LOCAL_MODEL and data["system_fingerprint"] == engine.model_name
        assert data["choices"][0]["message"]["content"] in ("horizontal", "vertical")
        assert data["usage"]["prompt_tokens_details"]["image_tokens"] == 3 * 28  # three 32-px images
        parts = []
        for m in body["messages"][1:]:
            if m["role"] == "user":
                url = m["content"][0]["image_url"]["url"]
                parts.append(Message.user((ImagePart(data=url.split(",", 1)[1], media_type="image/png"),)))
            else:
                parts.append(Message.assistant((TextPart(m["content"]),)))
        local = engine.complete(Request(model="m", messages=tuple(parts), system="Say the orientation."))
        assert local.text == data["choices"][0]["message"]["content"]
