"""``specprompt finetune``: adapt the local band VLM to a user's labelled images.

``specprompt finetune --trainset DATA --out DIR`` adapts the local band VLM to a user's labelled images
with a FourierFT adapter (:func:`specprompt.training.finetune`). ``DATA`` is a folder per
label (``DATA/<label>/*.png``) or a JSONL file whose lines hold an image path (relative to the
file) and a label (``--image-field``, ``--label-field``); it is read by the loaders of
``specprompt compile`` (:func:`specprompt.load_dataset`), which never execute code.
Use the adapter with ``local_lm(adapter_path=DIR)`` or ``specprompt serve --model specprompt/local
--adapter DIR``; an adapter of another checkpoint than the default needs it named there too
(``local_lm("band-vlm-v2", adapter_path=DIR)``, ``--checkpoint band-vlm-v2 --adapter DIR``).
``DIR`` must be new or empty; an adapter already there is replaced only with ``--overwrite``. A run
locks ``DIR`` while it runs, and keeps no snapshot: one cut short saves nothing and starts over.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

from specprompt.cli._args import PIXEL_WORDS, DeprecatedAlias, add_max_pixels_argument, dataset_max_pixels, reworded
from specprompt.errors import ConfigError
from specprompt.io import DEFAULT_MAX_PIXELS

__all__ = ["add_parser", "examples_from", "run_finetune"]


def _finetune_defaults() -> tuple[dict[str, Any], dict[str, str]]:
    # FinetuneConfig imports numpy only (no torch), so building the parser stays fast.
    from specprompt.training import FinetuneConfig

    defaults = FinetuneConfig()
    return (
        {f.name: getattr(defaults, f.name) for f in fields(FinetuneConfig)},
        {f.name: str(f.metadata.get("help", "")) for f in fields(FinetuneConfig)},
    )


def add_parser(sub: Any) -> None:
    """Registers ``finetune`` on the CLI's sub-parsers."""
    defaults, helps = _finetune_defaults()
    p: argparse.ArgumentParser = sub.add_parser(
        "finetune",
        help="adapt the local band VLM to your labelled images (FourierFT adapter)",
        description="Adapt the local band VLM to your labelled images with a FourierFT adapter (PEFT). DATA is a "
        "folder per label (DATA/<label>/*.png) or a JSONL file whose lines hold an image path (relative to the file) "
        "and a label. Use the adapter with local_lm(adapter_path=DIR) or "
        "'specprompt serve --model specprompt/local --adapter DIR'.",
    )
    data = p.add_mutually_exclusive_group(required=True)
    data.add_argument("--trainset", metavar="DATA", help="folder per label (DATA/<label>/*.png) or JSONL file")
    data.add_argument("--train", dest="trainset", action=DeprecatedAlias, new="--trainset", help=argparse.SUPPRESS)
    p.add_argument(
        "--out",
        required=True,
        metavar="DIR",
        help="adapter directory to write: new, empty, or holding an adapter to replace with --overwrite",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an adapter already in --out")
    p.add_argument(
        "--checkpoint",
        default=None,
        metavar="DIR",
        help="base checkpoint: a directory or a shipped name such as band-vlm-v2 (default: band-vlm-v1)",
    )
    p.add_argument("--image-field", default="image", help="JSONL field holding the image path (default: %(default)s)")
    p.add_argument("--label-field", default="label", help="JSONL field holding the label (default: %(default)s)")
    add_max_pixels_argument(p)
    for name, kind in (
        ("steps", int),
        ("n_frequency", int),
        ("scaling", float),
        ("lr", float),
        ("n_way", int),
        ("k_shot", int),
        ("episodes_per_step", int),
        ("seed", int),
        ("instruction", str),
        ("device", str),
    ):
        p.add_argument(
            "--" + name.replace("_", "-"),
            dest=name,
            type=kind,
            default=defaults[name],
            help=f"{helps[name]} (default: {_shown(defaults[name])})",
        )
    p.set_defaults(run=run_finetune)


def _shown(value: object) -> str:
    return "none" if value in ("", None) else str(value).replace("%", "%%")


def examples_from(
    path: str | Path,
    image_field: str = "image",
    label_field: str = "label",
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> list[tuple[Any, str]]:
    """``(dspy.Image, label)`` pairs of a folder-per-label dataset or a JSONL file (images of at most
    ``max_pixels`` pixels, ``--max-pixels``).

    Raises:
        ConfigError: see :func:`specprompt.load_dataset` (a missing field is named by its
            flag); also field names that are not identifiers or are equal, and a label that is
            not a string or number. ImageInputError: an unreadable image.
    """
    from specprompt.data import default_fields, load_dataset

    for flag, name in (("--image-field", image_field), ("--label-field", label_field)):
        if not name.isidentifier():
            raise ConfigError(f"{flag} must be a Python identifier (a JSONL field name), got {name!r}")
    if image_field == label_field:
        raise ConfigError(f"--image-field and --label-field must differ, both are {image_field!r}")
    # the loader speaks of a program's fields; finetune has none, its fields are these two flags
    expects = f"the program expects {default_fields(image_field, label_field).describe()}"
    reads = (
        f"finetune reads the image from --image-field {image_field!r} and the label from --label-field {label_field!r}"
    )
    with reworded({expects: reads, **PIXEL_WORDS}):
        examples = load_dataset(path, image_field=image_field, label_field=label_field, max_pixels=max_pixels)
    out: list[tuple[Any, str]] = []
    for i, ex in enumerate(examples):
        label = ex[label_field]
        if isinstance(label, bool) or not isinstance(label, (str, int, float)):
            raise ConfigError(f"{path}: example {i} has label {label!r}; labels must be strings or numbers")
        out.append((ex[image_field], str(label)))
    return out


def run_finetune(args: argparse.Namespace) -> int:
    """Runs ``specprompt finetune``; prints the adapter directory, model id and accuracies as JSON."""
    from specprompt.training import FinetuneConfig, finetune

    try:
        from specprompt.vlm import require_peft

        require_peft()
    except ImportError as exc:
        sys.stderr.write(f"specprompt finetune: error: {exc}\n")
        return 2
    from specprompt.training import check_finetune_out

    check_finetune_out(args.out, "--out", args.overwrite, overwrite_flag="--overwrite")  # before the images load
    config = FinetuneConfig(
        steps=args.steps,
        n_frequency=args.n_frequency,
        scaling=args.scaling,
        lr=args.lr,
        n_way=args.n_way,
        k_shot=args.k_shot,
        episodes_per_step=args.episodes_per_step,
        seed=args.seed,
        instruction=args.instruction,
        device=args.device,
    )
    examples = examples_from(args.trainset, args.image_field, args.label_field, dataset_max_pixels(args))
    out = finetune(examples, args.out, config, checkpoint=args.checkpoint, overwrite=args.overwrite, out_name="--out")
    meta = json.loads((out / "adapter.json").read_text())
    summary = {
        "adapter": str(out),
        "model_id": f"{meta['base_model_id']}+{meta['adapter_sha256'][:12]}",
        "labels": meta["labels"],
        **{k: meta["metrics"][k] for k in ("train_episode_accuracy_before", "train_episode_accuracy_after")},
    }
    sys.stdout.write(json.dumps(summary) + "\n")
    return 0
