"""Helpers shared by the benchmark scripts (demos, image tokens, held-out accuracy, report lines,
jobs run and kept in ``--json-out`` files, output checks, the fault-injecting loopback server).

The scripts import it as ``_common`` (they put their own folder on ``sys.path`` first), so each
script still runs as ``python benchmarks/<script>.py`` from any working folder. The format of the
``--json-out`` files lives in ``_json_out.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict
from pathlib import Path
from typing import Any

from _json_out import JsonOut, as_key, partial_note, read_json_lines

__all__ = [
    "add_json_out_arguments",
    "FAULT_SERVER",
    "JsonOut",
    "Report",
    "Stopped",
    "at_least",
    "check_outputs",
    "demo_images",
    "exact_match",
    "fault_server",
    "group_key",
    "held_out",
    "held_out_accuracy",
    "image_size",
    "partial_note",
    "pct",
    "pick_demos",
    "prompt_tokens",
    "read_json_lines",
    "run_jobs",
    "stopped",
    "table",
]

#: The tests' fault-injecting OpenAI-compatible server (a loopback process wrapping the real nearest scorer).
FAULT_SERVER = Path(__file__).resolve().parents[1] / "tests" / "faults" / "fault_server.py"


def exact_match(example: Any, pred: Any, trace: Any = None) -> float:
    """1.0 when the predicted label equals the example's label."""
    return float(getattr(pred, "label", None) == example.label)


def pick_demos(task: Any, k: int, order: str = "round-robin", seed: int = 0) -> list[Any]:
    """The first ``k`` trainset examples of every class.

    ``order="round-robin"`` lists one demo of each class, then the next one of each class, ...;
    ``order="shuffled"`` shuffles them with ``random.Random(seed)``.
    """
    per_class = [[ex for ex in task.trainset if ex.label == label][:k] for label in task.labels]
    if any(len(p) < k for p in per_class):
        raise SystemExit(f"{task.name}: the trainset has fewer than {k} examples of some class; raise --n-train")
    demos = [per_class[c][i] for i in range(k) for c in range(len(per_class))]
    if order == "shuffled":
        random.Random(seed).shuffle(demos)
    return demos


def demo_images(program: Any) -> list[Any]:
    """Every ``dspy.Image`` inside the demos of every predictor of ``program``, in order."""
    import dspy

    out: list[Any] = []
    for _, pred in program.named_predictors():
        for demo in pred.demos:
            values = demo.values() if hasattr(demo, "values") else dict(demo).values()
            for value in values:
                items = value if isinstance(value, (list, tuple)) else [value]
                out.extend(v for v in items if isinstance(v, dspy.Image))
    return out


def image_size(image: Any) -> tuple[int, int]:
    """``(width, height)`` of the image a demo sends (SpectralImages know it; others are decoded)."""
    size = getattr(image, "render_size", None)
    if size is not None:
        return int(size[0]), int(size[1])
    from specprompt.io import load_image

    with load_image(image) as pil:
        return int(pil.size[0]), int(pil.size[1])


def prompt_tokens(program: Any, cost_model: str) -> int:
    """Image tokens of all demo images of one prompt of ``program`` under ``cost_model``."""
    from specprompt.cost import image_tokens

    return sum(
        image_tokens(cost_model, *image_size(img), detail=getattr(img, "detail", None) or "auto")
        for img in demo_images(program)
    )


def held_out(program: Any, testset: Sequence[Any], threads: int) -> tuple[float, list[float]]:
    """Mean exact-match accuracy of ``program`` on ``testset`` (0..1, as DSPy's Evaluate rounds it)
    and the score of every example, in ``testset`` order."""
    import dspy

    evaluate = dspy.Evaluate(
        devset=list(testset), metric=exact_match, num_threads=threads, display_progress=False, provide_traceback=False
    )
    result = evaluate(program)
    return float(result.score) / 100.0, [float(score) for *_, score in result.results]


def held_out_accuracy(program: Any, testset: Sequence[Any], threads: int) -> float:
    """Mean exact-match accuracy of ``program`` on ``testset`` (0..1)."""
    return held_out(program, testset, threads)[0]


class Report:
    """Collects markdown lines, printing each as it comes."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, *lines: str) -> None:
        for line in lines:
            print(line, flush=True)
            self.lines.append(line)

    def head(self, what: str, settings: Any) -> None:
        """Adds the two lines a report starts with: the machine and library versions followed by
        ``what`` ran (judges or LM, adapter, metric), then the ``settings`` dataclass as sorted JSON."""
        import dspy
        import optuna

        self.add(
            f"machine: {os.cpu_count()} CPUs, python {platform.python_version()}, dspy {dspy.__version__}, "
            f"optuna {optuna.__version__}; {what}",
            "settings: " + json.dumps(asdict(settings), sort_keys=True),
        )

    def write(self, path: str | None) -> None:
        """Writes every line so far to ``path`` (markdown; its folder is created); nothing when ``path`` is ``None``."""
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            with open(path, "w", encoding="utf-8") as fh:
                fh.write("\n".join(self.lines) + "\n")


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines.extend("| " + " | ".join(r) + " |" for r in rows)
    return lines


def pct(x: float | None) -> str:
    """``0.5`` -> ``"50.0%"``; ``None`` -> ``"-"``."""
    return "-" if x is None else f"{100 * x:.1f}%"


def at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"want an integer >= {minimum}, got {text!r}")
        return value

    return parse


def group_key(job: Sequence[Any]) -> tuple[Any, ...]:
    """The group key of a job of the scripts here: its first three items (task, judge, seed)."""
    return tuple(job[:3])


class Stopped(KeyboardInterrupt):
    """Ctrl-C during :func:`run_jobs`; its message says what the ``--json-out`` file kept."""


def stopped(exc: KeyboardInterrupt) -> int:
    """Prints the one line of a run stopped by Ctrl-C (what :class:`Stopped` says) on stderr; returns 130."""
    print(str(exc) if isinstance(exc, Stopped) else "stopped", file=sys.stderr, flush=True)
    return 130


#: seconds between looks at the Ctrl-C flag of :func:`_run_pool`
_POLL_S = 0.2


def _ignore_sigint() -> None:
    """Worker initializer: Ctrl-C reaches the whole process group; the parent alone handles it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def run_jobs(
    jobs: Sequence[Any],
    run: Callable[[Any], list[Any]],
    workers: int,
    json_out: JsonOut | None,
    t0: float,
    *,
    load: Callable[[dict[str, Any]], Any],
    key: Callable[[Any], Sequence[Any]] = group_key,
) -> list[Any]:
    """Runs every job (``run(job)`` returns a list of result dataclasses, one group), in this
    process or in ``workers`` processes, and returns all results: those an earlier run kept in
    ``json_out``, then the new ones in the order they finished.

    Each group's results are appended to ``json_out`` (see :mod:`_json_out`) as soon as they arrive,
    so a run stopped early keeps what it finished; a progress line goes to stderr. When the file
    already holds finished groups of a run with the same settings, the jobs of those groups
    (``key(job)``: task, judge, seed) are skipped and their results read back with ``load``.

    Raises:
        ConfigError: ``json_out`` holds results of another run (and no ``overwrite``).
        Stopped: Ctrl-C; the workers are stopped and the file keeps every finished group.
    """
    keys = [as_key(key(job)) for job in jobs]
    twice = sorted({k for k in keys if keys.count(k) > 1}, key=str)
    if twice:  # a name given twice (--tasks a a): each group runs once
        shown = ", ".join(" ".join(map(str, k)) for k in twice)
        print(f"given more than once, run once: {shown}", file=sys.stderr, flush=True)
        first = {k: i for i, k in reversed(list(enumerate(keys)))}
        jobs = [job for i, job in enumerate(jobs) if first[keys[i]] == i]
        keys = [k for i, k in enumerate(keys) if first[k] == i]
    sink, saved = json_out.open(len(jobs)) if json_out else (None, None)
    done = {k: saved.done[k] for k in keys if k in saved.done} if saved else {}
    results = [load(data) for found in (saved.done.values() if saved else ()) for data in found]
    if saved and json_out:
        dropped = f"; {saved.unfinished} results of an unfinished group dropped" if saved.unfinished else ""
        print(
            f"{json_out.path}: reused {len(done)} of {len(jobs)} groups finished by an earlier run{dropped}",
            file=sys.stderr,
            flush=True,
        )
    finished = len(done)

    def progress(job_key: tuple[Any, ...], found: list[Any]) -> None:
        nonlocal finished
        finished += 1
        results.extend(found)
        if sink is not None and json_out is not None:
            sink.write(json_out.group_text(job_key, found))  # one write: a group is kept whole or not at all
            sink.flush()
        what = (
            f"{found[0].task} {found[0].judge} seed {found[0].seed}"
            if found and all(hasattr(found[0], name) for name in ("task", "judge", "seed"))
            else " ".join(map(str, job_key))
        )
        print(f"[{time.perf_counter() - t0:7.1f} s] {finished}/{len(jobs)} groups: {what}", file=sys.stderr, flush=True)

    todo = [(job, k) for job, k in zip(jobs, keys, strict=True) if k not in done]
    try:
        if workers == 1:
            for job, k in todo:
                progress(k, run(job))
        elif todo:
            _run_pool(todo, run, workers, progress)
    except KeyboardInterrupt:
        where = (
            f"{finished} of {len(jobs)} groups kept in {json_out.path}; the same command resumes"
            if json_out
            else "nothing kept (no --json-out)"
        )
        raise Stopped(f"stopped: {where}") from None
    finally:
        if sink is not None:
            sink.close()
    return results


def _run_pool(
    todo: Sequence[tuple[Any, tuple[Any, ...]]],
    run: Callable[[Any], list[Any]],
    workers: int,
    progress: Callable[[tuple[Any, ...], list[Any]], None],
) -> None:
    """Runs ``todo`` in ``workers`` processes; on any exception (Ctrl-C too) the queued jobs are
    cancelled and the running ones stopped before it propagates.

    Ctrl-C only sets a flag (in the main thread; elsewhere the default handling stays), read
    between waits of at most :data:`_POLL_S`: a ``KeyboardInterrupt`` raised inside
    ``concurrent.futures``' waiting could leave a future's lock held, and the shutdown that cancels
    the queued jobs would then wait on it for ever.
    """
    stop: list[int] = []
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, lambda signum, frame: stop.append(signum)) if main else None
    pool = ProcessPoolExecutor(max_workers=workers, initializer=_ignore_sigint)
    try:
        futures = {pool.submit(run, job): k for job, k in todo}
        order = {future: i for i, future in enumerate(futures)}
        pending = set(futures)
        while pending and not stop:
            done, pending = wait(pending, timeout=_POLL_S, return_when=FIRST_COMPLETED)
            for future in sorted(done, key=order.__getitem__):  # finished groups are kept, Ctrl-C or not
                progress(futures[future], future.result())
        if stop:
            raise KeyboardInterrupt
    except BaseException:
        running = list((getattr(pool, "_processes", None) or {}).values())  # no public handle before 3.14
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in running:
            proc.terminate()
        for proc in running:
            proc.join(timeout=10)
        raise
    finally:
        if main:  # a handler set outside Python reads as None: Python's own then
            signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)
    pool.shutdown()


def add_json_out_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    """``--json-out FILE`` (``what``: its help, e.g. "write every cell's numbers here") and
    ``--overwrite``, as every script that resumes its results takes them."""
    parser.add_argument("--json-out", metavar="FILE", help=f"{what}; a rerun of the same command resumes it")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="start --json-out afresh when it holds another run's results (one of this run is resumed)",
    )


def check_outputs(
    parser: argparse.ArgumentParser, files: Mapping[str, str | None], json_out: JsonOut | None = None
) -> None:
    """Ends the script as argparse does (usage and message on stderr, status 2) when an output file
    cannot be written or ``json_out`` holds results it must not resume: before any work.

    Args:
        parser: the script's parser (for the usage line).
        files: flag -> path (``None``: not given), e.g. ``{"--markdown-out": a.markdown_out}``.
        json_out: the ``--json-out`` file, checked as a file and by :meth:`JsonOut.saved`.
    """
    from specprompt._outputs import check_writable_file  # the package's check, shared with its CLI
    from specprompt.errors import ConfigError

    try:
        for name, path in files.items():
            if path:
                check_writable_file(name, path)
        if json_out is not None:
            check_writable_file("--json-out", json_out.path)
            json_out.saved()
    except ConfigError as exc:
        parser.error(str(exc))


@contextlib.contextmanager
def fault_server(*args: str) -> Iterator[str]:
    """Runs :data:`FAULT_SERVER` with ``args`` on a free loopback port (it prints the port once it
    listens); yields its root URL ``http://127.0.0.1:<port>`` (``/v1``, ``/control``, ``/stats``)
    and stops the process on exit. A server that does not start ends the script (``SystemExit``).
    """
    proc = subprocess.Popen(
        [sys.executable, str(FAULT_SERVER), *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        proc.kill()
        raise SystemExit(f"the fault server did not start: {line!r}")
    try:
        yield f"http://127.0.0.1:{int(line.split()[1])}"
    finally:
        proc.stdout.close()
        proc.terminate()
        proc.wait(timeout=20)
