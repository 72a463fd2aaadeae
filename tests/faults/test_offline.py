"""Offline by construction: a remote compile contacts the configured endpoint and nothing else.

The compile runs in a subprocess whose ``sitecustomize`` refuses (and records) every socket
connection and name lookup that is not loopback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

GUARD = """
import ipaddress, os, socket

_LOG = os.environ["OFFLINE_GUARD_LOG"]


def _loopback(host):
    host = host.decode() if isinstance(host, bytes) else str(host)
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _refuse(what):
    with open(_LOG, "a") as log:
        log.write(what + "\\n")
    raise OSError(101, "network is unreachable (offline test): " + what)


_connect, _connect_ex, _getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo


def connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address[0]):
        _refuse(f"connect {address!r}")
    return _connect(self, address)


def connect_ex(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address[0]):
        _refuse(f"connect {address!r}")
    return _connect_ex(self, address)


def getaddrinfo(host, *args, **kwargs):
    if host is not None and not _loopback(host):
        _refuse(f"getaddrinfo {host!r}")
    return _getaddrinfo(host, *args, **kwargs)


socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = connect, connect_ex, getaddrinfo
"""

COMPILE = """
import sys
import dspy
import specprompt
from specprompt.search import BandOptimizer
from specprompt.tasks import get_task

task = get_task("colour-position", n_train=6, n_val=4, n_test=0, size=64, seed=0)
lm = dspy.LM("openai/specprompt/nearest-v1", api_base=sys.argv[1], api_key="x", cache=False)
opt = BandOptimizer(lambda ex, pred, trace=None: float(ex.label == pred.label), n_trials=3, k_demos=3,
                    minibatch_size=4, token_budget=36, storage="memory", progress=False)
with dspy.context(lm=lm):
    opt.compile(dspy.Predict(task.signature), trainset=task.trainset, valset=task.valset)
print("calls", opt.last_result.spend.search.calls)
"""


def _run(tmp_path: Path, base_url: str, **env: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(GUARD)
    log = tmp_path / "refused.log"
    log.write_text("")
    dropped = ("LITELLM_LOCAL_MODEL_COST_MAP", "HTTP_PROXY", "HTTPS_PROXY")
    full = {k: v for k, v in os.environ.items() if k not in dropped}
    full.update(OFFLINE_GUARD_LOG=str(log), **env)
    full["PYTHONPATH"] = os.pathsep.join([str(site), full.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, "-c", COMPILE, base_url], capture_output=True, text=True, timeout=180, env=full
    )
    return proc, [line for line in log.read_text().splitlines() if line]


def test_a_remote_compile_contacts_only_its_endpoint(faults: Any, tmp_path: Path) -> None:
    faults.set(0.0)
    proc, refused = _run(tmp_path, faults.base_url)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "calls " in proc.stdout and faults.stats()["requests"] > 0  # the endpoint was used
    assert refused == []  # and nothing else was tried
    assert "Model metadata refresh failed" not in proc.stderr


def test_the_guard_sees_the_price_table_download_when_the_user_enables_it(faults: Any, tmp_path: Path) -> None:
    """The same run with DSPy's remote price table allowed: the guard records the attempt (it can fail)."""
    faults.set(0.0)
    proc, refused = _run(tmp_path, faults.base_url, LITELLM_LOCAL_MODEL_COST_MAP="False")
    if proc.returncode != 0:
        pytest.fail(proc.stderr[-3000:])
    assert any("raw.githubusercontent.com" in line for line in refused), refused
