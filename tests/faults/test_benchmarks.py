"""benchmarks/bench_faults.py, bench_server.py and bench_resume.py run with --quick and print their tables."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(script: str, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    return proc.stdout


def test_bench_faults_quick() -> None:
    out = _run("bench_faults.py", "--quick", "--rates", "0.3", "--trials", "4")
    rows = [ln for ln in out.splitlines() if ln.startswith("| 0%") or ln.startswith("| 30%")]
    assert len(rows) == 2 and all(ln.count("|") == 13 for ln in rows)
    assert "PASS: every run chose the fault-free program" in out


def test_bench_server_quick() -> None:
    out = _run("bench_server.py", "--quick")
    for name in ("GET /health (anchor)", "17 images of 4096 x 4096", "temperature NaN", "plain chat"):
        assert f"| {name}" in out
    assert "requests/s" in out


def test_bench_resume_quick() -> None:
    out = _run("bench_resume.py", "--quick", "--points", "between")
    rows = [ln for ln in out.splitlines() if ln.startswith("| between |")]
    assert len(rows) == 1 and rows[0].count("|") == 12, out
    assert "| PASS | yes |" in rows[0]
    assert "PASS: every killed and resumed compile returned the uninterrupted program" in out
