"""Argument helpers shared by the subcommands: number types, deprecated aliases, help text.

Conventions of every subcommand: a description line, ``(default: X)`` at the end of each option's
help, ``--trainset`` for datasets, ``--threads`` for threads inside the process (``--workers`` is
kept for separate worker processes), ``--device auto`` for torch code.
"""

from __future__ import annotations

import argparse
import math
import warnings
from collections.abc import Sequence
from typing import Any

from specprompt.errors import SpecPromptWarning

__all__ = ["DeprecatedAlias", "non_negative_int", "positive_float", "positive_int"]


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
