"""Seconds per trial with the local band VLM as scorer: per-call DSPy engine path vs batched scoring.

Usage::

    python benchmarks/bench_local_scoring.py              # 24 candidates, minibatch 16 (about a minute)
    python benchmarks/bench_local_scoring.py --quick      # 4 candidates, minibatch 4 (format check)

Builds one band search (``colour-position`` task, ``k_demos`` demos, no token budget so every
candidate is scored) and runs the same seeded candidates (all bands first, then random band
selections, dropped images included) as trials of two in-memory Optuna studies through the search's
own :class:`~specprompt.search._objective.Objective` (build the prompt, score the minibatch in the
pruner's chunks, write the trial record; no pruning), one study per path, each with its own
``local_lm()`` and scorer so no cache is shared. The trials alternate between the paths (per-call,
batched, per-call, ...) so that load on the machine hits both alike. The anchor is the per-call
path (``dspy.Predict`` -> ``dspy.LM`` -> ``LocalVLMEngine.complete`` for each example), measured in
the same run.

Prints the mean and median seconds per trial of each path and their ratio, then PASS/FAIL lines
for the bars: the batched path is >= 5x faster per trial (ratio of means), and both paths give
the same answers (the predicted label of every example of every trial), the same trial scores
and the same recorded spend (billed calls and tokens).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Iterator
from typing import Any

BAR = 5.0


@contextlib.contextmanager
def per_call_path() -> Iterator[None]:
    """Turns the batched path off: every example is its own ``dspy.LM`` call, as before it existed."""
    import specprompt.search._scoring as scoring

    batched = scoring.predict_together
    scoring.predict_together = lambda *args: None
    try:
        yield
    finally:
        scoring.predict_together = batched


class Path:
    """One path's study, objective and the answers its metric saw."""

    def __init__(self, name: str, ctx: Any, valset: list[Any], minibatch: list[int], threads: int) -> None:
        import optuna

        from specprompt.scorers import local_lm
        from specprompt.search._objective import Objective
        from specprompt.search._scoring import Scorer

        self.name = name
        self.lm = local_lm()
        self.answers: dict[tuple[int, int], str] = {}
        index = {id(ex): i for i, ex in enumerate(valset)}
        self.trial_no = 0

        def metric(example: Any, pred: Any, trace: Any = None) -> float:
            self.answers[(self.trial_no, index[id(example)])] = str(pred.label)
            return float(example.label == pred.label)

        self.scorer = Scorer(metric, valset, threads)
        self.objective = Objective(ctx, self.scorer, None, minibatch, multi_objective=False)
        self.study = optuna.create_study(
            direction="maximize", sampler=optuna.samplers.RandomSampler(0), pruner=optuna.pruners.NopPruner()
        )
        self.seconds: list[float] = []

    def run(self, params: dict[str, int], number: int) -> None:
        import dspy

        self.trial_no = number
        self.study.enqueue_trial(params)
        context = per_call_path() if self.name == "per-call" else contextlib.nullcontext()
        with dspy.context(lm=self.lm), context:
            t0 = time.perf_counter()
            self.study.optimize(self.objective, n_trials=1)
            self.seconds.append(time.perf_counter() - t0)

    def records(self) -> list[tuple[Any, Any]]:
        from specprompt.search._record import TrialRecord

        out = []
        for t in self.study.trials:
            rec = TrialRecord.from_trial(t)
            out.append((rec.score, rec.spend))
        return out


def candidate_params(ctx: Any, n: int, seed: int) -> list[dict[str, int]]:
    """All bands, then seeded random selections (dropped images included; every label keeps an image,
    as the search requires), each a distinct prompt."""
    rng = random.Random(seed)
    dists = ctx.distributions()
    params = [ctx.to_params(ctx.full())]
    keys = {ctx.key(ctx.full())}
    while len(params) < n:
        drawn = {name: rng.randint(d.low, d.high) for name, d in dists.items()}
        cand = ctx.from_params(drawn)
        key = ctx.key(cand)
        # distinct prompts (a repeat reuses its trial's scores) that the search would score
        if key not in keys and ctx.covers_labels(cand):
            keys.add(key)
            params.append(drawn)
    return params


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--candidates", type=int, default=24, help="trials per path")
    p.add_argument("--minibatch", type=int, default=16, help="validation examples a trial scores")
    p.add_argument("--k-demos", type=int, default=8, help="demos in the prompt (2 per label: images can drop)")
    p.add_argument("--size", type=int, default=128, help="image side of the task, px")
    p.add_argument("--threads", type=int, default=1, help="torch threads and scorer threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="4 candidates, minibatch 4 (format check)")
    args = p.parse_args(argv)
    if args.quick:
        args.candidates, args.minibatch = 4, 4

    import dspy
    import optuna
    import torch

    from specprompt.search import BandOptimizer
    from specprompt.search._context import SearchContext
    from specprompt.search._demos import plan_demos
    from specprompt.tasks import get_task

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    torch.set_num_threads(args.threads)
    task = get_task("colour-position", n_train=8, n_val=args.minibatch, n_test=0, size=args.size, seed=args.seed)
    opt = BandOptimizer(lambda ex, pred, trace=None: 1.0, k_demos=args.k_demos, storage="memory", progress=False)
    student = dspy.Predict(task.signature)
    ctx = SearchContext(student, plan_demos(student, task.trainset, args.k_demos, args.seed), opt.config)
    minibatch = list(range(args.minibatch))
    paths = [Path(name, ctx, list(task.valset), minibatch, args.threads) for name in ("per-call", "batched")]
    params = candidate_params(ctx, args.candidates, args.seed)
    for number, cand in enumerate(params):
        for path in paths if number % 2 == 0 else paths[::-1]:
            path.run(cand, number)

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())  # other jobs on the machine slow both paths
    print(
        f"# bench_local_scoring: python {platform.python_version()}, {os.cpu_count()} CPUs "
        f"(load average {load} after the run), {platform.platform()}"
    )
    print(
        f"# colour-position {args.size} px, k_demos {args.k_demos}, minibatch {args.minibatch} "
        f"(scored in the objective's chunks), {args.candidates} candidates (all bands + seeded random selections), "
        f"torch threads {args.threads}, scorer threads {args.threads}, {paths[0].lm.model}\n"
    )
    print("| path | mean s/trial | median s/trial | min s/trial | billed calls | encoder passes | x per-call |")
    print("|---|---|---|---|---|---|---|")
    anchor = statistics.mean(paths[0].seconds)
    for path in paths:
        mean = statistics.mean(path.seconds)
        print(
            f"| {path.name} | {mean:.4f} | {statistics.median(path.seconds):.4f} | {min(path.seconds):.4f} "
            f"| {path.scorer.spend.calls} | {path.lm.engine.forward_passes} | {anchor / mean:.1f} |"
        )
    ratio = anchor / statistics.mean(paths[1].seconds)
    same_answers = paths[0].answers == paths[1].answers and len(paths[0].answers) == args.candidates * args.minibatch
    same_records = paths[0].records() == paths[1].records()
    labels = len(set(paths[0].answers.values()))
    print()
    print(
        f"{'PASS' if ratio >= BAR else 'FAIL'}: batched scoring >= {BAR:g}x fewer seconds per trial than the "
        f"per-call engine path ({ratio:.1f}x)"
    )
    print(
        f"{'PASS' if same_answers else 'FAIL'}: same answers on both paths ({len(paths[0].answers)} predicted "
        f"labels, {labels} distinct)"
    )
    print(f"{'PASS' if same_records else 'FAIL'}: same trial scores and recorded spend (calls, tokens) on both paths")
    return 0 if ratio >= BAR and same_answers and same_records else 1


if __name__ == "__main__":
    sys.exit(main())
