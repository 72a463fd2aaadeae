"""``specprompt demo``: decompose a real photo, price band selections per provider, draw a contact sheet,
then run the whole band search offline on a built-in task and report what it saved.

The search part uses the ``colour-position`` task (256 px pictures whose label lives in the
coarse bands), a ``dspy.Predict`` classifier, the shipped local band VLM as the LM (``--lm nearest``
for the nearest-band engine) and
:class:`~specprompt.search.BandOptimizer` under a token budget. It writes ``program.json``,
``pareto.json``, ``report.html`` and ``study.db`` (re-running resumes) into ``--out`` and prints
the tokens and accuracy of the chosen demos against full-resolution demos, and each chosen demo by its
label with its kept bands and tokens. The task's test split is the compile's ``testset``: held out
from the search, it scores the chosen program and every baseline (in ``pareto.json`` and the report).
``--quick`` runs fewer trials on fewer examples.

Every option and the output folder are checked before the first table is printed.
"""

from __future__ import annotations

import argparse
import json
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from specprompt._outputs import check_writable_dir, folder_lock
from specprompt.cli._args import (
    PIXEL_WORDS,
    add_max_pixels_argument,
    dataset_max_pixels,
    non_negative_int,
    positive_int,
    reworded,
)
from specprompt.errors import ConfigError, MissingDependencyError
from specprompt.io import SAMPLE_PHOTOS
from specprompt.spectral import Selection, Spectrum, available_schemes, decompose, get_scheme

__all__ = ["PROVIDERS", "SIZES", "DemoSettings", "add_parser", "run", "run_search", "selections_for"]

log = logging.getLogger("specprompt.cli.demo")

#: Cost models priced in the demo's table, one per provider family (patch-priced gpt-4.1-mini, the
#: search's default, first; gpt-4o bills 512 px tiles, so smaller images cost it the same).
PROVIDERS = ("openai:gpt-4.1-mini", "openai:gpt-4o", "anthropic:claude-sonnet-4", "gemini:gemini-2.5-flash", "qwen2-vl")
#: Smallest and largest side of the search task's images in px: the task draws nothing smaller, and
#: larger images only cost memory and time (the local band VLM sees 64 px).
SIZES = (32, 1024)
#: The contact sheet's file in ``--out``.
SHEET_FILE = "contact_sheet.png"


def selections_for(spec: Spectrum) -> list[tuple[str, Selection]]:
    """Full, coarse-half and coarsest selections, ordered from most to fewest bands (by frequency)."""
    order = sorted(spec.bands, key=lambda b: (b.freq_range[1], b.index))
    n = len(order)
    picks = [("all bands", Selection.all())]
    for label, keep in (("3/4 coarse", (3 * n + 3) // 4), ("1/2 coarse", (n + 1) // 2), ("coarsest", 1)):
        sel = Selection.of([b.name for b in order[:keep]])
        if all(sel != s for _, s in picks):
            picks.append((label, sel))
    return picks


def _cost_table(spec: Spectrum, picks: list[tuple[str, Selection]]) -> str:
    """Tokens of the image sent for each selection: the same pixels cost the same in every scheme."""
    from specprompt.cost import image_tokens

    models = (*PROVIDERS, "local")
    head = f"{'selection':<12} {'sent size':>10} " + " ".join(f"{p.split(':')[-1]:>17}" for p in models)
    lines = [head]
    for label, sel in picks:
        h, w = spec.render_shape(sel)
        costs = " ".join(f"{image_tokens(p, w, h) if spec.kept(sel) else 0:>17}" for p in models)
        lines.append(f"{label:<12} {f'{w}x{h}':>10} {costs}")
    return "\n".join(lines)


@dataclass(frozen=True)
class DemoSettings:
    """Sizes of the demo's band search (``--quick`` uses :meth:`quick`).

    Raises:
        ConfigError: ``size`` outside :data:`SIZES`, ``trials``, ``minibatch`` or ``threads`` below 1,
            or a negative ``budget``. UnknownNameError: an unknown ``cost_model``.
    """

    task: str = "colour-position"
    size: int = 256
    n_train: int = 8
    n_val: int = 24
    n_test: int = 32
    k_demos: int = 4
    trials: int = 20
    minibatch: int = 8
    budget: int = 100
    cost_model: str = "openai:gpt-4.1-mini"
    threads: int = 2
    lm: str = "local"

    def __post_init__(self) -> None:
        from specprompt.cost import get_cost_model

        if not SIZES[0] <= self.size <= SIZES[1]:
            raise ConfigError(f"DemoSettings.size must be {SIZES[0]} to {SIZES[1]} px, got {self.size!r}")
        for name in ("trials", "minibatch", "threads"):
            if getattr(self, name) < 1:
                raise ConfigError(f"DemoSettings.{name} must be >= 1, got {getattr(self, name)!r}")
        if self.budget < 0:
            raise ConfigError(f"DemoSettings.budget must be >= 0, got {self.budget!r}")
        get_cost_model(self.cost_model)  # UnknownNameError lists the known ones

    @classmethod
    def quick(cls, **over: Any) -> DemoSettings:
        """Fewer trials and examples: well under a minute on 2 CPU cores."""
        return cls(**{"n_val": 12, "n_test": 16, "trials": 8, "minibatch": 6, **over})


def run_search(settings: DemoSettings, out: Path) -> dict[str, Any]:
    """The offline band search of the demo; writes its files into ``out`` and returns the numbers.

    Returns:
        ``{"result", "program", "tokens", "full_tokens", "val", "full_val", "test", "full_test",
        "text_only_val", "text_only_test", "n_val", "n_test", "paths", "notes"}``: the test scores
        are the compile's held-out scores of the task's test split (``None`` without one); ``notes``:
        the search's specprompt warnings, as text.
    """
    import dspy

    from specprompt.cli._compile_outputs import write_outputs
    from specprompt.cli._lm import make_lm
    from specprompt.cli._user_code import exact_match
    from specprompt.errors import SpecPromptWarning
    from specprompt.search import BandOptimizer
    from specprompt.tasks import get_task

    s = settings
    task = get_task(s.task, n_train=s.n_train, n_val=s.n_val, n_test=s.n_test, size=s.size, seed=0)
    student = dspy.Predict(task.signature)
    optimizer = BandOptimizer(
        exact_match,
        token_budget=s.budget,
        cost_model=s.cost_model,
        n_trials=s.trials,
        k_demos=s.k_demos,
        minibatch_size=s.minibatch,
        num_threads=s.threads,
        run_dir=str(out),
        seed=0,
    )
    lm = make_lm(s.lm, cost_model=s.cost_model)
    with dspy.context(lm=lm), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SpecPromptWarning)
        program = optimizer.compile(
            student,
            trainset=task.trainset,
            valset=task.valset,
            testset=task.testset or None,  # held out: scores the chosen program and every baseline
            baselines=["full", "uniform", "text_only"],
        )
        result = optimizer.last_result
        if result is None or result.baselines is None:  # pragma: no cover - compile sets both
            raise RuntimeError("the optimizer returned no result")
        full = result.baselines["full"]
    info = {"program": f"dspy.Predict({s.task} signature)", "task": f"{s.task}, {s.size} px", "lm": str(lm.model)}
    paths = write_outputs(program, result, task.trainset, out, info)
    return {
        "result": result,
        "program": program,
        "tokens": result.best.tokens,
        "full_tokens": full.tokens,
        "val": result.best.score,
        "full_val": full.score,
        "test": result.test_score,
        "full_test": full.test_score,
        "text_only_val": result.baselines["text_only"].score,
        "text_only_test": result.baselines["text_only"].test_score,
        "n_val": len(task.valset),
        "n_test": len(task.testset),
        "paths": paths,
        "notes": [str(w.message) for w in caught if issubclass(w.category, SpecPromptWarning)],
    }


def _search_summary(s: DemoSettings, numbers: dict[str, Any]) -> str:
    def acc(v: float | None) -> str:
        return "-" if v is None else f"{v:.3f}"

    rows = [
        ("full-resolution demos", numbers["full_tokens"], numbers["full_val"], numbers["full_test"]),
        ("chosen bands", numbers["tokens"], numbers["val"], numbers["test"]),
        ("text-only demos", 0, numbers["text_only_val"], numbers["text_only_test"]),
    ]
    lines = [f"{'':<22} {'tokens/prompt':>13} {'val acc':>8} {'test acc':>8}"]
    lines += [f"{name:<22} {tok:>13} {acc(v):>8} {acc(t):>8}" for name, tok, v, t in rows]
    tokens, full = numbers["tokens"], numbers["full_tokens"]
    ratio = f"{full / tokens:.1f}x fewer" if tokens else "no"
    lines.append(
        f"=> {ratio} image tokens ({tokens} vs {full} {s.cost_model}); test accuracy {acc(numbers['test'])} "
        f"vs {acc(numbers['full_test'])} with full-resolution demos"
    )
    lines.append(
        f"   (val: {numbers['n_val']} examples the search chose on; test: {numbers['n_test']} held-out examples)"
    )
    return "\n".join(lines)


def _settings(args: argparse.Namespace) -> DemoSettings:
    """The search's settings of parsed ``demo`` arguments (checked, also with ``--no-search``).

    Raises:
        ConfigError: a setting out of range. UnknownNameError: an unknown ``--cost-model``.
    """
    over: dict[str, Any] = {"budget": args.budget, "cost_model": args.cost_model, "size": args.size, "lm": args.lm}
    if args.trials is not None:
        over["trials"] = args.trials
    return DemoSettings.quick(**over) if args.quick else DemoSettings(**over)


def _check_priced(image: Any, source: str) -> None:
    """Raises :class:`ConfigError` naming ``source`` when a model of :data:`PROVIDERS` cannot price
    it (Qwen2-VL reads no aspect ratio above 200), before the first table is printed."""
    from specprompt.cost import image_tokens

    h, w = int(image.shape[0]), int(image.shape[1])
    for model in PROVIDERS:
        try:
            image_tokens(model, w, h)
        except ConfigError as exc:
            raise ConfigError(
                f"--image {source!r} cannot be priced for {model}, one of the demo's models: {exc}"
            ) from None


def _check_outputs(args: argparse.Namespace) -> Path:
    """``--out``, once it can take the contact sheet and, unless ``--no-search``, the search's files."""
    from specprompt.cli._compile_outputs import OUTPUT_FILES, STUDY_FILE

    files = [SHEET_FILE, *([] if args.no_search else [*OUTPUT_FILES.values(), STUDY_FILE])]
    out = check_writable_dir("--out", args.out, files)
    pareto = out / OUTPUT_FILES["pareto"]
    if not args.no_search and pareto.is_file() and not _a_demos(pareto):
        raise ConfigError(
            f"--out {str(args.out)!r} holds the outputs of a compile, which a demo does not replace: give another --out"
        )
    return out


def _a_demos(pareto: Path) -> bool:
    """Whether ``pareto`` (a ``pareto.json``) was written by a demo (its ``run`` names the task)."""
    try:
        data = json.loads(pareto.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    run = data.get("run") if isinstance(data, dict) else None
    return isinstance(run, dict) and "task" in run


def run(args: argparse.Namespace) -> int:
    """Runs the demo; prints tables to stdout and writes the contact sheet and the search outputs."""
    from specprompt.io import as_array, sample_photo

    settings = _settings(args)
    for scheme in args.schemes or ():
        get_scheme(scheme)  # UnknownNameError lists the known ones
    out = _check_outputs(args)
    with reworded(PIXEL_WORDS):
        image: Any = (
            as_array(args.image, max_pixels=dataset_max_pixels(args)) if args.image else sample_photo(args.photo)
        )
    source = args.image or f"skimage.data.{args.photo}()"
    _check_priced(image, source)
    with folder_lock("--out", out, "demo"):  # one run at a time writes into --out
        return _run_locked(args, settings, out, image, source)


def _run_locked(args: argparse.Namespace, settings: DemoSettings, out: Path, image: Any, source: str) -> int:
    """The demo's tables, contact sheet and search, holding the lock on ``out``."""
    from specprompt.reports import contact_sheet

    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for scheme in args.schemes or available_schemes():
        try:
            spec = decompose(image, scheme)
        except MissingDependencyError as exc:
            if args.schemes:  # asked for by name: the CLI reports it as an error
                raise
            print(f"\n== {scheme}: skipped, {exc} ==")
            continue
        picks = selections_for(spec)
        print(f"\n== {scheme}: {source}, {spec.size[0]}x{spec.size[1]} {spec.mode}, {len(spec.bands)} bands ==")
        print(spec.text())
        print(
            f"\nimage tokens of the image sent for each selection (minimal lossless size):\n{_cost_table(spec, picks)}"
        )
        rows.append((scheme, spec, picks))
    sheet_path = out / SHEET_FILE
    contact_sheet(rows).save(sheet_path)
    print(f"\ncontact sheet: {sheet_path}")
    if args.no_search:
        return 0
    print(
        f"\n== band search: {settings.task} at {settings.size} px, {settings.k_demos} demos, budget "
        f"{settings.budget} {settings.cost_model} tokens, {settings.trials} trials, LM: {settings.lm} =="
    )
    from specprompt.cli._args import log_levels

    log_levels(args.verbose)
    numbers = run_search(settings, out)
    for note in numbers["notes"]:
        print(f"note: {note}")
    print(numbers["result"].pareto_table())
    print()
    print(_search_summary(settings, numbers))
    from specprompt.reports import describe_program

    print("\nchosen demos (by label):")
    print(describe_program(numbers["program"], cost_model=settings.cost_model).table())
    for path in numbers["paths"].values():
        print(f"wrote {path}")
    return 0


def _size(text: str) -> int:
    """``argparse`` type of ``--size``: an int in :data:`SIZES`."""
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or not SIZES[0] <= value <= SIZES[1]:
        raise argparse.ArgumentTypeError(f"expected an int from {SIZES[0]} to {SIZES[1]} (px), got {text!r}")
    return value


def add_parser(sub: Any) -> None:
    """Registers ``demo`` on the CLI's sub-parsers."""
    d = DemoSettings()
    p = sub.add_parser(
        "demo",
        help="price band selections of a sample photo, then run an offline band search on a built-in task",
        description="Decompose a photo into frequency bands with every scheme, print what band selections cost "
        "under several providers' pricing, draw contact_sheet.png; then run the band search offline on the "
        "built-in colour-position task and print the tokens and accuracy (validation and held-out test split) "
        "of the chosen demos against full-resolution demos. Writes into --out; re-running resumes the search.",
    )
    p.add_argument("--image", help="use this image instead of the bundled sample photo")
    add_max_pixels_argument(p, "the --image photo")
    p.add_argument(
        "--photo",
        choices=SAMPLE_PHOTOS,
        default="astronaut",
        metavar="NAME",
        help=f"scikit-image sample photo, one of {', '.join(SAMPLE_PHOTOS)} (grey ones are read as RGB) "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--schemes", nargs="+", default=None, help=f"schemes to show (default: all of {available_schemes()})"
    )
    p.add_argument("--out", default="specprompt-demo", help="output folder (default: ./specprompt-demo)")
    p.add_argument("--quick", action="store_true", help="a smaller band search (fewer trials and examples)")
    p.add_argument("--no-search", action="store_true", help="only the band and cost tables and the contact sheet")
    p.add_argument(
        "--budget", type=non_negative_int, default=d.budget, help=f"token budget of the search (default: {d.budget})"
    )
    p.add_argument("--cost-model", default=d.cost_model, help=f"cost model of the search (default: {d.cost_model})")
    p.add_argument(
        "--size",
        type=_size,
        default=d.size,
        help=f"task image size in px, {SIZES[0]} to {SIZES[1]} (default: {d.size})",
    )
    p.add_argument("--trials", type=positive_int, default=None, help=f"search trials (default: {d.trials}, --quick 8)")
    p.add_argument(
        "--lm",
        choices=("local", "nearest"),
        default=d.lm,
        help=f"offline scorer: the shipped band VLM or the nearest-band engine (default: {d.lm})",
    )
    p.set_defaults(run=run)
