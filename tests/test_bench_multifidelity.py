"""benchmarks/bench_multifidelity.py: --quick prints the table and verdicts; --report-from reads its JSON."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .conftest import load_script

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "bench_multifidelity.py"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300, check=False, cwd=ROOT
    )


def _cells(path: Path) -> list[dict[str, Any]]:
    """The results of a --json-out file (its run and group lines left out)."""
    return list(load_script(SCRIPT).rp.read_json_lines(str(path)))


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
        "local-only",
        "--json-out",
        str(js),
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "| photo-tint | hist-hog |" in out
    assert "PASS/FAIL mf-local-unchecked: >= 3x fewer target calls than target-only:" in out
    assert "PASS/FAIL mf-local-unchecked: held-out accuracy at most 1 point below target-only:" in out
    assert "PASS/FAIL local-only: held-out accuracy at most 5 points below target-only" in out
    assert "PASS/FAIL local-only: held-out accuracy never below lanczos" in out
    assert "choices of " not in out  # --quick's budget holds no lanczos image: nothing to count against
    cell = _cells(js)[0]
    runs = cell["runs"]
    assert set(runs) == {"lanczos", "target-only", "mf-local-unchecked", "local-only"}
    unchecked = runs["mf-local-unchecked"]
    assert unchecked["screened"] and unchecked["screen_calls"] > 0 and "screening unchecked" in unchecked["note"]
    assert 0 < unchecked["target_calls"] and 0 < runs["target-only"]["target_calls"]
    alone = runs["local-only"]
    # the local judge alone scores the search: no target call until the held-out split
    assert alone["target_calls"] == 0 and alone["screen_calls"] > 0 and not alone["screened"]
    assert alone["test"] is not None and "band-vlm-v1" in alone["note"]
    # every compile says which program it returned (and how: confirmation, trim)
    assert all("chosen " in runs[m]["note"] for m in ("target-only", "mf-local-unchecked", "local-only"))
    again = _run("--quick", "--screens", "local-unchecked", "local-only", "--report-from", str(js))
    assert again.returncode == 0, again.stderr
    assert "cells read from" in again.stdout and "| photo-tint | hist-hog |" in again.stdout
    assert "PASS/FAIL local-only: held-out accuracy at most 5 points below target-only" in again.stdout
    # several files: their cells together (here the same file twice); a file that is not one: a clean error
    n = again.stdout.split("cells read from ", 1)[1].split(" cells)", 1)[0].rsplit("(", 1)[1]
    twice = _run("--quick", "--screens", "local-unchecked", "local-only", "--report-from", str(js), str(js))
    assert twice.returncode == 0, twice.stderr
    assert f"cells read from {js}, {js} ({2 * int(n)} cells)" in twice.stdout
    bad = tmp_path / "bad.jsonl"
    bad.write_text("[1, 2]\n{}\n", encoding="utf-8")
    refused = _run("--quick", "--report-from", str(js), str(bad))
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert refused.stderr.strip() == f"--report-from: {bad}: line 1 is not a JSON object"


def _model(note: str) -> str:
    return note.split("scored by ", 1)[1].split()[0]


def test_local_only_runs_the_checkpoint_asked_for(tmp_path: Path) -> None:
    notes = {}
    for checkpoint in ("band-vlm-v1", "band-vlm-v2"):
        js = tmp_path / f"{checkpoint}.json"
        proc = _run(
            "--quick",
            "--tasks",
            "photo-tint",
            "--judges",
            "lbp-dct",
            "--screens",
            "local-only",
            "--checkpoint",
            checkpoint,
            "--json-out",
            str(js),
        )
        assert proc.returncode == 0, proc.stderr
        assert f'"checkpoint": "{checkpoint}"' in proc.stdout and "mf-local" not in proc.stdout
        runs = _cells(js)[0]["runs"]
        assert set(runs) == {"lanczos", "target-only", "local-only"}
        assert runs["local-only"]["target_calls"] == 0
        notes[checkpoint] = runs["local-only"]["note"]
    assert _model(notes["band-vlm-v1"]) != _model(notes["band-vlm-v2"])
    bad = _run("--quick", "--checkpoint", str(tmp_path / "missing"))
    assert bad.returncode == 2 and "--checkpoint" in bad.stderr and "band-vlm-v2" in bad.stderr


def test_local_confirmed_calls_the_target_only_to_confirm_a_pick(tmp_path: Path) -> None:
    js = tmp_path / "confirmed.json"
    proc = _run(
        "--quick",
        "--tasks",
        "photo-texture",
        "--judges",
        "hist-hog",
        "--screens",
        "local-confirmed",
        "local-only",
        "--json-out",
        str(js),
    )
    assert proc.returncode == 0, proc.stderr
    assert "PASS/FAIL mf-local-confirmed: >= 3x fewer target calls than target-only:" in proc.stdout
    runs = _cells(js)[0]["runs"]
    confirmed, alone = runs["mf-local-confirmed"], runs["local-only"]
    assert "its pick confirmed by the target" in confirmed["note"] and confirmed["screened"]
    # the same local search; the target scored only the judge's pick and the best baseline
    assert confirmed["screen_calls"] == alone["screen_calls"] > 0 and alone["target_calls"] == 0
    if "held back " in alone["note"] or "confirmed by the target " in confirmed["note"]:
        assert 0 < confirmed["target_calls"] <= 2 * 8  # two prompts on --quick's 8 validation examples
    else:
        assert confirmed["target_calls"] == 0


def test_given_calibration_is_charged_once_per_task_over_the_seeds(tmp_path: Path) -> None:
    js = tmp_path / "given.json"
    common = ("--quick", "--tasks", "photo-tint", "--judges", "hist-hog", "--screens", "local-given")
    proc = _run(*common, "--seeds", "2", "--json-out", str(js))
    assert proc.returncode == 0, proc.stderr
    assert "PASS/FAIL mf-local-given: >= 3x fewer target calls than target-only:" in proc.stdout
    cells = _cells(js)
    assert len(cells) == 2
    for cell in cells:  # --quick: 4 probes x 2 examples, shared by 2 seeds: 4 calls charged to each compile
        note = cell["runs"]["mf-local-given"]["note"]
        assert "[given calibration: 8 target calls over 2 seeds, 4 charged to this compile]" in note
        assert "rank agreement of " in note and cell["runs"]["mf-local-given"]["target_calls"] >= 4


def test_trim_baselines_option_is_parsed() -> None:
    bench = load_script(SCRIPT)
    assert bench.parse_args(["--quick"])[0].trim_baselines is None
    assert bench.parse_args(["--quick", "--trim-baselines", "scale"])[0].trim_baselines == "scale"
    assert bench.parse_args(["--quick"])[0].local_departures is None
    settings = bench.parse_args(["--quick", "--local-departures", "always"])[0]
    assert settings.local_departures == "always"
    assert bench._local_options(settings)["local_departures"] == "always"


def test_screen_keep_min_is_parsed_and_checked_against_screen_keep(capsys: pytest.CaptureFixture[str]) -> None:
    bench = load_script(SCRIPT)
    assert bench.parse_args(["--quick"])[0].screen_keep_min is None
    assert bench.parse_args(["--quick", "--screen-keep", "0.2", "--screen-keep-min", "0.1"])[0].screen_keep_min == 0.1
    with pytest.raises(SystemExit):
        bench.parse_args(["--quick", "--screen-keep", "0.2", "--screen-keep-min", "0.3"])
    assert "--screen-keep-min 0.3 is above --screen-keep 0.2" in capsys.readouterr().err


def test_choices_line_counts_each_kind_of_choice_against_lanczos() -> None:
    bench = load_script(SCRIPT)

    def cell(seed: int, test: float, note: str) -> object:
        runs = {"lanczos": bench.Run(0.5, 100), "local-only": bench.Run(test, 50, note=note)}
        return bench.Cell("photo-tint", "hist-hog", seed, 400, 100, runs)

    cells = [
        cell(0, 0.5, "scored by x alone: 9 local calls; chosen baseline:uniform (100 tokens)"),
        cell(1, 0.6, "chosen baseline:uniform (100 tokens); trimmed 100 -> 16 tokens (2 scale)"),
        cell(2, 0.4, "chosen baseline:uniform (100 tokens); trimmed 100 -> 56 tokens (1 scale)"),
        cell(3, 0.3, "chosen neighbour:2 (90 tokens); confirmation gain +3.0 (kept)"),
        cell(4, 0.9, "no choice named"),  # a note without the choice is not counted
    ]
    assert bench.choices_line(cells, "local-only") == (
        "choices of local-only (4 compiles) against lanczos on the test split: "
        "the resizing baseline as it is 1 (0 above, 0 below, 1 equal); trimmed 2 (1 above, 1 below, 0 equal); "
        "left for a candidate 1 (0 above, 1 below, 0 equal)"
    )
    assert bench.choices_line(cells, "target-only") is None
    cells.append(cell(5, 0.5, "chosen baseline:uniform (100 tokens); held back sampler (60 tokens)"))
    assert bench.choices_line(cells, "local-only") == (
        "choices of local-only (5 compiles) against lanczos on the test split: "
        "the resizing baseline as it is 2 (0 above, 0 below, 2 equal); trimmed 2 (1 above, 1 below, 0 equal); "
        "left for a candidate 1 (0 above, 1 below, 0 equal); "
        "of these, a local judge's pick held back 1 (0 above, 0 below, 1 equal)"
    )
    cells.append(cell(6, 0.75, "chosen baseline:uniform (100 tokens); trim to 16 tokens refused by the target"))
    assert (bench.choices_line(cells, "local-only") or "").endswith(
        "the resizing baseline as it is 3 (1 above, 0 below, 2 equal); trimmed 2 (1 above, 1 below, 0 equal); "
        "left for a candidate 1 (0 above, 1 below, 0 equal); "
        "of these, a local judge's pick held back 1 (0 above, 0 below, 1 equal); "
        "of these, a local judge's trim refused by the target 1 (1 above, 0 below, 0 equal)"
    )


def test_the_other_pixel_judge_can_stand_in_for_the_local_judge(tmp_path: Path) -> None:
    js = tmp_path / "other.json"
    proc = _run(
        "--quick",
        "--tasks",
        "photo-tint",
        "--screens",
        "local-only",
        "--checkpoint",
        "pixel:other",
        "--json-out",
        str(js),
    )
    assert proc.returncode == 0, proc.stderr
    cells = _cells(js)
    assert {c["judge"] for c in cells} == {"hist-hog", "lbp-dct"}
    for c in cells:
        alone = c["runs"]["local-only"]
        other = "lbp-dct" if c["judge"] == "hist-hog" else "hist-hog"
        # the search is scored by the other judge alone; the group's judge answers only the held-out split
        assert _model(alone["note"]) == f"specprompt/pixel-{other}-v1"
        assert alone["target_calls"] == 0 and alone["screen_calls"] > 0
