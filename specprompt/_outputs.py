"""Checks of output paths, run before the work whose result goes there.

A bad output path (a file where a folder goes, a folder that cannot be written, a folder holding
the user's own files or a finished result) fails in a second with an error naming it, not after a
search or a training run, and nothing the user wrote is replaced without ``overwrite``. The library
names its parameters (``TrainConfig.out``), the command line its flags (``--out``).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import secrets
import tempfile
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path

from specprompt.errors import ConfigError

__all__ = [
    "check_output_folder",
    "check_writable_dir",
    "check_writable_file",
    "folder_lock",
    "is_temporary",
    "remove_temporaries",
    "write_atomic",
]

log = logging.getLogger("specprompt")


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
    finished_by: str | None = None,
    overwrite: bool = False,
    overwrite_flag: str = "overwrite=True",
) -> Path:
    """``path`` as a :class:`~pathlib.Path`, once it is a folder a command may write its result into.

    On top of :func:`check_writable_dir`: a folder holding anything but the command's own files is
    refused (its files are not mixed with the user's), and so is a finished result unless
    ``overwrite`` is given. A run's ``resumable`` files (a snapshot of a killed run) are the
    command's own: the run resumes from them. So are the temporary files :func:`write_atomic`
    leaves when a run is killed mid-write (:func:`remove_temporaries` deletes them).

    Args:
        name: what named the path (``"--out"``, ``"TrainConfig.out"``), for the messages.
        path: the output folder; it and its parents may be missing.
        outputs: the files of a result.
        what: the result, for the messages (``"checkpoint"``).
        resumable: the files of an unfinished run, kept for it to resume.
        finished_by: the output written last, whose presence marks a finished result (a
            checkpoint's ``config.json``); the other outputs without it are a save cut short, which
            the command replaces without ``overwrite``. ``None``: any of ``outputs`` marks one.
        overwrite: replace a finished result.
        overwrite_flag: how the caller asks for ``overwrite``, for the message (``"--overwrite"``).

    Raises:
        ConfigError: naming ``name``, ``path`` and the reason: see :func:`check_writable_dir`, a
            folder with other entries (a few of them named), or a finished result without ``overwrite``.
    """
    if finished_by is not None and finished_by not in outputs:
        raise ConfigError(f"finished_by must be one of the outputs {list(outputs)}, got {finished_by!r}")
    folder = check_writable_dir(name, path, outputs)
    if not folder.is_dir():
        return folder
    own = {*outputs, *resumable}
    others = sorted(
        p.name + ("/" if p.is_dir() else "")
        for p in folder.iterdir()
        if p.name not in own and not is_temporary(p.name, own)
    )
    if others:
        shown = ", ".join(others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")
        raise ConfigError(
            f"{name} {str(path)!r} holds files that are not part of a {what} ({shown}); give an empty or new folder"
        )
    whole = finished_by is None or (folder / finished_by).exists()
    finished = [entry for entry in outputs if (folder / entry).exists()] if whole else []
    if finished and not overwrite:
        raise ConfigError(
            f"{name} {str(path)!r} already holds a {what} ({', '.join(finished)}); pass {overwrite_flag} to "
            f"replace it, or give another {name}"
        )
    return folder


def is_temporary(entry: str, names: Collection[str]) -> bool:
    """Whether the file name ``entry`` is a temporary file of :func:`write_atomic` for one of ``names``.

    Example:
        >>> is_temporary(".config.json.k3j2x.tmp", ["config.json"]), is_temporary("config.json", ["config.json"])
        (True, False)
    """
    return entry.startswith(".") and entry.endswith(".tmp") and any(entry.startswith(f".{n}.") for n in names)


def remove_temporaries(folder: str | os.PathLike[str], names: Collection[str]) -> list[str]:
    """Deletes the temporary files :func:`write_atomic` left in ``folder`` for ``names`` (a run
    killed mid-write) and returns their names. Call it holding :func:`folder_lock`, so no other
    run is writing them.

    Example:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / ".a.json.x1y2.tmp").write_text("torn")
        >>> remove_temporaries(folder, ["a.json"]), list(folder.iterdir())
        (['.a.json.x1y2.tmp'], [])
    """
    where = Path(folder)
    if not where.is_dir():
        return []
    gone = sorted(p.name for p in where.iterdir() if is_temporary(p.name, names) and p.is_file())
    for entry in gone:
        (where / entry).unlink(missing_ok=True)
    return gone


def write_atomic(path: str | os.PathLike[str], data: str | bytes) -> Path:
    """Writes ``data`` to ``path`` through a temporary file in the same folder and a rename.

    A run killed while writing leaves the earlier file (or none), never a torn one; at most a
    temporary ``.<name>.<random>.tmp`` beside it (:func:`remove_temporaries`), and two runs never
    share one. Text is written as UTF-8.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Example:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> write_atomic(folder / "a.json", "{}").read_text()
        '{}'
    """
    target = Path(path)
    real = Path(os.path.realpath(target))  # through a symlink: the file it points to is replaced
    payload = data.encode("utf-8") if isinstance(data, str) else data
    keep = real.stat().st_mode & 0o7777 if real.exists() else None
    for _ in range(100):  # a fresh name; O_EXCL never opens another run's temporary
        tmp = real.parent / f".{real.name}.{secrets.token_hex(4)}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies, as to a new file
            break
        except FileExistsError:  # pragma: no cover - 2**32 names
            continue
    else:  # pragma: no cover
        raise FileExistsError(f"no free temporary name beside {str(real)!r}")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        if keep is not None:  # keep the mode of the file it replaces
            os.chmod(tmp, keep)
        os.replace(tmp, real)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return target


@contextlib.contextmanager
def folder_lock(name: str, folder: str | os.PathLike[str], what: str) -> Iterator[Path]:
    """Holds an exclusive lock on ``folder`` (created if missing) while a run writes into it.

    A second run on the same folder fails at once instead of mixing its files (or its training
    snapshot) with the first's. The lock is an advisory ``flock`` on the folder itself (no lock file
    is left in it), released when the block ends or the process dies; where ``fcntl`` is missing
    (Windows) nothing is locked. A folder the lock made is removed again when the run left it empty.

    Args:
        name: what named the folder (``"--out"``, ``"TrainConfig.out"``), for the message.
        folder: the output folder.
        what: the run, for the message (``"compile"``).

    Raises:
        ConfigError: another run holds the lock.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield Path(folder)
        return
    where = Path(folder)
    made = not where.exists()
    where.mkdir(parents=True, exist_ok=True)
    fd = os.open(where, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):  # no locks here (some network filesystems)
                log.warning("%s %s cannot be locked (%s): runs on it are not kept apart", name, folder, exc)
                yield where
                return
            raise ConfigError(
                f"{name} {str(folder)!r} is in use by another {what} run; wait for it to end or give another {name}"
            ) from None
        yield where
    finally:
        os.close(fd)  # closing releases the lock
        if made:  # a run that failed before writing leaves no empty folder of its own
            with contextlib.suppress(OSError):
                where.rmdir()  # only when empty
