"""Does sharpening the resized demos help a pixel-only judge? Uniform Lanczos with an unsharp mask.

Usage::

    python benchmarks/probe_sharpen.py --task photo-texture --budgets 0.1 0.25 0.5 --seeds 5 --first-seed 5

For one task and pricing, per judge, budget (a fraction of the tokens of the default demos at full
resolution: the first ``2`` trainset examples per class, as in ``bench_realphoto.py``) and seed, it
scores on the validation and the held-out test split the default demos at full resolution, every
demo Lanczos-resized to the budget (``bench_realphoto.lanczos_images``), and the same resized demos
sharpened with the library's unsharp mask (``specprompt.types._image.sharpened``: radius 1 pixel of
the sent image, threshold 0) at each percent of the search's ``sharpen`` dimension. Sharpening costs
no tokens; a judge enlarges a small demo to its working size, which softens it, and the mask
restores the contrast of the finest detail the resize kept. Whether that helps is task- and
judge-dependent, which is why the search chooses it with the scorer's valset scores; this probe
shows the effect of each level alone, without a search.
"""

from __future__ import annotations

import argparse
import logging
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import held_out_accuracy, pick_demos, prompt_tokens, table
from _probe import append_rows, probe_parser, start_report
from bench_realphoto import TASKS, lanczos_images, with_images


def probe(task_name: str, judge: str, budget_frac: float, seed: int, a: argparse.Namespace) -> dict[str, Any]:
    """Valset and test accuracy (0..1) of every method for one judge, budget and seed."""
    import dspy
    from dspy.adapters import ChatAdapter

    from specprompt.io import load_image
    from specprompt.scorers import pixel_lm
    from specprompt.search._context import SHARPEN_LEVELS
    from specprompt.tasks import get_task
    from specprompt.types._image import sharpened

    logging.getLogger("dspy").setLevel(logging.WARNING)
    dspy.configure(lm=pixel_lm(judge), adapter=ChatAdapter(), disable_history=True)
    task = get_task(task_name, n_train=a.n_train, n_val=a.n_val, n_test=a.n_test, size=TASKS[task_name][1], seed=seed)
    student = dspy.Predict(task.signature)
    demos = pick_demos(task, 2)
    student.demos = demos
    budget = math.floor(budget_frac * prompt_tokens(student, a.pricing))
    out: dict[str, Any] = {"judge": judge, "budget": budget_frac, "seed": seed, "tokens": budget}

    def both(name: str, program: Any) -> None:
        out[f"val {name}"] = held_out_accuracy(program, task.valset, 1)
        out[f"test {name}"] = held_out_accuracy(program, task.testset, 1)

    both("full", student)
    found = lanczos_images(demos, a.pricing, budget)
    if found is None:
        return out
    images = found[0]
    plain = with_images(student, demos, images)
    both("lanczos", plain)
    tokens = prompt_tokens(plain, a.pricing)
    for percent in SHARPEN_LEVELS[1:]:
        sharp = [dspy.Image(sharpened(load_image(im).convert("RGB"), percent)) for im in images]
        program = with_images(student, demos, sharp)
        assert prompt_tokens(program, a.pricing) == tokens  # sharpening changes pixels, not sizes
        both(f"sharpened {percent}%", program)
    return out


def main(argv: list[str] | None = None) -> int:
    from specprompt.search._context import SHARPEN_LEVELS

    parser = probe_parser(__doc__, seeds=5, n_train=8)
    parser.add_argument("--budgets", nargs="+", type=float, default=[0.1, 0.25, 0.5])
    a = parser.parse_args(argv)
    if any(not 0 < b < 1 for b in a.budgets):
        parser.error(f"--budgets must lie in (0, 1), got {a.budgets}")
    t0 = time.perf_counter()
    report = start_report(parser, a)
    methods = ["full", "lanczos", *(f"sharpened {p}%" for p in SHARPEN_LEVELS[1:])]
    rows = []
    for judge in a.judges:
        for budget in a.budgets:
            results = [probe(a.task, judge, budget, s, a) for s in range(a.first_seed, a.first_seed + a.seeds)]
            append_rows(a.json_out, results)
            for split in ("val", "test"):
                cells = []
                for m in methods:
                    values = [r[f"{split} {m}"] for r in results if f"{split} {m}" in r]
                    cells.append(f"{100 * statistics.fmean(values):.1f}" if len(values) == len(results) else "-")
                rows.append([judge, f"{100 * budget:g}%", split, *cells])
    report.add("", *table(["judge", "budget", "split", *methods], rows))
    report.add(
        "",
        f"{a.task}, {a.pricing}: accuracy (%), mean over {a.seeds} seeds ({a.n_val} validation, {a.n_test} test "
        f"examples each); '-': even 1 px images exceed the budget; total wall time {time.perf_counter() - t0:.1f} s",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
