"""The inverse-transform path: band-limited demos rendered at their minimal size and sent over HTTP to
``specprompt serve --model specprompt/local`` get the answers and image-token counts of the native band
path (the engine called in-process with SpectralImages), with the PNG metadata kept and stripped."""

from __future__ import annotations

import base64
import io
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dspy
import httpx
import numpy as np
import pytest
from PIL import Image

from specprompt import Selection, decompose
from specprompt.scorers import local_lm
from specprompt.serve import LOCAL_MODEL
from specprompt.types import SpectralImage, read_metadata
from specprompt.vlm._tokenizer import image_token_count

KEY = "inverse-path-key"
#: (label, source size, kept bands): coarse-first selections, finest levels dropped.
DEMOS = (
    ("stripes", (128, 128), ("L1", "L2", "residual")),
    ("checker", (128, 96), ("L2", "residual")),
    ("blob", (128, 128), ("residual",)),
)


class Pattern(dspy.Signature):
    """Name the pattern."""

    image: dspy.Image = dspy.InputField()
    label: str = dspy.OutputField()


def source(kind: str, size: tuple[int, int], seed: int) -> np.ndarray:
    w, h = size
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = {
        "stripes": 0.5 + 0.4 * np.sin(x / 3.0),
        "checker": 0.5 + 0.4 * np.sign(np.sin(x / 5.0) * np.sin(y / 5.0)),
        "blob": 0.2 + 0.7 * np.exp(-((x - w / 2) ** 2 + (y - h / 2) ** 2) / (w * h / 12)),
    }[kind]
    tint = rng.uniform(0.6, 1.0, 3).astype(np.float32)
    return np.clip(base[..., None] * tint + rng.normal(0, 0.02, (h, w, 3)), 0, 1).astype(np.float32)


def strip(image: SpectralImage) -> dspy.Image:
    """The same pixels as a PNG without the specprompt metadata chunk."""
    buf = io.BytesIO()
    image.to_pil().save(buf, format="PNG")
    return dspy.Image("data:image/png;base64," + base64.b64encode(buf.getvalue()).decode())


@pytest.fixture(scope="module")
def checkpoint(untrained_checkpoint: Path) -> Path:
    return untrained_checkpoint


@pytest.fixture(scope="module")
def demos() -> list[tuple[SpectralImage, str, int]]:
    """SpectralImage demos, their labels, and the tokens of their kept bands (from the source spectrum)."""
    out = []
    for i, (label, size, kept) in enumerate(DEMOS):
        spec = decompose(source(label, size, seed=i))
        sel = Selection.of(kept)
        out.append((SpectralImage.from_spectrum(spec, sel), label, image_token_count(*size, sel, spec.bands)))
    return out


@pytest.fixture(scope="module")
def server(checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``python -m specprompt serve --model specprompt/local --checkpoint CKPT`` on loopback; yields its /v1 URL."""
    log = tmp_path_factory.mktemp("serve") / "server.log"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    cmd = [sys.executable, "-m", "specprompt", "serve", "--port", str(port), "--model", LOCAL_MODEL]
    cmd += ["--checkpoint", str(checkpoint), "--no-access-log"]
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


def run(lm: dspy.LM, demo_images: list[dspy.Image], labels: list[str], query: dspy.Image) -> tuple[str, int, int]:
    """The program's answer, and the image tokens and all prompt tokens the engine reported."""
    program = dspy.Predict(Pattern)
    program.demos = [
        dspy.Example(image=im, label=lab).with_inputs("image") for im, lab in zip(demo_images, labels, strict=True)
    ]
    with dspy.context(lm=lm):
        pred = program(image=query)
    response = lm.history[-1]["response"]
    data = response.provider_data
    if "specprompt" in data:  # the in-process engine
        return str(pred.label), int(data["specprompt"]["image_tokens"]), response.usage.input_tokens
    assert data["system_fingerprint"].startswith("specprompt/local-")  # the served weights' id
    return str(pred.label), int(data["usage"]["prompt_tokens_details"]["image_tokens"]), response.usage.input_tokens


def test_minimal_renders_hold_exactly_the_kept_bands(demos: list[tuple[SpectralImage, str, int]]) -> None:
    assert sum(d[2] for d in demos) < sum(image_token_count(*size) for _, size, _ in DEMOS)
    for (image, _, kept_tokens), (_, size, _) in zip(demos, DEMOS, strict=True):
        w, h = image.render_size
        assert (w, h) < size  # sent at a smaller size than the source
        assert image_token_count(w, h) == kept_tokens  # the render's own tokens are the kept bands' tokens
        assert kept_tokens <= image_token_count(*size)
        assert read_metadata(image.url) is not None and read_metadata(strip(image).url) is None


def test_http_answers_and_tokens_match_the_native_band_path(
    checkpoint: Path, server: str, demos: list[tuple[SpectralImage, str, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network look-up of model metadata
    native = local_lm(checkpoint)
    remote = dspy.LM(f"openai/{LOCAL_MODEL}", api_base=server, api_key=KEY, cache=False)
    images, labels = [d[0] for d in demos], [d[1] for d in demos]
    stripped = [strip(im) for im in images]
    kept = sum(d[2] for d in demos)
    answers = set()
    for i, (label, size, _) in enumerate(DEMOS * 2):
        query = dspy.Image(Image.fromarray((source(label, size, seed=10 + i) * 255).astype(np.uint8)))
        expected = run(native, images, labels, query)
        assert expected[1] == kept + image_token_count(*size)
        assert native.history[-1]["response"].provider_data["specprompt"]["paths"] == ["bands"] * 3 + ["pixels"]
        assert run(remote, images, labels, query) == expected  # metadata travels inside the PNG
        assert run(remote, stripped, labels, query) == expected  # pixels only: the minimal render's tokens
        assert run(native, stripped, labels, query) == expected
        assert native.history[-1]["response"].provider_data["specprompt"]["paths"] == ["pixels"] * 4
        answers.add(expected[0])
    assert answers <= set(labels)


def test_served_model_reports_the_checkpoint_id(checkpoint: Path, server: str) -> None:
    models = httpx.get(server + "/models", headers={"Authorization": f"Bearer {KEY}"}, timeout=10).json()
    assert [m["id"] for m in models["data"]] == [LOCAL_MODEL]
    body: dict[str, Any] = {
        "model": LOCAL_MODEL,
        "messages": [  # one demonstration (an image turn and its answer), then the query image
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": strip_url()}}]},
            {"role": "assistant", "content": "dark"},
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": strip_url()}}]},
        ],
    }
    resp = httpx.post(server + "/chat/completions", json=body, headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
    assert resp.status_code == 200, resp.text
    assert resp.json()["system_fingerprint"] == local_lm(checkpoint).model  # specprompt/local-<weights hash>


def strip_url() -> str:
    buf = io.BytesIO()
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
