"""``specprompt calibrate``: how well the local judge ranks band selections like the target LM.

Builds the band search of ``PROGRAM.py:NAME`` as ``specprompt compile`` would (same demos,
scheme, cost model and budget), scores a probe of a few dozen prompts the search would send on a
small subset of validation examples with the local judge (``--local``, default the shipped band
VLM) and the target (``--lm``), and prints the rank agreement (Spearman) with its bootstrap
confidence interval, the target calls used against the stated maximum (``--probes`` x
``--examples``) and a verdict. ``--json FILE`` also writes the
:class:`~specprompt.search.Calibration`.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from specprompt._outputs import check_writable_file, write_atomic
from specprompt.cli._args import (
    DATASET_WORDS,
    PIXEL_WORDS,
    add_data_arguments,
    add_metric_argument,
    add_scheme_arguments,
    at_least_3,
    dataset_max_pixels,
    non_negative_int,
    positive_int,
    reworded,
    scheme_options,
)
from specprompt.errors import ConfigError

__all__ = ["add_parser", "run"]

log = logging.getLogger("specprompt.cli.calibrate")


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    return value


def run(args: argparse.Namespace) -> int:
    """Runs ``specprompt calibrate``; prints the agreement, the calls and the verdict."""
    from specprompt.cli._lm import make_lm, missing_key_named
    from specprompt.cli._user_code import load_metric, load_program_ref
    from specprompt.data import dataset_fields, load_dataset
    from specprompt.search import calibrate

    path = None if args.json is None else check_writable_file("--json", args.json)  # before any paid call
    if path is not None and path.exists() and not args.overwrite:
        raise ConfigError(
            f"--json {args.json!r} already exists (a calibration's target calls are paid for); pass --overwrite "
            "to replace it, or give another --json"
        )
    if args.local == args.lm:
        log.warning("--local and --lm are the same (%s): the agreement of a judge with itself", args.lm)
    metric = load_metric(args.metric)
    log.info("loading program %s (runs that file)", args.program)
    program = load_program_ref(args.program)
    fields = dataset_fields(program)
    with reworded(PIXEL_WORDS):
        trainset = load_dataset(args.trainset, fields, max_pixels=dataset_max_pixels(args))
        valset = load_dataset(args.valset, fields, max_pixels=dataset_max_pixels(args)) if args.valset else None
    target = make_lm(args.lm, api_base=args.api_base, api_key=args.api_key, cost_model=args.cost_model)
    local = make_lm(
        args.local, cost_model=args.cost_model, adapter=args.adapter, checkpoint=args.checkpoint, flag="--local"
    )
    with missing_key_named({"--lm": args.lm, "--local": args.local}), reworded(DATASET_WORDS):
        result = calibrate(
            program,
            metric,
            trainset=trainset,
            valset=valset,
            target=target,
            local=local,
            n_probes=args.probes,
            n_examples=args.examples,
            seed=args.seed,
            threshold=args.threshold,
            token_budget=args.budget,
            cost_model=args.cost_model,
            scheme=args.scheme,
            scheme_options=scheme_options(args.scheme_options),
            k_demos=args.k_demos,
            num_threads=args.threads,
        )
    print(result.summary())
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, result.to_json(indent=2) + "\n")
        print(f"wrote {path} ({_reuse_hint(args, path)})")
    return 0


def add_parser(sub: Any) -> None:
    """Registers ``calibrate`` on the CLI's sub-parsers."""
    p = sub.add_parser(
        "calibrate",
        help="measure how well the local judge ranks band choices like the target LM, before trusting it",
        description=(
            "Scores a probe of band selections of PROGRAM.py:NAME's demos (the prompts the search would send) "
            "on a few validation examples with the local judge and the target LM, and prints their rank "
            "agreement with a confidence interval. The target is called at most --probes x --examples times."
        ),
    )
    add_data_arguments(p)
    p.add_argument(
        "--lm",
        required=True,
        help="the target: '<provider>/<model>' (e.g. openai/gpt-4o-mini), 'pixel:hist-hog', 'pixel:lbp-dct', "
        "'nearest' or 'local' (the values of specprompt compile --lm)",
    )
    p.add_argument("--local", default="local", help="the local judge, same values as --lm (default: %(default)s)")
    p.add_argument("--adapter", default=None, help="FourierFT adapter directory for --local local")
    p.add_argument(
        "--checkpoint",
        default=None,
        help="checkpoint of --local local: a directory or a shipped name such as band-vlm-v2 (default: band-vlm-v1); "
        "under the bare --cost-model local the probe is priced with its tokens",
    )
    p.add_argument("--api-base", default=None, help="URL of an OpenAI-compatible server for --lm")
    p.add_argument(
        "--api-key", default=None, help="API key for --lm (default: $SPECPROMPT_API_KEY, then $OPENAI_API_KEY)"
    )
    p.add_argument(
        "--budget",
        type=non_negative_int,
        default=None,
        help="image tokens of all demo images of one prompt: probes fit it (default: no limit)",
    )
    p.add_argument("--cost-model", default="local", help="cost model pricing images (default: %(default)s)")
    add_scheme_arguments(p)
    add_metric_argument(p)
    p.add_argument(
        "--probes", type=at_least_3, default=24, help="prompts in the probe, at least 3 (default: %(default)s)"
    )
    p.add_argument(
        "--examples", type=positive_int, default=8, help="validation examples per prompt (default: %(default)s)"
    )
    p.add_argument(
        "--threshold",
        type=_number,
        default=0.5,
        help="trust the local judge when the CI's lower end is at least this (default: %(default)s)",
    )
    p.add_argument("--k-demos", type=non_negative_int, default=None, help="demos per predictor without demos")
    p.add_argument("--threads", type=positive_int, default=None, help="scoring threads (default: DSPy's)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed of demos, probes and examples (default: 0)")
    p.add_argument("--json", default=None, metavar="FILE", help="also write the calibration as JSON")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --json file")
    p.set_defaults(run=run)


def _reuse_hint(args: argparse.Namespace, path: object) -> str:
    """How a compile reuses the calibration in ``path``: the ``--screen`` whose judge it measured."""
    from specprompt.search import SCREEN_CHECKPOINT

    if args.local == "local" and args.adapter is None:
        if (args.checkpoint or "band-vlm-v1") != SCREEN_CHECKPOINT:  # compile --screen local scores with v2
            return (
                f"compile --screen local scores with {SCREEN_CHECKPOINT}, not this --local judge: to reuse the "
                f"calibration there, measure it with --local local --checkpoint {SCREEN_CHECKPOINT}"
            )
        return f"specprompt compile {_target(args)} --screen local --calibration {path} reuses it with no target call"
    if args.adapter is not None:
        return "compile --screen has no --adapter: a compile cannot screen with this judge"
    return (
        f"specprompt compile {_target(args)} --screen {args.local} --calibration {path} reuses it with no target call"
    )


def _target(args: argparse.Namespace) -> str:
    """``--lm X`` (and ``--api-base``) of the target the calibration measured and its ``--cost-model``
    (the nearest judge's name follows it), as a compile takes them."""
    import shlex

    base = f" --api-base {shlex.quote(args.api_base)}" if args.api_base else ""
    return f"--lm {shlex.quote(args.lm)}{base} --cost-model {shlex.quote(args.cost_model)}"
