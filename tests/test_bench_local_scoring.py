"""benchmarks/bench_local_scoring.py: --quick runs both paths and prints the table and verdicts (no timing checks)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_local_scoring.py"


def test_quick_run_prints_both_paths_and_the_verdicts(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("bench_local_scoring", SCRIPT)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    sys.modules["bench_local_scoring"] = bench
    spec.loader.exec_module(bench)
    bench.main(["--quick", "--size", "64"])
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith(("| per-call |", "| batched |"))]
    assert len(rows) == 2 and all(row.split("|")[5].strip() == "16" for row in rows)  # 4 trials x 4 examples
    assert "batched scoring >= 5x fewer seconds per trial" in out
    assert "PASS: same answers on both paths (16 predicted labels" in out
    assert "PASS: same trial scores and recorded spend" in out
