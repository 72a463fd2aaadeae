"""The options of ``specprompt compile``: data, budget, judges, search, outputs and remote scoring.

Kept apart from :mod:`specprompt.cli._compile` (which runs the command) because the option list is
long; the parser loads no search code, so the choices of ``SearchConfig`` fields are written out
here (a test checks them against the config).
"""

from __future__ import annotations

import argparse

from specprompt.cli._args import (
    add_data_arguments,
    add_metric_argument,
    add_scheme_arguments,
    at_least_3,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
)

__all__ = ["add_arguments"]


def _fraction(text: str) -> float:
    value = positive_float(text)
    if value > 1.0:
        raise argparse.ArgumentTypeError(f"expected a share in (0, 1], got {text!r}")
    return value


def _tolerance(text: str) -> float:
    value = non_negative_float(text)
    if value >= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Adds the options of ``specprompt compile`` to ``p``."""
    from specprompt.cli._optuna import PRUNERS, SAMPLERS

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
    p.add_argument(
        "--trials",
        type=positive_int,
        default=50,
        help="finished trials the search runs to, the baselines it starts with included (the trim's and "
        "baselines added after it are not counted) (default: 50)",
    )
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
        type=at_least_3,
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
        "prompts holds --lm's best one in at least 80%% of bootstrap resamples, or, in --calibration-mode trials, "
        "--lm scored every candidate of the last round alike (default: rank)",
    )
    p.add_argument(
        "--screen-keep-min",
        type=_fraction,
        default=None,
        metavar="SHARE",
        help="with --screen-rule top: once the verdict screens, try smaller shares than --screen-keep (0.05 less at "
        "a time, down to SHARE) on the same calibration prompts and screen with the smallest whose best share still "
        "holds --lm's best (default: --screen-keep only)",
    )
    p.add_argument(
        "--screen-tolerance",
        type=_tolerance,
        default=None,
        metavar="T",
        help="with --screen-rule top: a calibration prompt whose --lm score is within T of --lm's best counts as "
        "one of its best (default 0; 0.125 is one example of an 8-example minibatch)",
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
        help="more baselines to score: 'all' or a comma list of uniform,sharpened,low_detail,text_only,random "
        "(full-resolution demos are always scored)",
    )
    p.add_argument(
        "--sampler",
        choices=SAMPLERS,
        default="tpe",
        help="Optuna sampler proposing trials, seeded with --seed: tpe (multivariate TPE), random, gp (Gaussian "
        "process), nsga2 (genetic; suits --multi-objective), qmc (scrambled Sobol sequence), cmaes (CMA-ES, "
        "single-objective; needs pip install 'specprompt[cmaes]'), bruteforce (each point of the search space "
        "once, in a seeded order; stops early once all were tried) (default: %(default)s)",
    )
    p.add_argument(
        "--pruner",
        choices=PRUNERS,
        default="percentile",
        help="Optuna pruner stopping weak trials on their running minibatch score "
        "(default: %(default)s: the bottom quarter, after half the minibatch; percentile and median "
        "wait for 5 scored trials of the search, baselines not counted); wilcoxon pairs each "
        "example's score with the best trial's and prunes nothing with --minibatch 4 or less",
    )
    p.add_argument(
        "--timeout",
        type=positive_float,
        default=None,
        metavar="SECONDS",
        help="start no new trial after this many seconds; re-run to resume (default: no limit)",
    )
    p.add_argument(
        "--storage",
        default=None,
        help="Optuna storage: an RDB URL (sqlite:///study.db, postgresql+psycopg2://...) or an Optuna journal "
        "file (an existing one, or a new one whose name ends in .log; optuna-dashboard opens the same path) "
        "(default: study.db, SQLite, in --out)",
    )
    p.add_argument("--study-name", default=None, help="study name (default: derived from program, data and options)")
    p.add_argument("--out", default="specprompt-out", help="output folder (default: ./specprompt-out)")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the outputs of a compile with other settings in --out (the same command resumes without it)",
    )
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
        "--no-sharpen",
        action="store_true",
        help="do not search an unsharp mask of the sent demo images (by default, when the cost model prices "
        "pixels, the search also tries sharpening every demo image after its resize by 50, 100 or 200%%: no "
        "token cost)",
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
    p.add_argument(
        "--no-progress", action="store_true", help="no progress bars (trials, scored examples, dataset files)"
    )
    from specprompt.cli._workers import add_arguments as add_worker_arguments

    add_worker_arguments(p, positive_int, non_negative_int)
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
