"""The ``--json-out`` files of the benchmark scripts: what :func:`_common.run_jobs` keeps as groups finish.

One JSON object per line. A file starts with a line naming its run, and after the results of each
group of jobs comes a line naming the finished group::

    {"_run": {"script": "bench_realphoto.py", "commit": "<git HEAD>", "settings": {...}, "groups": 8}}
    {"task": "photo-tint", "judge": "hist-hog", "seed": 0, ...}     one line per result of the group
    {"_done": ["photo-tint", "hist-hog", 0]}                         the group's key

Results after the last ``_done`` line belong to a group that did not finish (a run stopped while
writing); a rerun runs that group again. Files written before these lines existed (those in
``benchmarks/results/``) hold result lines only: they read as before, but a run does not resume them.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import IO, Any

__all__ = [
    "DONE_KEY",
    "FREE_SETTINGS",
    "RUN_KEY",
    "JsonOut",
    "Saved",
    "as_key",
    "partial_note",
    "read_json_lines",
    "read_saved",
]

#: Key of the first line of a file: the run that wrote it (script, commit, settings, planned groups).
RUN_KEY = "_run"
#: Key of the line that closes a finished group: the group's key, as a JSON list.
DONE_KEY = "_done"
#: Settings that change how fast a run goes, not its results: a rerun may change them.
FREE_SETTINGS = ("workers",)


_warned: set[tuple[str, int]] = set()


def _lines(path: str) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """``(line number, raw line, object)`` of every non-blank line of ``path`` (``.gz``: through gzip).

    A torn last line (not JSON, no newline at its end: a run killed while writing it) is dropped
    with a warning on stderr; any other line that is not a JSON object raises ``ValueError``
    naming the file and the line.
    """
    opened = gzip.open(path, "rt", encoding="utf-8") if path.endswith(".gz") else open(path, encoding="utf-8")
    with opened as fh:
        pending: tuple[int, str] | None = None
        for number, line in enumerate(fh, 1):
            if pending is not None:
                yield _parse(path, *pending)
                pending = None
            if line.strip():
                pending = (number, line)
        if pending is None:
            return
        number, line = pending
        if not line.endswith("\n") and line.lstrip().startswith("{"):
            try:
                json.loads(line)
            except ValueError:
                if (path, number) not in _warned:  # once, though a run reads its file twice
                    _warned.add((path, number))
                    print(
                        f"warning: {path}: line {number} is torn (a run stopped while writing it); dropped",
                        file=sys.stderr,
                        flush=True,
                    )
                return
        yield _parse(path, number, line)


def _parse(path: str, number: int, line: str) -> tuple[int, str, dict[str, Any]]:
    try:
        data = json.loads(line)
    except ValueError as exc:
        raise ValueError(f"{path}: line {number} is not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: line {number} is not a JSON object")
    return number, line.rstrip("\n"), data


def _is_result(data: Mapping[str, Any]) -> bool:
    return RUN_KEY not in data and DONE_KEY not in data


def read_json_lines(path: str) -> list[dict[str, Any]]:
    """The results of a ``--json-out`` file, one JSON object per non-blank line (what
    :func:`_common.run_jobs` writes), without its run and group lines; a name ending in ``.gz`` is
    read through gzip (the results kept in ``benchmarks/results/``).

    A torn last line (a run killed while writing it) is dropped with a warning on stderr.

    Raises:
        ValueError: naming the file and the line, for any other line that is not a JSON object.
    """
    return [data for _, _, data in _lines(path) if _is_result(data)]


def as_key(values: Sequence[Any]) -> tuple[Any, ...]:
    """A group key as it reads back from a file: JSON values (flat: strings, numbers), as a tuple."""
    return tuple(json.loads(json.dumps(list(values))))


@dataclass
class Saved:
    """What a ``--json-out`` file holds.

    Attributes:
        run: its first line's run (``None``: a file without one, written before they existed).
        done: finished group key -> its results, in file order.
        unfinished: results after the last finished group (a group that did not finish).
        lines: the raw lines to keep when resuming: the run line, the finished groups' results and
            their ``_done`` lines.
    """

    run: dict[str, Any] | None
    done: dict[tuple[Any, ...], list[dict[str, Any]]] = field(default_factory=dict)
    unfinished: int = 0
    lines: list[str] = field(default_factory=list)

    @property
    def results(self) -> int:
        """Results of the finished groups."""
        return sum(len(found) for found in self.done.values())


def read_saved(path: str) -> Saved:
    """The run, finished groups and unfinished results of the ``--json-out`` file ``path``.

    Raises:
        ValueError: a line that is not a JSON object (but a torn last one), or a run line that is not the first.
    """
    saved = Saved(run=None)
    pending: list[tuple[str, dict[str, Any]]] = []
    for number, line, data in _lines(path):
        if RUN_KEY in data:
            if saved.run is not None or saved.lines or pending:
                raise ValueError(f"{path}: line {number} names a run, but only the first line may")
            saved.run = data[RUN_KEY]
            saved.lines.append(line)
        elif DONE_KEY in data:
            if saved.run is None:
                raise ValueError(f"{path}: line {number} closes a group, but no run line starts the file")
            saved.done[as_key(data[DONE_KEY])] = [found for _, found in pending]
            saved.lines.extend([*(raw for raw, _ in pending), line])
            pending = []
        else:
            pending.append((line, data))
    if saved.run is None:  # an old file: results only, none of them in a group
        saved.lines = [raw for raw, _ in pending]
    else:
        saved.unfinished = len(pending)
    return saved


def partial_note(path: str) -> str | None:
    """A report line for a ``--json-out`` file whose run did not finish every group (``None`` for a
    finished run and for files without a run line)."""
    saved = read_saved(path)
    planned = (saved.run or {}).get("groups")
    if not isinstance(planned, int) or len(saved.done) >= planned:
        return None
    return f"{path}: a partial run, {len(saved.done)} of {planned} groups finished (its command resumes it)"


def _commit() -> str | None:
    """The git ``HEAD`` of the code the benchmarks run (``None`` outside a git checkout)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _jsonable(settings: Any) -> dict[str, Any]:
    data = asdict(settings) if is_dataclass(settings) and not isinstance(settings, type) else dict(settings)
    return {k: v for k, v in json.loads(json.dumps(data)).items() if k not in FREE_SETTINGS}


@dataclass(frozen=True)
class JsonOut:
    """A ``--json-out`` file and the run whose results it keeps.

    A run resumes a file written by the same script, commit (git ``HEAD``; uncommitted changes
    are not seen) and settings (but :data:`FREE_SETTINGS`): it keeps the finished groups and runs
    the others. Any other file with results is refused unless ``overwrite`` (then it starts afresh);
    ``overwrite`` never empties a file of the same run, so the same command always resumes.

    Attributes:
        path: the file.
        script: the script's file name (``bench_realphoto.py``).
        settings: what its results depend on, as JSON values.
        commit: git ``HEAD`` of the code.
        overwrite: start the file afresh when it holds another run's results (``--overwrite``).
    """

    path: str
    script: str
    settings: dict[str, Any]
    commit: str | None
    overwrite: bool = False

    @classmethod
    def of(cls, path: str | None, script: str, settings: Any, overwrite: bool = False) -> JsonOut | None:
        """The ``--json-out`` of ``script`` (a path; its file name is kept), ``None`` without ``path``.

        ``settings`` is a dataclass or a mapping; :data:`FREE_SETTINGS` are left out.
        """
        if not path:
            return None
        return cls(path, Path(script).name, _jsonable(settings), _commit(), overwrite)

    def run_line(self, groups: int) -> dict[str, Any]:
        return {RUN_KEY: {"script": self.script, "commit": self.commit, "settings": self.settings, "groups": groups}}

    def saved(self) -> Saved | None:
        """What an earlier run of the same settings left in the file, to resume (even with
        ``overwrite``); ``None`` when the run starts the file afresh: missing, holding no result,
        or holding another run's results and ``overwrite``.

        Raises:
            ConfigError: without ``overwrite``, naming the file and why it is not resumed: results
                of another script, commit or settings (the differing ones named), results without a
                run line (an older file), or a file that is not a ``--json-out`` file.
        """
        from specprompt.errors import ConfigError

        if not os.path.isfile(self.path):
            return None
        try:
            saved = read_saved(self.path)
        except (ValueError, OSError, EOFError) as exc:
            problem = f"is not a --json-out file: {exc}"
        else:
            if not saved.done and not saved.unfinished and (saved.run is not None or not saved.lines):
                return None  # no result to keep
            if saved.run is None:
                problem = "holds results without the settings of their run (an older file)"
            else:
                differ = self._differences(saved.run)
                if not differ:
                    return saved
                problem = f"holds a run with other settings ({differ})"
        if self.overwrite:
            return None
        raise ConfigError(
            f"--json-out {self.path!r} {problem}; pass --overwrite to start it afresh, or give another --json-out"
        )

    def _differences(self, run: Mapping[str, Any]) -> str:
        parts = []
        for name, mine in (("script", self.script), ("commit", self.commit)):
            if run.get(name) != mine:
                parts.append(f"{name} {mine} here, {run.get(name)} there")
        theirs = run.get("settings") or {}
        for name in sorted({*self.settings, *theirs}):
            if name not in FREE_SETTINGS and self.settings.get(name) != theirs.get(name):
                parts.append(f"{name} {json.dumps(self.settings.get(name))} here, {json.dumps(theirs.get(name))} there")
        return "; ".join(parts)

    def open(self, groups: int) -> tuple[IO[str], Saved | None]:
        """The file, open for appending finished groups, and what it kept of an earlier run (see
        :meth:`saved`). A new file gets its run line; a resumed one loses a torn last line and the
        results of a group that did not finish (rewritten through a temporary file)."""
        from specprompt._outputs import write_atomic

        saved = self.saved()
        if saved is None:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            sink = open(self.path, "w", encoding="utf-8")  # the caller closes it
            sink.write(json.dumps(self.run_line(groups)) + "\n")
            sink.flush()
            return sink, None
        with open(self.path, "rb") as fh:
            whole = fh.read()
        text = "".join(line + "\n" for line in saved.lines)
        if whole != text.encode("utf-8"):
            write_atomic(self.path, text)
        return open(self.path, "a", encoding="utf-8"), saved

    def group_text(self, key: Sequence[Any], results: Sequence[Any]) -> str:
        """The lines of one finished group: its results (dataclasses) and the line that closes it."""
        lines = [json.dumps(asdict(r)) for r in results]
        lines.append(json.dumps({DONE_KEY: list(key)}))
        return "".join(line + "\n" for line in lines)
