"""benchmarks/bench_optimizer.py: runs with --quick and prints the report's format (never checks numbers)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from .conftest import load_script

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "bench_optimizer.py"


def _bench() -> ModuleType:
    return load_script(SCRIPT)


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=240, check=False, cwd=ROOT
    )


def test_quick_run_prints_tables_verdicts_and_writes_markdown(tmp_path: Path) -> None:
    out_md = tmp_path / "bench.md"
    proc = _run("--quick", "--markdown-out", str(out_md))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.startswith("machine: ")
    settings = json.loads(next(ln for ln in out.splitlines() if ln.startswith("settings: "))[len("settings: ") :])
    assert settings["size"] == 64 and settings["tasks"] == ["colour-position", "fine-texture"]
    for task in ("colour-position", "fine-texture"):
        assert f"## {task} (64 px" in out
        verdict = next(ln for ln in out.splitlines() if ln.startswith(f"PASS/FAIL {task}: "))
        assert re.match(rf"PASS/FAIL {task}: (PASS|FAIL): ", verdict), verdict
        assert re.search(rf"^- {task}: (PASS|FAIL)$", out, re.M)
    assert out.count("| method | val acc | test acc | tokens (openai:gpt-4.1-mini) | cut |") == 2
    for method in ("full", "optimizer", "uniform", "random", "text_only"):
        assert re.search(rf"^\| {method} \| ", out, re.M), method
    assert re.search(r"^kept L0 \(finest band\) in \d+ of \d+ demo images: demo0=", out, re.M)
    assert re.search(r"^scorer calls: \d+ \(search", out, re.M)
    for task in ("colour-position", "fine-texture"):
        assert f"## Pareto front: {task} (64 px), multi-objective" in out
    assert out.count("| trial | tokens (openai:gpt-4.1-mini) | of full | val acc | test acc | kept per demo |") == 2
    assert re.search(r"^engine requests in total: \d+; total wall time [\d.]+ s$", out, re.M)
    assert out_md.read_text(encoding="utf-8") == out


def test_report_only_task_and_no_pareto() -> None:
    proc = _run("--quick", "--tasks", "gauge", "--pareto-tasks", "none", "--cost-model", "local", "--n-trials", "2")
    assert proc.returncode == 0, proc.stderr
    assert "## gauge (64 px" in proc.stdout
    assert "- gauge: no bar (report only)" in proc.stdout
    assert "PASS/FAIL" not in proc.stdout and "## Pareto front" not in proc.stdout
    assert "| method | val acc | test acc | tokens (local) | cut |" in proc.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--budget", "fine-texture=2"], "TASK=FRACTION with 0 < FRACTION <= 1"),
        (["--budget", "fine-texture"], "TASK=FRACTION"),
        (["--budget", "gauge=abc"], "TASK=FRACTION"),
        (["--tasks", "nope"], "unknown task(s) ['nope']; known: colour-position"),
        (["--pareto-tasks", "gauge", "nope"], "unknown --pareto-tasks ['nope']"),
        (["--demo-order", "sorted"], "invalid choice: 'sorted'"),
        (["--size", "16"], "want an integer >= 32, got '16'"),
        (["--n-trials", "x"], "want an integer >= 1, got 'x'"),
    ],
)
def test_bad_arguments_exit_with_a_message(args: list[str], message: str) -> None:
    proc = _run(*args)
    assert proc.returncode == 2
    assert message in proc.stderr


def test_pick_demos_orders_and_refuses_short_classes() -> None:
    from specprompt.tasks import get_task

    bench = _bench()
    task = get_task("colour-position", n_train=8, n_val=0, n_test=0, size=32)
    demos = bench.pick_demos(task, 2, "round-robin", 0)
    assert [d.label for d in demos] == list(task.labels) * 2
    shuffled = bench.pick_demos(task, 2, "shuffled", 0)
    assert sorted(d.label for d in shuffled) == sorted(d.label for d in demos)
    with pytest.raises(SystemExit, match="fewer than 3 examples of some class"):
        bench.pick_demos(task, 3, "round-robin", 0)


def test_kept_levels_reads_result_selections() -> None:
    bench = _bench()
    sel = json.dumps(
        {
            "a": {"bands": None},
            "b": {"bands": []},
            "c": {"bands": ["L1", "L2", "residual"]},
            "d": {"bands": ["residual"]},
            "e": {"bands": ["L0", "L1", "residual"]},
        }
    )
    assert bench.kept_levels(sel) == ["all", "drop", "L1+", "res", "L0+"]
    assert bench.keeps_l0(sel) == [True, False, False, False, True]
