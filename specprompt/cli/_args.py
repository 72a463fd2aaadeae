"""Argument helpers shared by the subcommands: number types, deprecated aliases, help text, and
the arguments ``compile`` and ``calibrate`` both take (program, datasets, band scheme, metric).

Conventions of every subcommand: a description line, ``(default: X)`` at the end of each option's
help, ``--trainset`` for datasets, ``--threads`` for threads inside the process (``--workers`` is
kept for separate worker processes), ``--device auto`` for torch code.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import warnings
from collections.abc import Sequence
from typing import Any

from specprompt.errors import ConfigError, SpecPromptWarning

__all__ = [
    "DeprecatedAlias",
    "add_data_arguments",
    "add_metric_argument",
    "add_scheme_arguments",
    "log_levels",
    "non_negative_float",
    "non_negative_int",
    "positive_float",
    "positive_int",
    "scheme_options",
]


def non_negative_int(text: str) -> int:
    """``argparse`` type: an int >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an int >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an int >= 0, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """``argparse`` type: an int >= 1."""
    value = non_negative_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an int >= 1, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    """``argparse`` type: a finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}") from None
    if not 0 <= value < math.inf:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """``argparse`` type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


class DeprecatedAlias(argparse.Action):
    """An old option name kept working (hidden from ``--help``) with a one-line warning.

    Use ``parser.add_argument("--old", dest=..., action=DeprecatedAlias, new="--new",
    help=argparse.SUPPRESS)``; the value goes to the same ``dest`` as the new option.
    """

    def __init__(self, option_strings: Sequence[str], dest: str, new: str, **kwargs: Any) -> None:
        self.new = new
        super().__init__(option_strings, dest, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        warnings.warn(f"{option_string} is deprecated, use {self.new}", SpecPromptWarning, stacklevel=2)
        setattr(namespace, self.dest, values)


def add_data_arguments(p: argparse.ArgumentParser) -> None:
    """``PROGRAM.py:NAME``, ``--trainset`` and ``--valset`` (``compile``, ``calibrate``)."""
    p.add_argument("program", metavar="PROGRAM.py:NAME", help="the program (runs that file)")
    p.add_argument("--trainset", required=True, help="JSONL file or folder per label (demos are drawn from it)")
    p.add_argument("--valset", default=None, help="JSONL file or folder per label (default: trainset minus demos)")


def add_scheme_arguments(p: argparse.ArgumentParser) -> None:
    """``--scheme`` and ``--scheme-options`` (JSON, read by :func:`scheme_options`)."""
    from specprompt.spectral import available_schemes

    p.add_argument(
        "--scheme",
        default="laplacian",
        help=f"band scheme, one of {', '.join(available_schemes())} (default: %(default)s)",
    )
    p.add_argument("--scheme-options", default=None, metavar="JSON", help="scheme options, e.g. '{\"levels\": 4}'")


def add_metric_argument(p: argparse.ArgumentParser) -> None:
    """``--metric``: ``exact`` or ``FILE.py:FN``."""
    p.add_argument(
        "--metric",
        default="exact",
        help="'exact' (all output fields equal) or FILE.py:FN (runs that file) (default: %(default)s)",
    )


def scheme_options(text: str | None) -> dict[str, Any]:
    """The ``--scheme-options`` JSON object (``{}`` when not given).

    Raises:
        ConfigError: not JSON, or not an object.

    Example:
        >>> scheme_options('{"levels": 4}'), scheme_options(None)
        ({'levels': 4}, {})
    """
    if not text:
        return {}
    try:
        options = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"--scheme-options must be a JSON object, got {text!r} ({exc})") from None
    if not isinstance(options, dict):
        raise ConfigError(f"--scheme-options must be a JSON object, got {text!r}")
    return options


def log_levels(verbose: int) -> None:
    """specprompt's progress messages (INFO) are shown by default; Optuna's per-trial lines with -vv."""
    import optuna

    if verbose == 0:
        logging.getLogger("specprompt").setLevel(logging.INFO)
    optuna.logging.set_verbosity(optuna.logging.INFO if verbose >= 2 else optuna.logging.WARNING)
