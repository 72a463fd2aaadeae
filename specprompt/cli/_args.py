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
import os
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from specprompt.errors import ConfigError, SpecPromptWarning

__all__ = [
    "DeprecatedAlias",
    "add_data_arguments",
    "add_metric_argument",
    "add_scheme_arguments",
    "check_writable_dir",
    "check_writable_file",
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


def check_writable_dir(flag: str, path: str | os.PathLike[str], files: Sequence[str] = ()) -> Path:
    """``path`` as a :class:`~pathlib.Path`, once it is a folder a command can write into or create.

    Run it before any expensive work, so a bad output path fails in a second, not after a search.
    Nothing is left behind: the check that the nearest existing folder accepts new entries makes an
    empty folder there and removes it.

    Args:
        flag: the option that named the path (``"--out"``), for the message.
        path: the output folder; it and its parents may be missing.
        files: names of the files the command writes into ``path``: none may be a folder, and an
            existing one must be writable.

    Returns:
        ``path`` as a ``Path`` (not created).

    Raises:
        ConfigError: naming ``flag``, ``path`` and the reason: a file (or anything but a folder) on
            the path, a folder that cannot be written, or a folder where one of ``files`` goes.

    Example:
        >>> check_writable_dir("--out", "/dev/null/out")
        Traceback (most recent call last):
        ...
        specprompt.errors.ConfigError: --out '/dev/null/out': '/dev/null' is not a folder
    """
    folder = Path(path)
    _check_folder(flag, str(path), folder)
    for name in files:
        target = folder / name
        if target.is_dir():
            raise ConfigError(
                f"{flag} {str(path)!r}: {str(target)!r} is a folder, but the command writes a file there "
                "(remove or rename that folder)"
            )
        if target.exists() and not os.access(target, os.W_OK):
            raise ConfigError(f"{flag} {str(path)!r}: {str(target)!r} is not writable")
    return folder


def check_writable_file(flag: str, path: str | os.PathLike[str]) -> Path:
    """``path`` as a :class:`~pathlib.Path`, once it is a file a command can write (existing or new).

    Its folder is checked as :func:`check_writable_dir` checks one (it may be missing: the command
    creates it).

    Raises:
        ConfigError: naming ``flag``, ``path`` and the reason: ``path`` is a folder or is not
            writable, or its folder cannot be created or written.

    Example:
        >>> check_writable_file("--json", "/")
        Traceback (most recent call last):
        ...
        specprompt.errors.ConfigError: --json '/' is a folder; give the path of a file
    """
    file = Path(path)
    if file.is_dir():
        raise ConfigError(f"{flag} {str(path)!r} is a folder; give the path of a file")
    _check_folder(flag, str(path), file.parent)
    if file.exists() and not os.access(file, os.W_OK):
        raise ConfigError(f"{flag} {str(path)!r} is not writable")
    return file


def _check_folder(flag: str, shown: str, folder: Path) -> None:
    """Raises a ConfigError unless ``folder`` is, or can be created as, a writable folder."""
    existing = next(p for p in (folder, *folder.parents) if p.exists() or p.is_symlink())
    if not existing.is_dir():
        where = "" if existing == Path(shown) else f": {str(existing)!r}"
        what = "a file, not a folder" if existing.is_file() else "not a folder"
        raise ConfigError(f"{flag} {shown!r}{where} is {what}")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".specprompt-check-", dir=existing))
    except OSError as exc:
        raise ConfigError(f"{flag} {shown!r}: cannot write into {str(existing)!r} ({exc.strerror or exc})") from None
