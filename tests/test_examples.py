"""The examples run: offline_compile.py on small settings, openai_compatible.py against `specprompt serve`."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_example(name: str, *args: str, env: dict[str, str] | None = None, timeout: int = 120) -> str:
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.parametrize("lm", ["local", "nearest"])
def test_offline_compile(tmp_path: Path, lm: str) -> None:
    small = ["--size", "64", "--trials", "6", "--n-val", "8", "--n-test", "8", "--budget", "10", "--lm", lm]
    out = run_example("offline_compile.py", *small, "--out", str(tmp_path))
    assert f"scorer: specprompt/{lm}-" in out
    m = re.search(r"image tokens per prompt \(openai:gpt-4.1-mini\): before (\d+), after (\d+)", out)
    assert m is not None, out
    before, after = int(m.group(1)), int(m.group(2))
    assert before == 4 * 7 and after <= 10  # four 64 px demos at 7 tokens each -> within the budget
    acc = re.search(r"test accuracy: before (\d\.\d+), after (\d\.\d+)", out)
    assert acc is not None and all(0.0 <= float(v) <= 1.0 for v in acc.groups())
    assert "kept bands" in out
    assert (tmp_path / "program.json").is_file() and (tmp_path / "report.html").is_file()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_openai_compatible_against_specprompt_serve(tmp_path: Path) -> None:
    pytest.importorskip("specprompt.serve")
    port = _free_port()
    env = {**os.environ, "SPECPROMPT_API_KEY": "test-key"}
    log = tmp_path / "serve.log"
    with log.open("w") as sink:
        server = subprocess.Popen(
            [sys.executable, "-m", "specprompt", "serve", "--port", str(port), "--no-access-log"],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"specprompt serve did not start: {log.read_text()[-2000:]}")
                time.sleep(0.3)
        out = run_example(
            "openai_compatible.py",
            env={
                "SPECPROMPT_API_KEY": "test-key",
                "SPECPROMPT_MODEL": "specprompt/local",  # what `specprompt serve` serves by default
                "SPECPROMPT_API_BASE": f"http://127.0.0.1:{port}/v1",
                "SPECPROMPT_TRIALS": "3",
                "SPECPROMPT_SIZE": "64",
                "SPECPROMPT_BUDGET": "10",
                "SPECPROMPT_OUT": str(tmp_path),
            },
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
    m = re.search(r"image tokens per prompt \(openai:gpt-4.1-mini\): before (\d+), after (\d+)", out)
    assert m is not None and int(m.group(1)) == 28 and int(m.group(2)) <= 10, out
    assert (tmp_path / "report.html").is_file()
