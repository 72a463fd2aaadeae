"""Checks of output paths, run before the work whose result goes there.

A bad output path (a file where a folder goes, a folder that cannot be written, a folder holding
the user's own files or a finished result) fails in a second with an error naming it, not after a
search or a training run, and nothing the user wrote is replaced without ``overwrite``. The library
names its parameters (``TrainConfig.out``), the command line its flags (``--out``).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from specprompt.errors import ConfigError

__all__ = ["check_output_folder", "check_writable_dir", "check_writable_file"]


def check_writable_dir(name: str, path: str | os.PathLike[str], files: Sequence[str] = ()) -> Path:
    """``path`` as a :class:`~pathlib.Path`, once it is a folder a command can write into or create.

    Run it before any expensive work, so a bad output path fails in a second, not after a search.
    Nothing is left behind: the check that the nearest existing folder accepts new entries makes an
    empty folder there and removes it.

    Args:
        name: what named the path (``"--out"``, ``"TrainConfig.out"``), for the message.
        path: the output folder; it and its parents may be missing.
        files: names of the files the command writes into ``path``: none may be a folder, and an
            existing one must be writable.

    Returns:
        ``path`` as a ``Path`` (not created).

    Raises:
        ConfigError: naming ``name``, ``path`` and the reason: a file (or anything but a folder) on
            the path, a folder that cannot be written, or a folder where one of ``files`` goes.

    Example:
        >>> check_writable_dir("--out", "/dev/null/out")
        Traceback (most recent call last):
        ...
        specprompt.errors.ConfigError: --out '/dev/null/out': '/dev/null' is not a folder
    """
    folder = Path(path)
    _check_folder(name, str(path), folder)
    for entry in files:
        target = folder / entry
        if target.is_dir():
            raise ConfigError(
                f"{name} {str(path)!r}: {str(target)!r} is a folder, but the command writes a file there "
                "(remove or rename that folder)"
            )
        if target.exists() and not os.access(target, os.W_OK):
            raise ConfigError(f"{name} {str(path)!r}: {str(target)!r} is not writable")
    return folder


def check_writable_file(name: str, path: str | os.PathLike[str]) -> Path:
    """``path`` as a :class:`~pathlib.Path`, once it is a file a command can write (existing or new).

    Its folder is checked as :func:`check_writable_dir` checks one (it may be missing: the command
    creates it).

    Raises:
        ConfigError: naming ``name``, ``path`` and the reason: ``path`` is a folder or is not
            writable, or its folder cannot be created or written.

    Example:
        >>> check_writable_file("--json", "/")
        Traceback (most recent call last):
        ...
        specprompt.errors.ConfigError: --json '/' is a folder; give the path of a file
    """
    file = Path(path)
    if file.is_dir():
        raise ConfigError(f"{name} {str(path)!r} is a folder; give the path of a file")
    _check_folder(name, str(path), file.parent)
    if file.exists() and not os.access(file, os.W_OK):
        raise ConfigError(f"{name} {str(path)!r} is not writable")
    return file


def _check_folder(name: str, shown: str, folder: Path) -> None:
    """Raises a ConfigError unless ``folder`` is, or can be created as, a writable folder."""
    existing = next(p for p in (folder, *folder.parents) if p.exists() or p.is_symlink())
    if not existing.is_dir():
        where = "" if existing == Path(shown) else f": {str(existing)!r}"
        what = "a file, not a folder" if existing.is_file() else "not a folder"
        raise ConfigError(f"{name} {shown!r}{where} is {what}")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".specprompt-check-", dir=existing))
    except OSError as exc:
        raise ConfigError(f"{name} {shown!r}: cannot write into {str(existing)!r} ({exc.strerror or exc})") from None


def check_output_folder(
    name: str,
    path: str | os.PathLike[str],
    outputs: Sequence[str],
    *,
    what: str,
    resumable: Sequence[str] = (),
    overwrite: bool = False,
    overwrite_flag: str = "overwrite=True",
) -> Path:
    """``path`` as a :class:`~pathlib.Path`, once it is a folder a command may write its result into.

    On top of :func:`check_writable_dir`: a folder holding anything but the command's own files is
    refused (its files are not mixed with the user's), and so is a finished result unless
    ``overwrite`` is given. A run's ``resumable`` files (a snapshot of a killed
    run) are the command's own: the run resumes from them.

    Args:
        name: what named the path (``"--out"``, ``"TrainConfig.out"``), for the messages.
        path: the output folder; it and its parents may be missing.
        outputs: the files of a finished result (any of them there means one is).
        what: the result, for the messages (``"checkpoint"``).
        resumable: the files of an unfinished run, kept for it to resume.
        overwrite: replace a finished result.
        overwrite_flag: how the caller asks for ``overwrite``, for the message (``"--overwrite"``).

    Raises:
        ConfigError: naming ``name``, ``path`` and the reason: see :func:`check_writable_dir`, a
            folder with other entries (a few of them named), or a finished result without ``overwrite``.
    """
    folder = check_writable_dir(name, path, outputs)
    if not folder.is_dir():
        return folder
    own = {*outputs, *resumable}
    others = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir() if p.name not in own)
    if others:
        shown = ", ".join(others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")
        raise ConfigError(
            f"{name} {str(path)!r} holds files that are not part of a {what} ({shown}); give an empty or new folder"
        )
    finished = [entry for entry in outputs if (folder / entry).exists()]
    if finished and not overwrite:
        raise ConfigError(
            f"{name} {str(path)!r} already holds a {what} ({', '.join(finished)}); pass {overwrite_flag} to "
            f"replace it, or give another {name}"
        )
    return folder
