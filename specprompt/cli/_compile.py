"""``specprompt compile``: run the band optimizer on a user program and datasets, write the results.

Writes to ``--out``: ``program.json`` (``program.save``; reload it with
:func:`specprompt.types.load_program`), ``study.db`` (the Optuna study, SQLite, unless
``--storage`` names another), ``pareto.json`` (:func:`specprompt.reports.report_data`) and
``report.html`` (:class:`specprompt.reports.CompileReport`).

Re-running the same command resumes: the study name is derived from the program, demos, data,
metric, LM and search options (or given with ``--study-name``) and the storage is the same file,
so finished trials are kept and only the missing ones run.

``PROGRAM.py:NAME`` and ``--metric FILE.py:FN`` run the user's file (see
:mod:`specprompt.cli._user_code`); datasets are data and never run code
(:func:`specprompt.load_dataset`).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from specprompt._outputs import folder_lock
from specprompt.cli._args import DATASET_WORDS, PIXEL_WORDS, dataset_max_pixels, log_levels, reworded, scheme_options
from specprompt.cli._compile_outputs import (
    OUTPUT_FILES,
    STUDY_FILE,
    check_outputs,
    remove_leftovers,
    run_info,
    write_outputs,
)
from specprompt.cli._lm import make_lm, missing_key_named
from specprompt.errors import ConfigError

__all__ = ["add_parser", "parse_baselines", "run", "versus_full", "with_full"]

log = logging.getLogger("specprompt.cli.compile")

#: How the search's storage messages name ``storage=``, and the CLI's flag.
STORAGE_WORDS = {"storage=": "--storage "}


def parse_baselines(text: str | None) -> tuple[str, ...]:
    """``"all"``, ``"none"`` or a comma list of :data:`specprompt.search.BASELINES` names.

    Raises:
        ConfigError: an unknown name.

    Example:
        >>> parse_baselines("full, text_only")
        ('full', 'text_only')
    """
    from specprompt.search import BASELINES

    if text is None or text.strip() in ("", "none"):
        return ()
    if text.strip() == "all":
        return BASELINES
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in BASELINES]
    if unknown:
        raise ConfigError(f"unknown baseline(s) {unknown} in --baselines; known: all, none, {', '.join(BASELINES)}")
    return names


def with_full(names: Sequence[str]) -> tuple[str, ...]:
    """``names`` with ``"full"`` first: ``compile`` always compares against full-resolution demos.

    Example:
        >>> with_full(()), with_full(("text_only", "full"))
        (('full',), ('full', 'text_only'))
    """
    return ("full", *(n for n in names if n != "full"))


def versus_full(result: Any) -> str:
    """One line comparing the chosen program with full-resolution demos (``result.baselines["full"]``).

    Both scores are on the whole valset when the chosen row's ``on`` column says ``full``.
    """
    full = (result.baselines or {}).get("full")
    best = result.best
    if full is None or full.score is None or full.tokens is None:
        note = f" ({full.note})" if full is not None and full.note else ""
        return f"full-resolution demos: not scored{note}"
    ratio = f"{full.tokens / best.tokens:.1f}x fewer image tokens" if best.tokens else "no image tokens"
    return (
        f"chosen vs full-resolution demos: score {best.score:.4f} vs {full.score:.4f}, "
        f"{best.tokens} vs {full.tokens} image tokens per prompt ({ratio})"
    )


def _remote_options(args: argparse.Namespace) -> dict[str, Any]:
    """The SearchConfig fields of the remote-scoring flags that were given (defaults stay the config's)."""
    from specprompt.search import REMOTE_FIELDS

    return {n: getattr(args, n) for n in REMOTE_FIELDS if getattr(args, n, None) is not None}


def _demo_options(args: argparse.Namespace) -> dict[str, Any]:
    """``search_demos`` and ``demo_pool`` from ``--search-demos`` and ``--demo-pool``.

    Raises:
        ConfigError: ``--demo-pool`` without ``--search-demos``.
    """
    search = bool(getattr(args, "search_demos", False))
    pool = getattr(args, "demo_pool", None)
    if pool is not None and not search:
        raise ConfigError("--demo-pool needs --search-demos (the pool holds candidate demos that search chooses from)")
    return {"search_demos": search} if pool is None else {"search_demos": search, "demo_pool": pool}


def check_judges(args: argparse.Namespace) -> None:
    """Refuses judge and calibration flags that clash or that nothing would read, by their flags.

    Checked before anything loads; the search checks the same combinations by their Python
    names (``target=``, ``screen=``), which a CLI user never typed.

    Raises:
        ConfigError: ``--screen`` with ``--target``; ``--calibrate`` or ``--calibration`` without
            ``--screen`` or ``--target``; ``--screen-keep``, ``--screen-rule``, ``--screen-tolerance``,
            ``--screen-keep-min`` or ``--calibration-mode`` without ``--screen``; ``--calibration-mode``,
            ``--calibration-probes`` or ``--calibration-examples`` without ``--calibrate``.
    """
    screen, target = getattr(args, "screen", None), getattr(args, "target", None)
    if screen is not None and target is not None:
        raise ConfigError(
            "give --screen or --target, not both: with --screen, --lm is the target and --screen the cheap judge "
            "that screens for it; --target is the LM a search scored by a local --lm answers for"
        )
    if getattr(args, "calibrate", False) and screen is None and target is None:
        raise ConfigError(
            "--calibrate needs --target (the LM that --lm is calibrated against) or --screen (the judge "
            "calibrated against --lm)"
        )
    if getattr(args, "calibration", None) is not None and screen is None and target is None:
        raise ConfigError("--calibration needs --screen (or --target): the judges it was measured with")
    for flag, name in (
        ("--screen-keep", "screen_keep"),
        ("--screen-rule", "screen_rule"),
        ("--screen-tolerance", "screen_tolerance"),
        ("--screen-keep-min", "screen_keep_min"),
    ):
        if getattr(args, name, None) is not None and screen is None:
            raise ConfigError(f"{flag} needs --screen (it sets how the --screen judge screens candidates)")
    if getattr(args, "calibration_mode", None) is not None and (screen is None or not args.calibrate):
        raise ConfigError("--calibration-mode needs --screen and --calibrate (it sets where they are calibrated)")
    for flag, name in (
        ("--calibration-probes", "calibration_probes"),
        ("--calibration-examples", "calibration_examples"),
    ):
        if getattr(args, name, None) is not None and not getattr(args, "calibrate", False):
            raise ConfigError(f"{flag} needs --calibrate (it sizes the calibration)")


def check_spending(args: argparse.Namespace) -> None:
    """Refuses ``--max-cost`` without ``--price-per-million-tokens`` (nothing to compute a cost with).

    Raises:
        ConfigError: naming both flags.
    """
    if getattr(args, "max_cost", None) is not None and getattr(args, "price_per_million_tokens", None) is None:
        raise ConfigError("--max-cost needs --price-per-million-tokens (the price of a million billed tokens)")


def check_detail(args: argparse.Namespace) -> None:
    """Refuses ``--detail`` with a cost model that has no detail setting (only OpenAI's have one).

    Raises:
        ConfigError: naming ``--detail`` and ``--cost-model``. UnknownNameError: an unknown cost model.
    """
    if getattr(args, "detail", None) is None:
        return
    from specprompt.cost import OpenAIPatchCostModel, OpenAITileCostModel, get_cost_model

    if not isinstance(get_cost_model(args.cost_model), (OpenAITileCostModel, OpenAIPatchCostModel)):
        raise ConfigError(
            f"--detail is OpenAI's image detail setting; --cost-model {args.cost_model} prices images without one "
            "(give an openai:<model> cost model, or leave --detail out)"
        )


#: What :func:`_setup` returns: ``(optimizer, lm, program, trainset, valset, testset, out)``.
Prepared = tuple[Any, Any, Any, list[Any], list[Any] | None, list[Any] | None, Path]


def _setup(args: argparse.Namespace) -> Prepared:
    """``(optimizer, lm, program, trainset, valset, testset, out)`` of parsed ``compile`` arguments."""
    from specprompt.cli._optuna import make_pruner, make_sampler
    from specprompt.cli._user_code import load_metric, load_program_ref
    from specprompt.data import dataset_fields, load_dataset
    from specprompt.search import BandOptimizer, worker_seed

    log_levels(getattr(args, "verbose", 0))  # before the datasets load: their warnings and progress show
    worker = getattr(args, "worker_index", 0)
    sampler = make_sampler(args.sampler, worker_seed(args.seed, worker), multi_objective=args.multi_objective)
    pruner = make_pruner(args.pruner, args.minibatch, multi_objective=args.multi_objective)
    demos = _demo_options(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    metric = load_metric(args.metric)
    log.info("loading program %s (runs that file)", args.program)
    program = load_program_ref(args.program)
    fields = dataset_fields(program)
    limit, progress = dataset_max_pixels(args), not args.no_progress
    with reworded(PIXEL_WORDS):
        trainset = load_dataset(args.trainset, fields, max_pixels=limit, progress=progress)
        valset = load_dataset(args.valset, fields, max_pixels=limit, progress=progress) if args.valset else None
        testset = (
            load_dataset(args.testset, fields, max_pixels=limit, progress=progress)
            if getattr(args, "testset", None)
            else None
        )
    log.info(
        "trainset: %d examples; valset: %s", len(trainset), "trainset minus demos" if valset is None else len(valset)
    )
    lm = make_lm(
        args.lm,
        api_base=args.api_base,
        api_key=args.api_key,
        cost_model=args.cost_model,
        adapter=args.adapter,
        checkpoint=getattr(args, "checkpoint", None),
    )
    target = None if args.target is None else make_lm(args.target, cost_model=args.cost_model, flag="--target")
    screen = None
    if getattr(args, "screen", None) is not None:
        from specprompt.search import SCREEN_CHECKPOINT

        screen_checkpoint = SCREEN_CHECKPOINT if args.screen == "local" else None
        screen = make_lm(args.screen, cost_model=args.cost_model, checkpoint=screen_checkpoint, flag="--screen")
    screening = {} if getattr(args, "screen_keep", None) is None else {"screen_keep": args.screen_keep}
    if getattr(args, "calibration_mode", None) is not None:
        screening["calibration_mode"] = args.calibration_mode
    for name in ("screen_rule", "screen_tolerance", "screen_keep_min"):
        if getattr(args, name, None) is not None:
            screening[name] = getattr(args, name)
    for name in ("calibration_probes", "calibration_examples"):
        if getattr(args, name, None) is not None:
            screening[name] = getattr(args, name)
    with reworded(STORAGE_WORDS):  # the storage is checked here
        optimizer = BandOptimizer(
            metric,
            target=target,
            screen=screen,
            calibration=getattr(args, "calibration", None),
            calibrate=args.calibrate,
            **screening,
            sampler=sampler,
            pruner=pruner,
            timeout=args.timeout,
            storage=args.storage,
            token_budget=args.budget,
            cost_model=args.cost_model,
            scheme=args.scheme,
            scheme_options=scheme_options(args.scheme_options),
            detail=args.detail,
            n_trials=args.trials,
            multi_objective=args.multi_objective,
            minibatch_size=args.minibatch,
            k_demos=args.k_demos,
            **demos,
            num_threads=args.threads,
            study_name=args.study_name,
            run_dir=str(out),
            seed=args.seed,
            worker=worker,
            progress=not args.no_progress,
            trim=not getattr(args, "no_trim", False),
            sharpen=not getattr(args, "no_sharpen", False),
            **({} if getattr(args, "trim_baselines", None) is None else {"trim_baselines": args.trim_baselines}),
            **({} if getattr(args, "local_departures", None) is None else {"local_departures": args.local_departures}),
            **(
                {}
                if getattr(args, "confirm_min_examples", None) is None
                else {"confirm_min_examples": args.confirm_min_examples}
            ),
            **_remote_options(args),
        )
    return optimizer, lm, program, trainset, valset, testset, out


@contextmanager
def _in_flags(args: argparse.Namespace) -> Iterator[None]:
    """The search's errors that name its Python arguments, said with the flags of ``compile``."""
    lms = {"--lm": args.lm, "--target": args.target, "--screen": getattr(args, "screen", None)}
    with missing_key_named(lms), reworded({**DATASET_WORDS, **STORAGE_WORDS}):
        yield


def prepare(args: argparse.Namespace) -> Prepared:
    """:func:`_setup` of parsed ``compile`` arguments, once ``--out`` holds no other run's outputs.

    Raises:
        ConfigError: see :func:`~specprompt.cli._same_run.check_same_run` (unless ``--overwrite``).
    """
    prepared = _setup(args)
    if not getattr(args, "overwrite", False):  # before the search: never replace another run's files
        from specprompt.cli._same_run import check_same_run
        from specprompt.search import NAMING_FIELDS

        # sharpen names a study only when off (NAMING_FIELDS keeps earlier names), but it changes the search
        check_same_run(prepared[-1], prepared[0].config.to_dict(), run_info(args), (*NAMING_FIELDS, "sharpen"))
    return prepared


def compile_program(
    args: argparse.Namespace, prepared: Prepared | None = None, *, print_fn: Callable[[str], None] = print
) -> tuple[Any, Any, list[Any], Path]:
    """Runs the search for parsed ``compile`` arguments (``prepared``: by :func:`prepare`, default: now);
    returns ``(program, result, trainset, out)``."""
    import dspy

    optimizer, lm, program, trainset, valset, testset, out = prepared if prepared is not None else prepare(args)
    with dspy.context(lm=lm), _in_flags(args):
        compiled = optimizer.compile(
            program,
            trainset=trainset,
            valset=valset,
            testset=testset,
            baselines=with_full(parse_baselines(args.baselines)),
        )
    result = optimizer.last_result
    if result is None:  # pragma: no cover - compile always sets it
        raise ConfigError("the optimizer returned no result")
    return compiled, result, trainset, out


def summary(result: Any, paths: dict[str, Path]) -> str:
    """The text printed at the end: the Pareto table, counts and the files written."""
    calls = f"{result.scorer_calls} search + {result.baseline_calls} baselines"
    # every scorer call of this run: the trim's count in the study's spend (printed below), the test's do not
    calls += f" + {result.trim_calls} trim" if result.trim_calls else ""
    calls += f" + {result.test_calls} test" if result.test_calls else ""
    lines = [
        result.pareto_table(),
        "",
        f"study {result.study_name}: {result.n_trials} finished trials, scorer calls this run: {calls}",
        f"chosen: trial {result.best.trial}, score {result.best.score:.4f}, "
        f"{result.best.tokens} image tokens per prompt",
        versus_full(result),
    ]
    if getattr(result, "spend", None) is not None:
        lines.append(result.spend.summary())
    target = getattr(result, "target_calls", None) or {}
    if target:
        parts = ", ".join(f"{step} {n}" for step, n in target.items())
        lines.append(f"target calls outside the search: {sum(target.values())} ({parts})")
    lines += [f"wrote {p}" for p in paths.values()]
    return "\n".join(lines)


def search_share(args: argparse.Namespace) -> int:
    """Runs this process's trials of a shared study (``--search-only``); returns how many finished."""
    import dspy

    optimizer, lm, program, trainset, valset, _, _ = _setup(args)
    with dspy.context(lm=lm), _in_flags(args):
        return int(optimizer.work(program, trainset=trainset, valset=valset))


def run(args: argparse.Namespace) -> int:
    """Runs ``specprompt compile`` (and its ``--workers``); prints the summary to stdout."""
    from specprompt.cli._workers import check_workers, start_workers, stop_workers

    check_judges(args)
    check_spending(args)
    check_detail(args)
    check_outputs(args)
    check_workers(args)
    # one compile at a time writes into --out (its search-only workers share the study, not the files)
    lock: AbstractContextManager[object] = (
        nullcontext() if getattr(args, "search_only", False) else folder_lock("--out", args.out, "compile")
    )
    with lock:
        # the program, data and outputs are checked before any worker starts a (paid) trial
        prepared = None if getattr(args, "search_only", False) else prepare(args)
        if prepared is not None:  # what a compile killed while writing left (no other run writes here now)
            remove_leftovers(prepared[-1])
        procs = start_workers(args)
        ok = False
        try:
            code = _run_one(args, prepared)
            ok = True
        finally:
            for line in stop_workers(procs, ok=ok):
                log.warning("%s", line)
    return code


def _run_one(args: argparse.Namespace, prepared: Prepared | None) -> int:
    if getattr(args, "search_only", False):
        ran = search_share(args)
        print(f"worker {args.worker_index}: {ran} finished trials run by this process")
        return 0
    try:
        compiled, result, trainset, out = compile_program(args, prepared)
    except KeyboardInterrupt:
        out = Path(args.out)
        kept = "the study storage (--storage)" if args.storage else str(out / STUDY_FILE)
        print(
            f"specprompt compile: the finished trials are kept in {kept}; re-run the same command to resume "
            f"the search and write {', '.join(OUTPUT_FILES.values())} into {str(out)!r}",
            file=sys.stderr,
        )
        raise
    info = run_info(args)
    paths = write_outputs(compiled, result, trainset, out, info)
    print(summary(result, paths))
    if getattr(args, "workers", 1) > 1 or getattr(args, "worker_index", 0) > 0:
        last = args.worker_index + args.workers - 1
        print(f"workers: {args.workers} on this machine (indices {args.worker_index}-{last})")
    return 0


def add_parser(sub: Any) -> None:
    """Registers ``compile`` on the CLI's sub-parsers."""
    from specprompt.cli._compile_args import add_arguments

    p = sub.add_parser(
        "compile",
        help="choose the bands of a DSPy program's demo images under a token budget",
        description=(
            "Runs the band optimizer on PROGRAM.py:NAME (a dspy.Module instance, class or zero-argument "
            "factory; loading it RUNS that file) with a JSONL or folder-per-label dataset (data only, never "
            "run). Re-running the same command resumes the study in --out."
        ),
    )
    add_arguments(p)
    p.set_defaults(run=run)
