"""When may a smaller size of a chosen resizing baseline be returned? Rules replayed on real compiles.

Usage::

    python benchmarks/probe_baseline_trims.py --tasks photo-tint photo-texture --json-out trims.jsonl
    python benchmarks/probe_baseline_trims.py --report-from trims.jsonl [more.jsonl ...]

For each task x judge x seed x pricing x budget of ``bench_realphoto.py`` (n-val 24, n-test 60, 20
trials, two demos per class), it compiles with the library defaults (``trim_baselines="scale"``) and
keeps what a rule for trimming a chosen baseline needs: the chain of ``scale`` steps the trim
scored (``CompileResult.trim``), the held-out test accuracy of every step's program, and for a
rejected step (whose scoring stopped at its first loss) its full valset scores as well. The report
replays these rules on the same compiles, so they differ only in which step is returned:

==========  =========================================================================================
rule        what is returned when a baseline was chosen (a chosen search candidate: as returned)
==========  =========================================================================================
returned    what the library returned when the compiles ran
gain        the cheapest step that loses no valset example and scores above the baseline, else the
            baseline (``trim_baselines="scale"`` before 25ff44f)
tie         the cheapest step that loses no valset example (a tie is enough)
two         ``tie`` when at least two steps in a row lose no example, else ``gain`` (the default
            since 25ff44f)
net0        ``tie``, and also the first rejected step when it won at least as many valset examples
            as it lost (the chain stops there: steps after a rejection were never scored)
==========  =========================================================================================

Per rule it prints the compiles whose returned program differs from ``gain``'s (higher, lower on the
test split), the task x judge x budget x pricing cells whose mean test accuracy is below uniform
Lanczos, the coarse-only cut at 10% (photo-tint: the band-search issue's 95% bar) and fine texture
at 25% against Lanczos. It builds programs from trial parameters through ``CompileResult``'s private
builder (a probe, not a benchmark of the public API).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    JsonOut,
    Report,
    add_json_out_arguments,
    at_least,
    check_outputs,
    exact_match,
    held_out_accuracy,
    prompt_tokens,
    read_json_lines,
    run_jobs,
    stopped,
    table,
)
from bench_realphoto import JUDGES, PRICINGS, TASKS, cell_optimizer, group_setup, lanczos_images, with_images

BUDGETS = (0.10, 0.25, 0.50)
RULES = ("returned", "gain", "tie", "two", "net0")


@dataclass(frozen=True)
class Compile:
    """One compile: what the rules need (accuracies 0..1; ``steps``: the trim's chain)."""

    task: str
    judge: str
    seed: int
    pricing: str
    fraction: float
    full_tokens: int
    full_test: float
    lanczos_test: float | None
    origin: str | None
    chosen_tokens: int | None
    chosen_test: float
    chosen_val: dict[str, float] | None
    returned_tokens: int
    returned_test: float
    steps: list[dict[str, Any]]


def group(job: tuple[str, str, int, int, int, int]) -> list[Compile]:
    """Every pricing x budget of one task, judge and seed."""
    task_name, judge, seed, n_val, n_test, n_trials = job
    sizes = {name: side for name, (_, side) in TASKS.items()}
    _, task, student, demos = group_setup(task_name, judge, seed, sizes, 8, n_val, n_test, 2)
    full_test = held_out_accuracy(student, task.testset, 1)
    out = []
    for pricing in PRICINGS:
        full_tokens = prompt_tokens(student, pricing)
        for fraction in BUDGETS:
            budget = math.floor(fraction * full_tokens)
            found = lanczos_images(demos, pricing, budget)
            resized = None if found is None else with_images(student, demos, found[0])
            lanczos = None if resized is None else held_out_accuracy(resized, task.testset, 1)
            opt = cell_optimizer(budget, pricing, n_trials, n_val, seed)
            program = opt.compile(student, trainset=task.trainset, valset=task.valset)
            result = opt.last_result
            assert result is not None and result.trim is not None and result._build is not None
            trials = result.study.get_trials(deepcopy=False)
            chosen = trials[result.trim.chosen].user_attrs
            steps = []
            for step in result.trim.steps:
                row: dict[str, Any] = {"tokens": step.tokens, "score": step.score, "accepted": step.accepted}
                if step.trial is not None:
                    prog = result._build(dict(trials[step.trial].params), f"trim:{step.step}")
                    row["test"] = held_out_accuracy(prog, task.testset, 1)
                    if not step.accepted:
                        row["val"] = {str(i): exact_match(ex, prog(**ex.inputs())) for i, ex in enumerate(task.valset)}
                steps.append(row)
            out.append(
                Compile(
                    task=task_name,
                    judge=judge,
                    seed=seed,
                    pricing=pricing,
                    fraction=fraction,
                    full_tokens=full_tokens,
                    full_test=full_test,
                    lanczos_test=lanczos,
                    origin=chosen.get("origin"),
                    chosen_tokens=chosen.get("tokens"),
                    chosen_test=held_out_accuracy(
                        result._build(dict(trials[result.trim.chosen].params), chosen.get("origin")), task.testset, 1
                    ),
                    chosen_val=chosen.get("example_scores"),
                    returned_tokens=result.best.tokens,
                    returned_test=held_out_accuracy(program, task.testset, 1),
                    steps=steps,
                )
            )
    return out


def replay(c: dict[str, Any], rule: str) -> tuple[int, float]:
    """(tokens, test accuracy) of the program ``rule`` returns for compile ``c``."""
    returned = (int(c["returned_tokens"]), float(c["returned_test"]))
    if rule == "returned" or not str(c["origin"] or "").startswith("baseline:"):
        return returned
    chosen = (int(c["chosen_tokens"]), float(c["chosen_test"]))
    base = {str(k): float(v) for k, v in c["chosen_val"].items()}
    floor = sum(base.values()) / len(base)
    accepted = [s for s in c["steps"] if s["accepted"]]  # in a row: the chain stopped at its first rejection
    cheapest = (accepted[-1]["tokens"], accepted[-1]["test"]) if accepted else chosen
    if rule == "tie" or (rule == "two" and len(accepted) >= 2):
        return cheapest
    if rule in ("gain", "two"):
        gained = [s for s in accepted if s["score"] > floor + 1e-9]
        return (gained[-1]["tokens"], gained[-1]["test"]) if gained else chosen
    # net0: the first rejected step too, when it won at least as many valset examples as it lost
    rejected = next((s for s in c["steps"] if not s["accepted"]), None)
    if rejected is not None and "val" in rejected:
        won = sum(rejected["val"][i] > base[i] for i in base)
        lost = sum(rejected["val"][i] < base[i] for i in base)
        if won >= lost:
            return rejected["tokens"], rejected["test"]
    return cheapest


def report(compiles: Sequence[dict[str, Any]]) -> Report:
    rep = Report()
    cells: dict[tuple[str, str, float, str], list[dict[str, Any]]] = defaultdict(list)
    for c in compiles:
        cells[(c["task"], c["judge"], c["fraction"], c["pricing"])].append(c)
    seeds = sorted({c["seed"] for c in compiles})
    rep.add(f"{len(compiles)} compiles, {len(cells)} cells, seeds {seeds[0]}-{seeds[-1]}", "")
    rows = []
    for rule in RULES:
        changed = higher = lower = 0
        below, cut, texture = [], [], []
        for (task, judge, fraction, pricing), group_ in sorted(cells.items()):
            got = [replay(c, rule) for c in group_]
            for c, (tokens, test) in zip(group_, got, strict=True):
                anchor = replay(c, "gain")
                if tokens != anchor[0]:
                    changed += 1
                    higher += test > anchor[1] + 1e-9
                    lower += test < anchor[1] - 1e-9
            acc = statistics.mean(t for _, t in got)
            lanczos = statistics.mean(c["lanczos_test"] for c in group_)
            name = f"{task}/{judge}/{100 * fraction:g}%/{pricing}"
            if acc < lanczos - 0.0005:
                below.append(f"{name} {100 * (acc - lanczos):+.1f}")
            if task == "photo-tint" and abs(fraction - 0.10) < 1e-9:
                tokens = statistics.mean(t for t, _ in got)
                full = statistics.mean(c["full_test"] for c in group_)
                loss = "" if acc >= full - 1e-9 else " (loss vs full)"
                cut.append(f"{judge}/{pricing} {100 * (1 - tokens / group_[0]['full_tokens']):.1f}%{loss}")
            if task == "photo-texture" and abs(fraction - 0.25) < 1e-9:
                texture.append(f"{judge}/{pricing} {100 * (acc - lanczos):+.1f}")
        rows.append([rule, str(changed), str(higher), str(lower), str(len(below)), "; ".join(cut) or "-"])
        rep.add(f"{rule}: below Lanczos: " + ("; ".join(below) or "none"))
        if texture:
            rep.add(f"{rule}: photo-texture at 25% vs Lanczos: " + "; ".join(texture))
    rep.add("", *table(["rule", "changed", "higher", "lower", "cells below Lanczos", "photo-tint 10% cut"], rows))
    return rep


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", choices=sorted(TASKS), default=["photo-tint", "photo-texture"])
    parser.add_argument("--judges", nargs="+", choices=JUDGES, default=list(JUDGES))
    parser.add_argument("--seeds", type=at_least(1), default=5)
    parser.add_argument("--first-seed", type=at_least(0), default=5)
    parser.add_argument("--n-val", type=at_least(1), default=24)
    parser.add_argument("--n-test", type=at_least(1), default=60)
    parser.add_argument("--n-trials", type=at_least(1), default=20)
    parser.add_argument("--workers", type=at_least(1), default=2)
    add_json_out_arguments(parser, "one JSON line per compile, written as groups finish")
    parser.add_argument("--report-from", nargs="+", metavar="FILE", help="replay the rules on these files; run nothing")
    a = parser.parse_args(argv)
    if a.report_from:
        report([c for path in a.report_from for c in read_json_lines(path)])
        return 0
    settings = {k: v for k, v in vars(a).items() if k not in ("json_out", "overwrite", "report_from")}
    json_out = JsonOut.of(a.json_out, __file__, settings, a.overwrite)
    check_outputs(parser, {}, json_out)
    seeds = range(a.first_seed, a.first_seed + a.seeds)
    jobs = [(t, j, s, a.n_val, a.n_test, a.n_trials) for t in a.tasks for j in a.judges for s in seeds]
    try:
        found = run_jobs(jobs, group, a.workers, json_out, time.perf_counter(), load=lambda data: Compile(**data))
    except KeyboardInterrupt as exc:
        return stopped(exc)
    report([asdict(c) for c in found])
    return 0


if __name__ == "__main__":
    sys.exit(main())
