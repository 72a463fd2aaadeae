"""Band-optimizer benchmark: the accuracy and image-token numbers the band-optimizer issue asks for.

Usage::

    python benchmarks/bench_optimizer.py                          # 256 px tasks, 30 trials (a few minutes)
    python benchmarks/bench_optimizer.py --quick                  # tiny settings, seconds (format check)
    python benchmarks/bench_optimizer.py --tasks gauge --budget gauge=0.25 --markdown-out bench.md

For each task a ``dspy.Predict`` classifier (``image: dspy.Image -> label``) gets ``k`` demos per
class from the task's trainset; the LM is an offline scorer, the nearest-band engine
(:func:`specprompt.scorers.nearest_lm`, ``--lm nearest``, the default) or the shipped local band VLM
(:func:`specprompt.scorers.local_lm`, ``--lm local``), and the metric is exact label match. That scorer also
answers the test split, so it is the target here (``local_departures="always"``: its picks are returned
without a calibration). One run measures,
on the same held-out test split (never the valset the search scores on): full-resolution demos,
the :class:`~specprompt.search.BandOptimizer` under a token budget (a fraction of the full-resolution
demo tokens under the headline cost model), uniform downsampling of every demo to the same budget,
text-only demos, and pure random search with the same trial budget; then a multi-objective Pareto front.
It prints markdown tables, ``PASS``/``FAIL`` lines for the issue's bar, scorer calls, wall times and
seeds. See benchmarks/README.md for what the numbers mean.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/_common.py, next to this script
from _common import (
    Report,
    at_least,
    check_outputs,
    exact_match,
    held_out_accuracy,
    pct,
    pick_demos,
    prompt_tokens,
    table,
)

#: What each built-in task's label depends on, which decides its PASS line.
TASK_KINDS = {"colour-position": "low", "fine-texture": "fine", "gauge": "mid"}
#: Default token budget per task, as a fraction of the full-resolution demo tokens.
DEFAULT_BUDGETS = {"colour-position": 0.25, "fine-texture": 0.5, "gauge": 0.25}
#: Cost models every prompt is priced under; the first is the headline unless --cost-model says otherwise.
COST_MODELS = ("openai:gpt-4.1-mini", "openai:gpt-4o", "anthropic", "gemini:gemini-2.5-flash", "local")
#: Methods of a task table, in print order.
METHODS = ("full", "optimizer", "uniform", "random", "text_only")


@dataclass(frozen=True)
class Settings:
    """Everything one benchmark run depends on (printed at the top of the report)."""

    tasks: tuple[str, ...]
    budgets: dict[str, float]
    size: int
    n_train: int
    n_val: int
    n_test: int
    k_per_class: int
    n_trials: int
    pareto_tasks: tuple[str, ...]
    pareto_trials: int
    cost_model: str
    cost_models: tuple[str, ...]
    demo_order: str
    lm: str
    task_seed: int
    search_seed: int
    threads: int


# -- demos, images and tokens ---------------------------------------------------------------------


def kept_levels(selections: str) -> list[str]:
    """Per demo image of a result row: ``"all"``, ``"drop"`` or the kept bands (``"L1+"`` = L1..residual)."""
    out = []
    for entry in json.loads(selections).values():
        bands = entry.get("bands", [])
        if bands is None:
            out.append("all")
        elif not bands:
            out.append("drop")
        else:
            levels = sorted(int(b[1:]) for b in bands if b.startswith("L") and b[1:].isdigit())
            out.append(f"L{levels[0]}+" if levels else "res")
    return out


def keeps_l0(selections: str) -> list[bool]:
    """Per demo image: whether the finest band (L0) is kept."""
    return [x in ("all", "L0+") for x in kept_levels(selections)]


# -- results ----------------------------------------------------------------------------------------


@dataclass
class Row:
    """One method of a task table."""

    method: str
    val: float | None
    test: float | None
    tokens: dict[str, int]
    note: str


# -- one task ---------------------------------------------------------------------------------------


def run_task(name: str, s: Settings, report: Report, engine: Any) -> bool | None:
    """Runs full-res, optimizer and baselines on one task; returns its PASS (None: no bar)."""
    from dspy import Predict

    from specprompt.search import BandOptimizer
    from specprompt.tasks import get_task

    t0 = time.perf_counter()
    task = get_task(name, n_train=s.n_train, n_val=s.n_val, n_test=s.n_test, size=s.size, seed=s.task_seed)
    student = Predict(task.signature)
    student.demos = pick_demos(task, s.k_per_class, s.demo_order, s.task_seed)
    full_tokens = prompt_tokens(student, s.cost_model)
    fraction = s.budgets[name]
    budget = math.floor(fraction * full_tokens)
    opt = BandOptimizer(
        exact_match,
        token_budget=budget,
        cost_model=s.cost_model,
        n_trials=s.n_trials,
        minibatch_size=s.n_val,
        num_threads=s.threads,
        seed=s.search_seed,
        progress=False,
        storage="memory",
        local_departures="always",  # the offline scorer also answers the test split: here it is the target
    )
    program = opt.compile(
        student, trainset=task.trainset, valset=task.valset, baselines=("full", "uniform", "text_only", "random")
    )
    result = opt.last_result
    if result is None or result.baselines is None:  # pragma: no cover - compile always sets both
        raise SystemExit("BandOptimizer.compile returned no result")
    search_s = time.perf_counter() - t0
    calls_before = engine.calls
    rows: dict[str, Row] = {}
    best = result.best
    origin = result.study.trials[best.trial].user_attrs.get("origin", "sampler")  # warm:<name>, neighbour:<n>, sampler
    programs: dict[str, Any] = {"optimizer": program}
    notes = {"optimizer": f"trial {best.trial} ({origin}): " + " ".join(kept_levels(best.selections))}
    vals: dict[str, float | None] = {"optimizer": best.score}
    for bname, b in result.baselines.items():
        programs[bname] = b.program
        notes[bname] = b.note
        vals[bname] = b.score
    for method in METHODS:
        prog = programs.get(method)
        if prog is None:
            rows[method] = Row(method, None, None, {}, notes.get(method, "skipped"))
            continue
        tokens = {m: prompt_tokens(prog, m) for m in s.cost_models}
        rows[method] = Row(
            method, vals[method], held_out_accuracy(prog, task.testset, s.threads), tokens, notes[method]
        )
    eval_calls = engine.calls - calls_before
    total_s = time.perf_counter() - t0

    report.add(
        "",
        f"## {name} ({s.size} px, labels depend on {TASK_KINDS.get(name, '?')} frequencies)",
        "",
        f"{len(student.demos)} demos ({s.k_per_class} per class, {s.demo_order}), valset {len(task.valset)}, "
        f"test {len(task.testset)}; budget {fraction:g} x {full_tokens} = {budget} {s.cost_model} tokens; "
        f"{result.n_trials} trials (seed {s.search_seed}), random search {s.n_trials} trials.",
        "",
    )
    head = s.cost_model
    header = ["method", "val acc", "test acc", f"tokens ({head})", "cut", *[f"{m}" for m in s.cost_models if m != head]]
    body = []
    for r in rows.values():
        tok = r.tokens.get(head)
        cut = "-" if tok is None or not full_tokens else f"{100 * (1 - tok / full_tokens):.1f}%"
        others = ["-" if m not in r.tokens else str(r.tokens[m]) for m in s.cost_models if m != head]
        body.append([r.method, pct(r.val), pct(r.test), "-" if tok is None else str(tok), cut, *others])
    report.add(*table(header, body), "")
    report.add(*[f"- {r.method}: {r.note}" for r in rows.values()], "")
    checked = rows["optimizer"].tokens.get(head)
    if checked is not None and checked != best.tokens:
        report.add(
            f"WARNING: optimizer tokens re-priced from the program ({checked}) != search's count ({best.tokens})"
        )
    report.add(
        f"scorer calls: {result.scorer_calls} (search) + {result.baseline_calls} (random search and baselines) on the "
        f"valset + {eval_calls} (test evaluation); wall time {search_s:.1f} s search + {total_s - search_s:.1f} s test",
        "",
    )
    return _verdict(name, rows, best.selections, full_tokens, head, report)


def _verdict(
    name: str, rows: dict[str, Row], selections: str, full_tokens: int, head: str, report: Report
) -> bool | None:
    kind = TASK_KINDS.get(name)
    opt, full, uni = rows["optimizer"], rows["full"], rows["uniform"]
    if opt.test is None or full.test is None:  # pragma: no cover - both always run
        return None
    if kind == "low":
        cut = 1 - opt.tokens[head] / full_tokens if full_tokens else 0.0
        ok = cut >= 0.75 and opt.test >= full.test
        val_ok = opt.val is not None and full.val is not None and opt.val >= full.val
        report.add(
            f"PASS/FAIL {name}: {'PASS' if ok else 'FAIL'}: demo image tokens cut {100 * cut:.1f}% (>= 75%) with test "
            f"accuracy {pct(opt.test)} vs full resolution {pct(full.test)} (no loss); valset "
            f"{pct(opt.val)} vs {pct(full.val)} ({'no loss' if val_ok else 'LOSS'})"
        )
        return ok
    if kind == "fine":
        l0 = keeps_l0(selections)
        report.add(
            f"kept L0 (finest band) in {sum(l0)} of {len(l0)} demo images: "
            + " ".join(f"demo{i}={lv}" for i, lv in enumerate(kept_levels(selections)))
        )
        if uni.test is None:
            report.add(f"PASS/FAIL {name}: FAIL: no uniform baseline ({uni.note})")
            return False
        ok = opt.test > uni.test and any(l0)
        report.add(
            f"PASS/FAIL {name}: {'PASS' if ok else 'FAIL'}: optimizer test accuracy {pct(opt.test)} > uniform "
            f"downsampling {pct(uni.test)} at the same budget ({opt.tokens[head]} vs {uni.tokens[head]} tokens), "
            f"keeping L0 in {sum(l0)} demo(s)"
        )
        return ok
    return None


# -- Pareto front ---------------------------------------------------------------------------------


def run_pareto(name: str, s: Settings, report: Report) -> None:
    """A multi-objective search (accuracy up, tokens down) without a budget; prints its front."""
    from dspy import Predict

    from specprompt.search import BandOptimizer
    from specprompt.tasks import get_task

    t0 = time.perf_counter()
    task = get_task(name, n_train=s.n_train, n_val=s.n_val, n_test=s.n_test, size=s.size, seed=s.task_seed)
    student = Predict(task.signature)
    student.demos = pick_demos(task, s.k_per_class, s.demo_order, s.task_seed)
    full_tokens = prompt_tokens(student, s.cost_model)
    opt = BandOptimizer(
        exact_match,
        multi_objective=True,
        cost_model=s.cost_model,
        n_trials=s.pareto_trials,
        minibatch_size=s.n_val,
        num_threads=s.threads,
        seed=s.search_seed,
        progress=False,
        storage="memory",
        local_departures="always",  # the offline scorer also answers the test split: here it is the target
    )
    opt.compile(student, trainset=task.trainset, valset=task.valset)
    result = opt.last_result
    if result is None:  # pragma: no cover - compile always sets it
        raise SystemExit("BandOptimizer.compile returned no result")
    body = []
    for row in result.pareto_front():
        test = held_out_accuracy(result.program_for_budget(row.tokens), task.testset, s.threads)
        share = f"{100 * row.tokens / full_tokens:.1f}%" if full_tokens else "-"
        body.append(
            [str(row.trial), str(row.tokens), share, pct(row.score), pct(test), " ".join(kept_levels(row.selections))]
        )
    report.add(
        "",
        f"## Pareto front: {name} ({s.size} px), multi-objective, {result.n_trials} trials, no budget",
        "",
        f"full resolution = {full_tokens} {s.cost_model} tokens; val acc is on the full valset.",
        "",
        *table(["trial", f"tokens ({s.cost_model})", "of full", "val acc", "test acc", "kept per demo"], body),
        "",
        f"scorer calls: {result.scorer_calls}; wall time {time.perf_counter() - t0:.1f} s",
    )


# -- command line -----------------------------------------------------------------------------------


def _budget(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    try:
        frac = float(value)
    except ValueError:
        frac = -1.0
    if not sep or not 0 < frac <= 1:
        raise argparse.ArgumentTypeError(f"--budget wants TASK=FRACTION with 0 < FRACTION <= 1, got {text!r}")
    return name, frac


def parse_args(argv: list[str] | None) -> tuple[Settings, str | None]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny settings (64 px, 4 trials): checks the script runs")
    parser.add_argument("--tasks", nargs="+", default=None, help="tasks (default colour-position fine-texture)")
    parser.add_argument(
        "--budget",
        type=_budget,
        action="append",
        default=[],
        metavar="TASK=FRACTION",
        help="token budget as a fraction of full-resolution demo tokens (defaults: "
        + ", ".join(f"{k}={v}" for k, v in DEFAULT_BUDGETS.items())
        + ")",
    )
    parser.add_argument("--size", type=at_least(32), default=None, help="image side in px (default 256)")
    parser.add_argument(
        "--n-val", type=at_least(1), default=None, help="validation examples the search scores (default 20)"
    )
    parser.add_argument("--n-test", type=at_least(1), default=None, help="held-out test examples (default 60)")
    parser.add_argument("--k-per-class", type=at_least(1), default=None, help="demos per class (default 2)")
    parser.add_argument(
        "--n-trials", type=at_least(1), default=None, help="search trials, also of random search (default 30)"
    )
    parser.add_argument(
        "--pareto-tasks",
        nargs="+",
        default=["colour-position", "fine-texture"],
        help="tasks of the Pareto fronts (default colour-position fine-texture); 'none' skips them",
    )
    parser.add_argument(
        "--pareto-trials", type=at_least(1), default=None, help="trials of the Pareto search (default 40)"
    )
    parser.add_argument("--cost-model", default=COST_MODELS[0], help="headline cost model (budget and cut)")
    parser.add_argument(
        "--demo-order",
        choices=("round-robin", "shuffled"),
        default="round-robin",
        help="order of the demos in the prompt (see README)",
    )
    parser.add_argument(
        "--lm",
        choices=("nearest", "local"),
        default="nearest",
        help="offline scorer: nearest-band engine (default) or the shipped local band VLM",
    )
    parser.add_argument("--seed", type=at_least(0), default=0, help="seed of the task images")
    parser.add_argument("--search-seed", type=at_least(0), default=0, help="seed of the searches (sampler, minibatch)")
    parser.add_argument("--threads", type=at_least(1), default=2, help="threads scoring examples")
    parser.add_argument("--markdown-out", metavar="FILE", help="also write the report here")
    a = parser.parse_args(argv)
    quick = a.quick
    tasks = tuple(a.tasks or ("colour-position", "fine-texture"))
    unknown = [t for t in tasks if t not in TASK_KINDS]
    if unknown:
        parser.error(f"unknown task(s) {unknown}; known: {', '.join(TASK_KINDS)}")
    budgets = dict(DEFAULT_BUDGETS)
    budgets.update(dict(a.budget))
    pareto = tuple(t for t in a.pareto_tasks if t != "none")
    unknown = [t for t in pareto if t not in TASK_KINDS]
    if unknown:
        parser.error(f"unknown --pareto-tasks {unknown}; known: {', '.join(TASK_KINDS)}, none")
    check_outputs(parser, {"--markdown-out": a.markdown_out})
    models = tuple(dict.fromkeys((a.cost_model, *COST_MODELS)))
    k = a.k_per_class or (1 if quick else 2)
    n_val = a.n_val or (4 if quick else 20)
    return Settings(
        tasks=tasks,
        budgets=budgets,
        size=a.size or (64 if quick else 256),
        n_train=max(4 * k, 8),
        n_val=n_val,
        n_test=a.n_test or (4 if quick else 60),
        k_per_class=k,
        n_trials=a.n_trials or (4 if quick else 30),
        pareto_tasks=pareto,
        pareto_trials=a.pareto_trials or (4 if quick else 40),
        cost_model=a.cost_model,
        cost_models=models,
        demo_order=a.demo_order,
        lm=a.lm,
        task_seed=a.seed,
        search_seed=a.search_seed,
        threads=a.threads,
    ), a.markdown_out


def main(argv: list[str] | None = None) -> int:
    settings, markdown_out = parse_args(argv)
    import dspy
    import optuna
    from dspy.adapters import ChatAdapter

    from specprompt.scorers import nearest_lm
    from specprompt.vlm import local_lm

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("dspy").setLevel(logging.WARNING)
    lm = nearest_lm() if settings.lm == "nearest" else local_lm()
    what = "offline nearest-band engine" if settings.lm == "nearest" else "shipped local band VLM"
    dspy.configure(lm=lm, adapter=ChatAdapter())
    t0 = time.perf_counter()
    report = Report()
    report.head(f"LM {lm.model} ({what}), ChatAdapter, exact-match metric", settings)
    verdicts: dict[str, bool | None] = {}
    for name in settings.tasks:
        verdicts[name] = run_task(name, settings, report, lm.engine)
    for name in settings.pareto_tasks:
        run_pareto(name, settings, report)
    report.add("", "## Summary", "")
    for name, ok in verdicts.items():
        report.add(f"- {name}: {'no bar (report only)' if ok is None else 'PASS' if ok else 'FAIL'}")
    report.add("", f"engine requests in total: {lm.engine.calls}; total wall time {time.perf_counter() - t0:.1f} s")
    report.write(markdown_out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
