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
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from specprompt.errors import ConfigError, SpecPromptWarning

__all__ = [
    "DATASET_WORDS",
    "DeprecatedAlias",
    "add_data_arguments",
    "add_metric_argument",
    "add_scheme_arguments",
    "at_least_3",
    "check_output_folder",
    "check_writable_dir",
    "check_writable_file",
    "log_levels",
    "non_negative_float",
    "non_negative_int",
    "positive_float",
    "positive_int",
    "reworded",
    "scheme_options",
]

#: How the library's messages name a dataset argument, and the flags a CLI user gave it with.
DATASET_WORDS = {"pass valset= or a larger trainset": "pass --valset or a larger --trainset"}


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


@contextmanager
def reworded(words: Mapping[str, str]) -> Iterator[None]:
    """Re-raises a :class:`~specprompt.errors.ConfigError` of the library with the CLI's words.

    The library names its Python arguments (``valset=``); the CLI user typed flags (``--valset``).
    Other errors, and messages holding none of ``words``, pass through unchanged.

    Args:
        words: phrases of the library's messages and what the CLI says instead.

    Example:
        >>> with reworded({"valset=": "--valset"}):
        ...     raise ConfigError("pass valset=")
        Traceback (most recent call last):
        ...
        specprompt.errors.ConfigError: pass --valset
    """
    try:
        yield
    except ConfigError as exc:
        text = str(exc)
        said = text
        for phrase, flag in words.items():
            said = said.replace(phrase, flag)
        if said == text:
            raise
        raise ConfigError(said) from None


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


def check_output_folder(
    flag: str,
    path: str | os.PathLike[str],
    outputs: Sequence[str],
    *,
    what: str,
    resumable: Sequence[str] = (),
    overwrite: bool = False,
) -> Path:
    """``path`` as a :class:`~pathlib.Path`, once it is a folder a command may write its result into.

    On top of :func:`check_writable_dir`: a folder holding anything but the command's own files is
    refused (its files are not mixed with the user's), and so is a finished result unless
    ``overwrite`` (``--overwrite``) is given. A run's ``resumable`` files (a snapshot of a killed
    run) are the command's own: the run resumes from them.

    Args:
        flag: the option that named the path (``"--out"``), for the messages.
        path: the output folder; it and its parents may be missing.
        outputs: the files of a finished result (any of them there means one is).
        what: the result, for the messages (``"checkpoint"``).
        resumable: the files of an unfinished run, kept for it to resume.
        overwrite: replace a finished result.

    Raises:
        ConfigError: naming ``flag``, ``path`` and the reason: see :func:`check_writable_dir`, a
            folder with other entries (a few of them named), or a finished result without ``overwrite``.
    """
    folder = check_writable_dir(flag, path, outputs)
    if not folder.is_dir():
        return folder
    own = {*outputs, *resumable}
    others = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir() if p.name not in own)
    if others:
        shown = ", ".join(others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")
        raise ConfigError(
            f"{flag} {str(path)!r} holds files that are not part of a {what} ({shown}); give an empty or new folder"
        )
    finished = [name for name in outputs if (folder / name).exists()]
    if finished and not overwrite:
        raise ConfigError(
            f"{flag} {str(path)!r} already holds a {what} ({', '.join(finished)}); pass --overwrite to "
            f"replace it, or give another {flag}"
        )
    return folder
