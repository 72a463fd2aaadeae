"""benchmarks/bench_workers.py runs with --quick on PostgreSQL and prints its table and bars.

Times are not checked (the quick endpoint is not latency-bound); the counts are: exactly the asked
trials in both runs and no prompt scored twice.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import postgres_unreachable

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "bench_workers.py"


def test_bench_workers_quick() -> None:
    reason = postgres_unreachable()
    if reason is not None:
        pytest.skip(reason)
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--trials", "4", "--workers", "2"],
        capture_output=True,
        text=True,
        timeout=280,
        cwd=ROOT,
    )
    out = proc.stdout
    assert proc.returncode in (0, 1), proc.stderr[-3000:]  # 1: a bar failed (the quick speed-up is not one)
    rows = [ln for ln in out.splitlines() if ln.startswith(("| 1 |", "| 2 |"))]
    assert len(rows) == 2 and all(ln.count("|") == 14 for ln in rows), out
    assert all("| 4 / 4 |" in ln for ln in rows), out
    assert "PASS: exactly 4 finished trials in both runs (4, 4)" in out
    assert "PASS: 0 prompts scored twice with 2 workers (0)" in out
    assert "workers at least 1.8x faster than one" in out
