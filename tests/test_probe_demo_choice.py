"""benchmarks/probe_demo_choice.py: tiny settings print both tables with numbers in every column."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "probe_demo_choice.py"


def test_tiny_probe_prints_forced_and_random_set_tables(tmp_path: Path) -> None:
    js = tmp_path / "p.jsonl"
    args = ["--judges", "hist-hog", "--seeds", "1", "--sets", "2", "--ks", "1", "2", "--n-train", "12"]
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), *args, "--n-val", "3", "--n-test", "3", "--json-out", str(js)],
        capture_output=True, text=True, timeout=300, check=False, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "| judge | scale | 3 demos | 6 demos, 3 images | lanczos (6 images) | full (6 images) |" in out
    assert re.search(r"^\| hist-hog \| 0\.\d\d \| [\d.]+ \| [\d.]+ \| [\d.]+ \| [\d.]+ \|$", out, re.M)
    for k in (1, 2):
        assert re.search(
            rf"^\| hist-hog \| {k} \| 0\.\d\d \| [\d.]+ \| [\d.]+ \| [\d.]+ \| [\d.]+ \| [\d.]+ \|$", out, re.M
        )
    row = json.loads(js.read_text(encoding="utf-8").splitlines()[0])
    assert row["judge"] == "hist-hog" and len(row["k2"]["sets"]) == 2
    assert row["k2"]["oracle"] >= row["k2"]["val_best"] and row["k2"]["oracle"] >= row["k2"]["mean"]
