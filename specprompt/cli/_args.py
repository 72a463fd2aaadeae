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
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from specprompt.errors import ConfigError, ImageInputError, SpecPromptWarning

__all__ = [
    "DATASET_WORDS",
    "PIXEL_WORDS",
    "DeprecatedAlias",
    "add_data_arguments",
    "add_max_pixels_argument",
    "add_metric_argument",
    "add_scheme_arguments",
    "at_least_3",
    "dataset_max_pixels",
    "log_levels",
    "max_pixels",
    "non_negative_float",
    "non_negative_int",
    "positive_float",
    "positive_int",
    "reworded",
    "scheme_options",
]

#: How the library's messages name a dataset argument, and the flags a CLI user gave it with.
DATASET_WORDS = {"pass valset= or a larger trainset": "pass --valset or a larger --trainset"}
#: How the image limit's message names ``max_pixels=`` (:func:`specprompt.load_image`), and the CLI's flag.
PIXEL_WORDS = {"(pass a larger max_pixels, or None, to allow it)": "(pass a larger --max-pixels, or none, to allow it)"}


def _int_at_least(text: str, minimum: int, why: str = "") -> int:
    """``text`` as an int ``>= minimum``; the ``argparse`` error names the bound (and ``why``)."""
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < minimum:
        raise argparse.ArgumentTypeError(f"expected an int >= {minimum}{why}, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    """``argparse`` type: an int >= 0."""
    return _int_at_least(text, 0)


def positive_int(text: str) -> int:
    """``argparse`` type: an int >= 1 (``-1`` and ``0`` get the same message).

    Example:
        >>> positive_int("-1")
        Traceback (most recent call last):
        ...
        argparse.ArgumentTypeError: expected an int >= 1, got '-1'
    """
    return _int_at_least(text, 1)


def at_least_3(text: str) -> int:
    """``argparse`` type: an int >= 3, the prompts of a calibration probe (a rank agreement needs three)."""
    return _int_at_least(text, 3, " (a rank agreement needs three prompts)")


def max_pixels(text: str) -> int | None:
    """``argparse`` type of ``--max-pixels``: an int >= 1, or ``none`` (no limit).

    Example:
        >>> max_pixels("none") is None, max_pixels("100000000")
        (True, 100000000)
    """
    if text.strip().lower() in ("none", "null", "off"):
        return None
    return _int_at_least(text.replace("_", "").replace(",", ""), 1, " or 'none' (no limit)")


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
    add_max_pixels_argument(p)


def add_max_pixels_argument(p: argparse.ArgumentParser, what: str = "a dataset image") -> None:
    """``--max-pixels N|none``: the largest ``width * height`` of ``what`` (``max_pixels=`` of
    :func:`specprompt.load_dataset` and :func:`specprompt.load_image`)."""
    from specprompt.io import DEFAULT_MAX_PIXELS

    p.add_argument(
        "--max-pixels",
        type=max_pixels,
        default=DEFAULT_MAX_PIXELS,
        metavar="N",
        help=f"largest width*height of {what}, or 'none' for no limit; larger photos are refused before "
        f"they are decoded (default: {DEFAULT_MAX_PIXELS}, 8192x8192)",
    )


def dataset_max_pixels(args: argparse.Namespace) -> int | None:
    """The ``--max-pixels`` of parsed arguments (the default limit for a namespace without it)."""
    from specprompt.io import DEFAULT_MAX_PIXELS

    limit: int | None = getattr(args, "max_pixels", DEFAULT_MAX_PIXELS)
    return limit


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


@contextmanager
def reworded(words: Mapping[str, str]) -> Iterator[None]:
    """Re-raises a :class:`~specprompt.errors.ConfigError` or
    :class:`~specprompt.errors.ImageInputError` of the library with the CLI's words.

    The library names its Python arguments (``valset=``, ``max_pixels``); the CLI user typed flags
    (``--valset``, ``--max-pixels``). Other errors, and messages holding none of ``words``, pass
    through unchanged.

    Args:
        words: phrases of the library's messages and what the CLI says instead.

    Example:
        >>> with reworded({"valset=": "--valset"}):
        ...     raise ConfigError("pass valset=")
        Traceback (most recent call last):
        ...
        specprompt.errors.ConfigError: pass --valset
    """

    def say(text: str) -> str:
        for phrase, flag in words.items():
            text = text.replace(phrase, flag)
        return text

    try:
        yield
    except ConfigError as exc:
        if say(str(exc)) == str(exc):
            raise
        raise ConfigError(say(str(exc))) from None
    except ImageInputError as exc:
        if say(exc.reason) == exc.reason:
            raise
        raise ImageInputError(exc.source, say(exc.reason)) from None


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


class _NoTraceback(logging.Filter):
    """Drops the traceback of a log record and says how to see it (Optuna logs each failed trial's)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info or record.exc_text:
            record.msg = f"{record.getMessage()} (specprompt -vv shows the traceback)"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


_NO_TRACEBACK = _NoTraceback()


def log_levels(verbose: int) -> None:
    """specprompt's progress messages (INFO) are shown by default; Optuna's per-trial lines with -vv.

    Below -vv, Optuna's warning about a failed trial comes without its traceback (specprompt's
    frames, not the user's mistake; the error that ends a command is printed as one line anyway).
    """
    import optuna

    if verbose == 0:
        logging.getLogger("specprompt").setLevel(logging.INFO)
    optuna.logging.set_verbosity(optuna.logging.INFO if verbose >= 2 else optuna.logging.WARNING)
    for handler in logging.getLogger("optuna").handlers:
        if verbose >= 2:
            handler.removeFilter(_NO_TRACEBACK)
        else:
            handler.addFilter(_NO_TRACEBACK)
