"""``specprompt train``: trains the local band VLM (:func:`specprompt.vlm.train`) and writes a checkpoint.

Example::

    specprompt train --device cpu --minutes 30 --out band-vlm --seed 0
    specprompt train --preset v2 --out band-vlm-v2     # the shipped band-vlm-v2 recipe
    specprompt train --preset v2 --device cuda --workers 14   # episodes drawn by 14 processes

A killed run resumes when the same command is run again (``OUT/train-snapshot.safetensors``,
written every ``--snapshot-every`` steps). ``--out`` must be new, empty or such a run's; a finished
checkpoint there (one with its ``config.json``, written last) is replaced only with ``--overwrite``.
A run locks ``--out`` while it runs: a second run on the same folder fails at once.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any

from specprompt.errors import ConfigError

__all__ = ["add_train_parser", "check_out", "config_from_args", "run_train"]


def _names(text: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in text.split(",") if n.strip())


def add_train_parser(sub: Any) -> argparse.ArgumentParser:
    """Registers ``train`` on the CLI's sub-parsers and returns its parser."""
    from specprompt.training import TrainConfig

    d = TrainConfig()
    help_of = {f.name: f.metadata.get("help", "").replace("%", "%%") for f in dataclasses.fields(TrainConfig)}

    def h(name: str, shown: object = None) -> str:
        value = getattr(d, name) if shown is None else shown
        if isinstance(value, tuple):
            value = ",".join(value)
        return f"{help_of[name]} (default: {value})"

    p: argparse.ArgumentParser = sub.add_parser(
        "train",
        help="train the local band VLM on procedural few-shot episodes and write a checkpoint",
        description="Train the local band VLM (the default scorer of compile and demo) from scratch on procedural "
        "few-shot episodes of the built-in task families, and write a checkpoint directory. Use it with "
        "local_lm(CHECKPOINT) or 'specprompt serve --checkpoint DIR'.",
    )
    p.add_argument(
        "--out",
        default=d.out,
        metavar="DIR",
        help=f"{help_of['out']}: new, empty, or a killed run's, which resumes (default: {d.out})",
    )
    p.add_argument(
        "--overwrite", action="store_true", help="replace a finished checkpoint already in --out (train it again)"
    )
    p.add_argument("--seed", type=int, default=d.seed, help=h("seed"))
    p.add_argument("--steps", type=int, default=d.steps, help=h("steps"))
    p.add_argument("--minutes", type=float, default=None, help=h("minutes", "no cap"))
    p.add_argument("--device", default=d.device, help=h("device"))
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--workers", type=int, default=d.workers, help=h("workers"))
    p.add_argument("--snapshot-every", type=int, default=d.snapshot_every, help=h("snapshot_every"))
    p.add_argument("--n-way", type=int, default=d.n_way, help=h("n_way"))
    p.add_argument("--k-shot", type=int, default=d.k_shot, help=h("k_shot"))
    p.add_argument("--episodes-per-step", type=int, default=d.episodes_per_step, help=h("episodes_per_step"))
    p.add_argument("--families", default=",".join(d.families), help="comma-separated " + h("families"))
    p.add_argument("--held-out", default=",".join(d.held_out), help="comma-separated " + h("held_out"))
    p.add_argument("--tile-dropout", type=float, default=d.tile_dropout, help=h("tile_dropout"))
    p.add_argument("--band-dropout", type=float, default=d.band_dropout, help=h("band_dropout"))
    p.add_argument("--lr", type=float, default=d.lr, help=h("lr"))
    from specprompt.training import TRAIN_PRESETS

    p.add_argument(
        "--preset",
        default=None,
        choices=sorted(TRAIN_PRESETS),
        help="named recipe (v1: the defaults; v2: 256 px fine levels + photo families, warm-started from "
        "band-vlm-v1; large-gpu: a 2x wider, 2x deeper model for a CUDA machine with 16 cores); --config and "
        "flags given override it",
    )
    p.add_argument(
        "--config", default=None, metavar="JSON", help="JSON file of TrainConfig fields; flags given override it"
    )
    p.set_defaults(run=run_train)
    return p


def config_from_args(args: argparse.Namespace) -> Any:
    """The :class:`~specprompt.training.TrainConfig` of parsed ``train`` arguments."""
    from specprompt.training import TRAIN_PRESETS, TrainConfig

    base: dict[str, Any] = dict(TRAIN_PRESETS[args.preset]) if getattr(args, "preset", None) else {}
    if args.config:
        try:
            with open(args.config) as fh:
                loaded = json.load(fh)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read --config {args.config!r}: {exc}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"--config {args.config!r} must hold a JSON object of TrainConfig fields")
        base = {**base, **loaded}
    flags = {
        "out": args.out,
        "seed": args.seed,
        "steps": args.steps,
        "minutes": args.minutes,
        "device": args.device,
        "threads": args.threads,
        "workers": args.workers,
        "snapshot_every": args.snapshot_every,
        "n_way": args.n_way,
        "k_shot": args.k_shot,
        "episodes_per_step": args.episodes_per_step,
        "families": _names(args.families),
        "held_out": _names(args.held_out),
        "tile_dropout": args.tile_dropout,
        "band_dropout": args.band_dropout,
        "lr": args.lr,
    }
    defaults = TrainConfig().to_dict()
    merged = {**base, **{k: v for k, v in flags.items() if not base or _differs(v, defaults[k])}}
    return TrainConfig.from_dict(merged)


def _differs(value: Any, default: Any) -> bool:
    if isinstance(value, tuple):
        return list(value) != list(default)
    return bool(value != default)


def check_out(args: argparse.Namespace, cfg: Any) -> None:
    """Refuses an output folder that ``train`` must not write into.

    Allowed: a new or empty folder, and one holding the snapshot of a killed run (the run resumes
    from it) or weights without a ``config.json`` (a save cut short). A finished checkpoint (with
    its ``config.json``) is replaced only with ``--overwrite``.

    Raises:
        ConfigError: naming ``--out`` (or the ``--config`` field): see
            :func:`~specprompt.training.check_train_out`.
    """
    from specprompt.training import check_train_out

    check_train_out(cfg, _out_flag(args, cfg), getattr(args, "overwrite", False), overwrite_flag="--overwrite")


def _out_flag(args: argparse.Namespace, cfg: Any) -> str:
    """What set ``cfg.out``, for messages: ``--out`` or the ``--config`` file's field."""
    return "--out" if cfg.out == args.out else f"--config {args.config!r} field 'out'"


def run_train(args: argparse.Namespace) -> int:
    """Runs ``specprompt train``; prints the checkpoint directory and its model id."""
    import logging

    from tqdm.contrib.logging import logging_redirect_tqdm

    from specprompt.training import train
    from specprompt.vlm import read_config

    cfg = config_from_args(args)
    check_out(args, cfg)  # before training, not when the checkpoint is saved
    logger = logging.getLogger("specprompt.training")
    logger.setLevel(logging.INFO)
    with logging_redirect_tqdm():  # the root handler's log lines print above the step bar
        out = train(cfg, overwrite=getattr(args, "overwrite", False), out_name=_out_flag(args, cfg))
    meta = read_config(out)
    m = meta["metrics"]
    print(f"wrote {out} ({meta['model_id']}): {m['steps_done']} steps in {m['seconds']:.0f} s, val {m['val']}")
    return 0
