"""Multi-fidelity benchmark: a local judge screens, the target confirms; target calls and accuracy.

Usage::

    python benchmarks/bench_multifidelity.py                  # 4 photo tasks x 2 pixel judges x 3 seeds, 25% budget
    python benchmarks/bench_multifidelity.py --quick          # tiny settings, a format check
    python benchmarks/bench_multifidelity.py --screens local  # only the shipped local model as screen
    python benchmarks/bench_multifidelity.py --screens local-only --checkpoint band-vlm-v2   # v2 judging alone
    python benchmarks/bench_multifidelity.py --screens local-only --checkpoint pixel:other  # the other judge
    python benchmarks/bench_multifidelity.py --report-from a.jsonl b.jsonl  # two runs' cells together

The target is a pixel-only judge (:func:`specprompt.scorers.pixel_lm`, standing in for a remote
VLM, as in ``bench_realphoto.py``, whose helpers this script imports). For each task x judge x
seed, at one budget (a fraction of the full-resolution demo tokens), it compiles:

=============  ====================================================================================
method         what
=============  ====================================================================================
target-only    :class:`~specprompt.search.BandOptimizer` scored by the target alone
mf-<screen>    the same search with ``screen=<screen>`` and ``calibrate=True``: the screen (the
               shipped local band VLM ``local``, or the offline ``nearest`` engine) scores every
               candidate, the best ``screen_keep`` share goes to the target; the agreement is
               measured first (its target calls count) and a low one falls back to target-only
mf-local-      the same with the local judge and no calibration: the screen is used unchecked
unchecked      (what screening itself saves and costs, without the fallback)
mf-local-      the same with the local judge, its agreement measured on the search's own first
trials         ``--probes`` candidates, which both judges score (``calibration_mode="trials"``: no
               extra target call); the later candidates are screened, or all go to the target
mf-local-      ``mf-local-trials`` with ``screen_rule="top"``: it screens when the screen's best
trials-top     ``screen_keep`` share of the pairs holds the target's best pair in at least 80% of
               bootstrap resamples (what screening must not lose), not by the rank agreement
mf-local-      the same with the local judge and a calibration measured once per task and judge
given          (``--given-probes`` x ``--given-examples`` target calls, on the first seed's task
               draw) and given to every seed's compile (``BandOptimizer(calibration=...)``); each
               compile is charged the probe's target calls divided by the number of seeds
mf-local-      the search scored by the local judge, given ``target=``: the target scores only the
confirmed      judge's final pick and the best baseline on the valset, and the pick is returned
               only when the target finds it better (``local_departures="confirmed"``); no target
               call when the judge picks a baseline
local-only     the same search scored by the local judge alone (no target call during the compile;
               the program is then measured on the held-out split by the target like the others)
lanczos        every demo Lanczos-resized to the budget (no search; the anchor)
=============  ====================================================================================

The local judge is the local band VLM of ``--checkpoint`` (default ``band-vlm-v1``; ``band-vlm-v2``
works at 256 px) in every method that uses it; ``--checkpoint pixel:other`` puts the other
pixel-only judge in its place (hist-hog where the target is lbp-dct, and the reverse), which
measures how far a search scored by a judge that sees exactly the target's pixels transfers
to the target: the ceiling of what the local-only bars ask. The budget and pricing stay the
target's (``--pricing``) whichever judge scores.

Target calls are the requests the target engine answered during the compile (calibration,
trials, full-valset evaluations; the held-out test scoring is not counted). It prints per task
and judge the mean target calls, their ratio, held-out accuracies (mean over seeds), how often
the search fell back, and PASS/FAIL lines for issue #11's bars: for each multi-fidelity screen, "at
least 3x fewer target calls, at most 1 point of held-out accuracy below target-only"; for
``local-only``, per task and judge (mean over seeds), "at most 5 points of held-out accuracy below
target-only, and never below uniform Lanczos resizing at the same budget".
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_realphoto as rp

#: Screens: the judge, and how its agreement is calibrated (a probe first; ``-unchecked``: not at all;
#: ``-trials``: on the search's own first trials, ``calibration_mode="trials"``; ``-top``: read by
#: ``screen_rule="top"``).
SCREENS = ("local", "nearest", "local-unchecked", "local-trials", "local-trials-top", "local-given", "local-confirmed")
#: The screen whose search the local judge scores alone, the target confirming only its final pick.
CONFIRMED = "local-confirmed"
#: ``--checkpoint`` value: the pixel-only judge of ``bench_realphoto.JUDGES`` that is not the target.
OTHER_JUDGE = "pixel:other"
#: The method whose scoring LM is the local judge alone; chosen with ``--screens`` like a screen.
LOCAL_ONLY = "local-only"
#: Bars of issue #11 for ``local-only``: most accuracy points lost to target-only; not below lanczos.
LOCAL_ONLY_MAX_LOSS = 5.0


@dataclass(frozen=True)
class Settings:
    """Everything one run depends on (printed at the top of the report)."""

    tasks: tuple[str, ...]
    judges: tuple[str, ...]
    screens: tuple[str, ...]
    local_only: bool
    checkpoint: str
    local_expected: bool
    local_trim: bool
    local_tie_confidence: float | None
    #: SearchConfig.local_departures of the local-only and local-confirmed arms (None: the default)
    local_departures: str | None
    budget: float
    pricing: str
    seeds: tuple[int, ...]
    sizes: dict[str, int]
    n_train: int
    n_val: int
    n_test: int
    minibatch: int
    k_per_class: int
    n_trials: int
    screen_keep: float
    probes: int
    probe_examples: int
    given_probes: int
    given_examples: int
    workers: int
    threads: int
    #: ``SearchConfig.trim_baselines`` of every arm (``None``: the library default).
    trim_baselines: str | None = None
    #: ``SearchConfig.screen_tolerance`` of the screened arms (the ``"top"`` rule's).
    screen_tolerance: float = 0.0
    #: ``SearchConfig.screen_keep_min`` of the screened ``-top`` arms (None: ``screen_keep`` only).
    screen_keep_min: float | None = None


@dataclass
class Run:
    """One compile: held-out accuracy, target calls, screen (or, for ``local-only``, local judge)
    calls, whether it screened."""

    test: float | None
    tokens: int | None
    target_calls: int = 0
    screen_calls: int = 0
    seconds: float = 0.0
    screened: bool = False
    note: str = ""


@dataclass
class Cell:
    """All methods of one task x judge x seed."""

    task: str
    judge: str
    seed: int
    full_tokens: int
    budget: int
    runs: dict[str, Run] = field(default_factory=dict)


def _compile(
    student: Any,
    task: Any,
    s: Settings,
    budget: int,
    seed: int,
    screen: Any,
    calibrate: bool,
    mode: str = "probe",
    rule: str = "rank",
    **options: Any,
) -> tuple[Any, Any]:
    """One compile; ``options`` are further BandOptimizer keywords (SearchConfig fields, ``target``)."""
    from specprompt.search import BandOptimizer

    extra: dict[str, Any] = dict(options)
    if s.trim_baselines is not None:
        extra["trim_baselines"] = s.trim_baselines
    if screen is not None:
        extra |= {
            "screen": screen,
            "calibrate": calibrate,
            "calibration_mode": mode,
            "screen_rule": rule,
            "calibration_probes": s.probes,
            "calibration_examples": s.probe_examples,
            "screen_keep": s.screen_keep,
            "screen_tolerance": s.screen_tolerance,
            **({} if s.screen_keep_min is None or rule != "top" else {"screen_keep_min": s.screen_keep_min}),
        }
    opt = BandOptimizer(
        rp.exact_match,
        token_budget=budget,
        cost_model=s.pricing,
        n_trials=s.n_trials,
        minibatch_size=s.minibatch,
        num_threads=s.threads,
        seed=seed,
        progress=False,
        storage="memory",
        **extra,
    )
    program = opt.compile(student, trainset=task.trainset, valset=task.valset)
    return program, opt.last_result


def run_group(task_name: str, judge: str, seed: int, s: Settings) -> Cell:
    """Every method for one task, judge and seed."""
    import dspy
    import optuna
    from dspy.adapters import ChatAdapter

    from specprompt.scorers import local_lm, nearest_lm, pixel_lm

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("dspy").setLevel(logging.WARNING)
    logging.getLogger("specprompt").setLevel(logging.ERROR)
    lm = pixel_lm(judge)
    dspy.configure(lm=lm, adapter=ChatAdapter(), disable_history=True)
    task, student, full_tokens, budget = _draw(task_name, s, seed)
    demos = student.demos
    cell = Cell(task_name, judge, seed, full_tokens, budget)
    found = rp.lanczos_images(demos, s.pricing, budget)
    if found is None:
        cell.runs["lanczos"] = Run(None, None, note="even 1 px images exceed the budget")
    else:
        prog = rp.with_images(student, demos, found[0])
        cell.runs["lanczos"] = Run(
            rp.held_out_accuracy(prog, task.testset, s.threads), rp.prompt_tokens(prog, s.pricing)
        )
    local = (lambda: pixel_lm(other_judge(judge))) if s.checkpoint == OTHER_JUDGE else (lambda: local_lm(s.checkpoint))
    makers = {"local": local, "nearest": nearest_lm}
    methods = ("target-only", *(f"mf-{name}" for name in s.screens), *((LOCAL_ONLY,) if s.local_only else ()))
    for method in methods:
        if method in (LOCAL_ONLY, f"mf-{CONFIRMED}"):
            confirm = method != LOCAL_ONLY
            cell.runs[method] = _local_only(student, task, s, budget, seed, lm, makers["local"](), confirm)
            continue
        rule = "top" if method.endswith("-top") else "rank"
        base = method.removesuffix("-top")
        name = base[3:].removesuffix("-unchecked").removesuffix("-trials").removesuffix("-given")
        screen = None if method == "target-only" else makers[name]()
        mode = "trials" if base.endswith("-trials") else "probe"
        given, charged = None, 0.0
        if method.endswith("-given"):
            given, charged = _given_calibration(task_name, s, lm, screen)
        before = lm.engine.calls
        t0 = time.perf_counter()
        calibrate = not method.endswith("-unchecked") and given is None
        extra = {} if given is None else {"calibration": given}
        program, result = _compile(student, task, s, budget, seed, screen, calibrate, mode=mode, rule=rule, **extra)
        seconds = time.perf_counter() - t0
        calls = lm.engine.calls - before + round(charged)
        rep = result.screening
        calibration = (
            ""
            if given is None
            else f" [given calibration: {given.target_calls} target calls over {len(s.seeds)} seeds, "
            f"{round(charged)} charged to this compile]"
        )
        cell.runs[method] = Run(
            rp.held_out_accuracy(program, task.testset, s.threads),
            rp.prompt_tokens(program, s.pricing),
            target_calls=calls,
            screen_calls=0 if rep is None else rep.screen_calls,
            seconds=seconds,
            screened=bool(rep is not None and rep.active),
            note=_joined(("" if rep is None else rep.summary()) + calibration, rp.decision_note(result)),
        )
    return cell


def other_judge(judge: str) -> str:
    """The pixel-only judge of :data:`bench_realphoto.JUDGES` that is not ``judge``."""
    return next(j for j in rp.JUDGES if j != judge)


def _draw(task_name: str, s: Settings, seed: int) -> tuple[Any, Any, int, int]:
    """One seed's draw of a task: the task, the student with its demos, the full-resolution demo
    tokens under ``--pricing`` and the budget (``--budget`` of them)."""
    import dspy

    from specprompt.tasks import get_task

    task = get_task(task_name, n_train=s.n_train, n_val=s.n_val, n_test=s.n_test, size=s.sizes[task_name], seed=seed)
    student = dspy.Predict(task.signature)
    student.demos = rp.pick_demos(task, s.k_per_class)
    full_tokens = rp.prompt_tokens(student, s.pricing)
    return task, student, full_tokens, math.floor(s.budget * full_tokens)


def _given_calibration(task_name: str, s: Settings, target: Any, local: Any) -> tuple[Any, float]:
    """The calibration ``mf-local-given`` reuses: measured on the first seed's draw of the task (the
    same for every seed's compile) and its target calls divided by the number of seeds."""
    from specprompt.search import calibrate

    first = s.seeds[0]
    task, student, _, budget = _draw(task_name, s, first)
    before = target.engine.calls
    cal = calibrate(
        student,
        rp.exact_match,
        trainset=task.trainset,
        valset=task.valset,
        target=target,
        local=local,
        n_probes=s.given_probes,
        n_examples=s.given_examples,
        seed=first,
        token_budget=budget,
        cost_model=s.pricing,
        num_threads=s.threads,
    )
    return cal, (target.engine.calls - before) / len(s.seeds)


def _local_options(s: Settings) -> dict[str, Any]:
    """SearchConfig fields of the local-only arm that its flags set (only those off the default)."""
    return (
        ({"expected_scores": True} if s.local_expected else {})
        | ({} if s.local_trim else {"trim": False})
        | ({} if s.local_tie_confidence is None else {"tie_confidence": s.local_tie_confidence})
        | ({} if s.local_departures is None else {"local_departures": s.local_departures})
    )


def _local_only(
    student: Any, task: Any, s: Settings, budget: int, seed: int, target: Any, local: Any, confirm: bool = False
) -> Run:
    """The search scored by ``local`` alone (``confirm``: with ``target=``, which then confirms its
    final pick over the baselines); the program is then scored by ``target`` on the test split."""
    import dspy

    before, local_before = target.engine.calls, local.engine.calls
    t0 = time.perf_counter()
    options = _local_options(s) | ({"target": target} if confirm else {})
    with dspy.context(lm=local):
        program, result = _compile(student, task, s, budget, seed, None, False, **options)
    seconds = time.perf_counter() - t0
    local_calls = local.engine.calls - local_before
    target_calls = target.engine.calls - before  # before the held-out scoring, which the target answers
    return Run(
        rp.held_out_accuracy(program, task.testset, s.threads),
        rp.prompt_tokens(program, s.pricing),
        target_calls=target_calls,
        screen_calls=local_calls,
        seconds=seconds,
        screened=confirm,
        note=_joined(
            f"scored by {local.model} {'(its pick confirmed by the target)' if confirm else 'alone'} "
            f"({s.checkpoint}{', expected metric' if s.local_expected else ''}"
            f"{'' if s.local_trim else ', no trim'}"
            f"{'' if s.local_tie_confidence is None else f', tie_confidence {s.local_tie_confidence:g}'}"
            f"{'' if s.local_departures is None else f', local_departures {s.local_departures}'}): "
            f"{local_calls} local calls",
            rp.decision_note(result),
        ),
    )


def _joined(*parts: str) -> str:
    """The non-empty parts of a note, joined by ``"; "``."""
    return "; ".join(p for p in parts if p)


# -- report ------------------------------------------------------------------------------------------


def _mean(values: Sequence[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.fmean(vals) if vals else None


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def _calls(values: Any) -> str:
    mean = _mean(list(values))
    return "-" if mean is None else f"{mean:.0f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines.extend("| " + " | ".join(r) + " |" for r in rows)
    return lines


def report(cells: Sequence[Cell], s: Settings, out: rp.Report) -> dict[str, bool]:
    """The table and the PASS/FAIL lines; returns ``{screen or "local-only": passed}``."""
    groups: dict[tuple[str, str], list[Cell]] = {}
    for c in cells:
        groups.setdefault((c.task, c.judge), []).append(c)
    if s.local_only and not any(LOCAL_ONLY in c.runs for c in cells):  # a --report-from file run without it
        s = dataclasses.replace(s, local_only=False)
    screens = tuple(n for n in s.screens if all(f"mf-{n}" in c.runs for c in cells))
    if screens != s.screens:  # a --report-from file run before a screen existed, or without it
        s = dataclasses.replace(s, screens=screens)
    header = ["task", "judge", "target-only calls"]
    for name in s.screens:
        header += [f"mf-{name} calls", "ratio", f"mf-{name} screen calls", "screened"]
    if s.local_only:
        header += [f"{LOCAL_ONLY} calls", f"{LOCAL_ONLY} local calls"]
    header += ["target-only acc"]
    for name in s.screens:
        header += [f"mf-{name} acc", "gap"]
    if s.local_only:
        header += [f"{LOCAL_ONLY} acc", "gap"]
    header += ["lanczos acc"]
    rows = []
    for (task, judge), group in groups.items():
        base_calls = _mean([c.runs["target-only"].target_calls for c in group]) or 0.0
        row = [task, judge, f"{base_calls:.0f}"]
        for name in s.screens:
            runs = [c.runs[f"mf-{name}"] for c in group]
            calls = _mean([r.target_calls for r in runs]) or 0.0
            row += [
                f"{calls:.0f}",
                f"{base_calls / calls:.2f}x" if calls else "-",
                f"{_mean([r.screen_calls for r in runs]) or 0:.0f}",
                f"{sum(r.screened for r in runs)}/{len(runs)}",
            ]
        alone = [c.runs[LOCAL_ONLY] for c in group if LOCAL_ONLY in c.runs]
        if s.local_only:
            row += [_calls(r.target_calls for r in alone), _calls(r.screen_calls for r in alone)]
        base_acc = _mean([c.runs["target-only"].test for c in group])
        row.append(_pct(base_acc))
        accs = [_mean([c.runs[f"mf-{name}"].test for c in group]) for name in s.screens]
        if s.local_only:
            accs.append(_mean([r.test for r in alone]))
        for acc in accs:
            gap = None if acc is None or base_acc is None else 100 * (acc - base_acc)
            row += [_pct(acc), "-" if gap is None else f"{gap:+.1f}"]
        row.append(_pct(_mean([c.runs["lanczos"].test for c in group])))
        rows.append(row)
    n_seeds = len({c.seed for c in cells})
    out.add(
        "",
        f"## Target calls per compile and held-out accuracy (%), budget {100 * s.budget:g}% under {s.pricing}, "
        f"mean over {n_seeds} seeds",
        "",
        "ratio: target-only calls / multi-fidelity calls (calibration included); gap: multi-fidelity minus "
        "target-only accuracy, points; screened: compiles whose calibration allowed screening (the others fell "
        "back to target-only after calibrating"
        + ("; mf-local-trials calibrates on its first --probes trials)." if "local-trials" in s.screens else ").")
        + (
            f" {LOCAL_ONLY}: searched with the local judge ({s.checkpoint}) alone; its calls are target calls "
            "during the compile (none expected) and local judge calls."
            if s.local_only
            else ""
        ),
        "",
    )
    out.add(*_table(header, rows))
    out.add("", "per compile (seed: target-only calls / mf calls, accuracies):")
    for c in cells:
        parts = [f"target-only {c.runs['target-only'].target_calls} calls {_pct(c.runs['target-only'].test)}%"]
        for name in s.screens:
            r = c.runs[f"mf-{name}"]
            parts.append(
                f"mf-{name} {r.target_calls} calls {_pct(r.test)}% ({'screened' if r.screened else 'fell back'})"
            )
        if s.local_only and LOCAL_ONLY in c.runs:
            r = c.runs[LOCAL_ONLY]
            parts.append(f"{LOCAL_ONLY} {r.target_calls} calls {_pct(r.test)}%")
        parts.append(f"lanczos {_pct(c.runs['lanczos'].test)}%")
        out.add(f"  {c.task} {c.judge} seed {c.seed}: " + "; ".join(parts))
        if c.runs["target-only"].note:
            out.add(f"    target-only: {c.runs['target-only'].note}")
        for name in s.screens:
            out.add(f"    mf-{name}: {c.runs[f'mf-{name}'].note}")
        if s.local_only and LOCAL_ONLY in c.runs:
            out.add(f"    {LOCAL_ONLY}: {c.runs[LOCAL_ONLY].note}")
    verdict: dict[str, bool] = {}
    base_total = sum(c.runs["target-only"].target_calls for c in cells)
    base_acc = _mean([c.runs["target-only"].test for c in cells])
    for name in s.screens:
        runs = [c.runs[f"mf-{name}"] for c in cells]
        total = sum(r.target_calls for r in runs)
        acc = _mean([r.test for r in runs])
        ratio = base_total / total if total else math.inf
        gap = None if acc is None or base_acc is None else 100 * (acc - base_acc)
        ok_calls, ok_acc = ratio >= 3.0, gap is not None and gap >= -1.0
        verdict[name] = ok_calls and ok_acc
        screened = sum(r.screened for r in runs)
        out.add(
            "",
            f"PASS/FAIL mf-{name}: >= 3x fewer target calls than target-only: {'PASS' if ok_calls else 'FAIL'} "
            f"({base_total} / {total} = {ratio:.2f}x over {len(runs)} compiles; {screened} screened, "
            f"{len(runs) - screened} fell back)",
            f"PASS/FAIL mf-{name}: held-out accuracy at most 1 point below target-only: "
            f"{'PASS' if ok_acc else 'FAIL'} ({_pct(acc)}% vs {_pct(base_acc)}%, "
            f"{'-' if gap is None else f'{gap:+.1f}'} points)",
        )
        if screened:
            sub = [(c.runs["target-only"], c.runs[f"mf-{name}"]) for c in cells if c.runs[f"mf-{name}"].screened]
            b, m = sum(x.target_calls for x, _ in sub), sum(y.target_calls for _, y in sub)
            g = _mean([y.test for _, y in sub]), _mean([x.test for x, _ in sub])
            gap_s = None if g[0] is None or g[1] is None else 100 * (g[0] - g[1])
            out.add(
                f"  only the {screened} compiles that screened: {b} / {m} = {b / m if m else math.inf:.2f}x fewer "
                f"target calls, accuracy {_pct(g[0])}% vs {_pct(g[1])}% ({'-' if gap_s is None else f'{gap_s:+.1f}'})"
            )
    if s.local_only:
        verdict[LOCAL_ONLY] = local_only_verdict(groups, out)
    arms = [m for c in cells for m in c.runs if m not in ("target-only", "lanczos", LOCAL_ONLY)]
    for method in ("target-only", *dict.fromkeys(arms), *((LOCAL_ONLY,) if s.local_only else ())):
        line = choices_line(cells, method)
        if line:
            out.add(line)
    return verdict


def choices_line(cells: Sequence[Cell], method: str) -> str | None:
    """How the compiles of ``method`` chose, each against lanczos on the test split: the resizing
    baseline as it is, a trimmed baseline, or a search candidate (read from the runs' notes, which
    name the choice; ``None`` without a compile that says). Compiles whose selection held back a
    local judge's pick (``local_departures``) are counted as the baseline they returned, and once
    more at the end; so are those where the target refused a local judge's trim."""
    kinds: dict[str, list[int]] = {"the resizing baseline as it is": [], "trimmed": [], "left for a candidate": []}
    held: list[int] = []
    refused: list[int] = []
    for c in cells:
        run, lanczos = c.runs.get(method), c.runs.get("lanczos")
        if run is None or run.test is None or lanczos is None or lanczos.test is None or "chosen " not in run.note:
            continue
        sign = (run.test > lanczos.test + 1e-9) - (run.test < lanczos.test - 1e-9)
        if "held back " in run.note:
            held.append(sign)
        if "refused by the target" in run.note:
            refused.append(sign)
        if "chosen baseline:" not in run.note:
            kinds["left for a candidate"].append(sign)
        else:
            kinds["trimmed" if "trimmed " in run.note else "the resizing baseline as it is"].append(sign)
    total = sum(map(len, kinds.values()))
    if not total:
        return None

    def tally(what: str, signs: list[int]) -> str:
        return f"{what} {len(signs)} ({signs.count(1)} above, {signs.count(-1)} below, {signs.count(0)} equal)"

    parts = [tally(kind, v) for kind, v in kinds.items()]
    parts += [
        tally(f"of these, a local judge's {what}", v)
        for what, v in (("pick held back", held), ("trim refused by the target", refused))
        if v
    ]
    compiles = f"{total} compile{'' if total == 1 else 's'}"
    return f"choices of {method} ({compiles}) against lanczos on the test split: " + "; ".join(parts)


def local_only_verdict(groups: dict[tuple[str, str], list[Cell]], out: rp.Report) -> bool:
    """Issue #11's bars for ``local-only``, per task x judge on the mean over seeds: at most
    :data:`LOCAL_ONLY_MAX_LOSS` points of held-out accuracy below target-only, and not below lanczos.
    A group with no ``local-only`` accuracy fails both; one with no lanczos accuracy (even 1 px
    images exceed the budget) has nothing to fall below."""
    loss_fail: list[str] = []
    lanczos_fail: list[str] = []
    worst_gap, worst_margin = math.inf, math.inf
    for (task, judge), group in groups.items():
        acc = _mean([c.runs[LOCAL_ONLY].test for c in group if LOCAL_ONLY in c.runs])
        base = _mean([c.runs["target-only"].test for c in group])
        lanczos = _mean([c.runs["lanczos"].test for c in group])
        name = f"{task}/{judge}"
        if acc is None or base is None:
            loss_fail.append(f"{name} (no accuracy)")
        else:
            gap = round(100 * (acc - base), 9)
            worst_gap = min(worst_gap, gap)
            if gap < -LOCAL_ONLY_MAX_LOSS:
                loss_fail.append(f"{name} ({gap:+.1f})")
        if acc is None:
            lanczos_fail.append(f"{name} (no accuracy)")
        elif lanczos is not None:
            margin = round(100 * (acc - lanczos), 9)
            worst_margin = min(worst_margin, margin)
            if margin < 0:
                lanczos_fail.append(f"{name} ({margin:+.1f})")
    ok_loss, ok_lanczos = not loss_fail, not lanczos_fail
    worst = {x: "-" if math.isinf(v) else f"{v:+.1f}" for x, v in (("gap", worst_gap), ("margin", worst_margin))}
    out.add(
        "",
        f"PASS/FAIL {LOCAL_ONLY}: held-out accuracy at most {LOCAL_ONLY_MAX_LOSS:g} points below target-only in "
        f"every task x judge (mean over seeds): {'PASS' if ok_loss else 'FAIL'} (worst gap {worst['gap']} "
        f"points over {len(groups)} groups" + (f"; failing: {', '.join(loss_fail)})" if loss_fail else ")"),
        f"PASS/FAIL {LOCAL_ONLY}: held-out accuracy never below lanczos at the same budget in every task x judge "
        f"(mean over seeds): {'PASS' if ok_lanczos else 'FAIL'} ("
        + (
            f"worst margin {worst['margin']} points"
            if math.isfinite(worst_margin)
            else "no group has a lanczos accuracy: even 1 px images exceed the budget"
        )
        + (f"; failing: {', '.join(lanczos_fail)})" if lanczos_fail else ")"),
    )
    return ok_loss and ok_lanczos


# -- command line --------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> tuple[Settings, str | None, rp.JsonOut | None, list[str] | None]:
    """The settings, ``--markdown-out``, ``--json-out`` (checked; ``None`` with ``--report-from``)
    and ``--report-from``."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny settings (64 px, 6 trials, 1 seed): a format check")
    parser.add_argument("--tasks", nargs="+", choices=sorted(rp.TASKS), default=None, help="tasks (default all four)")
    parser.add_argument(
        "--judges", nargs="+", choices=rp.JUDGES, default=None, help="target pixel judges (default both)"
    )
    parser.add_argument(
        "--screens",
        nargs="+",
        choices=(*SCREENS, LOCAL_ONLY),
        default=None,
        help=f"screens, and {LOCAL_ONLY} for the search scored by the local judge alone (default: all of them)",
    )
    parser.add_argument(
        "--checkpoint",
        default="band-vlm-v1",
        help="the local judge's checkpoint: a shipped name (band-vlm-v1, band-vlm-v2) or a directory "
        f"(default %(default)s), or {OTHER_JUDGE} for the pixel-only judge that is not the target; "
        "pricing stays --pricing",
    )
    parser.add_argument(
        "--local-expected",
        action="store_true",
        help=f"{LOCAL_ONLY}: the local judge scores by its expected metric (SearchConfig.expected_scores)",
    )
    parser.add_argument(
        "--local-no-trim",
        action="store_true",
        help=f"{LOCAL_ONLY}: no trim after the choice (SearchConfig.trim=False); the other arms keep it",
    )
    parser.add_argument(
        "--local-tie-confidence",
        type=float,
        default=None,
        help=f"{LOCAL_ONLY}: SearchConfig.tie_confidence of the local-only search (default: the config's, 0.8)",
    )
    parser.add_argument(
        "--local-departures",
        choices=("confirmed", "always"),
        default=None,
        help=f"{LOCAL_ONLY} and mf-{CONFIRMED}: SearchConfig.local_departures (default: the config's, confirmed)",
    )
    parser.add_argument("--budget", type=rp._fraction, default=0.25, help="fraction of full demo tokens (default 0.25)")
    parser.add_argument("--pricing", default=rp.PRICINGS[0], help="cost model (default %(default)s)")
    parser.add_argument("--seeds", type=rp.at_least(1), default=None, help="number of seeds (default 3)")
    parser.add_argument("--first-seed", type=rp.at_least(0), default=0, help="seeds are FIRST..FIRST+N-1 (default 0)")
    parser.add_argument("--size", type=rp.at_least(32), default=None, help="one image side for every task")
    parser.add_argument("--n-val", type=rp.at_least(1), default=None, help="validation examples (default 24)")
    parser.add_argument("--n-test", type=rp.at_least(1), default=None, help="held-out test examples (default 40)")
    parser.add_argument("--minibatch", type=rp.at_least(1), default=None, help="examples per trial (default 12)")
    parser.add_argument("--n-trials", type=rp.at_least(1), default=None, help="trials per search (default 40)")
    parser.add_argument("--screen-keep", type=rp._fraction, default=0.25, help="screen_keep (default 0.25)")
    parser.add_argument(
        "--screen-tolerance",
        type=_tolerance,
        default=0.0,
        help="screen_tolerance of the -top arms: a calibration pair within this much of the target's best counts "
        "as best (default 0)",
    )
    parser.add_argument(
        "--screen-keep-min",
        type=rp._fraction,
        default=None,
        help="screen_keep_min of the -top arms: once the verdict screens, the smallest share down to this one "
        "that the calibration pairs still show holding the target's best (default: --screen-keep only)",
    )
    parser.add_argument("--probes", type=rp.at_least(3), default=None, help="calibration probes (default 12)")
    parser.add_argument("--probe-examples", type=rp.at_least(1), default=None, help="examples per probe (default 4)")
    parser.add_argument(
        "--given-probes", type=rp.at_least(3), default=24, help="mf-local-given: probes of its calibration (default 24)"
    )
    parser.add_argument(
        "--given-examples", type=rp.at_least(1), default=8, help="mf-local-given: examples per probe (default 8)"
    )
    parser.add_argument(
        "--trim-baselines",
        choices=("gain", "scale", "tie", "off"),
        default=None,
        help="SearchConfig.trim_baselines of every arm: how a chosen baseline is trimmed (default: the library's)",
    )
    parser.add_argument("--workers", type=rp.at_least(1), default=1, help="processes (task x judge x seed groups)")
    parser.add_argument("--threads", type=rp.at_least(1), default=1, help="threads scoring examples in a process")
    parser.add_argument("--markdown-out", metavar="FILE", help="also write the report here")
    rp.add_json_out_arguments(parser, "write every cell's numbers here (JSON lines, as they finish)")
    parser.add_argument(
        "--report-from",
        nargs="+",
        metavar="FILE",
        help="print the report of --json-out files (several: their cells together, e.g. two seed ranges); run nothing",
    )
    a = parser.parse_args(argv)
    tasks = tuple(a.tasks or rp.TASKS)
    chosen = tuple(dict.fromkeys(a.screens or (*SCREENS, LOCAL_ONLY)))
    from specprompt.vlm import shipped_checkpoints

    if a.checkpoint != OTHER_JUDGE and a.checkpoint not in shipped_checkpoints() and not Path(a.checkpoint).is_dir():
        parser.error(
            f"--checkpoint {a.checkpoint!r} is neither a checkpoint directory nor a shipped checkpoint "
            f"({', '.join(shipped_checkpoints())}) nor {OTHER_JUDGE}"
        )
    if a.screen_keep_min is not None and a.screen_keep_min > a.screen_keep:
        parser.error(f"--screen-keep-min {a.screen_keep_min:g} is above --screen-keep {a.screen_keep:g}")
    size = a.size or (64 if a.quick else None)
    k = 1 if a.quick else 2
    settings = Settings(
        tasks=tasks,
        judges=tuple(a.judges or rp.JUDGES),
        screens=tuple(x for x in chosen if x != LOCAL_ONLY),
        local_only=LOCAL_ONLY in chosen,
        checkpoint=a.checkpoint,
        local_expected=a.local_expected,
        local_trim=not a.local_no_trim,
        local_tie_confidence=a.local_tie_confidence,
        local_departures=a.local_departures,
        budget=a.budget,
        pricing=a.pricing,
        seeds=tuple(range(a.first_seed, a.first_seed + (a.seeds or (1 if a.quick else 3)))),
        sizes={t: size or rp.TASKS[t][1] for t in tasks},
        n_train=max(4 * k, 8),
        n_val=a.n_val or (8 if a.quick else 24),
        n_test=a.n_test or (4 if a.quick else 40),
        minibatch=a.minibatch or (4 if a.quick else 12),
        k_per_class=k,
        n_trials=a.n_trials or (6 if a.quick else 40),
        screen_keep=a.screen_keep,
        probes=a.probes or (4 if a.quick else 12),
        probe_examples=a.probe_examples or (2 if a.quick else 4),
        given_probes=4 if a.quick else a.given_probes,
        given_examples=2 if a.quick else a.given_examples,
        workers=a.workers,
        threads=a.threads,
        trim_baselines=a.trim_baselines,
        screen_tolerance=a.screen_tolerance,
        screen_keep_min=a.screen_keep_min,
    )
    json_out = None if a.report_from else rp.JsonOut.of(a.json_out, __file__, settings, a.overwrite)
    rp.check_outputs(parser, {"--markdown-out": a.markdown_out}, json_out)
    return settings, a.markdown_out, json_out, a.report_from


def _tolerance(text: str) -> float:
    """``--screen-tolerance``: a number in [0, 1)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"a screen tolerance is a number 0 <= t < 1 of the metric, got {text!r}")
    return value


def cell_from_json(data: dict[str, Any]) -> Cell:
    """A cell from one result line of a ``--json-out`` file."""
    runs = {k: Run(**v) for k, v in data["runs"].items()}
    return Cell(**{**data, "runs": runs})


def load_cells(path: str) -> list[Cell]:
    """Cells from a ``--json-out`` file (one JSON object per line)."""
    return [cell_from_json(data) for data in rp.read_json_lines(path)]


def _run(args: tuple[str, str, int, Settings]) -> list[Cell]:
    return [run_group(*args)]


def main(argv: list[str] | None = None) -> int:
    settings, markdown_out, json_out, report_from = parse_args(argv)

    t0 = time.perf_counter()
    out = rp.Report()
    out.head("target: pixel-only judges (specprompt.scorers.pixel_lm), ChatAdapter, exact match", settings)
    # seed-major: a run stopped early still covers every task and judge
    jobs = [(t, j, seed, settings) for seed in settings.seeds for t in settings.tasks for j in settings.judges]
    cells: list[Cell] = []
    if report_from:
        try:
            cells = [cell for path in report_from for cell in load_cells(path)]
        except (OSError, ValueError) as exc:  # a missing file, or a line that is not one of these files' lines
            print(f"--report-from: {exc}", file=sys.stderr)
            return 2
        jobs, names = [], ", ".join(report_from)
        out.add(f"cells read from {names} ({len(cells)} cells); settings above are the command line's")
        out.add(*(note for path in report_from if (note := rp.partial_note(path))))
    try:
        cells.extend(rp.run_jobs(jobs, _run, settings.workers, json_out, t0, load=cell_from_json))
    except KeyboardInterrupt as exc:
        return rp.stopped(exc)
    order = {name: i for i, name in enumerate((*rp.TASKS, *rp.JUDGES))}
    cells.sort(key=lambda c: (order.get(c.task, 99), order.get(c.judge, 99), c.seed))
    report(cells, settings, out)
    out.add("", f"total wall time {time.perf_counter() - t0:.1f} s")
    out.write(markdown_out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
