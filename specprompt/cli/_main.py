"""Entry point: ``specprompt <command> ...``; each command lives in its own module."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TextIO

from specprompt.errors import SpecPromptError, SpecPromptWarning

__all__ = ["build_parser", "main", "one_line_warnings"]


@contextmanager
def one_line_warnings(stream: TextIO | None = None) -> Iterator[None]:
    """Prints each :class:`~specprompt.errors.SpecPromptWarning` as ``specprompt: warning: ...``.

    Python's default shows the file and line that warned and the source line (for the CLI, the
    console script's ``sys.exit(main())``); a CLI user needs only the message. Other warnings keep
    Python's format. The previous ``warnings.showwarning`` is restored on exit.

    Args:
        stream: where to write (default: ``sys.stderr`` at the time of the warning).
    """
    previous = warnings.showwarning

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        if not issubclass(category, SpecPromptWarning):
            previous(message, category, filename, lineno, file, line)
            return
        text = " ".join(str(message).split())
        (stream or file or sys.stderr).write(f"specprompt: warning: {text}\n")

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = previous


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command registered."""
    from specprompt import __version__
    from specprompt.cli import _calibrate, _compile, _demo, _finetune, _inspect, _serve, _train

    parser = argparse.ArgumentParser(
        prog="specprompt",
        description="Cheap few-shot image demos for DSPy programs: keep the frequency bands each demo needs.",
    )
    parser.add_argument("--version", action="version", version=f"specprompt {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-v info, -vv debug)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _demo.add_parser(sub)
    _compile.add_parser(sub)
    _calibrate.add_parser(sub)
    _inspect.add_parser(sub)
    _serve.add_parser(sub)
    _train.add_train_parser(sub)
    _finetune.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the CLI; returns the process exit code (2 for a bad input, with a one-line message)."""
    with one_line_warnings():
        args = build_parser().parse_args(argv)
        args.argv = list(sys.argv[1:] if argv is None else argv)  # compile --workers restarts it
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.run(args) or 0)
    except SpecPromptError as exc:
        sys.stderr.write(getattr(exc, "user_traceback", ""))  # the user's own frames (cli._user_code)
        print(f"specprompt {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"specprompt {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader left (``specprompt demo | head``): stop quietly, as Unix tools do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # Python's exit flush would raise again
        return 141


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
