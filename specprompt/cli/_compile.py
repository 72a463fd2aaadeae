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
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from specprompt.cli._args import (
    add_data_arguments,
    add_metric_argument,
    add_scheme_arguments,
    log_levels,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    scheme_options,
)
from specprompt.cli._lm import make_lm
from specprompt.errors import ConfigError

if TYPE_CHECKING:
    pass

__all__ = ["add_parser", "parse_baselines", "run", "versus_full", "with_full"]

log = logging.getLogger("specprompt.cli.compile")


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
    names = (
        "call_timeout",
        "retries",
        "retry_backoff",
        "endpoint_failures",
        "max_calls",
        "max_tokens",
        "price_per_million_tokens",
        "max_cost",
    )
    return {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}


def _fraction(text: str) -> float:
    value = positive_float(text)
    if value > 1.0:
        raise argparse.ArgumentTypeError(f"expected a share in (0, 1], got {text!r}")
    return value


def _at_least_3(text: str) -> int:
    value = positive_int(text)
    if value < 3:
        raise argparse.ArgumentTypeError(f"expected an int >= 3 (a rank agreement needs three prompts), got {text!r}")
    return value


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


def _setup(args: argparse.Namespace) -> tuple[Any, Any, Any, list[Any], list[Any] | None, list[Any] | None, Path]:
    """``(optimizer, lm, program, trainset, valset, testset, out)`` of parsed ``compile`` arguments."""
    from specprompt.cli._optuna import make_pruner, make_sampler
    from specprompt.cli._user_code import load_metric, load_program_ref
    from specprompt.data import dataset_fields, load_dataset
    from specprompt.search import BandOptimizer, worker_seed

    worker = getattr(args, "worker_index", 0)
    sampler = make_sampler(args.sampler, worker_seed(args.seed, worker))
    pruner = make_pruner(args.pruner, args.minibatch, multi_objective=args.multi_objective)
    demos = _demo_options(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    metric = load_metric(args.metric)
    log.info("loading program %s (runs that file)", args.program)
    program = load_program_ref(args.program)
    fields = dataset_fields(program)
    trainset = load_dataset(args.trainset, fields)
    valset = load_dataset(args.valset, fields) if args.valset else None
    testset = load_dataset(args.testset, fields) if getattr(args, "testset", None) else None
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
    target = None if args.target is None else make_lm(args.target, cost_model=args.cost_model)
    screen = None
    if getattr(args, "screen", None) is not None:
        from specprompt.search import SCREEN_CHECKPOINT

        screen_checkpoint = SCREEN_CHECKPOINT if args.screen == "local" else None
        screen = make_lm(args.screen, cost_model=args.cost_model, checkpoint=screen_checkpoint)
    screening = {} if getattr(args, "screen_keep", None) is None else {"screen_keep": args.screen_keep}
    if getattr(args, "calibration_mode", None) is not None:
        screening["calibration_mode"] = args.calibration_mode
    if getattr(args, "screen_rule", None) is not None:
        screening["screen_rule"] = args.screen_rule
    for name in ("calibration_probes", "calibration_examples"):
        if getattr(args, name, None) is not None:
            screening[name] = getattr(args, name)
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
        **({} if getattr(args, "trim_baselines", None) is None else {"trim_baselines": args.trim_baselines}),
        **({} if getattr(args, "local_departures", None) is None else {"local_departures": args.local_departures}),
        **(
            {}
            if getattr(args, "confirm_min_examples", None) is None
            else {"confirm_min_examples": args.confirm_min_examples}
        ),
        **_remote_options(args),
    )
    log_levels(getattr(args, "verbose", 0))
    return optimizer, lm, program, trainset, valset, testset, out


def compile_program(
    args: argparse.Namespace, *, print_fn: Callable[[str], None] = print
) -> tuple[Any, Any, list[Any], Path]:
    """Runs the search for parsed ``compile`` arguments; returns ``(program, result, trainset, out)``."""
    import dspy

    optimizer, lm, program, trainset, valset, testset, out = _setup(args)
    with dspy.context(lm=lm):
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


def write_outputs(
    compiled: Any, result: Any, trainset: Sequence[Any], out: Path, run_info: dict[str, Any]
) -> dict[str, Path]:
    """Writes ``program.json``, ``pareto.json`` and ``report.html`` into ``out``; returns their paths."""
    from specprompt.reports import CompileReport, report_data

    paths = {"program": out / "program.json", "pareto": out / "pareto.json", "report": out / "report.html"}
    compiled.save(str(paths["program"]))
    data = report_data(result, run_info)
    paths["pareto"].write_text(json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n", encoding="utf-8")
    CompileReport(data, compiled, sources=trainset, run=None).save(paths["report"])
    return paths


def summary(result: Any, paths: dict[str, Path]) -> str:
    """The text printed at the end: the Pareto table, counts and the files written."""
    lines = [
        result.pareto_table(),
        "",
        f"study {result.study_name}: {result.n_trials} finished trials, scorer calls this run: "
        f"{result.scorer_calls} search + {result.baseline_calls} baselines",
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
    with dspy.context(lm=lm):
        return int(optimizer.work(program, trainset=trainset, valset=valset))


def run(args: argparse.Namespace) -> int:
    """Runs ``specprompt compile`` (and its ``--workers``); prints the summary to stdout."""
    from specprompt.cli._workers import check_workers, start_workers, stop_workers

    check_workers(args)
    procs = start_workers(args)
    ok = False
    try:
        code = _run_one(args)
        ok = True
    finally:
        for line in stop_workers(procs, ok=ok):
            log.warning("%s", line)
    return code


def _run_one(args: argparse.Namespace) -> int:
    if getattr(args, "search_only", False):
        ran = search_share(args)
        print(f"worker {args.worker_index}: {ran} finished trials run by this process")
        return 0
    compiled, result, trainset, out = compile_program(args)
    info = {
        "program": args.program,
        "trainset": str(args.trainset),
        "valset": str(args.valset) if args.valset else "trainset minus demos",
        **({"testset": str(args.testset)} if getattr(args, "testset", None) else {}),
        "lm": args.lm
        + (f" at {args.api_base}" if args.api_base else "")
        + (f", screened by {args.screen}" if getattr(args, "screen", None) else "")
        + (f" {args.checkpoint}" if getattr(args, "checkpoint", None) else "")
        + (f" + adapter {args.adapter}" if args.adapter else ""),
        "metric": args.metric,
        "sampler": args.sampler,
        "pruner": args.pruner,
    }
    paths = write_outputs(compiled, result, trainset, out, info)
    print(summary(result, paths))
    if getattr(args, "workers", 1) > 1 or getattr(args, "worker_index", 0) > 0:
        last = args.worker_index + args.workers - 1
        print(f"workers: {args.workers} on this machine (indices {args.worker_index}-{last})")
    return 0


def add_parser(sub: Any) -> None:
    """Registers ``compile`` on the CLI's sub-parsers."""
    from specprompt.cli._optuna import PRUNERS, SAMPLERS

    p = sub.add_parser(
        "compile",
        help="choose the bands of a DSPy program's demo images under a token budget",
        description=(
            "Runs the band optimizer on PROGRAM.py:NAME (a dspy.Module instance, class or zero-argument "
            "factory; loading it RUNS that file) with a JSONL or folder-per-label dataset (data only, never "
            "run). Re-running the same command resumes the study in --out."
        ),
    )
    add_data_arguments(p)
    p.add_argument(
        "--testset",
        default=None,
        help="JSONL file or folder per label, held out: the chosen program and every baseline are scored on it",
    )
    p.add_argument(
        "--budget", type=non_negative_int, required=True, help="image tokens of all demo images of one prompt"
    )
    p.add_argument(
        "--cost-model",
        required=True,
        help="cost model pricing images, e.g. openai:gpt-4o, anthropic, local:band-vlm-v2 or local (the "
        "tokenizer of the local band VLM checkpoint that scores, --lm local --checkpoint; band-vlm-v1's when "
        "another LM scores)",
    )
    add_scheme_arguments(p)
    p.add_argument(
        "--detail", choices=("low", "high", "auto"), default=None, help="OpenAI detail sent with demo images"
    )
    p.add_argument("--trials", type=positive_int, default=50, help="finished trials of the study (default: 50)")
    add_metric_argument(p)
    p.add_argument(
        "--lm",
        default="local",
        help="scorer: 'local' (the shipped band VLM, offline), 'nearest' (offline nearest-band engine), "
        "'pixel:hist-hog' or 'pixel:lbp-dct' (offline pixel-only judges standing in for a remote VLM) "
        "or '<provider>/<model>', e.g. openai/gpt-4o-mini (default: %(default)s)",
    )
    p.add_argument("--adapter", default=None, help="FourierFT adapter directory (specprompt finetune) for --lm local")
    p.add_argument(
        "--checkpoint",
        default=None,
        help="checkpoint of --lm local: a directory or a shipped name such as band-vlm-v2 (default: band-vlm-v1)",
    )
    p.add_argument(
        "--target",
        default=None,
        help="the LM the program will answer with, when --lm is a local judge (same values as --lm): it "
        "confirms the judge's pick over the baselines and its trim (see --local-departures); with --calibrate the "
        "search first measures how well --lm ranks prompts like it",
    )
    p.add_argument(
        "--calibrate",
        action="store_true",
        help="before the search, score --calibration-probes prompts x --calibration-examples examples with --lm "
        "and --target and report their rank agreement (at most 24 x 8 = 192 --target calls by default; stored in "
        "the study and the report)",
    )
    p.add_argument(
        "--calibration-probes",
        type=_at_least_3,
        default=None,
        metavar="N",
        help="with --calibrate: prompts in the calibration probe, or with --calibration-mode trials the search's "
        "first candidates that both judges score (default: 24)",
    )
    p.add_argument(
        "--calibration-examples",
        type=positive_int,
        default=None,
        metavar="N",
        help="with --calibrate: validation examples each calibration prompt is scored on (default: 8)",
    )
    p.add_argument(
        "--screen",
        default=None,
        help="multi-fidelity search: a cheap judge (same values as --lm, e.g. 'local', which screens with "
        "band-vlm-v2) scores every candidate "
        "first and only the best --screen-keep share goes to --lm, the target; the program is chosen by --lm "
        "scores. With --calibrate a low agreement falls back to --lm alone. Not with --target",
    )
    p.add_argument(
        "--screen-keep",
        type=_fraction,
        default=None,
        help="share of the screened candidates (best screen scores so far) that --lm scores (default 0.25)",
    )
    p.add_argument(
        "--calibration",
        default=None,
        metavar="FILE",
        help="with --screen (or --target): a calibration measured before, the JSON of specprompt calibrate --json "
        "with the same judges; its verdict decides, with no probe and no --lm call (one calibration serves the "
        "compiles of a task)",
    )
    p.add_argument(
        "--calibration-mode",
        choices=("probe", "trials"),  # SearchConfig.calibration_mode (not imported: the parser loads no search code)
        default=None,
        help="with --screen and --calibrate: 'probe' measures the agreement on a probe before the search "
        "(extra --lm calls); 'trials' on the search's first --calibration-probes candidates (up to three rounds "
        "while the verdict is open), "
        "which both judges score (no extra --lm call), and screens only the later ones (default: probe)",
    )
    p.add_argument(
        "--screen-rule",
        choices=("rank", "top"),  # SearchConfig.screen_rule
        default=None,
        help="with --screen and --calibrate: 'rank' screens when the rank agreement is at least 0.5 with a "
        "confidence interval above 0; 'top' when the screen's best --screen-keep share of the calibration "
        "prompts holds --lm's best one in at least 80%% of bootstrap resamples (default: rank)",
    )
    p.add_argument("--api-base", default=None, help="URL of an OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1")
    p.add_argument(
        "--api-key",
        default=None,
        help="API key (default: $SPECPROMPT_API_KEY, then $OPENAI_API_KEY; prefer them: "
        "arguments are visible to other users)",
    )
    p.add_argument("--multi-objective", action="store_true", help="optimize score and tokens jointly (Pareto front)")
    p.add_argument(
        "--baselines",
        default=None,
        help="more baselines to score: 'all' or a comma list of uniform,low_detail,text_only,random "
        "(full-resolution demos are always scored)",
    )
    p.add_argument(
        "--sampler",
        choices=SAMPLERS,
        default="tpe",
        help="Optuna sampler proposing trials, seeded with --seed (default: %(default)s: multivariate TPE)",
    )
    p.add_argument(
        "--pruner",
        choices=PRUNERS,
        default="percentile",
        help="Optuna pruner stopping weak trials on their running minibatch score "
        "(default: %(default)s: the bottom quarter, after half the minibatch)",
    )
    p.add_argument(
        "--timeout",
        type=positive_float,
        default=None,
        metavar="SECONDS",
        help="start no new trial after this many seconds; re-run to resume (default: no limit)",
    )
    p.add_argument("--storage", default=None, help="Optuna storage URL (default: sqlite in --out)")
    p.add_argument("--study-name", default=None, help="study name (default: derived from program, data and options)")
    p.add_argument("--out", default="specprompt-out", help="output folder (default: ./specprompt-out)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed of demos, minibatch and sampler (default: 0)")
    p.add_argument("--threads", type=positive_int, default=None, help="scoring threads (default: DSPy's num_threads)")
    p.add_argument("--minibatch", type=positive_int, default=16, help="validation examples per trial (default: 16)")
    p.add_argument(
        "--k-demos", type=non_negative_int, default=None, help="demos per predictor without demos (default: 4)"
    )
    p.add_argument(
        "--search-demos",
        action="store_true",
        help="also search which demos the prompt shows and how many: the program's demos and --demo-pool "
        "more trainset examples per label, each included or left out (never valset or testset examples)",
    )
    p.add_argument(
        "--demo-pool",
        type=non_negative_int,
        default=None,
        metavar="N",
        help="with --search-demos: trainset examples per label added as candidate demos (default: 4)",
    )
    p.add_argument(
        "--no-trim",
        action="store_true",
        help="return the chosen program as is: do not try cheaper variants of it (fewer images per label, "
        "smaller images) that lose no validation example",
    )
    p.add_argument(
        "--confirm-min-examples",
        type=non_negative_float,
        default=None,
        metavar="N",
        help="leave the best baseline (every demo resized to the budget, ...) only when the search's pick, chosen "
        "on random halves of the validation set, gains at least N examples of the other halves on average "
        "(default: 0, any gain)",
    )
    p.add_argument(
        "--trim-baselines",
        choices=("gain", "scale", "tie", "off"),  # SearchConfig.trim_baselines (not imported: see above)
        default=None,
        help="how a chosen baseline (every demo resized to the budget, full resolution, ...) is trimmed: scale "
        "(default) returns a smaller common size of its images only when it loses no validation example and scores "
        "above the baseline (or once two smaller sizes in a row lost none); gain a gain only, extra images of a "
        "label also dropped; tie when it loses none; off never",
    )
    p.add_argument(
        "--local-departures",
        choices=("confirmed", "always"),  # SearchConfig.local_departures (not imported: see above)
        default=None,
        help="when --lm is a local judge (local or nearest) and --cost-model prices another model: confirmed "
        "(default) returns the judge's pick over the baselines only when --target scores it better than the best "
        "baseline on the validation set (at most 2 x its size --target calls), else the best baseline, which is "
        "also what it returns without --target; with --target the judge's trim of the returned program is kept "
        "only when it loses no validation example under --target (at most 2 x its size calls more); always "
        "returns the judge's pick and trim unconfirmed",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    from specprompt.cli._workers import add_arguments

    add_arguments(p, positive_int, non_negative_int)
    remote = p.add_argument_group("remote scoring (an --lm '<provider>/<model>' endpoint)")
    remote.add_argument(
        "--call-timeout", type=positive_float, default=None, help="seconds one scorer call may take (default 60)"
    )
    remote.add_argument(
        "--retries", type=non_negative_int, default=None, help="retries of a call that failed in transport (default 4)"
    )
    remote.add_argument(
        "--retry-backoff", type=non_negative_float, default=None, help="first retry delay in seconds (default 1)"
    )
    remote.add_argument(
        "--endpoint-failures",
        type=positive_int,
        default=None,
        help="failed calls in a row after which the endpoint counts as down and the compile stops (default 20)",
    )
    remote.add_argument("--max-calls", type=positive_int, default=None, help="stop after this many billed calls")
    remote.add_argument("--max-tokens", type=positive_int, default=None, help="stop after this many billed tokens")
    remote.add_argument(
        "--price-per-million-tokens",
        type=non_negative_float,
        default=None,
        help="price of a million billed tokens (shows the cost; needed by --max-cost)",
    )
    remote.add_argument("--max-cost", type=positive_float, default=None, help="stop once the billed tokens cost this")
    p.set_defaults(run=run)
