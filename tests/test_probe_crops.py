"""benchmarks/probe_crops.py: tiny settings print the table with a number in every column."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "probe_crops.py"


def test_tiny_probe_prints_every_method(tmp_path: Path) -> None:
    js = tmp_path / "p.jsonl"
    args = ["--judges", "hist-hog", "--seeds", "1", "--n-train", "6", "--n-test", "3", "--zooms", "1", "0.5"]
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), *args, "--json-out", str(js)],
        capture_output=True, text=True, timeout=300, check=False, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "| judge | full | lanczos | centre x1 | centre x0.5 | detail x1 | detail x0.5 |" in out
    assert re.search(r"^\| hist-hog( \| \d+\.\d){6} \|$", out, re.M), out
    row = json.loads(js.read_text(encoding="utf-8").splitlines()[0])
    assert row["judge"] == "hist-hog" and row["seed"] == 5 and 0 <= row["detail x0.5"] <= 1
    bad = subprocess.run(
        [sys.executable, str(SCRIPT), "--zooms", "1.5"], capture_output=True, text=True, check=False, cwd=ROOT
    )
    assert bad.returncode == 2 and "--zooms must lie in (0, 1]" in bad.stderr
