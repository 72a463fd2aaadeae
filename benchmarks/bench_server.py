"""``specprompt serve`` under load and bad input: latency, throughput and how fast bad requests are refused.

Usage::

    python benchmarks/bench_server.py            # about a minute
    python benchmarks/bench_server.py --quick    # a few seconds (format check)

Starts ``python -m specprompt serve --model specprompt/nearest-v1`` as a real process on loopback
(default limits, an API key) and measures with httpx:

- the anchor: ``GET /health`` (one loopback HTTP round trip, no work);
- a DSPy-shaped chat (3 demos + 1 query, 64 px PNGs): sequential latency, then throughput with
  ``--clients`` concurrent clients (one keep-alive connection each; the nearest engine answers one
  request at a time, so this measures the server's queueing, not parallel answers);
- bad input, each refused with its status: a body over ``--max-request-bytes`` (413, read from the
  ``Content-Length`` header), one image over the per-image pixel limit (4097 x 4096), 17 images
  of 4096 x 4096 (each within the per-image limit, together over the per-request total; the case
  that took 6.4 s of CPU before the total limit existed), NaN temperature, a plain chat without
  demonstrations.

Times are medians in milliseconds, with the ratio to the ``/health`` anchor of the same run.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import numpy as np

KEY = "bench-key"
MODEL = "specprompt/nearest-v1"


def _png(size: int | tuple[int, int], seed: int, *, flat: bool = False) -> str:
    from PIL import Image

    w, h = (size, size) if isinstance(size, int) else size
    if flat:  # compresses to a few KB however large: what an attacker would send
        arr = np.full((h, w, 3), 127, np.uint8)
    else:
        arr = np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", optimize=flat)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _part(url: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url}}


def demo_chat(seed: int) -> dict[str, Any]:
    msgs: list[dict[str, Any]] = [{"role": "system", "content": "Your output fields are:\n1. `label` (str)"}]
    for i, label in enumerate(("red", "green", "blue")):
        msgs.append({"role": "user", "content": [{"type": "text", "text": "image:"}, _part(_png(64, i))]})
        msgs.append({"role": "assistant", "content": f"[[ ## label ## ]]\n{label}\n\n[[ ## completed ## ]]"})
    msgs.append({"role": "user", "content": [{"type": "text", "text": "image:"}, _part(_png(64, 100 + seed))]})
    return {"model": MODEL, "messages": msgs, "temperature": 0}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server() -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {**os.environ, "SPECPROMPT_API_KEY": KEY}
    cmd = [sys.executable, "-m", "specprompt", "serve", "--port", str(port), "--model", MODEL, "--no-access-log"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    root = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(root + "/health", timeout=2).status_code == 200:
                return proc, root
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the server did not start")


def timed(fn: Callable[[], httpx.Response], repeats: int, status: int) -> list[float]:
    """Milliseconds of ``repeats`` calls, checking each returns ``status``."""
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        resp = fn()
        out.append(1000 * (time.perf_counter() - start))
        if resp.status_code != status:
            raise SystemExit(f"expected HTTP {status}, got {resp.status_code}: {resp.text[:300]}")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="few repeats (format check)")
    p.add_argument("--clients", type=int, default=8, help="concurrent clients of the throughput run")
    args = p.parse_args(argv)
    reps = 3 if args.quick else 30
    load = 16 if args.quick else 200
    proc, root = start_server()
    headers = {"Authorization": f"Bearer {KEY}"}
    client = httpx.Client(base_url=root, headers=headers, timeout=120)
    url = "/v1/chat/completions"
    try:
        rows: list[tuple[str, int, list[float], str]] = []
        client.post(url, json=demo_chat(0))  # warm-up (the engine loads on first use)
        health = timed(lambda: client.get("/health"), reps, 200)
        rows.append(("GET /health (anchor)", 200, health, ""))
        chats = [demo_chat(i) for i in range(reps)]
        it = iter(chats * 2)
        chat_ms = timed(lambda: client.post(url, json=next(it)), reps, 200)
        rows.append(("chat: 3 demos + query, 64 px", 200, chat_ms, ""))

        body = b"{" + b" " * (21 * 1024 * 1024) + b"}"
        rows.append(
            (
                "body of 21 MiB (> 20 MiB limit)",
                413,
                timed(lambda: client.post(url, content=body, headers={"Content-Type": "application/json"}), reps, 413),
                f"{len(body) / 2**20:.0f} MiB sent",
            )
        )
        big = {"model": MODEL, "messages": [{"role": "user", "content": [_part(_png((4097, 4096), 0, flat=True))]}]}
        rows.append(("one image of 4097 x 4096", 400, timed(lambda: client.post(url, json=big), reps, 400), ""))
        many_img = _png(4096, 0, flat=True)
        many = {"model": MODEL, "messages": [{"role": "user", "content": [_part(many_img)] * 17}]}
        size = len(many_img) * 17
        rows.append(
            (
                "17 images of 4096 x 4096",
                400,
                timed(lambda: client.post(url, json=many), reps, 400),
                f"{size / 2**20:.2f} MiB body",
            )
        )
        nan = b'{"model": "%s", "messages": [{"role": "user", "content": "x"}], "temperature": NaN}' % MODEL.encode()
        rows.append(
            (
                "temperature NaN",
                400,
                timed(lambda: client.post(url, content=nan, headers={"Content-Type": "application/json"}), reps, 400),
                "",
            )
        )
        plain = {"model": MODEL, "messages": [{"role": "user", "content": "hello"}]}
        rows.append(("plain chat, no demonstrations", 400, timed(lambda: client.post(url, json=plain), reps, 400), ""))

        local = threading.local()
        bodies = [json.dumps(c).encode() for c in chats]  # encoded once: the clients measure the server

        def one(i: int) -> float:
            if not hasattr(local, "client"):  # one keep-alive connection per client thread
                local.client = httpx.Client(base_url=root, headers=headers, timeout=120)
            start = time.perf_counter()
            resp = local.client.post(url, content=bodies[i % len(bodies)], headers={"Content-Type": "application/json"})
            if resp.status_code != 200:
                raise SystemExit(f"load request failed: {resp.status_code} {resp.text[:200]}")
            return 1000 * (time.perf_counter() - start)

        start = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            lat = list(pool.map(one, range(load)))
        wall = time.perf_counter() - start
    finally:
        client.close()
        proc.terminate()
        proc.wait(timeout=20)

    anchor = statistics.median(health)
    print(f"# bench_server: python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.platform()}")
    print(f"# server: python -m specprompt serve --model {MODEL} (default limits), loopback; {reps} repeats each")
    print()
    print("| request | status | median ms | p95 ms | x /health | note |")
    print("|---|---|---|---|---|---|")
    for name, status, times, note in rows:
        med = statistics.median(times)
        p95 = sorted(times)[max(0, round(0.95 * len(times)) - 1)]
        print(f"| {name} | {status} | {med:.1f} | {p95:.1f} | {med / anchor:.1f} | {note} |")
    print()
    med = statistics.median(lat)
    p95 = sorted(lat)[max(0, round(0.95 * len(lat)) - 1)]
    print(
        f"load: {load} chats from {args.clients} concurrent clients in {wall:.2f} s = {load / wall:.1f} requests/s; "
        f"latency median {med:.1f} ms, p95 {p95:.1f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
