"""The files ``compile`` writes into ``--out``: which they are, the check of ``--out`` before the
search, the ``run`` record of ``pareto.json``, and the writing itself (each file whole)."""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from specprompt._outputs import check_writable_dir

__all__ = ["OUTPUT_FILES", "STUDY_FILE", "check_outputs", "remove_leftovers", "run_info", "write_outputs"]

log = logging.getLogger("specprompt.cli.compile")

#: The files :func:`write_outputs` writes into ``--out``, by their key in its result.
OUTPUT_FILES = {"program": "program.json", "pareto": "pareto.json", "report": "report.html"}
#: The default storage's file in ``--out`` (:func:`specprompt.search.BandOptimizer`, no ``--storage``).
STUDY_FILE = "study.db"


def write_outputs(
    compiled: Any, result: Any, trainset: Sequence[Any], out: Path, run_info: dict[str, Any]
) -> dict[str, Path]:
    """Writes ``program.json``, ``pareto.json`` and ``report.html`` into ``out``; returns their paths.

    Each file is replaced whole (:func:`~specprompt._outputs.write_atomic`), so a run killed while
    writing leaves every file either the earlier run's or this one's; ``pareto.json`` records the
    SHA-256 of the ``program.json`` it describes (``program_sha256``), so ``inspect`` can tell when
    the two are of different runs.
    """
    from specprompt._outputs import write_atomic
    from specprompt.reports import CompileReport, report_data

    paths = {key: out / name for key, name in OUTPUT_FILES.items()}
    out.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".program.", suffix=".json", dir=out)  # DSPy saves by the suffix
    os.close(fd)
    try:
        compiled.save(tmp)
        program = Path(tmp).read_bytes()
    finally:
        Path(tmp).unlink(missing_ok=True)
    write_atomic(paths["program"], program)
    data = {**report_data(result, run_info), "program_sha256": hashlib.sha256(program).hexdigest()}
    write_atomic(paths["pareto"], json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n")
    CompileReport(data, compiled, sources=trainset, run=None).save(paths["report"])
    return paths


def check_outputs(args: argparse.Namespace) -> Path:
    """``--out``, once it can take the files compile writes there (checked before any search).

    Raises:
        ConfigError: see :func:`~specprompt._outputs.check_writable_dir`.
    """
    folder = Path(args.out)
    results = sorted(p.name for p in folder.glob("*.result.json")) if folder.is_dir() else []  # a resumed study's
    files = [*OUTPUT_FILES.values(), *([STUDY_FILE] if args.storage is None else []), *results]
    checked = check_writable_dir("--out", args.out, files)
    if (folder / OUTPUT_FILES["report"]).is_file():  # a file of the user's there is not replaced
        from specprompt.reports import check_report_path

        check_report_path(folder / OUTPUT_FILES["report"], name="--out")
    return checked


def run_info(args: argparse.Namespace) -> dict[str, Any]:
    """The ``run`` record of ``pareto.json``: what the compile read (program, datasets, LM, metric ...)."""
    return {
        "program": _resolved_ref(args.program),
        "trainset": _resolved(args.trainset),
        "valset": _resolved(args.valset) if args.valset else "trainset minus demos",
        **({"testset": _resolved(args.testset)} if getattr(args, "testset", None) else {}),
        "lm": args.lm
        + (f" at {args.api_base}" if args.api_base else "")
        + (f", screened by {args.screen}" if getattr(args, "screen", None) else "")
        + (f" {args.checkpoint}" if getattr(args, "checkpoint", None) else "")
        + (f" + adapter {args.adapter}" if args.adapter else ""),
        "metric": args.metric,
        "sampler": args.sampler,
        "pruner": args.pruner,
    }


def remove_leftovers(out: Path) -> None:
    """Deletes the temporary files of :func:`write_outputs` that a killed compile left in ``out``."""
    from specprompt._outputs import remove_temporaries

    gone = remove_temporaries(out, list(OUTPUT_FILES.values()))
    for tmp in out.glob(".program.*.json"):  # program.json's own (DSPy saves by the .json suffix)
        tmp.unlink(missing_ok=True)
        gone.append(tmp.name)
    if gone:
        log.info("removed %d temporary file(s) of a compile killed while writing: %s", len(gone), ", ".join(gone))


def _resolved(path: str | Path) -> str:
    """``path`` absolute, links resolved, no trailing slash: one spelling per file (``train/``, ``./train``)."""
    return str(Path(path).resolve())


def _resolved_ref(ref: str) -> str:
    """``FILE.py:NAME`` with ``FILE.py`` as :func:`_resolved` spells it."""
    file, sep, name = ref.rpartition(":")
    return f"{_resolved(file)}:{name}" if sep and file.endswith(".py") else ref
