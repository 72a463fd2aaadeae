"""Checks of what enters a report: the search data of :func:`~specprompt.reports.report_data` and
the path :meth:`~specprompt.reports.CompileReport.save` writes to.

The data is checked once, where it enters, so a malformed ``pareto.json`` fails with the key that
is wrong, not with a ``KeyError`` deep inside the HTML code.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from specprompt.errors import ConfigError

__all__ = ["REPORT_HEAD", "check_report_data", "check_report_path"]

#: How every page of :meth:`~specprompt.reports.CompileReport.html` starts (the title follows).
REPORT_HEAD = '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>'
#: What follows the title of such a page.
_REPORT_BODY = '</title></head><body><div class="spr"><style>'
#: How much of an existing file is read to recognise a report.
_SNIFF_BYTES = 64 * 1024


def check_report_data(data: Mapping[str, Any]) -> None:
    """Refuses search data that a report cannot show.

    Expected: ``config`` a mapping (its ``token_budget`` a number >= 0 or ``None``); ``front`` a
    list of rows, each a mapping with an int ``trial``, a finite number ``score`` and an int
    ``tokens`` >= 0 (``selections``, if present, a mapping);
    ``best`` such a row, or ``None`` when nothing was scored (an empty ``front``); ``trials`` (if
    present) a list of mappings with an int ``number``, a finite ``score`` and ``tokens``;
    ``baselines`` (if present) ``None`` or a mapping of name -> mapping whose ``score`` and
    ``tokens`` are numbers or ``None``; ``interval`` and ``test_interval`` (if present) ``None``
    or ``[low, high]`` finite numbers with ``low <= high``; ``interval_n`` and ``test_n`` (if
    present) ``None`` or an int >= 1; ``interval_method`` and ``test_interval_method`` (if
    present) ``None``, ``"wilson"`` or ``"bootstrap"``; ``run`` (if present) a mapping.

    Raises:
        ConfigError: naming the first key that is missing or has a bad value.
    """
    config = _mapping("'config'", data.get("config"))
    if config.get("token_budget") is not None:
        _finite("config", "token_budget", config)
        if config["token_budget"] < 0:
            raise ConfigError(f"search result config['token_budget'] must be >= 0, got {config['token_budget']!r}")
    front = data["front"]
    if not isinstance(front, list):
        raise ConfigError(f"search result 'front' must be a list of rows, got {_shown(front)}")
    for i, row in enumerate(front):
        _row(f"front[{i}]", row)
    best = data["best"]
    if best is None:
        if front:
            raise ConfigError("search result 'best' is None, but 'front' has rows; 'best' must be the chosen row")
    else:
        _row("best", best)
    trials = data.get("trials")
    if trials is not None:
        if not isinstance(trials, list):
            raise ConfigError(f"search result 'trials' must be a list, got {_shown(trials)}")
        for i, t in enumerate(trials):
            where = f"trials[{i}]"
            t = _mapping(where, t)
            _int(where, "number", t)
            _finite(where, "score", t)
            _tokens(where, t)
    baselines = data.get("baselines")
    if baselines is not None:
        if not isinstance(baselines, Mapping):
            raise ConfigError(
                f"search result 'baselines' must be a mapping of name -> baseline, got {_shown(baselines)}"
            )
        for name, b in baselines.items():
            where = f"baselines[{name!r}]"
            b = _mapping(where, b)
            if b.get("score") is not None:
                _finite(where, "score", b)
            if b.get("tokens") is not None:
                _tokens(where, b)
    for key in ("interval", "test_interval"):
        _interval(key, data.get(key))
    for key in ("interval_n", "test_n"):
        n = data.get(key)
        if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 1):
            raise ConfigError(f"search result {key!r} must be an int >= 1 or None, got {_shown(n)}")
    for key in ("interval_method", "test_interval_method"):
        if data.get(key) not in (None, "wilson", "bootstrap"):
            raise ConfigError(f"search result {key!r} must be 'wilson', 'bootstrap' or None, got {_shown(data[key])}")
    run = data.get("run")
    if run is not None and not isinstance(run, Mapping):
        raise ConfigError(f"search result 'run' must be a mapping, got {_shown(run)}")


def _interval(key: str, value: object) -> None:
    if value is None:
        return
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)
        or value[0] > value[1]
    ):
        raise ConfigError(f"search result {key!r} must be [low, high] finite numbers or None, got {_shown(value)}")


def _row(where: str, value: object) -> None:
    row = _mapping(where, value)
    _int(where, "trial", row)
    _finite(where, "score", row)
    _tokens(where, row)
    if row.get("selections") is not None and not isinstance(row["selections"], Mapping):
        raise ConfigError(f"search result {where}['selections'] must be a mapping, got {_shown(row['selections'])}")


def _mapping(where: str, value: object) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"search result {where} must be a mapping, got {_shown(value)}")
    return value


def _int(where: str, key: str, row: Mapping[str, Any]) -> None:
    if key not in row:
        raise ConfigError(f"search result {where} lacks {key!r}")
    v = row[key]
    if not isinstance(v, int) or isinstance(v, bool):
        raise ConfigError(f"search result {where}[{key!r}] must be an int, got {v!r}")


def _finite(where: str, key: str, row: Mapping[str, Any]) -> None:
    if key not in row:
        raise ConfigError(f"search result {where} lacks {key!r}")
    v = row[key]
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
        raise ConfigError(f"search result {where}[{key!r}] must be a finite number, got {v!r}")


def _tokens(where: str, row: Mapping[str, Any]) -> None:
    _int(where, "tokens", row)
    if row["tokens"] < 0:
        raise ConfigError(f"search result {where}['tokens'] must be >= 0, got {row['tokens']!r}")


def _shown(value: object) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


def check_report_path(path: str | os.PathLike[str], name: str = "path") -> Path:
    """``path`` as a :class:`~pathlib.Path` a report may be written to; its missing folders are created.

    A report is a generated file, so an earlier report at ``path`` is replaced (as a compiler
    replaces its output); any other file is not, since it may be the user's.

    Args:
        path: the report's file.
        name: what named the path, for the messages (``"--out"``).

    Raises:
        ConfigError: ``path`` is not a path, is a folder, cannot be written (or its folder
            created), or is an existing non-empty file that is not a specprompt report.
    """
    from specprompt._outputs import check_writable_file

    if not isinstance(path, (str, os.PathLike)):
        raise ConfigError(f"{name} must be a file path, got {_shown(path)}")
    file = check_writable_file(name, path)
    if file.is_file() and file.stat().st_size > 0 and not _is_report(file):
        raise ConfigError(
            f"{name} {str(path)!r} holds a file that is not a specprompt report (only an earlier report is "
            "replaced): give a new path, or move that file away"
        )
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # pragma: no cover - check_writable_file found the folder writable
        raise ConfigError(f"{name} {str(path)!r}: cannot create its folder ({exc.strerror or exc})") from None
    return file


def _is_report(file: Path) -> bool:
    """Whether ``file`` starts as a page of :meth:`CompileReport.html` does."""
    try:
        with file.open("rb") as f:
            head = f.read(_SNIFF_BYTES)
    except OSError:
        return False
    return head.startswith(REPORT_HEAD.encode()) and _REPORT_BODY.encode() in head
