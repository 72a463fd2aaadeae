"""benchmarks/probe_departures.py: a committed departure re-runs to the recorded accuracy and is counted."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from .conftest import load_script

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "probe_departures.py"
RESULTS = ROOT / "benchmarks" / "results" / "realphoto-b29c481-seeds5-9.jsonl.gz"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=600, check=False, cwd=ROOT
    )


def test_one_departure_reruns_as_recorded_and_the_report_counts_it(tmp_path: Path) -> None:
    js = tmp_path / "dep.jsonl"
    proc = _run(str(RESULTS), "--tasks", "photo-texture", "--limit", "1", "--json-out", str(js))
    assert proc.returncode == 0, proc.stderr
    assert "departures re-run: 1; held-out accuracy as recorded: 1 of 1" in proc.stdout
    (row,) = load_script(SCRIPT).read_json_lines(str(js))
    assert row["task"] == "photo-texture" and row["test"] == row["recorded_test"]
    assert not row["note"].startswith("chosen baseline") and sorted(row["images"]) == ["brick", "grass", "gravel"]
    for criterion in ("count", "largest", "tokens", "same"):  # each compile is even or uneven, never both
        counts = [int(m) for m in re.findall(rf"^\| {criterion} \| (?:even|uneven) \| (\d+) \|", proc.stdout, re.M)]
        assert sorted(counts) in ([0, 1], [1, 0])
    again = _run("--report-from", str(js))
    assert again.returncode == 0 and "held-out accuracy as recorded: 1 of 1" in again.stdout


def test_without_results_it_says_what_to_name() -> None:
    proc = _run()
    assert proc.returncode == 2 and "--report-from" in proc.stderr


def test_a_run_replays_with_the_sharpen_setting_it_recorded(tmp_path: Path) -> None:
    probe = load_script(SCRIPT)
    assert probe.sharpens(str(RESULTS)) is False  # written before the dimension existed: searched without it
    new = tmp_path / "new.jsonl"
    new.write_text('{"_run": {"script": "bench_realphoto.py", "settings": {"sharpen": true}}}\n', encoding="utf-8")
    assert probe.sharpens(str(new)) is True
