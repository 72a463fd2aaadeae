"""Helpers shared by the benchmark scripts (demos, image tokens, held-out accuracy, report lines,
the fault-injecting loopback server).

The scripts import it as ``_common`` (they put their own folder on ``sys.path`` first), so each
script still runs as ``python benchmarks/<script>.py`` from any working folder.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict
from pathlib import Path
from typing import Any

__all__ = [
    "FAULT_SERVER",
    "Report",
    "at_least",
    "demo_images",
    "exact_match",
    "fault_server",
    "held_out",
    "held_out_accuracy",
    "image_size",
    "pct",
    "pick_demos",
    "prompt_tokens",
    "run_jobs",
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
        """Writes every line so far to ``path`` (markdown); nothing when ``path`` is ``None``."""
        if path:
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


def run_jobs(
    jobs: Sequence[Any], run: Callable[[Any], list[Any]], workers: int, json_out: str | None, t0: float
) -> list[Any]:
    """Runs every job (``run(job)`` returns a list of result dataclasses with ``task``, ``judge``
    and ``seed``), in this process or in ``workers`` processes, and returns all results in the
    order they finished.

    Each job's results are appended to ``json_out`` (one JSON object per line) as soon as they
    arrive, so a run stopped early keeps what it finished; a progress line goes to stderr.
    """
    results: list[Any] = []
    sink = open(json_out, "w", encoding="utf-8") if json_out else None
    done = 0

    def progress(found: list[Any]) -> None:
        nonlocal done
        done += 1
        results.extend(found)
        if sink is not None:
            sink.writelines(json.dumps(asdict(r)) + "\n" for r in found)
            sink.flush()
        first = found[0]
        print(
            f"[{time.perf_counter() - t0:7.1f} s] {done}/{len(jobs)} groups: "
            f"{first.task} {first.judge} seed {first.seed}",
            file=sys.stderr,
            flush=True,
        )

    try:
        if workers == 1:
            for job in jobs:
                progress(run(job))
        elif jobs:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                for future in as_completed([pool.submit(run, job) for job in jobs]):
                    progress(future.result())
    finally:
        if sink is not None:
            sink.close()
    return results


def read_json_lines(path: str) -> list[dict[str, Any]]:
    """The objects of a ``--json-out`` file, one JSON object per non-blank line (what :func:`run_jobs` writes);
    a name ending in ``.gz`` is read through gzip (the results kept in ``benchmarks/results/``)."""
    import gzip

    with gzip.open(path, "rt", encoding="utf-8") if path.endswith(".gz") else open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


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
