"""``specprompt compile --workers N``: N local processes run the trials of one study on PostgreSQL.

The command starts ``N - 1`` copies of itself (``--workers 1 --worker-index i --search-only``,
``i`` from ``--worker-index + 1``), runs worker ``--worker-index`` itself and waits for them. Each
worker samples from a stream of its own (:func:`specprompt.search.worker_seed`); the study's
claims make the workers finish exactly ``--trials`` trials and score no prompt twice
(:mod:`specprompt.search._workers`). Without ``--search-only`` the command then scores the
finalists and writes the program; with it, it only runs trials (the other machines of a
multi-machine run).
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

from specprompt.errors import ConfigError

__all__ = ["add_arguments", "check_workers", "start_workers", "stop_workers"]

log = logging.getLogger("specprompt.cli.compile")


def add_arguments(p: Any, positive_int: Any, non_negative_int: Any) -> None:
    """Registers ``--workers``, ``--worker-index`` and ``--search-only`` on ``compile``'s parser."""
    g = p.add_argument_group("several processes on one study (needs --storage postgresql+psycopg2://...)")
    g.add_argument(
        "--workers",
        type=positive_int,
        default=1,
        help="worker processes on this machine running trials of the study at once, each with its own "
        "sampler stream (default: %(default)s)",
    )
    g.add_argument(
        "--worker-index",
        type=non_negative_int,
        default=0,
        help="index of this command's first worker among every process sharing the study; on a second "
        "machine, the next free one, e.g. 4 when the first machine runs --workers 4 (default: %(default)s)",
    )
    g.add_argument(
        "--search-only",
        action="store_true",
        help="only run trials, write no program: for every machine but the one that writes the program",
    )


def check_workers(args: argparse.Namespace) -> None:
    """Refuses several workers on a storage that only one process may write.

    Raises:
        ConfigError: ``--workers`` > 1, ``--worker-index`` > 0 or ``--search-only`` without a
            PostgreSQL (or MySQL) ``--storage``.
    """
    from specprompt.search import shared_url

    several = args.workers > 1 or args.worker_index > 0 or args.search_only
    if several and shared_url(args.storage) is None:
        given = (
            "no --storage (SQLite in --out)"
            if args.storage is None
            else f"--storage {args.storage}" + ("" if "://" in args.storage else " (a journal file)")
        )
        flag = (
            f"--workers {args.workers}"
            if args.workers > 1
            else ("--search-only" if args.search_only else f"--worker-index {args.worker_index}")
        )
        raise ConfigError(
            f"{flag} needs --storage with a database several processes can write at once, e.g. "
            f"postgresql+psycopg2://user@host:5432/db; got {given} (the workers claim trials in a database "
            "table: SQLite does not take concurrent writers, a journal file has no tables)"
        )


def start_workers(args: argparse.Namespace) -> list[tuple[int, subprocess.Popen[bytes]]]:
    """Starts workers ``--worker-index + 1`` .. ``--worker-index + --workers - 1`` as copies of this command."""
    argv: Sequence[str] = getattr(args, "argv", None) or sys.argv[1:]
    procs = []
    for index in range(args.worker_index + 1, args.worker_index + args.workers):
        cmd = [sys.executable, "-m", "specprompt", *argv]
        cmd += ["--workers", "1", "--worker-index", str(index), "--search-only", "--no-progress"]
        procs.append((index, subprocess.Popen(cmd, stdout=subprocess.DEVNULL)))
    if procs:
        log.info("started workers %s", ", ".join(str(i) for i, _ in procs))
    return procs


def stop_workers(procs: Sequence[tuple[int, subprocess.Popen[bytes]]], *, ok: bool) -> list[str]:
    """Waits for the workers (ends them first when this process failed); one line per worker that failed."""
    if not ok:
        for _, proc in procs:
            if proc.poll() is None:
                proc.terminate()
    failed = []
    for index, proc in procs:
        code = proc.wait()
        if code != 0 and ok:
            failed.append(f"worker {index} exited with code {code} (its trials were run by the others)")
    return failed
