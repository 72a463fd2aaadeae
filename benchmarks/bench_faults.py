"""Band search against a flaky OpenAI-compatible endpoint: same program at 0%, 10% and 30% injected faults.

Usage::

    python benchmarks/bench_faults.py              # 30 trials, 3 fault seeds per rate (a few minutes)
    python benchmarks/bench_faults.py --quick      # 6 trials, 1 fault seed (format check)

Starts ``tests/faults/fault_server.py`` (a separate process on loopback wrapping the real
``specprompt/nearest-v1`` server) and runs the same seeded :class:`~specprompt.search.BandOptimizer`
compile through ``dspy.LM("openai/specprompt/nearest-v1", api_base=...)`` (DSPy cache off) at each
fault rate. Every fault kind is injected at random: 429 with ``Retry-After: 0``, 500, 503, hangs of
``--hang-s`` seconds (beyond the per-call timeout), cut-off JSON bodies, empty ``choices`` and
connection resets. Each row is one compile: the faults injected, the scorer's billed calls, tokens,
failed calls and retries, failed trials (requeued), the wall time, and whether the chosen program
(its parameters), its score and the Pareto front equal the fault-free run's. The anchor is the
fault-free run of the same script.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/_common.py, next to this script
from _common import fault_server

MODEL = "openai/specprompt/nearest-v1"


def compile_once(root: str, args: argparse.Namespace, rate: float, fault_seed: int) -> dict[str, Any]:
    import dspy
    import optuna

    from specprompt.search import BandOptimizer
    from specprompt.tasks import get_task

    httpx.post(
        root + "/control", json={"rate": rate, "seed": fault_seed, "hang_s": args.hang_s}, timeout=10
    ).raise_for_status()
    task = get_task(args.task, n_train=args.n_train, n_val=args.n_val, n_test=0, size=args.size, seed=args.seed)

    def exact(example: Any, pred: Any, trace: Any = None) -> float:
        return float(example.label == pred.label)

    lm = dspy.LM(MODEL, api_base=root + "/v1", api_key="bench", cache=False)
    opt = BandOptimizer(
        exact,
        n_trials=args.trials,
        k_demos=args.k_demos,
        minibatch_size=args.minibatch,
        num_threads=args.threads,
        token_budget=args.budget,
        seed=args.seed,
        storage="memory",
        progress=False,
        call_timeout=args.call_timeout,
        retry_backoff=0.05,
    )
    start_t = time.perf_counter()
    with dspy.context(lm=lm):
        opt.compile(dspy.Predict(task.signature), trainset=task.trainset, valset=task.valset)
    wall = time.perf_counter() - start_t
    result = opt.last_result
    assert result is not None and result.spend is not None
    stats = httpx.get(root + "/stats", timeout=10).json()
    failed_trials = sum(t.state == optuna.trial.TrialState.FAIL for t in result.study.get_trials(deepcopy=False))
    return {
        "rate": rate,
        "fault_seed": fault_seed,
        "faults": sum(v for k, v in stats.items() if k != "requests"),
        "requests": stats.get("requests", 0),
        "params": result.best.params,
        "score": result.best.score,
        "front": [(r.params, r.score, r.tokens) for r in result.front],
        "spend": result.spend.search,
        "failed_trials": failed_trials,
        "wall": wall,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="6 trials, one fault seed per rate")
    p.add_argument("--rates", type=float, nargs="+", default=[0.1, 0.3], help="fault rates besides 0")
    p.add_argument("--fault-seeds", type=int, default=3, help="fault streams per rate")
    p.add_argument("--task", default="colour-position")
    p.add_argument("--size", type=int, default=96)
    p.add_argument("--n-train", type=int, default=12)
    p.add_argument("--n-val", type=int, default=24)
    p.add_argument("--k-demos", type=int, default=8)
    p.add_argument("--trials", type=int, default=30)
    p.add_argument("--minibatch", type=int, default=12)
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--budget", type=int, default=176, help="image tokens of all demos (local cost model)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--call-timeout", type=float, default=2.0, help="per-call timeout of the scorer (s)")
    p.add_argument("--hang-s", type=float, default=5.0, help="how long an injected hang lasts (s)")
    args = p.parse_args(argv)
    if args.quick:
        args.trials, args.fault_seeds = 6, 1
    logging.basicConfig(level=logging.ERROR)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    with fault_server() as root:
        runs = [compile_once(root, args, 0.0, 0)]
        for rate in args.rates:
            for fs in range(args.fault_seeds):
                runs.append(compile_once(root, args, rate, fs))
    clean = runs[0]
    print(f"# bench_faults: python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.platform()}")
    print(
        f"# task {args.task} {args.size} px, {args.n_train} train / {args.n_val} val, k_demos {args.k_demos}, "
        f"budget {args.budget}, {args.trials} trials, minibatch {args.minibatch}, {args.threads} threads, "
        f"seed {args.seed}; call timeout {args.call_timeout} s, hangs {args.hang_s} s; DSPy cache off"
    )
    print()
    print(
        "| fault rate | fault seed | faults / requests | billed calls | tokens | failed calls | retries "
        "| failed trials | wall s | chosen score | same program | same front |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    same_all = True
    for r in runs:
        s = r["spend"]
        same = r["params"] == clean["params"] and r["score"] == clean["score"]
        front = r["front"] == clean["front"]
        same_all &= same
        print(
            f"| {r['rate']:.0%} | {r['fault_seed']} | {r['faults']} / {r['requests']} | {s.calls} | {s.tokens} "
            f"| {s.failed} | {s.retries} | {r['failed_trials']} | {r['wall']:.1f} | {r['score']:.4f} "
            f"| {'yes' if same else 'NO'} | {'yes' if front else 'NO'} |"
        )
    print()
    print(f"chosen program (fault-free): {json.dumps(json.loads(clean['params']), sort_keys=True)}")
    print(f"{'PASS' if same_all else 'FAIL'}: every run chose the fault-free program with the fault-free score")
    return 0 if same_all else 1


if __name__ == "__main__":
    sys.exit(main())
