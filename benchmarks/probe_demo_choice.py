"""How much can demo choice alone add under a token budget? Random demo sets, uniform Lanczos.

Usage::

    python benchmarks/probe_demo_choice.py --judges hist-hog --sets 12 --ks 1 2 3 4

For one task, judge, pricing and budget (a fraction of the tokens of the default demos at full
resolution: the first ``2`` trainset examples per class, as in ``bench_realphoto.py``), per seed it
draws ``--sets`` random demo sets of ``k`` examples per class from the trainset, resizes every set
with PIL Lanczos to the same absolute budget (``bench_realphoto.lanczos_images``) and measures each
on the valset and the held-out test split. It prints, per ``k``, the mean test accuracy over the
sets, the test accuracy of the set a search would pick (best valset score, ties to the first
drawn), the best test accuracy of any set (an oracle no search can reach), and the default demos
at full resolution and with Lanczos. Whether ``+5 points over Lanczos`` is reachable by choosing
demos at all is read off the ``val-best`` and ``oracle`` columns.

A second table forces "fewer, sharper images" on the default demos: only the first demo of each
class keeps an image, Lanczos-resized to the whole budget, the others left out or kept as
text-only demos.
"""

from __future__ import annotations

import argparse
import logging
import math
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import at_least, held_out_accuracy, pick_demos, prompt_tokens, table
from _probe import append_rows, probe_parser, start_report
from bench_realphoto import TASKS, lanczos_images, with_images


def probe(
    task_name: str, judge: str, pricing: str, fraction: float, seed: int, a: argparse.Namespace
) -> dict[str, Any]:
    """All numbers of one seed (accuracies 0..1)."""
    import dspy
    from dspy.adapters import ChatAdapter

    from specprompt.scorers import pixel_lm
    from specprompt.tasks import get_task
    from specprompt.types import DROPPED_IMAGE

    logging.getLogger("dspy").setLevel(logging.WARNING)
    dspy.configure(lm=pixel_lm(judge), adapter=ChatAdapter(), disable_history=True)
    task = get_task(task_name, n_train=a.n_train, n_val=a.n_val, n_test=a.n_test, size=TASKS[task_name][1], seed=seed)
    student = dspy.Predict(task.signature)
    demos = pick_demos(task, 2)
    student.demos = demos
    budget = math.floor(fraction * prompt_tokens(student, pricing))
    out: dict[str, Any] = {"seed": seed, "full": held_out_accuracy(student, task.testset, 1)}
    found = lanczos_images(demos, pricing, budget)
    assert found is not None
    out["lanczos"] = held_out_accuracy(with_images(student, demos, found[0]), task.testset, 1)
    # fewer, sharper images, forced: the first default demo of each class keeps an image (Lanczos to
    # the whole budget); the others are left out, or kept as text-only demos
    n_labels = len(task.labels)
    firsts = lanczos_images(demos[:n_labels], pricing, budget)
    assert firsts is not None
    out["fewer"] = held_out_accuracy(with_images(student, demos[:n_labels], firsts[0]), task.testset, 1)
    texts = [*firsts[0], *[DROPPED_IMAGE] * (len(demos) - n_labels)]
    out["fewer+text"] = held_out_accuracy(with_images(student, demos, texts), task.testset, 1)
    out["fewer_scale"] = firsts[1]
    by_class = {label: [ex for ex in task.trainset if ex.label == label] for label in task.labels}
    rng = random.Random(seed)
    for k in a.ks:
        rows = []
        for _ in range(a.sets):
            chosen = [ex for label in task.labels for ex in rng.sample(by_class[label], k)]
            rng.shuffle(chosen)
            imgs = lanczos_images(chosen, pricing, budget)
            if imgs is None:
                continue
            prog = with_images(student, chosen, imgs[0])
            rows.append((held_out_accuracy(prog, task.valset, 1), held_out_accuracy(prog, task.testset, 1), imgs[1]))
        best = max(rows, key=lambda r: r[0])
        out[f"k{k}"] = {
            "mean": statistics.fmean(r[1] for r in rows),
            "val_best": best[1],
            "oracle": max(r[1] for r in rows),
            "scale": statistics.fmean(r[2] for r in rows),
            "sets": [[r[0], r[1]] for r in rows],
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = probe_parser(__doc__, seeds=3, n_train=36, first_seed=False)
    parser.add_argument("--budget", type=float, default=0.25)
    parser.add_argument("--sets", type=at_least(1), default=12, help="random demo sets per k and seed")
    parser.add_argument("--ks", nargs="+", type=at_least(1), default=[2], help="demos per class")
    a = parser.parse_args(argv)
    t0 = time.perf_counter()
    report = start_report(parser, a)
    rows = []
    by_judge: dict[str, list[dict[str, Any]]] = {}
    for judge in a.judges:
        results = [probe(a.task, judge, a.pricing, a.budget, seed, a) for seed in range(a.seeds)]
        by_judge[judge] = results
        append_rows(a.json_out, results, judge=judge)

        def m(values: list[float]) -> str:
            return f"{100 * statistics.fmean(values):.1f}"

        full, lan = m([r["full"] for r in results]), m([r["lanczos"] for r in results])
        for k in a.ks:
            ks = [r[f"k{k}"] for r in results]
            rows.append(
                [
                    judge,
                    str(k),
                    f"{statistics.fmean(x['scale'] for x in ks):.2f}",
                    m([x["mean"] for x in ks]),
                    m([x["val_best"] for x in ks]),
                    m([x["oracle"] for x in ks]),
                    lan,
                    full,
                ]
            )
    forced = [
        [
            judge,
            f"{statistics.fmean(r['fewer_scale'] for r in rs):.2f}",
            *(f"{100 * statistics.fmean(r[k] for r in rs):.1f}" for k in ("fewer", "fewer+text", "lanczos", "full")),
        ]
        for judge, rs in by_judge.items()
    ]
    report.add(
        "",
        "default demos, one image per class (Lanczos to the whole budget): the other demos left out, or kept as text",
        "",
        *table(["judge", "scale", "3 demos", "6 demos, 3 images", "lanczos (6 images)", "full (6 images)"], forced),
    )
    header = ["judge", "demos/class", "Lanczos scale", "mean of sets", "val-best set", "oracle set"]
    report.add("", *table([*header, "lanczos (default demos)", "full (default demos)"], rows))
    report.add("", f"test accuracy (%), mean over {a.seeds} seeds; total wall time {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
