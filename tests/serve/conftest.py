"""Fixtures of the server tests: generated images, a tiny deterministic engine, and two kinds of server.

- ``app_server(engines, config)`` runs :func:`specprompt.serve.create_app` under uvicorn in a thread
  (port chosen by the OS), for fast tests of one configuration.
- ``cli_server`` (session) runs ``python -m specprompt serve`` as a real subprocess on loopback with
  the real nearest engine and an API key, and terminates it afterwards.
"""

from __future__ import annotations

import base64
import io
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import numpy as np
import pytest

from specprompt.serve import NEAREST_MODEL, ServeConfig, create_app

API_KEY = "test-key-123"
#: Body limit of the CLI server: large enough for the demo requests, small enough to test 413 quickly.
CLI_MAX_REQUEST_BYTES = 1_000_000
LABELS = {"h": "horizontal", "v": "vertical", "d": "diagonal"}


def stripes(kind: str, seed: int, *, size: int = 48, fmt: str = "PNG") -> str:
    """A data URI of a noisy stripe pattern: ``kind`` h(orizontal), v(ertical) or d(iagonal)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    base = {"h": np.sin(y / 2.0), "v": np.sin(x / 2.0), "d": np.sin((x + y) / 3.0)}[kind]
    arr = base[..., None] * 0.4 + 0.5 + rng.normal(0, 0.03, (size, size, 3))
    buf = io.BytesIO()
    Image.fromarray((np.clip(arr, 0, 1) * 255).astype(np.uint8)).save(buf, format=fmt)
    return f"data:image/{fmt.lower()};base64," + base64.b64encode(buf.getvalue()).decode()


def image_part(url: str, detail: str | None = None) -> dict[str, Any]:
    ref: dict[str, Any] = {"url": url} if detail is None else {"url": url, "detail": detail}
    return {"type": "image_url", "image_url": ref}


def demo_messages(query: str, *, kinds: str = "hvd", detail: str | None = None) -> list[dict[str, Any]]:
    """Messages as DSPy sends them: system, then per demo user(text + image) and assistant(label), then the query."""
    msgs: list[dict[str, Any]] = [{"role": "system", "content": "Say the orientation of the stripes."}]
    for k in kinds:
        msgs.append({"role": "user", "content": [{"type": "text", "text": "image:"}, image_part(stripes(k, 1))]})
        msgs.append({"role": "assistant", "content": LABELS[k]})
    msgs.append({"role": "user", "content": [{"type": "text", "text": "image:"}, image_part(query, detail)]})
    return msgs


@dataclass
class RecordingEngine:
    """A deterministic test engine: answers ``"<images> images: <last user text>"``.

    Usage: ``input_tokens`` = 10 + 7 per image, ``output_tokens`` = 3; 7 image tokens per image in
    ``provider_data``. ``fail`` makes it raise that exception; ``delay`` makes it sleep. It records
    every request and the most calls it saw running at once.
    """

    fail: BaseException | None = None
    delay: float = 0.0
    requests: list[Any] = field(default_factory=list)
    max_active: int = 0
    _active: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def complete(self, request: Any) -> Any:
        from dspy.lm15 import ImagePart, Message, Response, TextPart, Usage

        with self._lock:
            self._active += 1
            self.max_active = max(self.max_active, self._active)
        try:
            if self.delay:
                time.sleep(self.delay)
            if self.fail is not None:
                raise self.fail
            self.requests.append(request)
            n = sum(isinstance(p, ImagePart) for m in request.messages for p in m.parts)
            text = "".join(p.text for p in request.messages[-1].parts if isinstance(p, TextPart))
            return Response(
                id=None,
                model="test/recording",
                message=Message.assistant((TextPart(f"{n} images: {text}"),)),
                finish_reason="stop",
                usage=Usage(input_tokens=10 + 7 * n, output_tokens=3),
                provider_data={"specprompt": {"image_tokens": 7 * n}},
            )
        finally:
            with self._lock:
                self._active -= 1


@dataclass
class Served:
    """A running server: its base URL (``.../v1``), root URL and API key."""

    root: str
    api_key: str | None
    log: Path | None = None

    @property
    def base_url(self) -> str:
        return self.root + "/v1"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def post(self, body: Any = None, *, content: bytes | None = None, **kw: Any) -> httpx.Response:
        headers = {**self.headers(), "Content-Type": "application/json", **kw.pop("headers", {})}
        return httpx.post(
            self.base_url + "/chat/completions", json=body, content=content, headers=headers, timeout=30, **kw
        )


@pytest.fixture
def app_server() -> Iterator[Callable[..., Served]]:
    """Starts ``create_app(engines, config, **kw)`` under uvicorn in a thread; stops every server at teardown."""
    import uvicorn

    running: list[tuple[Any, threading.Thread]] = []

    def start(
        engines: dict[str, Any],
        config: ServeConfig | None = None,
        *,
        routes: Callable[[Any], None] | None = None,
        **kw: Any,
    ) -> Served:
        cfg = config or ServeConfig()
        app = create_app(engines, cfg, **kw)
        if routes is not None:  # extra routes a test adds to the app
            routes(app)
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        running.append((server, thread))
        deadline = time.monotonic() + 20
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the in-process server did not start")
            time.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        return Served(f"http://127.0.0.1:{port}", cfg.api_key)

    yield start
    for server, _ in running:
        server.should_exit = True
    for _, thread in running:
        thread.join(timeout=10)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="session")
def cli_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``python -m specprompt serve`` with the nearest engine on 127.0.0.1, an API key and a 1 MB body limit."""
    log = tmp_path_factory.mktemp("serve") / "server.log"
    env = {**os.environ, "SPECPROMPT_API_KEY": API_KEY}
    for _attempt in range(3):  # another process may take the free port before the server binds it
        port = _free_port()
        cmd = [sys.executable, "-m", "specprompt", "serve", "--port", str(port), "--model", NEAREST_MODEL]
        cmd += ["--max-request-bytes", str(CLI_MAX_REQUEST_BYTES)]
        with open(log, "wb") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        root = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90
            while proc.poll() is None and time.monotonic() < deadline:
                try:
                    if httpx.get(root + "/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            else:
                if proc.poll() is None:
                    pytest.fail(f"the server did not answer /health within 90 s; log:\n{log.read_text()}")
                continue  # exited (port taken?): try another port
            yield Served(root, API_KEY, log)
            return
        finally:
            _stop(proc)
    pytest.fail(f"the server would not start; last log:\n{log.read_text()}")


@pytest.fixture(scope="session")
def kit() -> SimpleNamespace:
    """The helpers of this conftest, for test modules (which cannot import it under importlib mode)."""
    return SimpleNamespace(
        API_KEY=API_KEY,
        CLI_MAX_REQUEST_BYTES=CLI_MAX_REQUEST_BYTES,
        LABELS=LABELS,
        RecordingEngine=RecordingEngine,
        demo_messages=demo_messages,
        image_part=image_part,
        stripes=stripes,
    )
