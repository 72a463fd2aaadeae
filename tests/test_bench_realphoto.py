"""benchmarks/bench_realphoto.py: --quick prints every table and verdict line; its resizing baselines fit the budget."""

from __future__ import annotations

import dataclasses
import gzip
import json
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from .conftest import load_script

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "bench_realphoto.py"


def _bench() -> ModuleType:
    return load_script(SCRIPT)


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120, check=False, cwd=ROOT
    )


def test_quick_run_prints_tables_and_verdicts(tmp_path: Path) -> None:
    md, js = tmp_path / "r.md", tmp_path / "r.json"
    proc = _run("--quick", "--tasks", "photo-tint", "photo-texture", "--markdown-out", str(md), "--json-out", str(js))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    settings = json.loads(next(ln for ln in out.splitlines() if ln.startswith("settings: "))[len("settings: ") :])
    assert settings["judges"] == ["hist-hog", "lbp-dct"] and settings["sizes"]["photo-tint"] == 64
    assert "## Held-out test accuracy (%), pricing openai:gpt-4.1-mini, mean +- std over 1 seeds" in out
    header = "| task | judge | budget | optimizer | lanczos | pyramid | low_detail | random | full | text_only |"
    assert header in out
    for task in ("photo-tint", "photo-texture"):
        for judge in ("hist-hog", "lbp-dct"):
            assert re.search(rf"^\| {task} \| {judge} \| 25% \| \d+\.\d \+- \d+\.\d \| ", out, re.M), (task, judge)
    assert re.search(r"^\| photo-tint \| hist-hog \| 25% \| openai:gpt-4.1-mini \| \d+ \| [\d.]+ \| \d+ \|", out, re.M)
    assert re.search(r"^PASS/FAIL optimizer >= uniform Lanczos .*: (PASS|FAIL)", out, re.M)
    assert re.search(r"^PASS/FAIL fine texture at 25%: .*: (PASS|FAIL) \(hist-hog/", out, re.M)
    assert re.search(r"^PASS/FAIL coarse-only at 25% budget: .*: (PASS|FAIL) \(hist-hog/", out, re.M)
    assert md.read_text(encoding="utf-8") == out
    cells = _bench().read_json_lines(str(js))  # the results, without the run and group lines
    assert len(cells) == 4 and set(cells[0]["methods"]) == {
        "optimizer",
        "lanczos",
        "pyramid",
        "low_detail",
        "random",
        "full",
        "text_only",
    }
    assert all(c["methods"]["optimizer"]["note"].startswith("chosen ") for c in cells)  # how each search chose
    for c in cells:  # the per-example test scores, whose mean is the accuracy
        scores = c["methods"]["optimizer"]["scores"]
        assert scores and set(scores) <= {0.0, 1.0}
        assert c["methods"]["optimizer"]["test"] == pytest.approx(sum(scores) / len(scores), abs=1e-4)
    assert "4/4 groups" in proc.stderr
    again = _run("--report-from", str(js))
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith(f"cells read from {js} (4 cells)")
    tables = out[out.index("## Held-out") : out.index("total wall time")]
    assert tables in again.stdout
    both = _run("--report-from", str(js), str(js))  # the cells of two files together: twice each cell here
    assert both.returncode == 0, both.stderr
    assert both.stdout.startswith(f"cells read from {js}, {js} (8 cells)")
    assert "mean +- std over 1 seeds" in both.stdout  # the same seed twice is still one seed
    packed = tmp_path / "r.jsonl.gz"
    packed.write_bytes(gzip.compress(js.read_bytes()))
    again_gz = _run("--report-from", str(packed))
    assert again_gz.returncode == 0, again_gz.stderr
    assert tables in again_gz.stdout  # a gzipped file reads the same
    same = _run("--report-from", str(js), "--same-as", str(packed))
    assert same.returncode == 0, same.stderr
    assert f"same as {packed}: 4 of 4 matched optimizer cells identical" in same.stdout
    bench = _bench()
    mine, ref = bench.load_cells(str(js)), bench.load_cells(str(js))
    first = ref[0].methods["optimizer"]
    ref[0].methods["optimizer"] = dataclasses.replace(first, scores=[1.0 - x for x in first.scores])
    report = bench.Report()
    assert bench.same_as(mine, ref[:3], report, "ref") == 1
    line = report.lines[-1]
    assert "2 of 3 matched optimizer cells identical" in line and "1 cells not in it; differing: " in line
    assert {c.n_val for c in mine} == {4}  # --quick's valset, recorded in each cell
    assert bench.n_val_of(mine, 30, explicit=False) == 4 and bench.n_val_of(mine, 30, explicit=True) == 30
    old = [dataclasses.replace(c, n_val=0) for c in mine]  # a file written before n_val was recorded
    assert bench.n_val_of(old, 30, explicit=False) == 30


def test_search_demos_column_and_verdicts(tmp_path: Path) -> None:
    js = tmp_path / "r.json"
    proc = _run(
        "--quick", "--tasks", "photo-texture", "--judges", "lbp-dct", "--search-demos", "--no-random",
        "--n-train", "9", "--demo-pool", "2", "--json-out", str(js),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    settings = json.loads(next(ln for ln in out.splitlines() if ln.startswith("settings: "))[len("settings: ") :])
    assert settings["search_demos"] is True and settings["demo_pool"] == 2 and settings["n_train"] == 9
    header = "| optimizer | optimizer+demos | lanczos | lanczos+demos | pyramid | low_detail | full | text_only |"
    assert header in out and "random" not in out.split("## Held-out")[1].split("\n")[4]
    assert re.search(r"^\| photo-texture \| lbp-dct \| 25% \| [\d.]+ \+- [\d.]+ \| [\d.]+ \+- [\d.]+ \| ", out, re.M)
    assert re.search(r"^PASS/FAIL optimizer\+demos >= uniform Lanczos .*: (PASS|FAIL)", out, re.M)
    assert re.search(r"^PASS/FAIL fine texture at 25%: optimizer\+demos >= uniform Lanczos \+ 5 points", out, re.M)
    assert re.search(r"^optimizer\+demos: demos shown by the chosen programs: \d+", out, re.M)
    assert "| task | judge | budget | pricing | optimizer+demos | demo choice | sizes and bands |" in out
    cell = _bench().read_json_lines(str(js))[0]
    assert "optimizer+demos" in cell["methods"] and "random" not in cell["methods"] and cell["n_demos"] == 3
    assert "lanczos+demos" in cell["methods"]


def test_lanczos_on_chosen_demos_resizes_the_trainset_images_the_search_showed() -> None:
    import dspy

    from specprompt.cost import image_tokens
    from specprompt.scorers import pixel_lm
    from specprompt.search import BandOptimizer
    from specprompt.tasks import get_task
    from specprompt.types import DROPPED_IMAGE

    bench = _bench()
    task = get_task("photo-texture", n_train=12, n_val=3, n_test=3, size=128, seed=0)
    student = dspy.Predict(task.signature)
    student.demos = bench.pick_demos(task, 1)
    full = sum(image_tokens("qwen2-vl", 128, 128) for _ in student.demos)
    opt = BandOptimizer(
        bench.exact_match, token_budget=full // 2, cost_model="qwen2-vl", n_trials=4, storage="memory",
        search_demos=True, demo_pool=2, progress=False,
    )  # fmt: skip
    with dspy.context(lm=pixel_lm("hist-hog")):
        program = opt.compile(student, trainset=task.trainset, valset=task.valset)
        chosen = bench.chosen_sources(program, task.trainset)
        assert chosen is not None and len(chosen) == len(program.demos)
        assert all(any(c is ex for ex in task.trainset) for c, shown in chosen if shown)
        assert [c.label for c, _ in chosen] == [d.label for d in program.demos]
        dropped = bench.with_images(student, student.demos, [DROPPED_IMAGE, *(d.image for d in student.demos[1:])])
        assert bench.chosen_sources(dropped, task.trainset) == [
            (dropped.demos[0], False),
            *((d, True) for d in student.demos[1:]),
        ]
        settings = bench.parse_args(["--quick"])[0]
        outcome = bench._lanczos_on_chosen(student, program, task, "qwen2-vl", full // 2, settings)
    assert outcome.test is not None and outcome.tokens is not None and outcome.tokens <= full // 2
    assert re.match(rf"{len(chosen)} chosen demos \(\d+ with images, \d+ from the pool\), scale 0\.\d+$", outcome.note)
    # demos that are not renderings of trainset images are not attributed
    other = get_task("photo-texture", n_train=3, n_val=0, n_test=0, size=128, seed=1)
    foreign = bench.with_images(student, other.trainset, [ex.image for ex in other.trainset])
    assert bench.chosen_sources(foreign, task.trainset) is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--budgets", "0"], "a budget is a fraction 0 < f <= 1"),
        (["--tasks", "gauge"], "invalid choice: 'gauge'"),
        (["--judges", "clip"], "invalid choice: 'clip'"),
        (["--pricings", "nope"], "unknown cost model 'nope'"),
        (["--seeds", "0"], "want an integer >= 1, got '0'"),
        (["--demo-pool", "0"], "want an integer >= 1, got '0'"),
        (["--tie-confidence", "1"], "--tie-confidence is a probability in [0.5, 1), got 1.0"),
    ],
)
def test_bad_arguments_exit_with_a_message(args: list[str], message: str) -> None:
    proc = _run(*args)
    assert proc.returncode == 2
    assert message in proc.stderr


def test_resizing_baselines_fit_the_budget_and_lanczos_is_the_largest_that_does() -> None:
    from specprompt.cost import image_tokens
    from specprompt.tasks import get_task

    bench = _bench()
    task = get_task("photo-texture", n_train=3, n_val=0, n_test=0, size=256, seed=0)
    demos = bench.pick_demos(task, 1)
    full = sum(image_tokens("qwen2-vl", 256, 256) for _ in demos)
    budget = full // 4
    images, scale = bench.lanczos_images(demos, "qwen2-vl", budget)
    sizes = [bench.image_size(im) for im in images]
    assert sum(image_tokens("qwen2-vl", *s) for s in sizes) <= budget
    side = sizes[0][0] + 1  # one pixel larger no longer fits
    assert sum(image_tokens("qwen2-vl", side, side) for _ in images) > budget
    assert 0 < scale < 1
    pyr, dropped = bench.pyramid_images(demos, "qwen2-vl", budget)
    assert dropped >= 1 and sum(image_tokens("qwen2-vl", *im.render_size) for im in pyr) <= budget
    assert bench.lanczos_images(demos, "qwen2-vl", 0) is None
    assert not bench.low_detail_priced("openai:gpt-4.1-mini", 256, 256)
    assert bench.low_detail_priced("openai:gpt-4o", 1024, 1024)


def test_random_search_falls_back_to_a_random_sampler_compile() -> None:
    import dspy

    from specprompt.scorers import pixel_lm
    from specprompt.search import BandOptimizer
    from specprompt.tasks import get_task

    bench = _bench()
    task = get_task("photo-tint", n_train=4, n_val=3, n_test=0, size=64, seed=0)
    student = dspy.Predict(task.signature)
    student.demos = bench.pick_demos(task, 1)
    opt = BandOptimizer(bench.exact_match, token_budget=20, cost_model="qwen2-vl", n_trials=2, storage="memory")

    def broken(*args: object, **kwargs: object) -> None:
        raise TypeError("run_baselines() changed")

    with dspy.context(lm=pixel_lm("hist-hog")):
        found, calls, note = bench._random_search(opt, student, task)
        assert found is not None and calls > 0 and "random" in note
        opt.run_baselines = broken  # type: ignore[method-assign]
        program, calls, note = bench._random_search(opt, student, task)
    assert note == "BandOptimizer with RandomSampler" and calls > 0
    assert bench.prompt_tokens(program, "qwen2-vl") <= 20


def test_no_trim_reaches_the_settings() -> None:
    bench = _bench()
    assert bench.parse_args(["--quick"])[0].trim is True
    assert bench.parse_args(["--quick", "--no-trim"])[0].trim is False
    assert bench.parse_args(["--quick"])[0].trim_baselines is None
    assert bench.parse_args(["--quick", "--trim-baselines", "off"])[0].trim_baselines == "off"
    assert bench.parse_args(["--quick"])[0].confirm_splits is None
    assert bench.parse_args(["--quick", "--confirm-splits", "0"])[0].confirm_splits == 0
    assert bench.parse_args(["--quick"])[0].sharpen is True
    assert bench.parse_args(["--quick", "--no-sharpen"])[0].sharpen is False


def test_never_below_lanczos_treats_percentage_rounding_as_a_tie(capsys: pytest.CaptureFixture[str]) -> None:
    bench = _bench()
    from _common import Report  # benchmarks/ is on sys.path once the script is loaded

    def cells(opt: list[float], lan: list[float]) -> list[Any]:
        out = []
        for seed, (o, la) in enumerate(zip(opt, lan, strict=True)):
            cell = bench.CellResult("photo-detail", "hist-hog", 0.25, "qwen2-vl", seed, 1000)
            cell.methods["optimizer"] = bench.Outcome(o, 100)
            cell.methods["lanczos"] = bench.Outcome(la, 100)
            out.append(cell)
        return out

    # 51 + 56 + 56 + 55 + 56 = 274 of 300 against 52 + 52 + 56 + 56 + 58 = 274: equal, printed to 2 decimals
    tie = cells([0.85, 0.9333, 0.9333, 0.9167, 0.9333], [0.8667, 0.8667, 0.9333, 0.9333, 0.9667])
    assert bench.verdicts(tie, Report())["never-below-lanczos"] is True
    one_less = cells([0.85, 0.9333, 0.9333, 0.9, 0.9333], [0.8667, 0.8667, 0.9333, 0.9333, 0.9667])
    assert bench.verdicts(one_less, Report())["never-below-lanczos"] is False  # one example fewer
    capsys.readouterr()


def test_paired_rows_against_lanczos_name_the_rows_clearly_below(capsys: pytest.CaptureFixture[str]) -> None:
    bench = _bench()
    from _common import Report  # benchmarks/ is on sys.path once the script is loaded

    def cell(task: str, seed: int, opt: list[float] | None, lan: list[float]) -> Any:
        c = bench.CellResult(task, "hist-hog", 0.25, "qwen2-vl", seed, 1000)
        c.methods["optimizer"] = bench.Outcome(None if opt is None else sum(opt) / len(opt), 50, scores=opt)
        c.methods["lanczos"] = bench.Outcome(sum(lan) / len(lan), 100, scores=lan)
        return c

    right = [1.0] * 50 + [0.0] * 10
    worse = [0.0] * 10 + [1.0] * 40 + [0.0] * 10  # loses the first 10 examples, which lanczos got
    cells = [cell("photo-tint", s, worse, right) for s in range(5)]  # -16.7 points in every seed
    cells += [cell("photo-texture", s, right, right) for s in range(5)]  # the same program
    cells += [cell("photo-detail", s, None, right) for s in range(5)]  # no scores: left out
    report = Report()
    bench.paired_against_lanczos(cells, report)
    text = "\n".join(report.lines)
    assert re.search(
        r"^\| photo-tint \| hist-hog \| 25% \| qwen2-vl \| -16\.7 \| -2\d\.\d to -1\d\.\d \| below \|$", text, re.M
    )
    assert "| photo-texture | hist-hog | 25% | qwen2-vl | +0.0 | +0.0 to +0.0 | within |" in text
    assert "photo-detail" not in text
    assert (
        "optimizer against uniform Lanczos, paired: 1 of 2 rows clearly below (photo-tint/hist-hog/25%/qwen2-vl), "
        in text
    )
    assert text.endswith("0 clearly above, 1 within their interval")
    mean, low, high = bench.paired_interval([(worse, right)] * 5)
    assert low <= mean <= high < 0 and bench.paired_interval([(worse, right)] * 5) == (mean, low, high)  # seeded
    empty = Report()
    bench.paired_against_lanczos(cells[10:], empty)
    assert not empty.lines  # nothing has scores: nothing printed
    capsys.readouterr()


def _noted_cell(bench: ModuleType, where: tuple[str, str, float], seed: int, note: str, opt: float, lan: float) -> Any:
    """A cell of task, judge and budget ``where`` (qwen2-vl pricing) whose optimizer note is ``note``
    and test accuracies ``opt`` and ``lan`` (what the report lines read)."""
    c = bench.CellResult(*where, "qwen2-vl", seed, 1000)
    c.methods["optimizer"] = bench.Outcome(opt, 50, note=note)
    c.methods["lanczos"] = bench.Outcome(lan, 100)
    return c


def test_departures_split_the_kept_departures_by_their_held_out_gain() -> None:
    bench = _bench()
    from _common import Report  # benchmarks/ is on sys.path once the script is loaded

    def cell(seed: int, note: str, opt: float, lan: float) -> Any:
        return _noted_cell(bench, ("photo-tint", "lbp-dct", 0.1), seed, note, opt, lan)

    cells = [
        cell(0, "chosen sampler (50 tokens); confirmation gain +4.2 (kept)", 0.9, 0.8),  # 0.5 of 12: +10.0
        cell(1, "chosen neighbour:3 (50 tokens); confirmation gain +6.6 (kept)", 0.6, 0.7),  # 0.79 of 12: -10.0
        cell(2, "chosen sampler (50 tokens); confirmation gain +9.0 (kept)", 0.85, 0.8),  # 1.08 of 12: +5.0
        cell(3, "chosen baseline:uniform (100 tokens); confirmation gain +0.0 (baseline returned)", 0.8, 0.8),
        cell(4, "chosen baseline:uniform (100 tokens)", 0.8, 0.8),
    ]
    report = Report()
    bench.departures(cells, 24, report)
    text = "\n".join(report.lines)
    assert "(held-out gain in examples of a 12-example half): 3" in text
    assert "refused by confirm_min_examples=1): 2; against lanczos on the test split 1 above (+10.0 to +10.0), " in text
    assert "1 below (-10.0 to -10.0), 0 equal" in text
    assert "gain of 1 example or more: 1; against lanczos on the test split 1 above (+5.0 to +5.0), 0 below" in text
    empty = Report()
    bench.departures(cells[3:], 24, empty)
    assert not empty.lines  # no departure kept: nothing printed


def test_sharpened_choices_count_the_returned_programs_that_send_sharpened_images() -> None:
    bench = _bench()
    from _common import Report  # benchmarks/ is on sys.path once the script is loaded

    def cell(seed: int, note: str, opt: float, lan: float) -> Any:
        return _noted_cell(bench, ("photo-texture", "lbp-dct", 0.25), seed, note, opt, lan)

    cells = [
        cell(0, "chosen baseline:sharpened (156 tokens); sent sharpened 100%", 0.8, 0.7),
        cell(1, "chosen neighbour:4 (150 tokens); sent sharpened 200%; confirmation gain +4.2 (kept)", 0.6, 0.7),
        cell(2, "chosen baseline:sharpened (156 tokens); sent sharpened 100%; trimmed 156 -> 120 tokens", 0.7, 0.7),
        cell(3, "chosen baseline:uniform (156 tokens)", 0.9, 0.7),
        cell(4, "chosen baseline:sharpened (156 tokens); trimmed 156 -> 120 tokens (1 scale)", 0.6, 0.7),  # older note
    ]
    report = Report()
    bench.sharpened_choices(cells, report)
    text = "\n".join(report.lines)
    assert "sharpened images (of 5 compiles): 4; against lanczos on the test split 1 above (+10.0 to +10.0)" in text
    assert "  sharpened 100%: 3; against lanczos on the test split 1 above (+10.0 to +10.0), 1 below (-10.0" in text
    assert "  sharpened 200%: 1; against lanczos on the test split 0 above, 1 below (-10.0 to -10.0), 0 equal" in text
    empty = Report()
    bench.sharpened_choices(cells[3:4], empty)
    assert not empty.lines  # nothing sharpened: nothing printed
    row = json.dumps({"a": {"sent": [8, 8], "sharpen": 200}, "b": {"choice": "excluded"}, "c": {"sent": [8, 8]}})
    assert bench.sharpened_percent(row) == 200 and bench.sharpened_percent(None) == 0
    from types import SimpleNamespace as NS

    chosen = NS(trial=0, origin="baseline:sharpened", tokens=156, key="k", selections=row)
    result = NS(best=chosen, candidates=[chosen], leader=None, confirmation=None, trim=None)
    assert bench.decision_note(result) == "chosen baseline:sharpened (156 tokens); sent sharpened 200%"


def test_baseline_trims_split_by_whether_a_demo_was_dropped() -> None:
    bench = _bench()
    from _common import Report  # benchmarks/ is on sys.path once the script is loaded

    def cell(seed: int, note: str, opt: float, lan: float) -> Any:
        return _noted_cell(bench, ("photo-texture", "hist-hog", 0.5), seed, note, opt, lan)

    cells = [
        cell(0, "chosen baseline:uniform (216 tokens); leader sampler; trimmed 216 -> 180 tokens (1 drop)", 0.6, 0.7),
        cell(1, "chosen baseline:uniform (216 tokens); trimmed 216 -> 90 tokens (2 drop, 1 scale)", 0.8, 0.7),
        cell(2, "chosen baseline:uniform (216 tokens); trimmed 216 -> 100 tokens (2 scale)", 0.7, 0.7),
        cell(3, "chosen baseline:uniform (216 tokens); trimmed 216 -> 100 tokens", 0.75, 0.7),  # an older note
        cell(4, "chosen sampler (50 tokens); trimmed 50 -> 40 tokens (1 drop)", 0.5, 0.7),  # not a baseline
        cell(5, "chosen baseline:uniform (216 tokens)", 0.5, 0.7),
    ]
    report = Report()
    bench.baseline_trims(cells, report)
    text = "\n".join(report.lines)
    assert "returned baselines trimmed: 4; against lanczos on the test split 2 above (+5.0 to +10.0), 1 below" in text
    assert "  with a drop: 2; against lanczos on the test split 1 above (+10.0 to +10.0), 1 below (-10.0 to" in text
    assert "  smaller sizes only: 1; against lanczos on the test split 0 above, 0 below, 1 equal" in text
    assert "  moves not recorded: 1; against lanczos on the test split 1 above (+5.0 to +5.0)" in text
    empty = Report()
    bench.baseline_trims(cells[4:], empty)
    assert not empty.lines  # no trimmed baseline: nothing printed


def test_decision_note_names_the_moves_of_the_trim() -> None:
    from types import SimpleNamespace as NS

    from specprompt.search._trim import TrimReport, TrimStep

    bench = _bench()
    steps = (
        TrimStep(1, "drop d3", 180, 0.7, True, (), 10),
        TrimStep(2, "drop d5", 150, 0.6, False, (2,), 11),
        TrimStep(3, "scale", 120, 0.7, True, (), 12),
        TrimStep(4, "scale", 90, 0.7, True, (), 13),
    )
    chosen = NS(trial=0, origin="baseline:uniform", tokens=216, key="k")
    trim = TrimReport(0, 216, 120, steps)
    result = NS(best=NS(trial=12), candidates=[chosen], leader=None, confirmation=None, trim=trim)
    note = bench.decision_note(result)
    assert note == "chosen baseline:uniform (216 tokens); trimmed 216 -> 120 tokens (1 drop, 1 scale)"
    # a local judge's trim the target refused: the chosen program is returned untrimmed
    from specprompt.search._departures import TrimCheck

    refused = TrimReport(0, 216, 216, steps, check=TrimCheck("t", 90, 0.5, 0.7, (3,), 4, 28))
    result = NS(best=chosen, candidates=[chosen], leader=None, confirmation=None, trim=refused)
    note = bench.decision_note(result)
    assert note == "chosen baseline:uniform (216 tokens); trim to 90 tokens refused by the target"
