"""``specprompt inspect``: what the demo images of a compiled program are and what they cost.

Works from the JSON alone (no code runs): every SpectralImage carries its scheme, kept bands,
sizes and source hash in its PNG data URI. ``--program FILE.py:NAME`` (which runs that file)
additionally loads the JSON into the program, checking that they fit together.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "default_cost_model", "inspect_program", "run"]

log = logging.getLogger("specprompt.cli.inspect")


def default_cost_model(program_path: str | Path) -> str | None:
    """The cost model of the run that wrote ``program_path``, read from a ``pareto.json`` beside it.

    Returns ``None`` (never raises) when there is no such file or it names no cost model, and,
    with a warning saying to pass ``--cost-model``, when it cannot be read or describes another
    ``program.json`` (its ``program_sha256`` differs: files of two runs side by side).

    Example:
        >>> default_cost_model("/nonexistent/program.json") is None
        True
    """
    pareto = Path(program_path).parent / "pareto.json"
    if not pareto.is_file():
        return None
    try:
        data = json.loads(pareto.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.warning("%s cannot be read (%s): its cost model is not used; pass --cost-model", pareto, exc)
        return None
    if not isinstance(data, dict):
        log.warning("%s is not a compile's pareto.json: its cost model is not used; pass --cost-model", pareto)
        return None
    sha = data.get("program_sha256")
    if isinstance(sha, str):
        try:
            actual = hashlib.sha256(Path(program_path).read_bytes()).hexdigest()
        except OSError:
            return None  # the program file's own error comes when it is read
        if actual != sha:
            log.warning(
                "%s describes another program than %s (files of two runs): its cost model is not used; "
                "pass --cost-model",
                pareto,
                program_path,
            )
            return None
    model = (data.get("config") or {}).get("cost_model")
    return model if isinstance(model, str) and model else None


def inspect_program(path: str | Path, *, program: str | None = None, cost_model: str | None = None) -> Any:
    """The :class:`specprompt.reports.ProgramImages` of a saved program.

    Args:
        path: the JSON file written by ``program.save``.
        program: ``FILE.py:NAME`` of the program to load it into (runs that file), or ``None``
            to read the JSON alone.
        cost_model: price images with this model; default: the run's (``pareto.json`` beside
            ``path``), else only ``local`` tokens.

    Raises:
        ConfigError: a missing or malformed file, or a JSON that does not fit ``program``.
        ImageInputError: a corrupt demo image (the file, predictor, demo and field named).
    """
    from specprompt.reports import describe_program

    p = Path(path)
    model = cost_model if cost_model is not None else default_cost_model(p)
    if program is None:
        return describe_program(p, cost_model=model)
    from specprompt.cli._user_code import load_program_ref
    from specprompt.types import load_program

    module = load_program_ref(program)
    load_program(module, p)  # checks that the file fits the program (DSPy alone matches fields by position)
    return describe_program(module, cost_model=model)


def run(args: argparse.Namespace) -> int:
    """Prints the table (or ``--json``) of ``specprompt inspect``."""
    images = inspect_program(args.compiled, program=args.program, cost_model=args.cost_model)
    if args.json:
        print(json.dumps(images.to_dict(), indent=2, sort_keys=True))
    else:
        print(f"{args.compiled}:")
        print(images.table())
    return 0


def add_parser(sub: Any) -> None:
    """Registers ``inspect`` on the CLI's sub-parsers."""
    p = sub.add_parser(
        "inspect",
        help="list the demo images of a compiled program: scheme, kept bands, sizes, tokens",
        description="Reads a program saved by `specprompt compile` (program.json) without running any code.",
    )
    p.add_argument(
        "compiled", metavar="COMPILED.json", help="program JSON written by program.save / specprompt compile"
    )
    p.add_argument(
        "--program", default=None, metavar="PROGRAM.py:NAME", help="also load it into this program (runs that file)"
    )
    p.add_argument(
        "--cost-model", default=None, help="price images with this cost model (default: the run's, if known)"
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(run=run)
