"""Would a demo that shows a window of its photo at full sharpness beat the photo resized? Crops vs Lanczos.

Usage::

    python benchmarks/probe_crops.py --task photo-texture --judges hist-hog lbp-dct --seeds 5 --first-seed 5

For one task, pricing and budget (a fraction of the tokens of the default demos at full resolution:
the first ``2`` trainset examples per class, as in ``bench_realphoto.py``), per judge and seed it
scores on the held-out test split the default demos at full resolution, every demo Lanczos-resized
to the budget (``bench_realphoto.lanczos_images``), and every demo replaced by one window of it
whose tokens fit an equal share of the budget: cut at the photo's own scale (``zoom 1``) or a larger
window resized by ``zoom`` (< 1) with Lanczos, placed at the centre or where the fine bands carry
most energy (``specprompt.search._crops.detail_box``). A window keeps the grain of the photo where
a resize coarsens it, and loses the rest of the photo: whether that is worth it is what the table
says. The search offers no such replacement today (``detail_crops`` only adds a crop to a list
field); this probe measures whether it should.
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

#: Window placements, in print order.
PLACES = ("centre", "detail")


def window_images(demos: list[Any], pricing: str, budget: int, place: str, zoom: float) -> list[Any] | None:
    """Every demo image replaced by its largest window (the image's aspect) that, resized by
    ``zoom``, fits ``budget / len(demos)`` tokens; ``None`` when not even one pixel does."""
    import dspy
    from PIL import Image

    from specprompt import decompose
    from specprompt.cost import image_tokens
    from specprompt.io import load_image
    from specprompt.search._crops import detail_box

    share = budget / len(demos)
    out = []
    for demo in demos:
        pil = load_image(demo.image).convert("RGB")
        w, h = pil.size
        for side in range(max(w, h), 0, -1):
            cw, ch = max(1, round(w * side / max(w, h))), max(1, round(h * side / max(w, h)))
            sent = max(1, round(cw * zoom)), max(1, round(ch * zoom))
            if image_tokens(pricing, *sent) <= share:
                break
        else:
            return None
        if place == "centre":
            top, left = (h - ch) // 2, (w - cw) // 2
        else:
            top, left, _, _ = detail_box(decompose(demo.image), cw / w)
        window = pil.crop((left, top, left + cw, top + ch))
        out.append(dspy.Image(window if window.size == sent else window.resize(sent, Image.Resampling.LANCZOS)))
    return out


def probe(task_name: str, judge: str, seed: int, a: argparse.Namespace) -> dict[str, Any]:
    """Test accuracy (0..1) of every method for one judge and seed."""
    import dspy
    from dspy.adapters import ChatAdapter

    from specprompt.scorers import pixel_lm
    from specprompt.tasks import get_task

    logging.getLogger("dspy").setLevel(logging.WARNING)
    dspy.configure(lm=pixel_lm(judge), adapter=ChatAdapter(), disable_history=True)
    task = get_task(task_name, n_train=a.n_train, n_val=1, n_test=a.n_test, size=TASKS[task_name][1], seed=seed)
    student = dspy.Predict(task.signature)
    demos = pick_demos(task, 2)
    student.demos = demos
    budget = math.floor(a.budget * prompt_tokens(student, a.pricing))
    out: dict[str, Any] = {"seed": seed, "budget": budget, "full": held_out_accuracy(student, task.testset, 1)}
    found = lanczos_images(demos, a.pricing, budget)
    assert found is not None
    out["lanczos"] = held_out_accuracy(with_images(student, demos, found[0]), task.testset, 1)
    for place in PLACES:
        for zoom in a.zooms:
            images = window_images(demos, a.pricing, budget, place, zoom)
            if images is None:
                continue
            program = with_images(student, demos, images)
            assert prompt_tokens(program, a.pricing) <= budget
            out[f"{place} x{zoom:g}"] = held_out_accuracy(program, task.testset, 1)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = probe_parser(__doc__, seeds=5, n_train=24, n_val=False)
    parser.add_argument("--budget", type=float, default=0.25, help="fraction of the full demos' tokens")
    parser.add_argument("--zooms", nargs="+", type=float, default=[1.0, 0.75], help="window resize factors")
    a = parser.parse_args(argv)
    if any(not 0 < z <= 1 for z in a.zooms):
        parser.error(f"--zooms must lie in (0, 1], got {a.zooms}")
    t0 = time.perf_counter()
    report = start_report(parser, a)
    methods = ["full", "lanczos", *(f"{p} x{z:g}" for p in PLACES for z in a.zooms)]
    rows = []
    for judge in a.judges:
        results = [probe(a.task, judge, seed, a) for seed in range(a.first_seed, a.first_seed + a.seeds)]
        append_rows(a.json_out, results, judge=judge)
        cells = []
        for m in methods:
            values = [r[m] for r in results if m in r]
            cells.append(f"{100 * statistics.fmean(values):.1f}" if len(values) == len(results) else "-")
        rows.append([judge, *cells])
    report.add("", *table(["judge", *methods], rows))
    report.add(
        "",
        f"{a.task}, {a.pricing}, budget {a.budget:g} of the full demos' tokens: test accuracy (%), mean over "
        f"{a.seeds} seeds ({a.n_test} test examples each); '-': a window does not fit; total wall time "
        f"{time.perf_counter() - t0:.1f} s",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
