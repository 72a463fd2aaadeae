"""benchmarks/bench_multifidelity.py: --quick prints the table and verdicts; --report-from reads its JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "bench_multifidelity.py"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300, check=False, cwd=ROOT
    )


def test_quick_run_counts_target_calls_and_reads_back(tmp_path: Path) -> None:
    js = tmp_path / "mf.json"
    proc = _run(
        "--quick",
        "--tasks",
        "photo-tint",
        "--judges",
        "hist-hog",
        "--screens",
        "local-unchecked",
        "--json-out",
        str(js),
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "| photo-tint | hist-hog |" in out
    assert "PASS/FAIL mf-local-unchecked: >= 3x fewer target calls than target-only:" in out
    assert "PASS/FAIL mf-local-unchecked: held-out accuracy at most 1 point below target-only:" in out
    cell = json.loads(js.read_text().splitlines()[0])
    runs = cell["runs"]
    assert set(runs) == {"lanczos", "target-only", "mf-local-unchecked"}
    unchecked = runs["mf-local-unchecked"]
    assert unchecked["screened"] and unchecked["screen_calls"] > 0 and "screening unchecked" in unchecked["note"]
    assert 0 < unchecked["target_calls"] and 0 < runs["target-only"]["target_calls"]
    again = _run("--quick", "--screens", "local-unchecked", "--report-from", str(js))
    assert again.returncode == 0, again.stderr
    assert "cells read from" in again.stdout and "| photo-tint | hist-hog |" in again.stdout
