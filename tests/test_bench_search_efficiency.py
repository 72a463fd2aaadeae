"""benchmarks/bench_search_efficiency.py: --quick prints every table and both verdicts; the curve arithmetic."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from .conftest import load_script

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "bench_search_efficiency.py"


def _bench() -> ModuleType:
    return load_script(SCRIPT)


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=180, check=False, cwd=ROOT
    )


def test_quick_run_prints_tables_and_verdicts(tmp_path: Path) -> None:
    md, js = tmp_path / "e.md", tmp_path / "e.jsonl"
    proc = _run("--quick", "--tasks", "photo-tint", "photo-detail", "--markdown-out", str(md), "--json-out", str(js))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    settings = json.loads(next(ln for ln in out.splitlines() if ln.startswith("settings: "))[len("settings: ") :])
    assert settings["judges"] == ["hist-hog", "lbp-dct"] and settings["budgets"] == [0.25]
    assert "## Calls to reach 95% of the final best valset score, per task (judges x seeds); 1 seeds" in out
    assert "| task | budget | runs | opt final | rand final | opt calls | rand calls |" in out
    for task in ("photo-tint", "photo-detail"):
        assert re.search(
            rf"^\| {task} \| 25% \| 2 \| \d+\.\d \| \d+\.\d \| (\d+|never) \| (>=)?(\d+|never) \|", out, re.M
        )
        assert re.search(rf"^\| {task} \| lbp-dct \| 25% \| 1 \| ", out, re.M)
        assert re.search(rf"^\| {task} \| both \| 25% \| \d+\.\d \| \d+\.\d \| ", out, re.M)
    assert re.search(r"^PASS/FAIL median calls to reach 95% .*: (PASS|FAIL) \(photo-tint/25%: ", out, re.M)
    assert "| ratio | ratio (free) | floor | PASS <= 1/3 |" in out
    assert re.search(r"^floor of the ratio \(.*\): photo-tint: (\d+\.\d\d|inf); photo-detail: ", out, re.M)
    assert re.search(r"^PASS/FAIL photo-detail at the optimizer's total calls: .*: (PASS|FAIL) \(25%: ", out, re.M)
    assert md.read_text(encoding="utf-8") == out
    cells = _bench().read_json_lines(str(js))  # the results, without the run and group lines
    assert len(cells) == 4 and all(set(c["traces"]) == {"optimizer", "random"} for c in cells)
    for c in cells:
        for method, trace in c["traces"].items():
            factor = settings["random_factor"] if method == "random" else 1
            assert len(trace["calls"]) == len(trace["best"]) == factor * settings["n_trials"]
            assert trace["calls"] == sorted(trace["calls"])
    assert all(c["traces"]["random"]["prefix_calls"] == 0 for c in cells)
    assert "4/4 groups" in proc.stderr
    again = _run("--quick", "--tasks", "photo-tint", "photo-detail", "--report-from", str(js))
    assert again.returncode == 0, again.stderr
    tables = out[out.index("## Calls to reach") : out.index("total wall time")]
    assert tables in again.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--budgets", "0"], "a budget is a fraction 0 < f <= 1"),
        (["--tasks", "gauge"], "invalid choice: 'gauge'"),
        (["--pricing", "nope"], "unknown cost model 'nope'"),
        (["--seeds", "0"], "want an integer >= 1, got '0'"),
    ],
)
def test_bad_arguments_exit_with_a_message(args: list[str], message: str) -> None:
    proc = _run(*args)
    assert proc.returncode == 2
    assert message in proc.stderr


def test_calls_to_reach_best_within_and_the_median_ratio() -> None:
    bench = _bench()
    opt = bench.Trace([0, 10, 20, 30], [None, 0.5, 0.9, 0.9], 20, 0, 50, {}, 0.0)
    rand = bench.Trace([10, 20, 30, 40], [0.5, 0.5, 0.6, 0.8], 0, 0, 40, {}, 0.0)
    assert opt.paid() == [20, 30, 40, 50] and opt.paid(free=True) == [0, 10, 20, 30]
    assert bench.calls_to_reach(opt, 0.855) == 40 and bench.calls_to_reach(opt, 0.855, free=True) == 20
    assert math.isinf(bench.calls_to_reach(rand, 0.855))
    assert bench.calls_to_reach(rand, 0.855, censored=True) == 40
    assert bench.best_within(opt, 39) == 0.5 and bench.best_within(rand, 40) == 0.8
    assert bench.best_within(opt, 19) == 0.0  # no search trial within the baseline calls
    cell = bench.Cell("photo-detail", "hist-hog", 0.25, 0, 100, {"optimizer": opt, "random": rand})
    sm = bench.summarize([cell], 4)
    assert sm.reach == {"optimizer": 40.0, "random": 40.0} and sm.random_bound
    assert sm.random_calls() == ">=40" and sm.ratio == 1.0 and sm.ratio_free == 0.5
    assert sm.first == 20 and sm.ratio_floor == 0.5  # a first search trial that reached it: 20 / 40
    assert sm.equal[1.0] == (0.9, 0.8) and round(sm.gap(), 6) == 10.0
    assert sm.reached == {"optimizer": 1, "random": 0}
    assert opt.final() == 0.9 and rand.final(2) == 0.5 and opt.total == 50
    # random goes on for twice the trials: the target stays 95% of the better final after 2 trials
    longer = bench.Trace([10, 20, 30, 40], [0.5, 0.5, 0.6, 0.8], 0, 0, 40, {}, 0.0)
    short = bench.Trace([10, 20], [0.6, 0.7], 10, 0, 30, {}, 0.0)
    cell = bench.Cell("photo-tint", "lbp-dct", 0.25, 1, 100, {"optimizer": short, "random": longer})
    sm = bench.summarize([cell], 2)
    assert sm.final == {"optimizer": 0.7, "random": 0.5} and sm.reach == {"optimizer": 30.0, "random": 40.0}
    assert not sm.random_bound and sm.reached == {"optimizer": 1, "random": 1} and sm.ratio == 0.75
    assert sm.first == 20 and sm.ratio_floor == 0.5  # it reached at its second trial, 30 calls


def test_a_report_reads_n_trials_from_the_cells_unless_given() -> None:
    bench = _bench()
    opt = bench.Trace([0, 10, 20, 30], [None, 0.5, 0.9, 0.9], 20, 0, 50, {}, 0.0)
    rand = bench.Trace([10, 20, 30, 40, 50, 60, 70, 80], [0.5] * 8, 0, 0, 80, {}, 0.0)
    cells = [bench.Cell("photo-tint", "hist-hog", 0.25, 0, 100, {"optimizer": opt, "random": rand})]
    settings, *_ = bench.parse_args([])
    assert settings.n_trials == 30
    assert bench.settings_of_file(cells, settings, trials_given=False).n_trials == 4
    assert bench.settings_of_file(cells, settings, trials_given=True).n_trials == 30


def test_the_held_out_view_follows_the_first_trial_to_reach_the_best() -> None:
    import optuna

    bench = _bench()
    study = optuna.create_study(direction="maximize")
    rows = [("baseline:uniform", 0.9, 6), ("warm:a", 0.5, 4), ("sampler", 0.8, 4), ("sampler", 0.8, 4)]
    rows += [("neighbour:1", 0.7, 4)]
    for origin, score, calls in rows:
        attrs = {"origin": origin, "score": score, "feasible": True, "spend": {"calls": calls}}
        study.add_trial(optuna.trial.create_trial(value=score, user_attrs=attrs))
    seen: list[int] = []

    def test_of(trial: optuna.trial.FrozenTrial) -> float:
        seen.append(trial.number)
        return trial.number / 10

    trace = bench.read_trace(study, 4, 22, 0.0, test_of)
    assert trace.best == [0.5, 0.8, 0.8, 0.8] and trace.prefix_calls == 6
    # trial 3 ties trial 2: the first to reach the best stays; each leader is scored once
    assert trace.test == [0.1, 0.2, 0.2, 0.2] and seen == [1, 2]
    assert bench.test_within(trace, 9) is None and bench.test_within(trace, 10) == 0.1
    assert bench.test_within(trace, 100) == 0.2
    assert bench.read_trace(study, 4, 22, 0.0).test == []  # no held-out view without test_of
    assert bench.test_within(bench.read_trace(study, 4, 22, 0.0), 100) is None


def test_quick_run_with_a_held_out_split_prints_its_table(tmp_path: Path) -> None:
    js = tmp_path / "e.jsonl"
    proc = _run("--quick", "--tasks", "photo-tint", "--judges", "lbp-dct", "--n-test", "8", "--json-out", str(js))
    assert proc.returncode == 0, proc.stderr
    assert "## Held-out accuracy (%) at equal calls, mean over judges x seeds" in proc.stdout
    assert re.search(r"^\| photo-tint \| lbp-dct \| 25% \| \d+\.\d \| \d+\.\d \| ", proc.stdout, re.M)
    cell = _bench().read_json_lines(str(js))[0]
    for trace in cell["traces"].values():
        assert len(trace["test"]) == len(trace["calls"])
        assert all(t is None or 0.0 <= t <= 1.0 for t in trace["test"])
    assert "## Held-out accuracy" not in _run("--quick", "--tasks", "photo-tint", "--judges", "lbp-dct").stdout
