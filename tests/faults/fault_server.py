"""A fault-injecting OpenAI-compatible server on loopback, wrapping specprompt's real nearest scorer.

Run as a process::

    python tests/faults/fault_server.py --rate 0.3 --seed 0 [--kinds 429,500,...] [--hang-s 5]

It prints ``PORT <n>`` on its first stdout line once it listens on ``127.0.0.1:<n>``. Each
``POST /v1/chat/completions`` either answers with the real ``specprompt/nearest-v1`` engine (the
real ``specprompt serve`` app, run in-process on a second loopback port and reached over HTTP) or,
with probability ``--rate`` (a seeded stream, one draw per request), injects one fault drawn
uniformly from ``--kinds``:

=========  ========================================================================================
kind       what the client gets
=========  ========================================================================================
429        HTTP 429 with ``Retry-After: <--retry-after>`` and an OpenAI error body
500        HTTP 500 with an OpenAI error body
503        HTTP 503 with an OpenAI error body
hang       nothing for ``--hang-s`` seconds, then the real answer (a client timeout should fire)
cut        HTTP 200, ``application/json``, the real answer's body cut in the middle
empty      HTTP 200 with a well-formed completion whose ``choices`` is ``[]``
reset      the TCP connection is reset (RST) after the request was read, before any byte is sent
=========  ========================================================================================

With ``--latency LO HI`` every chat request first waits a seeded uniform draw of ``LO`` to ``HI``
seconds (a latency-bound endpoint; a stream of its own, so the fault stream is unchanged).

``GET /stats`` returns the counts of requests and of each injected fault as JSON (the tests read it);
``POST /control`` with JSON ``{"rate": .., "seed": .., "kinds": [..], "hang_s": .., "latency": [lo, hi]}``
(no kinds: all) changes the settings (a new seed restarts the fault stream) and resets the counts,
so one process serves a whole test module. Everything else is forwarded unchanged.
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import struct
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

KINDS = ("429", "500", "503", "hang", "cut", "empty", "reset")


class _State:
    def __init__(
        self,
        rate: float,
        seed: int,
        kinds: tuple[str, ...],
        hang_s: float,
        retry_after: str,
        latency: tuple[float, float] = (0.0, 0.0),
    ) -> None:
        self.rate = rate
        self.rng = random.Random(seed)
        self.latency = latency
        self.latency_rng = random.Random(f"latency:{seed}")
        self.kinds = kinds
        self.hang_s = hang_s
        self.retry_after = retry_after
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.upstream = ""

    def control(self, data: dict[str, Any]) -> None:
        with self.lock:
            self.rate = float(data.get("rate", self.rate))
            self.kinds = tuple(data.get("kinds") or KINDS)
            self.hang_s = float(data.get("hang_s", self.hang_s))
            self.retry_after = str(data.get("retry_after", self.retry_after))
            self.rng = random.Random(int(data.get("seed", 0)))
            lo, hi = data.get("latency", self.latency)
            self.latency = (float(lo), float(hi))
            self.latency_rng = random.Random(f"latency:{int(data.get('seed', 0))}")
            self.counts.clear()

    def delay(self) -> float:
        """Seconds the next chat request waits (0 without ``--latency``)."""
        with self.lock:
            lo, hi = self.latency
            return self.latency_rng.uniform(lo, hi) if hi > 0 else 0.0

    def draw(self) -> str | None:
        with self.lock:
            self.counts["requests"] += 1
            fault = self.rng.choice(self.kinds) if self.rng.random() < self.rate else None
            if fault is not None:
                self.counts[fault] += 1
            return fault


def _start_upstream() -> str:
    """The real ``specprompt serve`` app with the nearest engine, under uvicorn in a thread."""
    import uvicorn

    from specprompt.serve import NEAREST_MODEL, ServeConfig, create_app, get_servable_model

    app = create_app({NEAREST_MODEL: get_servable_model(NEAREST_MODEL).build()}, ServeConfig(workers=8))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise SystemExit("the upstream server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _error_body(status: int, message: str) -> bytes:
    return json.dumps({"error": {"message": message, "type": "server_error", "param": None, "code": None}}).encode()


class _Handler(BaseHTTPRequestHandler):
    state: _State
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _forward(self, method: str, body: bytes | None) -> tuple[int, bytes, dict[str, str]]:
        import httpx

        headers = {k: v for k, v in self.headers.items() if k.lower() in ("authorization", "content-type")}
        resp = httpx.request(method, self.state.upstream + self.path, content=body, headers=headers, timeout=120)
        return resp.status_code, resp.content, {}

    def do_GET(self) -> None:
        if self.path == "/stats":
            with self.state.lock:
                self._send(200, json.dumps(dict(self.state.counts)).encode())
            return
        status, body, headers = self._forward("GET", None)
        self._send(status, body, headers)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if self.path == "/control":
            data = json.loads(body)
            unknown = sorted(set(data.get("kinds", ())) - set(KINDS))
            if unknown:
                self._send(400, _error_body(400, f"unknown fault kind(s) {unknown}"))
                return
            self.state.control(data)
            self._send(200, b"{}")
            return
        chat = self.path.endswith("/chat/completions")
        fault = self.state.draw() if chat else None
        if chat:
            time.sleep(self.state.delay())
        if fault == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        if fault in ("429", "500", "503"):
            status = int(fault)
            extra = {"Retry-After": self.state.retry_after} if status == 429 else {}
            self._send(status, _error_body(status, f"injected fault {fault}"), extra)
            return
        if fault == "hang":
            time.sleep(self.state.hang_s)
        status, answer, headers = self._forward("POST", body)
        if fault == "cut" and status == 200:
            self._send(200, answer[: len(answer) // 2])
        elif fault == "empty" and status == 200:
            data = json.loads(answer)
            data["choices"] = []
            self._send(200, json.dumps(data).encode())
        else:
            self._send(status, answer, headers)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--rate", type=float, default=0.0, help="share of chat requests that get a fault")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--kinds", default=",".join(KINDS), help=f"comma list of {', '.join(KINDS)}")
    p.add_argument("--hang-s", type=float, default=5.0)
    p.add_argument("--retry-after", default="0", help="Retry-After header value of the 429s (seconds)")
    p.add_argument(
        "--latency", type=float, nargs=2, default=(0.0, 0.0), metavar=("LO", "HI"), help="seconds per chat request"
    )
    args = p.parse_args(argv)
    kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown or not kinds:
        p.error(f"unknown fault kind(s) {unknown}; known: {', '.join(KINDS)}")
    state = _State(args.rate, args.seed, kinds, args.hang_s, args.retry_after, tuple(args.latency))
    state.upstream = _start_upstream()
    handler = type("Handler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler)
    server.daemon_threads = True
    print(f"PORT {server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
