"""Do the search's departures from plain resizing that lose show their labels unevenly? A probe.

Usage::

    python benchmarks/probe_departures.py benchmarks/results/realphoto-*.jsonl.gz --workers 2 --json-out dep.jsonl
    python benchmarks/probe_departures.py --report-from dep.jsonl

It reads ``bench_realphoto.py --json-out`` files and compiles again every cell whose optimizer
returned a search candidate instead of a resizing baseline (a *departure*: the note does not start
with ``chosen baseline``), with the settings of the runs kept in ``benchmarks/results/`` (two demos
per class, 8 training examples, ``--n-val``, ``--n-test``, ``--n-trials``; the ``sharpen`` setting
each file's run records, off for files written before the dimension existed). The compile is seeded,
so it returns the same program: the probe checks that its held-out accuracy equals the file's.
For the returned program (after the trim) it records how the demos show each label: the image
tokens of every demo, grouped by the demo's label.

A candidate is *even* under a criterion when every label passes it alike:

==========  ======================================================================================
criterion   every label ...
==========  ======================================================================================
count       shows the same number of images
largest     has its largest image at the same tokens
tokens      spends within a factor 1.5 of the tokens of every other label
same        shows images of the same sizes (the same sorted list of tokens per label)
==========  ======================================================================================

The report counts, per criterion, the even and the uneven departures and how they did against
uniform Lanczos on the test split (above, below, equal; the summed difference in test examples).
A criterion that a search could use to refuse losing departures would leave few losers among the
even ones and few winners among the uneven ones.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    JsonOut,
    Report,
    add_json_out_arguments,
    at_least,
    check_outputs,
    held_out,
    prompt_tokens,
    read_json_lines,
    run_jobs,
    stopped,
    table,
)
from _json_out import read_saved
from bench_realphoto import TASKS, cell_optimizer, decision_note, group_setup

#: Criteria of evenness: name -> test on ``{label: [tokens of each shown image]}``.
CRITERIA: dict[str, Callable[[dict[str, list[int]]], bool]] = {
    "count": lambda per: len({len(v) for v in per.values()}) == 1,
    "largest": lambda per: len({max(v, default=0) for v in per.values()}) == 1,
    "tokens": lambda per: (
        min(map(sum, per.values())) > 0 and max(map(sum, per.values())) <= 1.5 * min(map(sum, per.values()))
    ),
    "same": lambda per: len({tuple(sorted(v)) for v in per.values()}) == 1,
}


@dataclass(frozen=True)
class Departure:
    """One re-run compile whose optimizer departed from the resizing baseline (accuracies 0..1)."""

    task: str
    judge: str
    seed: int
    pricing: str
    fraction: float
    test: float
    recorded_test: float
    lanczos_test: float
    n_test: int
    note: str
    #: label -> image tokens of each demo image the returned program shows (dropped ones left out)
    images: dict[str, list[int]]


def _images(row: Any, labels: Sequence[str]) -> dict[str, list[int]]:
    """Label -> tokens of every shown image of a candidate (slots in demo order)."""
    per: dict[str, list[int]] = {label: [] for label in labels}
    entries = json.loads(row.selections)
    for slot, entry in entries.items():
        index = int(slot.split("demo")[1].split("/")[0])
        if entry.get("choice") != "drop" and entry.get("tokens"):
            per[labels[index]].append(int(entry["tokens"]))
    return per


def sharpens(path: str) -> bool:
    """Whether the searches of a ``bench_realphoto.py --json-out`` file had the ``sharpen``
    dimension: its run's ``sharpen`` setting; files written before the dimension existed lack it
    (their searches had none)."""
    run = read_saved(path).run or {}
    return bool(run.get("settings", {}).get("sharpen", False))


def group(job: tuple[str, str, int, int, int, int, list[dict[str, Any]]]) -> list[Departure]:
    """Re-runs the departures of one task, judge and seed (each cell with its run's ``sharpen``,
    recorded by :func:`main` as ``_sharpen``)."""
    task_name, judge, seed, n_val, n_test, n_trials, cells = job
    sizes = {name: side for name, (_, side) in TASKS.items()}
    _, task, student, demos = group_setup(task_name, judge, seed, sizes, 8, n_val, n_test, 2)
    labels = [str(d.label) for d in demos]
    out = []
    for cell in cells:
        budget = math.floor(cell["budget"] * prompt_tokens(student, cell["pricing"]))
        opt = cell_optimizer(budget, cell["pricing"], n_trials, n_val, seed, sharpen=bool(cell["_sharpen"]))
        program = opt.compile(student, trainset=task.trainset, valset=task.valset)
        result = opt.last_result
        assert result is not None
        test, _ = held_out(program, task.testset, 1)
        pick = result.best.trial if result.trim is None else result.trim.chosen
        row = next((r for r in result.candidates if r.trial == pick), result.best)
        methods = cell["methods"]
        out.append(
            Departure(
                task=task_name,
                judge=judge,
                seed=seed,
                pricing=cell["pricing"],
                fraction=cell["budget"],
                test=test,
                recorded_test=methods["optimizer"]["test"],
                lanczos_test=methods["lanczos"]["test"],
                n_test=n_test,
                note=decision_note(result),
                images=_images(row, labels),
            )
        )
    return out


def report(rows: Sequence[Departure], rep: Report) -> None:
    """The counts of the module docstring."""
    same = sum(abs(r.test - r.recorded_test) < 1e-9 for r in rows)
    rep.add(f"departures re-run: {len(rows)}; held-out accuracy as recorded: {same} of {len(rows)}", "")
    body = []
    for name, even in CRITERIA.items():
        for verdict in (True, False):
            diffs = [round(r.n_test * (r.test - r.lanczos_test)) for r in rows if even(r.images) is verdict]
            body.append(
                [
                    name,
                    "even" if verdict else "uneven",
                    str(len(diffs)),
                    str(sum(d > 0 for d in diffs)),
                    str(sum(d < 0 for d in diffs)),
                    str(sum(d == 0 for d in diffs)),
                    f"{sum(diffs):+d}",
                ]
            )
    rep.add(
        "## Departures against uniform Lanczos on the test split, by how evenly they show the labels",
        "",
        "examples: summed difference in test examples (optimizer minus Lanczos) over the compiles of the row.",
        "",
        *table(["criterion", "labels", "compiles", "above", "below", "equal", "examples"], body),
        "",
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("results", nargs="*", metavar="FILE", help="bench_realphoto.py --json-out files (.gz too)")
    parser.add_argument("--n-val", type=at_least(1), default=24, help="validation examples of those runs (default 24)")
    parser.add_argument("--n-test", type=at_least(1), default=60, help="test examples of those runs (default 60)")
    parser.add_argument("--n-trials", type=at_least(1), default=20, help="search trials of those runs (default 20)")
    parser.add_argument("--tasks", nargs="+", choices=sorted(TASKS), default=None, help="only these tasks' departures")
    parser.add_argument("--limit", type=at_least(1), default=None, help="re-run at most this many departures")
    parser.add_argument("--workers", type=at_least(1), default=1, help="processes (task x judge x seed groups)")
    add_json_out_arguments(parser, "write every re-run compile here (JSON lines, as groups finish)")
    parser.add_argument("--report-from", metavar="FILE", help="print the report of a --json-out file; run nothing")
    a = parser.parse_args(argv)
    rep = Report()
    if a.report_from:
        report([Departure(**row) for row in read_json_lines(a.report_from)], rep)
        return 0
    if not a.results:
        parser.error("name at least one bench_realphoto.py --json-out file, or --report-from")
    settings = {k: v for k, v in vars(a).items() if k not in ("json_out", "overwrite", "report_from")}
    json_out = JsonOut.of(a.json_out, __file__, settings, a.overwrite)
    check_outputs(parser, {}, json_out)
    cells = [
        {**c, "_sharpen": sharpens(path)}
        for path in a.results
        for c in read_json_lines(path)
        if (a.tasks is None or c["task"] in a.tasks)
        and c["methods"]["optimizer"]["test"] is not None
        and not c["methods"]["optimizer"]["note"].startswith("chosen baseline")
    ]
    cells.sort(key=lambda c: (c["task"], c["judge"], c["seed"], c["pricing"], c["budget"]))
    cells = cells[: a.limit]
    groups: dict[tuple[str, str, int], list[dict[str, Any]]] = defaultdict(list)
    for c in cells:
        groups[(c["task"], c["judge"], c["seed"])].append(c)
    jobs = [(*key, a.n_val, a.n_test, a.n_trials, found) for key, found in sorted(groups.items())]
    t0 = time.perf_counter()
    try:
        rows = run_jobs(jobs, group, a.workers, json_out, t0, load=lambda data: Departure(**data))
    except KeyboardInterrupt as exc:
        return stopped(exc)
    rep.add(f"re-ran {len(rows)} departures of {', '.join(a.results)} in {time.perf_counter() - t0:.1f} s", "")
    report(rows, rep)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
