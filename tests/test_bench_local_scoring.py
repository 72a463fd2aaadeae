"""benchmarks/bench_local_scoring.py: --quick runs both paths and prints the table and verdicts (no timing checks)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import load_script

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_local_scoring.py"


def test_quick_run_prints_both_paths_and_the_verdicts(capsys: pytest.CaptureFixture[str]) -> None:
    bench = load_script(SCRIPT)
    bench.main(["--quick", "--size", "64"])
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith(("| per-call |", "| batched |"))]
    assert len(rows) == 2 and all(row.split("|")[5].strip() == "16" for row in rows)  # 4 trials x 4 examples
    assert "batched scoring >= 5x fewer seconds per trial" in out
    assert "PASS: same answers on both paths (16 predicted labels" in out
    assert "PASS: same trial scores and recorded spend" in out
