"""The command line and the output every ``probe_*.py`` script over ``bench_realphoto.py``'s tasks shares.

A probe scores a few fixed programs (no search) of one real-photo task under one pricing, per
pixel-only judge and seed, and appends one JSON row per judge and seed to ``--json-out``.
Imported as ``_probe`` (the scripts put their own folder on ``sys.path`` first).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from _common import Report, at_least, check_outputs
from bench_realphoto import TASKS

__all__ = ["append_rows", "probe_parser", "start_report"]


def probe_parser(
    doc: str | None, *, seeds: int, n_train: int, first_seed: bool = True, n_val: bool = True
) -> argparse.ArgumentParser:
    """The arguments every probe takes: ``--task``, ``--judges``, ``--pricing``, ``--seeds``,
    ``--first-seed`` (when ``first_seed``), ``--n-train``, ``--n-val`` (when ``n_val``), ``--n-test``
    and ``--json-out``; the probe adds its own (budgets, zooms, ...) before parsing."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=sorted(TASKS), default="photo-texture")
    parser.add_argument("--judges", nargs="+", default=["hist-hog", "lbp-dct"])
    parser.add_argument("--pricing", default="openai:gpt-4.1-mini")
    parser.add_argument("--seeds", type=at_least(1), default=seeds)
    if first_seed:
        parser.add_argument("--first-seed", type=int, default=5)
    parser.add_argument("--n-train", type=at_least(1), default=n_train)
    if n_val:
        parser.add_argument("--n-val", type=at_least(1), default=24)
    parser.add_argument("--n-test", type=at_least(1), default=60)
    parser.add_argument("--json-out", metavar="FILE", help="append one JSON row per judge and seed here")
    return parser


def start_report(parser: argparse.ArgumentParser, a: argparse.Namespace) -> Report:
    """Ends the script as argparse does when ``--json-out`` cannot be written (before any work);
    else a report whose first line is the settings, as sorted JSON."""
    check_outputs(parser, {"--json-out": a.json_out})
    report = Report()
    report.add("settings: " + json.dumps({k: v for k, v in vars(a).items() if k != "json_out"}, sort_keys=True))
    return report


def append_rows(path: str | None, rows: Iterable[dict[str, Any]], **extra: Any) -> None:
    """Appends each row (after the fields ``extra``, e.g. ``judge=``) as one JSON line to ``path``
    (its folder created); nothing when ``path`` is ``None``."""
    if not path:
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.writelines(json.dumps({**extra, **row}) + "\n" for row in rows)
