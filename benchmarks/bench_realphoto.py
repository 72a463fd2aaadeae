"""Real-photo benchmark: band search against plain resizing, judged by pixel-only judges.

Usage::

    python benchmarks/bench_realphoto.py                       # 4 tasks x 2 judges x 3 budgets x 2 pricings x 5 seeds
    python benchmarks/bench_realphoto.py --quick               # tiny settings, seconds (format check)
    python benchmarks/bench_realphoto.py --seeds 3 --n-trials 20 --workers 2 --markdown-out realphoto.md
    python benchmarks/bench_realphoto.py --tasks photo-texture --search-demos --n-train 24   # + optimizer+demos
    python benchmarks/bench_realphoto.py --tasks photo-texture photo-detail --no-trim  # searches untrimmed
    python benchmarks/bench_realphoto.py --report-from a.jsonl b.jsonl --n-val 24  # tables of two runs' cells together

Tasks are the ``photo-*`` built-ins (:mod:`specprompt.tasks._photos`): crops, tints, rotations and
a small digit on photos that scikit-image ships. The judge is a pixel-only engine
(:func:`specprompt.scorers.pixel_lm`) that sees exactly the PNG a remote API would receive. It
stands in for the target VLM: the band search scores candidates with it on the valset, and every
method's program is measured with it on a held-out test split.

For each task x judge x budget (a fraction of the full-resolution demo tokens) x pricing x seed,
the methods are:

==============  ================================================================================
method          demo images
==============  ================================================================================
optimizer       :class:`~specprompt.search.BandOptimizer` (default sampler, ``n_trials``), the judge as LM;
                its own baselines are candidates of its study, among them ``sharpened`` (every demo
                resized like ``lanczos``, then sharpened by 100%: the library's ``sharpen`` dimension)
optimizer+      (``--search-demos``) the same with ``search_demos=True``: it also chooses which demos
demos           are shown and how many, from the program's demos and ``--demo-pool`` more trainset
                examples per class (``--n-train`` sets the trainset size); its baselines, like the
                ``lanczos`` column, keep the program's demos
lanczos         every demo resized with PIL Lanczos by the largest common scale that fits the budget
                (computed here, not by the library)
pyramid         every demo's Laplacian pyramid with the same number of finest levels dropped, the
                fewest that fit (rendered at the minimal size, as the search renders)
low_detail      full resolution sent with ``detail="low"`` (only where the pricing bills it lower)
random          the library's random-search baseline: RandomSampler, same space and trials
full            full resolution (the anchor; usually over budget)
text_only       no images: demos keep their labels
==============  ================================================================================

It prints the held-out accuracy (mean +- std over seeds), demo tokens as a share of full
resolution, scorer calls and wall time per compile, PASS/FAIL lines for the band-search
issue's bars, and per row the optimizer minus uniform Lanczos paired by test example, with a
bootstrap interval over seeds and examples (which rows are clearly below, clearly above, or within
the noise of 5 seeds x 60 test examples). Only the public API of :mod:`specprompt.search` is used.
"""

from __future__ import annotations

import argparse
import logging
import math
import re
import statistics
import sys
import time
from collections.abc import Sequence
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
    held_out,
    held_out_accuracy,
    image_size,
    partial_note,
    pct,
    pick_demos,
    prompt_tokens,
    read_json_lines,
    run_jobs,
    stopped,
    table,
)

#: Task -> (kind of frequency content the label needs, image side in px).
TASKS: dict[str, tuple[str, int]] = {
    "photo-tint": ("coarse", 384),
    "photo-texture": ("fine-texture", 256),
    "photo-identity": ("identity", 256),
    "photo-detail": ("small-detail", 512),
}
JUDGES = ("hist-hog", "lbp-dct")
BUDGETS = (0.10, 0.25, 0.50)
PRICINGS = ("openai:gpt-4.1-mini", "qwen2-vl")
#: Methods, in print order.
METHODS = (
    "optimizer",
    "optimizer+demos",
    "lanczos",
    "lanczos+demos",
    "pyramid",
    "low_detail",
    "random",
    "full",
    "text_only",
)
#: The searches, whose tokens and cost are reported and whose results the verdicts judge.
SEARCHES = ("optimizer", "optimizer+demos")


@dataclass(frozen=True)
class Settings:
    """Everything one run depends on (printed at the top of the report)."""

    tasks: tuple[str, ...]
    judges: tuple[str, ...]
    budgets: tuple[float, ...]
    pricings: tuple[str, ...]
    seeds: tuple[int, ...]
    sizes: dict[str, int]
    n_train: int
    n_val: int
    n_test: int
    k_per_class: int
    n_trials: int
    workers: int
    threads: int
    search_demos: bool = False
    demo_pool: int = 4
    random: bool = True
    #: ``SearchConfig.tie_confidence`` of both searches (``None``: the library default).
    tie_confidence: float | None = None
    #: ``SearchConfig.confirm_splits`` of both searches (``None``: the library default; 0: no check).
    confirm_splits: int | None = None
    #: ``SearchConfig.confirm_min_examples`` of both searches (``None``: the library default).
    confirm_min_examples: float | None = None
    #: ``SearchConfig.trim`` of the searches (``--no-trim``: return the chosen program untrimmed).
    trim: bool = True
    #: ``SearchConfig.trim_baselines`` of the searches (``None``: the library default).
    trim_baselines: str | None = None
    #: ``SearchConfig.sharpen`` of the searches (``--no-sharpen``: no unsharp-mask dimension, no
    #: ``sharpened`` baseline: the search of the runs before it existed).
    sharpen: bool = True


# -- demos and tokens ------------------------------------------------------------------------------


def with_images(student: Any, demos: Sequence[Any], images: Sequence[Any | None]) -> Any:
    """A copy of ``student`` whose demos are ``demos`` with their images replaced by ``images``."""
    import dspy

    program = student.deepcopy()
    program.demos = [
        dspy.Example(image=img, label=d.label).with_inputs("image") for d, img in zip(demos, images, strict=True)
    ]
    return program


def lanczos_images(demos: Sequence[Any], pricing: str, budget: int) -> tuple[list[Any], float] | None:
    """Every demo image resized (PIL Lanczos) by the largest common scale whose tokens fit ``budget``.

    Scales are tried from the largest down, one pixel of the longest side at a time; ``None``
    when even 1-pixel images do not fit.
    """
    import dspy
    from PIL import Image

    from specprompt.cost import image_tokens
    from specprompt.io import load_image

    pils = [load_image(d.image).convert("RGB") for d in demos]
    longest = max(max(p.size) for p in pils)
    for side in range(longest, 0, -1):
        scale = side / longest
        sizes = [(max(1, round(p.size[0] * scale)), max(1, round(p.size[1] * scale))) for p in pils]
        if sum(image_tokens(pricing, w, h) for w, h in sizes) <= budget:
            images = [
                dspy.Image(p if p.size == s else p.resize(s, Image.Resampling.LANCZOS))
                for p, s in zip(pils, sizes, strict=True)
            ]
            return images, scale
    return None


def pyramid_images(demos: Sequence[Any], pricing: str, budget: int) -> tuple[list[Any], int] | None:
    """Every demo's Laplacian render with the same number of finest levels dropped (fewest that fit)."""
    from specprompt import Selection, decompose
    from specprompt.cost import image_tokens
    from specprompt.types import SpectralImage

    spectra = [decompose(d.image, "laplacian") for d in demos]
    n_levels = min(len(s.band_names) for s in spectra)
    for drop in range(n_levels):
        images = [SpectralImage.from_spectrum(s, Selection.of(list(s.band_names[drop:]))) for s in spectra]
        if sum(image_tokens(pricing, *img.render_size) for img in images) <= budget:
            return images, drop
    return None


def low_detail_images(demos: Sequence[Any]) -> list[Any]:
    """Full-resolution SpectralImages sent with ``detail="low"``."""
    from specprompt import decompose
    from specprompt.types import SpectralImage

    return [SpectralImage.from_spectrum(decompose(d.image)).with_detail("low") for d in demos]


def low_detail_priced(pricing: str, width: int, height: int) -> bool:
    """Whether ``pricing`` bills a ``detail="low"`` image below the same image at full detail."""
    from specprompt.cost import image_tokens

    return image_tokens(pricing, width, height, detail="low") < image_tokens(pricing, width, height, detail="high")


# -- one cell group: a task, a judge and a seed ------------------------------------------------------


@dataclass
class Outcome:
    """One method in one cell: held-out accuracy, tokens, and (for searches) cost of the compile."""

    test: float | None
    tokens: int | None
    calls: int | None = None
    seconds: float | None = None
    note: str = ""
    #: the score of every test example, in test-split order (``optimizer`` and ``lanczos``; runs
    #: before these were kept have none)
    scores: list[float] | None = None


@dataclass
class CellResult:
    """All methods of one task x judge x budget x pricing x seed."""

    task: str
    judge: str
    budget: float
    pricing: str
    seed: int
    full_tokens: int
    methods: dict[str, Outcome] = field(default_factory=dict)
    n_demos: int = 0
    #: validation examples of its search (0 in files written before it was recorded)
    n_val: int = 0


def _random_search(opt: Any, student: Any, task: Any) -> tuple[Any, int, str]:
    """Random search with the same space and trials: (program or None, scorer calls, note).

    The library's ``random`` baseline (``run_baselines(which=("random",))``); where that API is
    not available, a BandOptimizer with Optuna's ``RandomSampler`` and the same settings.
    """
    import dspy
    import optuna

    from specprompt.errors import SpecPromptError
    from specprompt.search import BandOptimizer

    engine = dspy.settings.lm.engine
    before = engine.calls
    try:
        found = opt.run_baselines(student, trainset=task.trainset, valset=task.valset, which=("random",))
    except (SpecPromptError, TypeError, AttributeError) as exc:
        logging.getLogger(__name__).warning("run_baselines(random) failed (%s); compiling with RandomSampler", exc)
        rand = BandOptimizer(
            opt.metric, opt.config, sampler=optuna.samplers.RandomSampler(seed=opt.config.seed), storage="memory"
        )
        program = rand.compile(student, trainset=task.trainset, valset=task.valset)
        return program, engine.calls - before, "BandOptimizer with RandomSampler"
    base = found.get("random")
    if base is None or base.program is None:
        return None, engine.calls - before, getattr(base, "note", "no random result")
    return base.program, engine.calls - before, base.note


def chosen_sources(program: Any, trainset: Sequence[Any]) -> list[tuple[Any, bool]] | None:
    """Per demo of ``program``: the trainset example whose image it shows (by source hash), and ``True``.

    A demo whose image the search dropped (the text :data:`specprompt.types.DROPPED_IMAGE`) is
    ``(demo, False)``. ``None`` when a shown image is not a rendering of a trainset image.
    """
    import dspy

    from specprompt.types import content_hash

    by_hash = {content_hash(ex.image): ex for ex in trainset}
    out: list[tuple[Any, bool]] = []
    for demo in program.demos:
        image = demo.image
        if not isinstance(image, dspy.Image):
            out.append((demo, False))
            continue
        found = by_hash.get(str(getattr(image, "source_hash", None) or content_hash(image)))
        if found is None:
            return None
        out.append((found, True))
    return out


def _lanczos_on_chosen(student: Any, program: Any, task: Any, pricing: str, budget: int, s: Settings) -> Outcome:
    """Uniform Lanczos on the demos a demo-choosing search showed (``lanczos+demos``).

    Demos whose image the search dropped stay text-only; the others are resized together.
    """
    from specprompt.types import DROPPED_IMAGE

    chosen = chosen_sources(program, task.trainset)
    shown = [ex for ex, has_image in chosen or () if has_image]
    if not chosen or not shown:
        return Outcome(None, None, note="the chosen demos show no trainset image")
    found = lanczos_images(shown, pricing, budget)
    if found is None:
        return Outcome(None, None, note="even 1 px images exceed the budget")
    resized = iter(found[0])
    images = [next(resized) if has_image else DROPPED_IMAGE for _, has_image in chosen]
    prog = with_images(student, [ex for ex, _ in chosen], images)
    pooled = sum(not any(ex is d for d in student.demos) for ex in shown)
    return Outcome(
        held_out_accuracy(prog, task.testset, s.threads),
        prompt_tokens(prog, pricing),
        note=f"{len(chosen)} chosen demos ({len(shown)} with images, {pooled} from the pool), scale {found[1]:.3f}",
    )


def sharpened_percent(selections: str | None) -> int:
    """The unsharp-mask percent of a candidate's sent images (its ``selections`` JSON, where
    ``SearchContext.describe`` records it per image when not 0); 0 for none."""
    if not selections:
        return 0
    import json

    entries = json.loads(selections).values()
    return max((int(e.get("sharpen", 0)) for e in entries if isinstance(e, dict)), default=0)


def decision_note(result: Any) -> str:
    """How the compile chose: the selection rule's pick, its confirmation, and the trim."""
    if result is None:
        return ""
    trial = result.best.trial if result.trim is None else result.trim.chosen
    chosen = next((r for r in result.candidates if r.trial == trial), result.best)
    parts = [f"chosen {chosen.origin} ({chosen.tokens} tokens)"]
    sharpen = sharpened_percent(getattr(chosen, "selections", None))
    if sharpen:
        parts.append(f"sent sharpened {sharpen}%")
    if result.leader is not None and result.leader.key != chosen.key:
        parts.append(f"leader {result.leader.origin}")
    c = result.confirmation
    if c is not None:
        parts.append(f"confirmation gain {100 * c.gain:+.1f} ({'kept' if c.departed else 'baseline returned'})")
    lp = getattr(result, "local_pick", None)
    if lp is not None:
        verb = "confirmed by the target" if lp.returned else "held back"
        parts.append(f"{verb} {lp.pick.origin} ({lp.pick.tokens} tokens)")
    trim = result.trim
    if trim is not None and trim.tokens_after < trim.tokens_before:
        # the chain's accepted steps down to the returned variant: what made it cheaper
        moves = [st.move.split()[0] for st in trim.steps if st.accepted and st.tokens >= trim.tokens_after]
        how = ", ".join(f"{moves.count(m)} {m}" for m in ("drop", "scale") if m in moves)
        parts.append(f"trimmed {trim.tokens_before} -> {trim.tokens_after} tokens ({how})")
    check = None if trim is None else getattr(trim, "check", None)
    if check is not None and not check.confirmed:  # the target refused a local judge's trim
        parts.append(f"trim to {check.tokens} tokens refused by the target")
    return "; ".join(parts)


def group_setup(
    task_name: str,
    judge: str,
    seed: int,
    sizes: dict[str, int],
    n_train: int,
    n_val: int,
    n_test: int,
    k_per_class: int,
) -> tuple[Any, Any, Any, list[Any]]:
    """What one group works with: the judge (configured as DSPy's LM, quiet logs), the task, the
    student program and its demos (the first ``k_per_class`` trainset examples of every label)."""
    import dspy
    import optuna
    from dspy.adapters import ChatAdapter

    from specprompt.scorers import pixel_lm
    from specprompt.tasks import get_task

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("dspy").setLevel(logging.WARNING)
    logging.getLogger("specprompt").setLevel(logging.WARNING)
    lm = pixel_lm(judge)
    # no call history: DSPy keeps up to 10,000 requests per LM and globally, each with every demo's
    # base64 PNG (megabytes per request at 512 px), which ran a long run out of memory
    dspy.configure(lm=lm, adapter=ChatAdapter(), disable_history=True)
    task = get_task(task_name, n_train=n_train, n_val=n_val, n_test=n_test, size=sizes[task_name], seed=seed)
    student = dspy.Predict(task.signature)
    demos = pick_demos(task, k_per_class)
    student.demos = demos
    return lm, task, student, demos


def cell_optimizer(
    budget: int, pricing: str, n_trials: int, n_val: int, seed: int, threads: int = 1, **options: Any
) -> Any:
    """The band search of one cell: the library's defaults plus ``options`` (further SearchConfig
    fields), every trial scored on the whole valset (``minibatch_size = n_val``), an in-memory
    study and no progress bar (what this benchmark and the probes that replay its compiles run)."""
    from specprompt.search import BandOptimizer

    return BandOptimizer(
        exact_match,
        token_budget=budget,
        cost_model=pricing,
        n_trials=n_trials,
        minibatch_size=n_val,
        num_threads=threads,
        seed=seed,
        progress=False,
        storage="memory",
        **options,
    )


def run_group(task_name: str, judge: str, seed: int, s: Settings) -> list[CellResult]:
    """Every budget x pricing of one task, judge and seed (one process works through a group)."""
    from specprompt.search import BandOptimizer

    lm, task, student, demos = group_setup(task_name, judge, seed, s.sizes, s.n_train, s.n_val, s.n_test, s.k_per_class)
    full_test = held_out_accuracy(student, task.testset, s.threads)
    text_prog = with_images(student, demos, [None] * len(demos))
    text_test = held_out_accuracy(text_prog, task.testset, s.threads)
    low_prog = with_images(student, demos, low_detail_images(demos))
    low_test: float | None = None
    w, h = image_size(demos[0].image)
    out = []
    for pricing in s.pricings:
        full_tokens = prompt_tokens(student, pricing)
        low_note = "detail='low' is not billed lower under this pricing"
        low_tokens: int | None = None
        if low_detail_priced(pricing, w, h):
            low_tokens = prompt_tokens(low_prog, pricing)
            if low_test is None:
                low_test = held_out_accuracy(low_prog, task.testset, s.threads)
            low_note = "full resolution, detail='low'"
        for fraction in s.budgets:
            budget = math.floor(fraction * full_tokens)
            cell = CellResult(
                task_name, judge, fraction, pricing, seed, full_tokens, n_demos=len(demos), n_val=len(task.valset)
            )
            cell.methods["full"] = Outcome(full_test, full_tokens, note="all bands")
            cell.methods["text_only"] = Outcome(text_test, 0, note="images removed")
            fits = low_tokens is not None and low_tokens <= budget
            cell.methods["low_detail"] = Outcome(
                low_test if low_tokens is not None else None,
                low_tokens,
                note=low_note + ("" if low_tokens is None or fits else " (over budget)"),
            )
            found = lanczos_images(demos, pricing, budget)
            if found is None:
                cell.methods["lanczos"] = Outcome(None, None, note="even 1 px images exceed the budget")
            else:
                prog = with_images(student, demos, found[0])
                acc, scores = held_out(prog, task.testset, s.threads)
                cell.methods["lanczos"] = Outcome(
                    acc, prompt_tokens(prog, pricing), note=f"scale {found[1]:.3f}", scores=scores
                )
            pyr = pyramid_images(demos, pricing, budget)
            if pyr is None:
                cell.methods["pyramid"] = Outcome(None, None, note="even the residuals exceed the budget")
            else:
                prog = with_images(student, demos, pyr[0])
                cell.methods["pyramid"] = Outcome(
                    held_out_accuracy(prog, task.testset, s.threads),
                    prompt_tokens(prog, pricing),
                    note=f"{pyr[1]} finest level(s) dropped",
                )
            opt = cell_optimizer(
                budget,
                pricing,
                s.n_trials,
                s.n_val,
                seed,
                s.threads,
                **({} if s.tie_confidence is None else {"tie_confidence": s.tie_confidence}),
                **({} if s.confirm_splits is None else {"confirm_splits": s.confirm_splits}),
                **({} if s.confirm_min_examples is None else {"confirm_min_examples": s.confirm_min_examples}),
                **({} if s.trim else {"trim": False}),
                **({} if s.trim_baselines is None else {"trim_baselines": s.trim_baselines}),
                **({} if s.sharpen else {"sharpen": False}),
            )
            before = lm.engine.calls
            t0 = time.perf_counter()
            program = opt.compile(student, trainset=task.trainset, valset=task.valset)
            seconds = time.perf_counter() - t0
            calls = lm.engine.calls - before
            acc, scores = held_out(program, task.testset, s.threads)
            cell.methods["optimizer"] = Outcome(
                acc, prompt_tokens(program, pricing), calls, seconds, note=decision_note(opt.last_result), scores=scores
            )
            if s.search_demos:
                demos_opt = BandOptimizer(
                    exact_match,
                    opt.config.replace(search_demos=True, demo_pool=s.demo_pool),
                    storage="memory",
                )
                before = lm.engine.calls
                t0 = time.perf_counter()
                program = demos_opt.compile(student, trainset=task.trainset, valset=task.valset)
                seconds = time.perf_counter() - t0
                calls = lm.engine.calls - before
                shown = sum(len(p.demos) for _, p in program.named_predictors())
                cell.methods["optimizer+demos"] = Outcome(
                    held_out_accuracy(program, task.testset, s.threads),
                    prompt_tokens(program, pricing),
                    calls,
                    seconds,
                    note=f"{shown} demos shown",
                )
                cell.methods["lanczos+demos"] = _lanczos_on_chosen(student, program, task, pricing, budget, s)
            if not s.random:
                out.append(cell)
                continue
            t0 = time.perf_counter()
            rand_prog, rand_calls, note = _random_search(opt, student, task)
            rand_s = time.perf_counter() - t0
            if rand_prog is None:
                cell.methods["random"] = Outcome(None, None, rand_calls, rand_s, note)
            else:
                cell.methods["random"] = Outcome(
                    held_out_accuracy(rand_prog, task.testset, s.threads),
                    prompt_tokens(rand_prog, pricing),
                    rand_calls,
                    rand_s,
                    note,
                )
            out.append(cell)
    return out


# -- report ------------------------------------------------------------------------------------------


def _mean_std(values: Sequence[float | None]) -> tuple[float, float] | None:
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else 0.0)


def _acc(values: Sequence[float | None]) -> str:
    ms = _mean_std(values)
    return "-" if ms is None else f"{100 * ms[0]:.1f} +- {100 * ms[1]:.1f}"


Key = tuple[str, str, float, str]


def _group(cells: Sequence[CellResult]) -> dict[Key, list[CellResult]]:
    groups: dict[Key, list[CellResult]] = {}
    for c in cells:
        groups.setdefault((c.task, c.judge, c.budget, c.pricing), []).append(c)
    return groups


def _outcome(cell: CellResult, method: str) -> Outcome:
    """The method's outcome in ``cell`` (an empty one where the run did not measure it)."""
    return cell.methods.get(method) or Outcome(None, None)


def _means(group: Sequence[CellResult], method: str, what: str) -> float | None:
    ms = _mean_std([getattr(_outcome(c, method), what) for c in group])
    return None if ms is None else ms[0]


def _n_demos(cells: Sequence[CellResult]) -> str:
    return str(cells[0].n_demos) if cells and cells[0].n_demos else "-"


def _points(a: float | None, b: float | None) -> str:
    return "-" if a is None or b is None else f"{100 * (a - b):+.1f}"


def report_tables(cells: Sequence[CellResult], report: Report) -> None:
    groups = _group(cells)
    n_seeds = len({c.seed for c in cells})
    methods = [m for m in METHODS if any(m in c.methods for c in cells)]
    searches = [m for m in SEARCHES if m in methods]
    lanczos = [m for m in ("lanczos", "lanczos+demos") if m in methods]
    for pricing in dict.fromkeys(c.pricing for c in cells):
        report.add(
            "",
            f"## Held-out test accuracy (%), pricing {pricing}, mean +- std over {n_seeds} seeds",
            "",
            "tokens: mean demo image tokens of the chosen program as % of full resolution.",
            "",
        )
        header = ["task", "judge", "budget", *methods, *(f"{m} tokens" for m in (*searches, *lanczos))]
        rows = []
        for (task, judge, budget, pr), group in groups.items():
            if pr != pricing:
                continue
            full = group[0].full_tokens
            share = {m: _means(group, m, "tokens") for m in (*searches, *lanczos)}
            shares = ["-" if v is None else f"{100 * v / full:.1f}%" for v in share.values()]
            rows.append(
                [
                    task,
                    judge,
                    f"{100 * budget:g}%",
                    *[_acc([_outcome(c, m).test for c in group]) for m in methods],
                    *shares,
                ]
            )
        report.add(*table(header, rows))
    report.add("", "## Cost per compile (mean over seeds): scorer calls on the valset and wall seconds", "")
    measured = [*searches, *(["random"] if any("random" in c.methods for c in cells) else [])]
    rows = []
    for (task, judge, budget, pricing), group in groups.items():
        row = [task, judge, f"{100 * budget:g}%", pricing]
        for m in measured:
            calls, secs = _means(group, m, "calls"), _means(group, m, "seconds")
            row += ["-" if calls is None else f"{calls:.0f}", "-" if secs is None else f"{secs:.1f}"]
        rows.append(row)
    costs = [h for m in measured for h in (f"{m} calls", "s")]
    report.add(*table(["task", "judge", "budget", "pricing", *costs], rows))
    if "lanczos+demos" in methods:
        report.add(
            "",
            "## optimizer+demos against lanczos (mean held-out points), split into demo choice "
            "(lanczos+demos - lanczos) and sizes and bands (optimizer+demos - lanczos+demos)",
            "",
        )
        rows = []
        for (task, judge, budget, pricing), group in groups.items():
            lan, chosen, found = (_means(group, m, "test") for m in ("lanczos", "lanczos+demos", "optimizer+demos"))
            rows.append(
                [
                    task,
                    judge,
                    f"{100 * budget:g}%",
                    pricing,
                    _points(found, lan),
                    _points(chosen, lan),
                    _points(found, chosen),
                ]
            )
        report.add(
            *table(["task", "judge", "budget", "pricing", "optimizer+demos", "demo choice", "sizes and bands"], rows)
        )
    if "optimizer+demos" in methods:
        shown = [c.methods["optimizer+demos"].note for c in cells if "optimizer+demos" in c.methods]
        counts = sorted({int(n.split()[0]) for n in shown if n.split() and n.split()[0].isdigit()})
        report.add(
            "",
            f"optimizer+demos: demos shown by the chosen programs: {', '.join(map(str, counts))} "
            f"(the program's own demos: {_n_demos(cells)})",
        )


#: DSPy's Evaluate reports accuracy as a percentage to 2 decimals (52 of 60: 86.67); two means that
#: differ by less than this are equal (one test example of 60 moves a 5-seed mean by 0.0033).
ROUNDING = 5e-4


def verdicts(cells: Sequence[CellResult], report: Report) -> dict[str, bool]:
    """PASS/FAIL lines for the band-search issue's "Done when" bullets on this benchmark.

    One set of lines per search that ran (``optimizer``, and ``optimizer+demos`` with
    ``--search-demos``); keys of the returned dict carry the method after a colon for the latter.
    """
    out: dict[str, bool] = {}
    for method in SEARCHES:
        if any(method in c.methods for c in cells):
            found = _verdicts_of(cells, method, report)
            out.update(found if method == "optimizer" else {f"{k}:{method}": v for k, v in found.items()})
    return out


def _verdicts_of(cells: Sequence[CellResult], method: str, report: Report) -> dict[str, bool]:
    groups = _group(cells)
    out: dict[str, bool] = {}
    losses = []
    for (task, judge, budget, pricing), group in groups.items():
        opt, lan = _means(group, method, "test"), _means(group, "lanczos", "test")
        if opt is None or (lan is not None and opt < lan - ROUNDING):
            losses.append(f"{task}/{judge}/{100 * budget:g}%/{pricing}: {pct(opt)} < {pct(lan)}")
    out["never-below-lanczos"] = not losses
    report.add(
        "",
        f"PASS/FAIL {method} >= uniform Lanczos (mean held-out accuracy) on every task, budget, judge and pricing: "
        + ("PASS" if not losses else f"FAIL ({len(losses)} of {len(groups)}): " + "; ".join(losses)),
    )
    fine = [(k, g) for k, g in groups.items() if TASKS[k[0]][0] == "fine-texture" and abs(k[2] - 0.25) < 1e-9]
    if fine:
        parts, ok = [], True
        for (_task, judge, _budget, pricing), group in fine:
            opt, lan = _means(group, method, "test"), _means(group, "lanczos", "test")
            gain = None if opt is None or lan is None else 100 * (opt - lan)
            ok = ok and gain is not None and gain >= 5.0
            parts.append(f"{judge}/{pricing}: {'-' if gain is None else f'{gain:+.1f}'} points")
        out["fine-texture-25"] = ok
        report.add(
            f"PASS/FAIL fine texture at 25%: {method} >= uniform Lanczos + 5 points: {'PASS' if ok else 'FAIL'} ("
            + "; ".join(parts)
            + ")"
        )
    coarse = [(k, g) for k, g in groups.items() if TASKS[k[0]][0] == "coarse"]
    if coarse:
        smallest = min(k[2] for k, _ in coarse)
        parts, ok = [], True
        for (_task, judge, budget, pricing), group in coarse:
            if budget != smallest:
                continue
            opt, full = _means(group, method, "test"), _means(group, "full", "test")
            tok = _means(group, method, "tokens")
            cut = None if tok is None else 1 - tok / group[0].full_tokens
            good = cut is not None and cut >= 0.95 and opt is not None and full is not None and opt >= full
            ok = ok and good
            cut_text = "-" if cut is None else f"{100 * cut:.1f}%"
            parts.append(f"{judge}/{pricing}: cut {cut_text}, {pct(opt)} vs full {pct(full)}")
        out["coarse-cut-95"] = ok
        report.add(
            f"PASS/FAIL coarse-only at {100 * smallest:g}% budget: {method} cuts >= 95% of demo tokens with no loss "
            f"vs full: {'PASS' if ok else 'FAIL'} (" + "; ".join(parts) + ")"
        )
    return out


def _against_lanczos(name: str, diffs: Sequence[float]) -> str:
    """One report line: how many of ``diffs`` (optimizer minus lanczos test accuracy, points) are
    above, below and equal (within 0.05), with the range of each side."""
    won = [d for d in diffs if d > 0.05]
    lost = [d for d in diffs if d < -0.05]

    def spread(values: list[float]) -> str:
        return f" ({min(values):+.1f} to {max(values):+.1f})" if values else ""

    return (
        f"{name}: {len(diffs)}; against lanczos on the test split {len(won)} above{spread(won)}, "
        f"{len(lost)} below{spread(lost)}, {len(diffs) - len(won) - len(lost)} equal"
    )


#: The optimizer note's record of step 6 (:func:`decision_note`).
_CONFIRMATION = re.compile(r"confirmation gain ([+-][0-9.]+) \(kept\)")


def departures(cells: Sequence[CellResult], n_val: int, report: Report) -> None:
    """How the compiles that left the resizing baseline fared on the test split, by the held-out
    gain their confirmation measured (in examples of a held-out half of ``n_val``): what a
    ``confirm_min_examples`` of 1 would have kept and refused. Read off the optimizer notes."""
    half = n_val - n_val // 2
    kept: list[tuple[float, float]] = []
    for c in cells:
        opt, lan = _outcome(c, "optimizer"), _outcome(c, "lanczos")
        found = _CONFIRMATION.search(opt.note)
        if found and opt.test is not None and lan.test is not None:
            kept.append((float(found.group(1)) / 100 * half, 100 * (opt.test - lan.test)))
    if not kept:
        return
    refused = [d for g, d in kept if g < 1 - 1e-9]
    passed = [d for g, d in kept if g >= 1 - 1e-9]
    report.add(
        "",
        f"departures kept by the confirmation (held-out gain in examples of a {half}-example half): {len(kept)}",
        "  " + _against_lanczos("gain below 1 example (refused by confirm_min_examples=1)", refused),
        "  " + _against_lanczos("gain of 1 example or more", passed),
    )


#: Resamples of :func:`paired_against_lanczos`'s bootstrap, and its seed.
BOOTSTRAP = 4000
BOOTSTRAP_SEED = 0


def paired_interval(
    pairs: Sequence[tuple[Sequence[float], Sequence[float]]], level: float = 0.95
) -> tuple[float, float, float]:
    """Mean of ``a - b`` over every example of every seed, and its two-level paired bootstrap interval.

    ``pairs``: one ``(a, b)`` per seed, the scores of two programs on the same test examples.
    Each resample draws the seeds with replacement, then the examples of each drawn seed with
    replacement (the same draws for ``a`` and ``b``): the interval covers the spread between
    task instances and searches as well as between test examples. Percentile interval at
    ``level``; seeded, so a report prints the same interval every time.

    Example:
        >>> paired_interval([([1, 1, 0], [1, 0, 0]), ([1, 1], [1, 1])])[0]
        0.2
    """
    import numpy as np

    diffs = [np.asarray(a, float) - np.asarray(b, float) for a, b in pairs]
    mean = float(np.concatenate(diffs).mean())
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    draws = np.empty(BOOTSTRAP)
    for r in range(BOOTSTRAP):
        picked = [diffs[i] for i in rng.integers(0, len(diffs), len(diffs))]
        draws[r] = np.concatenate([d[rng.integers(0, len(d), len(d))] for d in picked]).mean()
    tail = (1 - level) / 2
    return mean, float(np.quantile(draws, tail)), float(np.quantile(draws, 1 - tail))


def paired_against_lanczos(cells: Sequence[CellResult], report: Report, method: str = "optimizer") -> None:
    """Per task x judge x budget x pricing: ``method`` minus uniform Lanczos on the test split, paired
    by example, with a 95% two-level bootstrap interval (:func:`paired_interval`), and how many rows
    lie clearly below, clearly above or within it. Rows whose cells lack per-example scores (runs
    before they were kept) are left out."""
    rows, below, above = [], [], []
    groups = _group(cells)
    for (task, judge, budget, pricing), group in groups.items():
        pairs = [(_outcome(c, method).scores, _outcome(c, "lanczos").scores) for c in group]
        if not pairs or any(a is None or b is None or len(a) != len(b) for a, b in pairs):
            continue
        mean, low, high = paired_interval([(a, b) for a, b in pairs if a is not None and b is not None])
        name = f"{task}/{judge}/{100 * budget:g}%/{pricing}"
        verdict = "below" if high < 0 else "above" if low > 0 else "within"
        (below if verdict == "below" else above if verdict == "above" else []).append(name)
        rows.append(
            [
                task,
                judge,
                f"{100 * budget:g}%",
                pricing,
                f"{100 * mean:+.1f}",
                f"{100 * low:+.1f} to {100 * high:+.1f}",
                verdict,
            ]
        )
    if not rows:
        return
    report.add(
        "",
        f"## {method} minus uniform Lanczos on the test split (points), paired by example, 95% bootstrap interval",
        "",
        "interval: two-level paired bootstrap (seeds drawn with replacement, then test examples within each); "
        "below / above: the whole interval is below / above 0.",
        "",
    )
    report.add(*table(["task", "judge", "budget", "pricing", "difference", "95% interval", "verdict"], rows))
    report.add(
        "",
        f"{method} against uniform Lanczos, paired: {len(below)} of {len(rows)} rows clearly below"
        + (f" ({'; '.join(below)})" if below else "")
        + f", {len(above)} clearly above, {len(rows) - len(below) - len(above)} within their interval",
    )


_BASELINE_TRIM = re.compile(r"chosen baseline:.*trimmed [0-9]+ -> [0-9]+ tokens(?: \(([^)]*)\))?")


_SHARPENED = re.compile(r"sent sharpened ([0-9]+)%")


def sharpened_choices(cells: Sequence[CellResult], report: Report) -> None:
    """How the compiles whose returned program sends sharpened images fared on the test split
    against Lanczos, by the percent (read off the optimizer notes: ``sent sharpened N%``; in the
    notes of runs before it was written, only the ``sharpened`` baseline and its trims are known,
    at its 100%)."""
    groups: dict[int, list[float]] = {}
    n = 0
    for c in cells:
        opt, lan = _outcome(c, "optimizer"), _outcome(c, "lanczos")
        if opt.test is None or lan.test is None:
            continue
        n += 1
        found = _SHARPENED.search(opt.note)
        percent = int(found.group(1)) if found else 100 if "chosen baseline:sharpened" in opt.note else 0
        if percent:
            groups.setdefault(percent, []).append(100 * (opt.test - lan.test))
    every = [d for g in groups.values() for d in g]
    if not every:
        return
    report.add("", _against_lanczos(f"returned programs that send sharpened images (of {n} compiles)", every))
    report.add(*("  " + _against_lanczos(f"sharpened {k}%", groups[k]) for k in sorted(groups)))


def baseline_trims(cells: Sequence[CellResult], report: Report) -> None:
    """How the compiles that returned a trimmed baseline fared on the test split against Lanczos,
    split by whether the trim dropped a demo's images. Read off the optimizer notes (runs before
    the notes named the moves count as "moves not recorded")."""
    groups: dict[str, list[float]] = {"with a drop": [], "smaller sizes only": [], "moves not recorded": []}
    for c in cells:
        opt, lan = _outcome(c, "optimizer"), _outcome(c, "lanczos")
        found = _BASELINE_TRIM.search(opt.note)
        if found and opt.test is not None and lan.test is not None:
            how = found.group(1)
            name = "moves not recorded" if how is None else "with a drop" if "drop" in how else "smaller sizes only"
            groups[name].append(100 * (opt.test - lan.test))
    every = [d for g in groups.values() for d in g]
    if not every:
        return
    report.add("", _against_lanczos("returned baselines trimmed", every))
    report.add(*("  " + _against_lanczos(k, v) for k, v in groups.items() if v))


# -- command line --------------------------------------------------------------------------------------


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"a budget is a fraction 0 < f <= 1 of full demo tokens, got {text!r}")
    return value


def parse_args(
    argv: list[str] | None,
) -> tuple[Settings, str | None, JsonOut | None, list[str] | None, list[str] | None, bool]:
    """The settings, ``--markdown-out``, ``--json-out`` (checked; ``None`` with ``--report-from``),
    ``--report-from``, ``--same-as`` and whether ``--n-val`` was given."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny settings (64 px, 3 trials, 1 seed): a format check")
    parser.add_argument("--tasks", nargs="+", choices=sorted(TASKS), default=None, help="tasks (default all four)")
    parser.add_argument("--judges", nargs="+", choices=JUDGES, default=None, help="pixel judges (default both)")
    parser.add_argument("--budgets", nargs="+", type=_fraction, default=None, help="fractions (default 0.1 0.25 0.5)")
    parser.add_argument("--pricings", nargs="+", default=None, help="cost models (default gpt-4.1-mini, qwen2-vl)")
    parser.add_argument("--seeds", type=at_least(1), default=None, help="number of seeds (default 5)")
    parser.add_argument("--first-seed", type=at_least(0), default=0, help="seeds are FIRST..FIRST+N-1 (default 0)")
    parser.add_argument("--size", type=at_least(32), default=None, help="one image side for every task")
    parser.add_argument("--n-val", type=at_least(1), default=None, help="validation examples (default 30)")
    parser.add_argument("--n-test", type=at_least(1), default=None, help="held-out test examples (default 60)")
    parser.add_argument("--k-per-class", type=at_least(1), default=None, help="demos per class (default 2)")
    parser.add_argument("--n-trials", type=at_least(1), default=None, help="trials per search (default 30)")
    parser.add_argument(
        "--search-demos",
        action="store_true",
        help="also run the optimizer with search_demos=True (column optimizer+demos): it chooses which and how "
        "many demos to show from the program's demos and a pool of trainset examples",
    )
    parser.add_argument(
        "--demo-pool", type=at_least(1), default=4, help="with --search-demos: pooled trainset examples per class"
    )
    parser.add_argument(
        "--tie-confidence",
        type=float,
        default=None,
        help="SearchConfig.tie_confidence of both searches (default: the library's)",
    )
    parser.add_argument(
        "--confirm-splits",
        type=at_least(0),
        default=None,
        help="SearchConfig.confirm_splits of both searches (default: the library's; 0: no check of leaving "
        "the best baseline)",
    )
    parser.add_argument(
        "--confirm-min-examples",
        type=float,
        default=None,
        help="SearchConfig.confirm_min_examples of both searches (default: the library's): the least mean "
        "held-out gain, in examples of a held-out half, to leave the best baseline",
    )
    parser.add_argument(
        "--no-trim",
        action="store_true",
        help="SearchConfig.trim=False: the searches return their chosen program untrimmed (default: trimmed)",
    )
    parser.add_argument(
        "--trim-baselines",
        choices=("gain", "scale", "tie", "off"),
        default=None,
        help="SearchConfig.trim_baselines of the searches: how a chosen baseline is trimmed (default: the library's)",
    )
    parser.add_argument(
        "--no-sharpen",
        action="store_true",
        help="SearchConfig.sharpen=False: no unsharp-mask dimension and no sharpened baseline (default: searched)",
    )
    parser.add_argument("--no-random", action="store_true", help="skip the random-search baseline (saves time)")
    parser.add_argument(
        "--n-train",
        type=at_least(1),
        default=None,
        help="trainset size (default max(4 x k-per-class, 8)); --search-demos pools from what the demos leave",
    )
    parser.add_argument("--workers", type=at_least(1), default=1, help="processes (task x judge x seed groups)")
    parser.add_argument("--threads", type=at_least(1), default=1, help="threads scoring examples in a process")
    parser.add_argument("--markdown-out", metavar="FILE", help="also write the report here")
    add_json_out_arguments(parser, "write every cell's numbers here (JSON lines, as they finish)")
    parser.add_argument(
        "--report-from",
        nargs="+",
        metavar="FILE",
        help="print the tables of --json-out files (several: their cells together, e.g. two seed ranges); run nothing",
    )
    parser.add_argument(
        "--same-as",
        nargs="+",
        metavar="FILE",
        help="also say how many optimizer cells equal those of these --json-out files (a regression check)",
    )
    a = parser.parse_args(argv)
    from specprompt.cost import get_cost_model

    pricings = tuple(a.pricings or ((PRICINGS[0],) if a.quick else PRICINGS))
    for p in pricings:
        try:
            get_cost_model(p)
        except KeyError as exc:
            parser.error(str(exc))
    if a.tie_confidence is not None and not 0.5 <= a.tie_confidence < 1:
        parser.error(f"--tie-confidence is a probability in [0.5, 1), got {a.tie_confidence!r}")
    tasks = tuple(a.tasks or TASKS)
    size = a.size or (64 if a.quick else None)
    k = a.k_per_class or (1 if a.quick else 2)
    settings = Settings(
        tasks=tasks,
        judges=tuple(a.judges or JUDGES),
        budgets=tuple(a.budgets or ((0.25,) if a.quick else BUDGETS)),
        pricings=pricings,
        seeds=tuple(range(a.first_seed, a.first_seed + (a.seeds or (1 if a.quick else 5)))),
        sizes={t: size or TASKS[t][1] for t in tasks},
        n_train=a.n_train or max(4 * k, 8),
        n_val=a.n_val or (4 if a.quick else 30),
        n_test=a.n_test or (4 if a.quick else 60),
        k_per_class=k,
        n_trials=a.n_trials or (3 if a.quick else 30),
        workers=a.workers,
        threads=a.threads,
        search_demos=a.search_demos,
        demo_pool=a.demo_pool,
        random=not a.no_random,
        tie_confidence=a.tie_confidence,
        confirm_splits=a.confirm_splits,
        confirm_min_examples=a.confirm_min_examples,
        trim=not a.no_trim,
        trim_baselines=a.trim_baselines,
        sharpen=not a.no_sharpen,
    )
    json_out = None if a.report_from else JsonOut.of(a.json_out, __file__, settings, a.overwrite)
    check_outputs(parser, {"--markdown-out": a.markdown_out}, json_out)
    return settings, a.markdown_out, json_out, a.report_from, a.same_as, a.n_val is not None


def _run(args: tuple[str, str, int, Settings]) -> list[CellResult]:
    return run_group(*args)


def cell_from_json(data: dict[str, Any]) -> CellResult:
    """A cell from one result line of a ``--json-out`` file."""
    methods = {k: Outcome(**v) for k, v in data["methods"].items()}
    return CellResult(**{**data, "methods": methods})


def load_cells(path: str) -> list[CellResult]:
    """Cells from a ``--json-out`` file (one JSON object per line)."""
    return [cell_from_json(data) for data in read_json_lines(path)]


def same_as(cells: Sequence[CellResult], reference: Sequence[CellResult], report: Report, name: str) -> int:
    """Reports how many cells' optimizer outcomes equal those of ``reference`` (a regression check).

    Cells are matched by task, judge, budget, pricing and seed; an outcome is equal when its
    held-out score, tokens and per-example held-out scores are (calls, seconds and notes may
    differ). Returns the number of matched cells that differ.
    """

    def key(c: CellResult) -> tuple[str, str, float, str, int]:
        return (c.task, c.judge, c.budget, c.pricing, c.seed)

    ref = {key(c): c.methods.get("optimizer") for c in reference}
    matched, differ = 0, []
    for c in cells:
        if key(c) not in ref:
            continue
        matched += 1
        a, b = c.methods.get("optimizer"), ref[key(c)]
        if a is None or b is None or (a.test, a.tokens, a.scores) != (b.test, b.tokens, b.scores):
            differ.append("/".join(str(x) for x in key(c)))
    report.add(
        "",
        f"same as {name}: {matched - len(differ)} of {matched} matched optimizer cells identical (held-out score, "
        f"tokens, per-example scores); {len(cells) - matched} cells not in it"
        + (f"; differing: {', '.join(differ)}" if differ else ""),
    )
    return len(differ)


def n_val_of(cells: Sequence[CellResult], given: int, explicit: bool) -> int:
    """The ``n_val`` a report reads the departures with: the cells' own (all equal and recorded)
    unless the command line gave one; else ``given``.

    Example:
        >>> n_val_of([CellResult("t", "j", 0.1, "p", 0, 1, n_val=24)], 30, explicit=False)
        24
    """
    recorded = {c.n_val for c in cells}
    if explicit or len(recorded) != 1 or 0 in recorded:
        return given
    return recorded.pop()


def main(argv: list[str] | None = None) -> int:
    settings, markdown_out, json_out, report_from, same, n_val_given = parse_args(argv)

    t0 = time.perf_counter()
    report = Report()
    cells: list[CellResult] = []
    if report_from:
        cells = [cell for path in report_from for cell in load_cells(path)]
        names = ", ".join(report_from)
        report.add(f"cells read from {names} ({len(cells)} cells); settings below are the command line's")
        report.add(*(note for path in report_from if (note := partial_note(path))))
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
    rank = {name: i for i, name in enumerate((*TASKS, *JUDGES, *settings.pricings))}
    cells.sort(key=lambda c: (rank.get(c.task, 99), c.task, rank.get(c.judge, 99), c.judge, c.seed, c.budget))
    report_tables(cells, report)
    verdicts(cells, report)
    paired_against_lanczos(cells, report)
    departures(cells, n_val_of(cells, settings.n_val, n_val_given), report)
    baseline_trims(cells, report)
    sharpened_choices(cells, report)
    for path in same or ():
        same_as(cells, load_cells(path), report, path)
    report.add("", f"total wall time {time.perf_counter() - t0:.1f} s")
    report.write(markdown_out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
