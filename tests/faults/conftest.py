"""A fault-injecting OpenAI-compatible server process (``fault_server.py``) shared by a test module."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

SCRIPT = Path(__file__).with_name("fault_server.py")


@dataclass
class FaultServer:
    """A running ``fault_server.py``: its ``/v1`` URL, and its controls."""

    root: str
    proc: subprocess.Popen[str]

    @property
    def base_url(self) -> str:
        return self.root + "/v1"

    def set(self, rate: float, *, kinds: tuple[str, ...] | None = None, seed: int = 0, **more: Any) -> None:
        """New fault settings (``kinds`` default: all); the counts start again from zero."""
        body = {"rate": rate, "seed": seed, "kinds": list(kinds or ()), **more}
        httpx.post(self.root + "/control", json=body, timeout=10).raise_for_status()

    def stats(self) -> dict[str, int]:
        """Requests seen and faults injected since the last :meth:`set`."""
        return dict(httpx.get(self.root + "/stats", timeout=10).json())


def start_fault_server(*args: str) -> FaultServer:
    """Starts ``fault_server.py`` on a free loopback port (it prints the port once it listens)."""
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        proc.kill()
        raise RuntimeError(f"the fault server did not start: {line!r}")
    return FaultServer(f"http://127.0.0.1:{int(line.split()[1])}", proc)


def stop(server: FaultServer) -> None:
    if server.proc.stdout is not None:
        server.proc.stdout.close()
    server.proc.terminate()
    try:
        server.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def faults() -> Iterator[FaultServer]:
    server = start_fault_server()
    try:
        yield server
    finally:
        stop(server)
