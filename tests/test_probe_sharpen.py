"""benchmarks/probe_sharpen.py: tiny settings print the table with a number in every column."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "probe_sharpen.py"


def test_tiny_probe_prints_every_level(tmp_path: Path) -> None:
    js = tmp_path / "p.jsonl"
    args = ["--judges", "hist-hog", "--budgets", "0.25", "--seeds", "1", "--n-train", "6", "--n-val", "3"]
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), *args, "--n-test", "3", "--json-out", str(js)],
        capture_output=True, text=True, timeout=300, check=False, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "| judge | budget | split | full | lanczos | sharpened 50% | sharpened 100% | sharpened 200% |" in out
    assert re.search(r"^\| hist-hog \| 25% \| test( \| \d+\.\d){5} \|$", out, re.M), out
    row = json.loads(js.read_text(encoding="utf-8").splitlines()[0])
    assert row["judge"] == "hist-hog" and row["seed"] == 5 and 0 <= row["test sharpened 200%"] <= 1
    bad = subprocess.run(
        [sys.executable, str(SCRIPT), "--budgets", "1.5"], capture_output=True, text=True, check=False, cwd=ROOT
    )
    assert bad.returncode == 2 and "--budgets must lie in (0, 1)" in bad.stderr
