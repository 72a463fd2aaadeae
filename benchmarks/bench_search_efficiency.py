"""Search efficiency: scorer calls the band search needs against random search over the same space.

Usage::

    python benchmarks/bench_search_efficiency.py                 # 4 photo tasks x 2 judges x 5 seeds, 25% budget
    python benchmarks/bench_search_efficiency.py --quick         # tiny settings, seconds (format check)
    python benchmarks/bench_search_efficiency.py --budgets 0.25 0.1 --workers 2 --json-out eff.jsonl
    python benchmarks/bench_search_efficiency.py --report-from eff.jsonl   # the tables of a (partial) run

For each real-photo task (``photo-tint``, ``photo-texture``, ``photo-identity``, ``photo-detail``)
x pixel-only judge (``pixel_lm("hist-hog")``, ``pixel_lm("lbp-dct")``) x seed x budget (a
fraction of the full-resolution demo tokens under ``--pricing``), two searches run with the same
settings and the same seed, each with a scorer of its own (no shared cache):

==========  =====================================================================================
method      what runs
==========  =====================================================================================
optimizer   ``BandOptimizer(...).compile(...)``: the library's search (``BandSampler`` over its
            default base sampler, warm starts, local steps), ``n_trials`` search trials
random      ``BandOptimizer(...).run_baselines(..., which=("random",))``: the library's
            random-search baseline, the same ``BandSampler`` code over ``RandomSampler`` with no
            warm starts and no local steps, in its own study; ``random_factor x n_trials`` trials
==========  =====================================================================================

Both studies are read back trial by trial (their JSON user attributes ``origin``, ``spend``,
``feasible`` and ``score``): after each search trial, the scorer calls spent so far and the best
valset score reached so far (complete, feasible trials; a pruned trial spends calls and scores
nothing; an over-budget trial is never scored and costs nothing). Every trial is scored on the
whole valset (``minibatch_size = n_val``), so every call of a search is inside a trial; calls
outside trials are printed as a check (``unattributed``).

Fairness of the baseline trials: the optimizer's study starts with the baseline prompts that fit
(origin ``baseline:<name>``: every demo Lanczos-resized to the budget, text-only demos), which
random search does not get. Their **calls are counted** (the optimizer's sampler and local steps
learn from them, so it pays for them before its first search trial) but their **scores are
not**: no baseline trial counts as search progress or towards the final best, and no method's
search-trial count includes them (the optimizer runs ``n_trials`` search trials after its
baseline trials; trials beyond that are cut). The same numbers with the baseline calls left out
are printed too (``free``), for reference.

Per task (over judges and seeds) it prints:

* the **final best** of each method: its best search-trial valset score after ``n_trials``
  search trials (the same count for both);
* **calls to reach 95%** of the cell's final best (the better of the two): the median over
  judges x seeds per method, their ratio optimizer / random and ``PASS`` when it is at most
  1/3. Random search goes on for ``random_factor x n_trials`` trials, so that its calls to reach
  the target are measured, not guessed; an optimizer run that never reaches it counts as
  infinite, a random run that never does counts as its total calls (``>=`` in the table: it
  would need more), so the printed ratio is an upper bound of the true one;
* **valset accuracy at equal calls**: each method's best search-trial valset score after at
  most C calls, C a share (25%, 50%, 100%) of the optimizer's total calls in the cell (its
  baseline trials' included), mean over judges x seeds; the bar is optimizer >= random + 5
  points at 100% on ``photo-detail``;
* with ``--n-test N``, **held-out accuracy at equal calls**: the same C, each method's best
  search trial so far (the first to reach its best valset score) scored on ``N`` held-out
  examples: whether a lead on the small valset is worth anything on new data (the maximum of
  many noisy valset scores favours the method that tries more candidates).

Only the public API of :mod:`specprompt.search` and the studies' JSON attributes are used, except
with ``--n-test``, where trials' programs are built by ``CompileResult``'s private builder.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/_common.py, next to this script
from _common import (
    JsonOut,
    Report,
    add_json_out_arguments,
    at_least,
    check_outputs,
    exact_match,
    held_out_accuracy,
    partial_note,
    pick_demos,
    prompt_tokens,
    read_json_lines,
    run_jobs,
    stopped,
    table,
)
from bench_realphoto import JUDGES, TASKS

METHODS = ("optimizer", "random")
#: Share of the cell's final best a method must reach (the issue's 95%).
REACH = 0.95
#: Largest ratio optimizer / random of the median calls to reach it that passes.
RATIO_BAR = 1 / 3
#: Points the optimizer must be above random search at the optimizer's total calls on the detail task.
DETAIL_GAP = 5.0
#: Task of the equal-calls bar.
DETAIL_TASK = "photo-detail"
#: Shares of random search's total calls at which both methods are compared.
EQUAL_SHARES = (0.25, 0.5, 1.0)
#: Upper bound on the baseline trials of a study (full, uniform, low_detail, text_only): the
#: optimizer runs this many trials more, so it has ``n_trials`` search trials whatever fits.
MAX_BASELINE_TRIALS = 4


@dataclass(frozen=True)
class Settings:
    """Everything one run depends on (printed at the top of the report)."""

    tasks: tuple[str, ...]
    judges: tuple[str, ...]
    budgets: tuple[float, ...]
    pricing: str
    seeds: tuple[int, ...]
    sizes: dict[str, int]
    n_train: int
    n_val: int
    k_per_class: int
    n_trials: int
    random_factor: int
    workers: int
    threads: int
    #: held-out examples per task (0: no held-out view)
    n_test: int = 0


@dataclass
class Trace:
    """One search read back from its study.

    Attributes:
        calls: scorer calls of the search trials so far, after each search trial.
        best: best valset score of a search trial so far, after each (``None`` before the first).
        prefix_calls: calls of the baseline trials before the search trials (optimizer only).
        cut_calls: calls of search trials after the first ``n_search`` (cut off).
        total_calls: every scorer call the method made (engine counter).
        origins: search trials per origin kind (``warm``, ``neighbour``, ``sampler``).
        seconds: wall time of the search.
        test: held-out accuracy of the best search trial so far, after each (``None`` before the
            first; empty without ``--n-test``). The best so far is the first trial that reached
            :attr:`best`, the one a search stopped there would return from its search trials.
    """

    calls: list[int]
    best: list[float | None]
    prefix_calls: int
    cut_calls: int
    total_calls: int
    origins: dict[str, int]
    seconds: float
    test: list[float | None] = field(default_factory=list)

    def paid(self, free: bool = False) -> list[int]:
        """Cumulative calls after each search trial, the baseline trials' calls included unless ``free``."""
        return [c + (0 if free else self.prefix_calls) for c in self.calls]

    def final(self, n: int | None = None) -> float:
        """Best valset score after the first ``n`` search trials (all of them: ``None``); 0 when none scored."""
        return max((b for b in self.best[:n] if b is not None), default=0.0)

    @property
    def total(self) -> int:
        """Calls after the last search trial, the baseline trials' included."""
        return self.paid()[-1] if self.calls else self.prefix_calls

    @property
    def unattributed(self) -> int:
        return self.total_calls - self.prefix_calls - self.cut_calls - (self.calls[-1] if self.calls else 0)


@dataclass
class Cell:
    """Both methods on one task x judge x budget x seed."""

    task: str
    judge: str
    budget: float
    seed: int
    token_budget: int
    traces: dict[str, Trace] = field(default_factory=dict)


# -- reading a study ---------------------------------------------------------------------------------


def read_trace(
    study: Any, n_search: int, total_calls: int, seconds: float, test_of: Callable[[Any], float] | None = None
) -> Trace:
    """The :class:`Trace` of a study's first ``n_search`` search trials (baseline trials apart);
    with ``test_of`` (a trial -> its held-out accuracy), :attr:`Trace.test` too."""
    import optuna

    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    prefix, spent, cut, best = 0, 0, 0, None
    leader: Any = None
    held: dict[int, float] = {}
    tests: list[float | None] = []
    calls: list[int] = []
    bests: list[float | None] = []
    origins: dict[str, int] = {}
    for t in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
        if t.state not in finished:
            continue
        attrs = t.user_attrs
        used = int((attrs.get("spend") or {}).get("calls", 0))
        origin = str(attrs.get("origin") or "sampler")
        if origin.startswith("baseline:"):
            if not calls:
                prefix += used
            continue
        if len(calls) == n_search:
            cut += used
            continue
        spent += used
        score = attrs.get("score")
        if t.state == optuna.trial.TrialState.COMPLETE and attrs.get("feasible") and score is not None:
            if best is None or float(score) > best:
                best, leader = float(score), t
        calls.append(spent)
        bests.append(best)
        if test_of is not None:
            if leader is not None and leader.number not in held:
                held[leader.number] = test_of(leader)
            tests.append(None if leader is None else held[leader.number])
        kind = origin.split(":", 1)[0]
        origins[kind] = origins.get(kind, 0) + 1
    return Trace(calls, bests, prefix, cut, total_calls, origins, seconds, tests)


def _within(paid: Sequence[int], values: Sequence[float | None], budget_calls: float) -> list[float]:
    """The values after the search trials whose cumulative calls (``paid``) are within ``budget_calls``."""
    return [v for c, v in zip(paid, values, strict=True) if c <= budget_calls and v is not None]


def best_within(trace: Trace, budget_calls: float, free: bool = False) -> float:
    """Best valset score of a search trial whose cumulative calls are within ``budget_calls`` (0 when none)."""
    return max(_within(trace.paid(free), trace.best, budget_calls), default=0.0)


def test_within(trace: Trace, budget_calls: float) -> float | None:
    """Held-out accuracy of the best search trial whose cumulative calls are within ``budget_calls``
    (``None`` without a held-out view or before any trial scored)."""
    got = _within(trace.paid(), trace.test, budget_calls) if trace.test else []
    return got[-1] if got else None


def calls_to_reach(trace: Trace, target: float, free: bool = False, censored: bool = False) -> float:
    """Cumulative calls after the first search trial reaching ``target``.

    When no trial does: ``inf``, or with ``censored`` the trace's total search calls (a lower
    bound of what it would need).
    """
    paid = trace.paid(free)
    for c, b in zip(paid, trace.best, strict=True):
        if b is not None and b >= target - 1e-9:
            return float(c)
    return float(paid[-1]) if censored and paid else math.inf


# -- one task x judge x seed ---------------------------------------------------------------------------


def _tester(build: Callable[..., Any], testset: Sequence[Any], threads: int) -> Callable[[Any], float]:
    """A trial -> the held-out accuracy of its program, built by ``build`` (``CompileResult``'s
    private builder: a probe of the benchmark, not the public API)."""

    def test_of(trial: Any) -> float:
        return held_out_accuracy(build(trial.params, trial.user_attrs.get("origin")), testset, threads)

    return test_of


def run_group(task_name: str, judge: str, seed: int, s: Settings) -> list[Cell]:
    """Both methods at every budget for one task, judge and seed."""
    import dspy
    import optuna
    from dspy.adapters import ChatAdapter

    from specprompt.scorers import pixel_lm
    from specprompt.search import BandOptimizer
    from specprompt.tasks import get_task

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("dspy").setLevel(logging.WARNING)
    logging.getLogger("specprompt").setLevel(logging.ERROR)
    lm = pixel_lm(judge)
    dspy.configure(lm=lm, adapter=ChatAdapter(), disable_history=True)
    task = get_task(task_name, n_train=s.n_train, n_val=s.n_val, n_test=s.n_test, size=s.sizes[task_name], seed=seed)
    student = dspy.Predict(task.signature)
    student.demos = pick_demos(task, s.k_per_class)
    full_tokens = prompt_tokens(student, s.pricing)
    out = []
    for fraction in s.budgets:
        budget = math.floor(fraction * full_tokens)
        cell = Cell(task_name, judge, fraction, seed, budget)
        options: dict[str, Any] = dict(
            token_budget=budget,
            cost_model=s.pricing,
            minibatch_size=s.n_val,
            num_threads=s.threads,
            seed=seed,
            progress=False,
        )
        storage = optuna.storages.InMemoryStorage()
        opt = BandOptimizer(exact_match, storage=storage, n_trials=s.n_trials + MAX_BASELINE_TRIALS, **options)
        before, t0 = lm.engine.calls, time.perf_counter()
        opt.compile(student, trainset=task.trainset, valset=task.valset)
        result = opt.last_result
        if result is None:  # pragma: no cover - compile always sets it
            raise SystemExit("BandOptimizer.compile returned no result")
        seconds = time.perf_counter() - t0
        # both studies share the optimizer's space: its builder makes any trial's program
        test_of = _tester(result._build, task.testset, s.threads) if s.n_test else None
        cell.traces["optimizer"] = read_trace(result.study, s.n_trials, lm.engine.calls - before, seconds, test_of)
        storage = optuna.storages.InMemoryStorage()
        rand = BandOptimizer(exact_match, storage=storage, n_trials=s.random_factor * s.n_trials, **options)
        before, t0 = lm.engine.calls, time.perf_counter()
        rand.run_baselines(student, trainset=task.trainset, valset=task.valset, which=("random",))
        seconds = time.perf_counter() - t0
        names = [st.study_name for st in storage.get_all_studies() if st.study_name.endswith("-random")]
        if len(names) != 1:
            raise SystemExit(f"expected one random-search study in the storage, found {names}")
        study = optuna.load_study(study_name=names[0], storage=storage)
        spent = lm.engine.calls - before
        cell.traces["random"] = read_trace(study, s.random_factor * s.n_trials, spent, seconds, test_of)
        out.append(cell)
    return out


# -- report ------------------------------------------------------------------------------------------------


def _median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else math.nan


def _calls(x: float) -> str:
    return "never" if math.isinf(x) else f"{x:.0f}"


def _ratio(opt: float, rand: float) -> float:
    if math.isinf(opt):
        return math.inf
    if math.isinf(rand):
        return 0.0
    return opt / rand if rand > 0 else math.inf


Key = tuple[str, float]


def _groups(cells: Sequence[Cell], by_judge: bool = False) -> dict[tuple[Any, ...], list[Cell]]:
    out: dict[tuple[Any, ...], list[Cell]] = {}
    for c in cells:
        key = (c.task, c.judge, c.budget) if by_judge else (c.task, c.budget)
        out.setdefault(key, []).append(c)
    return out


@dataclass(frozen=True)
class Summary:
    """One row: median calls to reach 95% of the final best, and accuracy at equal calls.

    ``reach["optimizer"]`` counts a run that never reaches the target as infinite;
    ``reach["random"]`` counts it as its total search calls (a lower bound), so :attr:`ratio` is
    an upper bound of the true ratio; ``random_bound`` says the random median is such a bound.
    """

    n: int
    final: dict[str, float]
    reach: dict[str, float]
    reach_free: float
    reached: dict[str, int]
    random_bound: bool
    equal: dict[float, tuple[float, float]]
    #: median calls of the optimizer's baseline trials and first search trial: the fewest any
    #: search that pays for its baselines can need (its first trial already reaching the target)
    first: float = math.nan

    @property
    def ratio(self) -> float:
        return _ratio(self.reach["optimizer"], self.reach["random"])

    @property
    def ratio_floor(self) -> float:
        """The ratio of a search whose first trial reaches the target: no search does better."""
        return _ratio(self.first, self.reach["random"])

    @property
    def ratio_free(self) -> float:
        return _ratio(self.reach_free, self.reach["random"])

    def gap(self, share: float = 1.0) -> float:
        opt, rand = self.equal[share]
        return 100 * (opt - rand)

    def random_calls(self) -> str:
        return (">=" if self.random_bound else "") + _calls(self.reach["random"])


def _middle(values: Sequence[tuple[float, bool]]) -> tuple[float, bool]:
    """Median of ``(value, is_bound)`` pairs and whether a bound is among its middle values."""
    ranked = sorted(values)
    n = len(ranked)
    mid = ranked[(n - 1) // 2 : n // 2 + 1]
    return statistics.fmean(v for v, _ in mid), any(b for _, b in mid)


def summarize(group: Sequence[Cell], n_trials: int) -> Summary:
    opt_reach: list[float] = []
    rand_reach: list[tuple[float, bool]] = []
    free: list[float] = []
    equal: dict[float, tuple[list[float], list[float]]] = {s: ([], []) for s in EQUAL_SHARES}
    for c in group:
        opt, rand = c.traces["optimizer"], c.traces["random"]
        target = REACH * max(opt.final(n_trials), rand.final(n_trials))
        opt_reach.append(calls_to_reach(opt, target))
        never = math.isinf(calls_to_reach(rand, target))
        rand_reach.append((calls_to_reach(rand, target, censored=True), never))
        free.append(calls_to_reach(opt, target, free=True))
        total = opt.total
        for share in EQUAL_SHARES:
            equal[share][0].append(best_within(opt, share * total))
            equal[share][1].append(best_within(rand, share * total))
    rand_median, bound = _middle(rand_reach)
    return Summary(
        n=len(group),
        final={m: statistics.fmean(c.traces[m].final(n_trials) for c in group) for m in METHODS},
        reach={"optimizer": _median(opt_reach), "random": rand_median},
        reach_free=_median(free),
        reached={
            "optimizer": sum(not math.isinf(x) for x in opt_reach),
            "random": sum(not never for _, never in rand_reach),
        },
        random_bound=bound,
        equal={s: (statistics.fmean(o), statistics.fmean(r)) for s, (o, r) in equal.items()},
        first=_median([c.traces["optimizer"].paid()[0] for c in group if c.traces["optimizer"].calls]),
    )


def report_tables(cells: Sequence[Cell], s: Settings, report: Report) -> None:
    n_seeds = len({c.seed for c in cells})
    for title, by_judge in (("per task (judges x seeds)", False), ("per task and judge (seeds)", True)):
        report.add(
            "",
            f"## Calls to reach {100 * REACH:g}% of the final best valset score, {title}; {n_seeds} seeds",
            "",
            "final: mean best search-trial valset score after the trials; calls: median scorer calls to reach "
            f"{100 * REACH:g}% of the cell's final best (the better method's); optimizer calls include its baseline "
            "trials' calls (free: without them); floor: the ratio of a search whose first trial already reaches "
            "it (its baseline trials' calls paid), the best any search can do.",
            "",
        )
        header = ["task", *(["judge"] if by_judge else []), "budget", "runs"]
        header += ["opt final", "rand final", "opt calls", "rand calls", "reached opt/rand"]
        header += ["ratio", "ratio (free)", "floor", "PASS <= 1/3"]
        rows = []
        for key, group in _groups(cells, by_judge).items():
            sm = summarize(group, s.n_trials)
            ok = sm.ratio <= RATIO_BAR
            rows.append(
                [
                    *[str(k) for k in key[:-1]],
                    f"{100 * key[-1]:g}%",
                    str(sm.n),
                    f"{100 * sm.final['optimizer']:.1f}",
                    f"{100 * sm.final['random']:.1f}",
                    _calls(sm.reach["optimizer"]),
                    sm.random_calls(),
                    f"{sm.reached['optimizer']}/{sm.reached['random']}",
                    f"{sm.ratio:.2f}",
                    f"{sm.ratio_free:.2f}",
                    f"{sm.ratio_floor:.2f}",
                    "PASS" if ok else "FAIL",
                ]
            )
        report.add(*table(header, rows))
    equal_calls_table(
        cells,
        report,
        "Valset accuracy",
        "C = a share of the optimizer's total calls in each cell (its baseline trials' included); each method's "
        "best search-trial valset score after at most C calls.",
        best_within,
    )
    held_out_table(cells, report)
    report.add("", "## Cost per search (mean over cells)", "")
    rows = []
    for key, group in _groups(cells).items():
        row = [key[0], f"{100 * key[1]:g}%", f"{statistics.fmean(c.token_budget for c in group):.0f}"]
        for m in METHODS:
            traces = [c.traces[m] for c in group]
            kinds: dict[str, int] = {}
            for tr in traces:
                for k, v in tr.origins.items():
                    kinds[k] = kinds.get(k, 0) + v
            mix = " ".join(f"{k} {v / len(traces):.1f}" for k, v in sorted(kinds.items()))
            row += [
                f"{statistics.fmean(tr.total_calls for tr in traces):.0f}",
                f"{statistics.fmean(tr.prefix_calls for tr in traces):.0f}",
                f"{statistics.fmean(tr.unattributed for tr in traces):.0f}",
                f"{statistics.fmean(tr.seconds for tr in traces):.1f}",
                mix,
            ]
        rows.append(row)
    header = ["task", "budget", f"tokens ({s.pricing})"]
    for m in ("opt", "rand"):
        header += [f"{m} calls", f"{m} baseline calls", f"{m} unattributed", f"{m} s", f"{m} search trials by origin"]
    report.add(*table(header, rows))


def held_out_table(cells: Sequence[Cell], report: Report) -> None:
    """With ``--n-test``: the held-out accuracy of each method's best search trial so far at the
    shares of the optimizer's total calls of the valset table (a valset lead that is luck on the
    validation examples does not carry over to held-out data). Nothing without a held-out view."""
    if not any(c.traces[m].test for c in cells for m in METHODS):
        return
    equal_calls_table(
        cells,
        report,
        "Held-out accuracy",
        "The test split of each task scores the best search trial (by valset) each method had after at most C "
        "calls (C as in the valset table): what a search stopped there would return from its search trials "
        "(0 when no search trial was within C).",
        lambda trace, calls: test_within(trace, calls) or 0.0,
    )


def equal_calls_table(
    cells: Sequence[Cell], report: Report, what: str, note: str, value: Callable[[Trace, float], float]
) -> None:
    """``what`` (%) of each method at :data:`EQUAL_SHARES` of the optimizer's total calls in each
    cell, ``value(trace, calls)``, mean over judges x seeds (and per judge), and the gap at 100%."""
    report.add("", f"## {what} (%) at equal calls, mean over judges x seeds", "", note, "")
    header = ["task", "judge", "budget"]
    for share in EQUAL_SHARES:
        header += [f"opt @{100 * share:g}%", f"rand @{100 * share:g}%"]
    header += ["gap @100% (points)"]
    rows = []
    for by_judge in (False, True):
        for key, group in _groups(cells, by_judge).items():
            row = [key[0], key[1] if by_judge else "both", f"{100 * key[-1]:g}%"]
            means = {}
            for share in EQUAL_SHARES:
                means[share] = [
                    statistics.fmean(value(c.traces[m], share * c.traces["optimizer"].total) for c in group)
                    for m in METHODS
                ]
                row += [f"{100 * v:.1f}" for v in means[share]]
            rows.append([*row, f"{100 * (means[1.0][0] - means[1.0][1]):+.1f}"])
    report.add(*table(header, rows))


def verdicts(cells: Sequence[Cell], s: Settings, report: Report) -> dict[str, bool]:
    """The issue's two bars."""
    out: dict[str, bool] = {}
    summaries = {key: summarize(group, s.n_trials) for key, group in _groups(cells).items()}
    parts, ok = [], True
    for (task, budget), sm in summaries.items():
        ok = ok and sm.ratio <= RATIO_BAR
        parts.append(
            f"{task}/{100 * budget:g}%: {_calls(sm.reach['optimizer'])} vs {sm.random_calls()} = {sm.ratio:.2f}"
        )
    out["ratio"] = ok
    report.add(
        "",
        f"PASS/FAIL median calls to reach {100 * REACH:g}% of the final best, optimizer / random <= 1/3 on every task: "
        + ("PASS" if ok else "FAIL")
        + " ("
        + "; ".join(parts)
        + ")",
    )
    one_budget = len({b for _t, b in summaries}) == 1
    floors = {(t if one_budget else f"{t}/{100 * b:g}%"): sm.ratio_floor for (t, b), sm in summaries.items()}
    out_of_reach = [t for t, f in floors.items() if f > RATIO_BAR]
    report.add(
        "floor of the ratio (a search whose first trial reaches the target, its baseline trials' calls paid): "
        + "; ".join(f"{t}: {f:.2f}" for t, f in floors.items())
        + (f"; the bar is out of reach for any search on {', '.join(out_of_reach)}" if out_of_reach else "")
    )
    detail = [(k, sm) for k, sm in summaries.items() if k[0] == DETAIL_TASK]
    if detail:
        parts, ok = [], True
        for (_task, budget), sm in detail:
            opt, rand = sm.equal[1.0]
            ok = ok and sm.gap() >= DETAIL_GAP
            parts.append(f"{100 * budget:g}%: {100 * opt:.1f}% vs {100 * rand:.1f}% = {sm.gap():+.1f} points")
        out["detail-gap"] = ok
        report.add(
            f"PASS/FAIL {DETAIL_TASK} at the optimizer's total calls: optimizer valset >= random + "
            f"{DETAIL_GAP:g} points: " + ("PASS" if ok else "FAIL") + " (" + "; ".join(parts) + ")"
        )
    return out


# -- command line --------------------------------------------------------------------------------------------


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"a budget is a fraction 0 < f <= 1 of full demo tokens, got {text!r}")
    return value


def parse_args(argv: list[str] | None) -> tuple[Settings, str | None, JsonOut | None, str | None, bool]:
    """The settings, ``--markdown-out``, ``--json-out`` (checked; ``None`` with ``--report-from``),
    ``--report-from`` and whether ``--n-trials`` was given."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny settings (64 px, 4 trials, 1 seed): a format check")
    parser.add_argument("--tasks", nargs="+", choices=sorted(TASKS), default=None, help="tasks (default all four)")
    parser.add_argument("--judges", nargs="+", choices=JUDGES, default=None, help="pixel judges (default both)")
    parser.add_argument("--budgets", nargs="+", type=_fraction, default=None, help="fractions (default 0.25)")
    parser.add_argument("--pricing", default="openai:gpt-4.1-mini", help="cost model of the budget")
    parser.add_argument("--seeds", type=at_least(1), default=None, help="number of seeds (default 5)")
    parser.add_argument("--first-seed", type=at_least(0), default=0, help="seeds are FIRST..FIRST+N-1 (default 0)")
    parser.add_argument("--size", type=at_least(32), default=None, help="one image side for every task")
    parser.add_argument("--n-val", type=at_least(1), default=None, help="validation examples (default 20)")
    parser.add_argument("--k-per-class", type=at_least(1), default=None, help="demos per class (default 2)")
    parser.add_argument("--n-trials", type=at_least(1), default=None, help="search trials per method (default 30)")
    parser.add_argument(
        "--n-test",
        type=at_least(0),
        default=0,
        help="held-out examples per task: also report the test accuracy of each method's best trial so far (default 0)",
    )
    parser.add_argument(
        "--random-factor",
        type=at_least(1),
        default=2,
        help="random search runs this many times n_trials, to measure when it reaches the target (default 2)",
    )
    parser.add_argument("--workers", type=at_least(1), default=1, help="processes (task x judge x seed groups)")
    parser.add_argument("--threads", type=at_least(1), default=1, help="threads scoring examples in a process")
    parser.add_argument("--markdown-out", metavar="FILE", help="also write the report here")
    add_json_out_arguments(parser, "write every cell here (JSON lines, as they finish)")
    parser.add_argument("--report-from", metavar="FILE", help="print the tables of a --json-out file; run nothing")
    a = parser.parse_args(argv)
    from specprompt.cost import get_cost_model

    try:
        get_cost_model(a.pricing)
    except KeyError as exc:
        parser.error(str(exc))
    tasks = tuple(a.tasks or TASKS)
    size = a.size or (64 if a.quick else None)
    k = a.k_per_class or (1 if a.quick else 2)
    settings = Settings(
        tasks=tasks,
        judges=tuple(a.judges or JUDGES),
        budgets=tuple(a.budgets or (0.25,)),
        pricing=a.pricing,
        seeds=tuple(range(a.first_seed, a.first_seed + (a.seeds or (1 if a.quick else 5)))),
        sizes={t: size or TASKS[t][1] for t in tasks},
        n_train=max(4 * k, 8),
        n_val=a.n_val or (4 if a.quick else 20),
        k_per_class=k,
        n_trials=a.n_trials or (4 if a.quick else 30),
        random_factor=a.random_factor,
        workers=a.workers,
        threads=a.threads,
        n_test=a.n_test,
    )
    json_out = None if a.report_from else JsonOut.of(a.json_out, __file__, settings, a.overwrite)
    check_outputs(parser, {"--markdown-out": a.markdown_out}, json_out)
    return settings, a.markdown_out, json_out, a.report_from, a.n_trials is not None


def _run(args: tuple[str, str, int, Settings]) -> list[Cell]:
    return run_group(*args)


def cell_from_json(data: dict[str, Any]) -> Cell:
    """A cell from one result line of a ``--json-out`` file."""
    traces = {m: Trace(**t) for m, t in data["traces"].items()}
    return Cell(**{**data, "traces": traces})


def settings_of_file(cells: Sequence[Cell], settings: Settings, trials_given: bool) -> Settings:
    """``settings`` with the ``n_trials`` of a ``--json-out`` file's cells, unless the command line gave one.

    The optimizer's trace of a cell holds one entry per search trial, so its length is the run's
    ``n_trials`` (the finals and the reach targets are read after that many trials).
    """
    lengths = {len(c.traces["optimizer"].calls) for c in cells if "optimizer" in c.traces}
    if trials_given or not lengths:
        return settings
    return dataclasses.replace(settings, n_trials=max(lengths))


def main(argv: list[str] | None = None) -> int:
    settings, markdown_out, json_out, report_from, trials_given = parse_args(argv)

    t0 = time.perf_counter()
    report = Report()
    cells: list[Cell] = []
    if report_from:
        cells = [cell_from_json(data) for data in read_json_lines(report_from)]
        settings = settings_of_file(cells, settings, trials_given)
        report.add(
            f"cells read from {report_from} ({len(cells)} cells); settings below are the command line's, "
            f"n_trials {settings.n_trials} read from the cells unless given"
        )
        report.add(*filter(None, [partial_note(report_from)]))
    report.head("judges: pixel-only (specprompt.scorers.pixel_lm), ChatAdapter, exact match", settings)
    jobs = (
        []
        if report_from
        else [(t, j, seed, settings) for t in settings.tasks for j in settings.judges for seed in settings.seeds]
    )
    try:
        cells.extend(run_jobs(jobs, _run, settings.workers, json_out, t0, load=cell_from_json))
    except KeyboardInterrupt as exc:
        return stopped(exc)
    rank = {name: i for i, name in enumerate((*TASKS, *JUDGES))}
    cells.sort(key=lambda c: (rank.get(c.task, 99), c.task, -c.budget, rank.get(c.judge, 99), c.judge, c.seed))
    report_tables(cells, settings, report)
    verdicts(cells, settings, report)
    report.add("", f"total wall time {time.perf_counter() - t0:.1f} s")
    report.write(markdown_out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
