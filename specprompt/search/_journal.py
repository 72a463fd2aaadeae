"""Optuna journal files as the study's storage: ``storage="run/study.log"`` (CLI: ``--storage run/study.log``).

Convention:
    Optuna's own tools read a storage string that names an existing file as a journal file
    (``optuna`` CLI and ``optuna-dashboard``: ``JournalFileBackend``), and Optuna's docs name
    journal files ``*.log``. So a storage string without ``://`` (other than ``"memory"``) is a
    journal file: an existing one of any name, or a new one whose name ends in
    :data:`JOURNAL_SUFFIX`, made at the first write in a folder that exists. The same string then
    opens the study in ``optuna-dashboard`` and the ``optuna`` CLI.

A journal storage has no heartbeat: a trial of a killed process is retired by the process check
alone (:mod:`specprompt.search._stale`), and several processes cannot share it through
``--workers`` (their claims need a database table, :mod:`specprompt.search._claims`).
"""

from __future__ import annotations

import os
from pathlib import Path

import optuna

from specprompt.errors import ConfigError

__all__ = ["JOURNAL_SUFFIX", "journal_file", "open_journal"]

#: How the name of a new journal file ends (the name Optuna's docs give journal files).
JOURNAL_SUFFIX = ".log"

_SQLITE_HEADER = b"SQLite format 3\x00"


def journal_file(storage: str) -> Path:
    """The journal file a storage string without ``://`` names, checked before any scoring.

    Raises:
        ConfigError: naming ``storage=`` and the value: a folder, a SQLite database file (give it
            as ``sqlite:///...``), an existing file that is not an Optuna journal (JSON lines), a
            new file whose name does not end in :data:`JOURNAL_SUFFIX`, a folder that does not
            exist, or a file or folder that cannot be written.

    Example:
        >>> journal_file("run/study.txt")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        specprompt.errors.ConfigError: storage='run/study.txt' is neither an RDB URL (...) nor an Optuna journal ...
    """
    path = Path(storage).expanduser()
    said = f"storage={storage!r}"
    if path.is_dir():
        raise ConfigError(f"{said} is a folder; give a journal file in it, e.g. {str(path / 'study.log')!r}")
    if path.is_file():
        head = _head(path, said)
        if head.startswith(_SQLITE_HEADER):
            raise ConfigError(f"{said} is a SQLite database: give it as an RDB URL, sqlite:///{path.resolve()}")
        if head.strip() and not head.lstrip().startswith(b"{"):
            raise ConfigError(f"{said} is not an Optuna journal file (one JSON object per line)")
        if not os.access(path, os.W_OK):
            raise ConfigError(f"{said}: the journal file is read-only")
    elif path.suffix != JOURNAL_SUFFIX:
        raise ConfigError(
            f"{said} is neither an RDB URL (scheme://..., e.g. sqlite:///study.db) nor an Optuna journal file "
            f"(an existing one, or a new one whose name ends in {JOURNAL_SUFFIX})"
        )
    folder = path.parent
    if not folder.is_dir():
        raise ConfigError(f"{said}: the folder {str(folder)!r} of the journal file does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(
            f"{said}: the folder {str(folder)!r} of the journal file is read-only (Optuna locks the file with "
            "a link beside it)"
        )
    return path


def _head(path: Path, said: str) -> bytes:
    try:
        with path.open("rb") as f:
            return f.read(len(_SQLITE_HEADER))
    except OSError as exc:
        raise ConfigError(f"{said}: cannot read the file: {exc.strerror or exc}") from None


def open_journal(storage: str) -> optuna.storages.JournalStorage:
    """The journal storage of a storage string that :func:`journal_file` accepts.

    Raises:
        ConfigError: see :func:`journal_file`; and a file whose records Optuna cannot replay.
    """
    from optuna.storages.journal import JournalFileBackend

    path = journal_file(storage)
    try:
        return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    except (ValueError, KeyError, TypeError) as exc:  # a line that is no JSON, or no Optuna record
        why = f"a line has no {exc}" if isinstance(exc, KeyError) else str(exc)
        raise ConfigError(f"storage={storage!r} is not an Optuna journal file that Optuna can replay: {why}") from None
