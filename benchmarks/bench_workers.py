"""``specprompt compile --workers N`` on one PostgreSQL study against a latency-bound endpoint.

Usage::

    python benchmarks/bench_workers.py            # 50 trials, 1 worker then 3 workers (about 8 minutes)
    python benchmarks/bench_workers.py --quick    # 8 trials, 0.05-0.1 s per call (format check)

Starts ``tests/faults/fault_server.py --latency 0.3 0.5`` (a loopback OpenAI-compatible server wrapping
the real ``specprompt/nearest-v1`` scorer; every chat request waits a seeded 0.3-0.5 s first, no
faults) and runs the same seeded ``specprompt compile`` command twice, as its own processes, on
PostgreSQL (``--storage``, default ``postgresql+psycopg2://postgres@127.0.0.1:5432/test``), each
run with a new study: once with ``--workers 1`` (the anchor) and once with ``--workers 3``. Each
run has a DSPy cache folder of its own (``DSPY_CACHEDIR``), so every call reaches the server.

Per run it prints the wall time of the whole command (process start-up, search, final scoring;
the speed-up is the ratio of these), the seconds from the first trial's start to the last trial's
end, the chat requests the server saw, the finished trials of the study (``--trials`` asked), the
prompts scored by more than one trial (trials with the same prompt key, each scored rather than
reused), the trials that started after the study was full (``surplus``, failed unscored), the
trials each worker process finished and the chosen program's valset score and tokens; then the
speed-up and PASS/FAIL lines for the bars of issue 10 item 4. The studies and their claims are
deleted at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/_common.py, next to this script
from _common import fault_server

ROOT = Path(__file__).resolve().parents[1]
PG_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"

PROGRAM = '''
from typing import Literal

import dspy


class Quadrant(dspy.Signature):
    """Which quadrant of the picture holds the large coloured disc?"""

    image: dspy.Image = dspy.InputField()
    label: Literal["top-left", "top-right", "bottom-left", "bottom-right"] = dspy.OutputField()


program = dspy.Predict(Quadrant)
'''


def write_data(root: Path, args: argparse.Namespace) -> dict[str, Path]:
    from specprompt.io import load_image
    from specprompt.tasks import get_task

    task = get_task(args.task, n_train=args.n_train, n_val=args.n_val, n_test=0, size=args.size, seed=args.seed)
    paths = {"program": root / "prog.py"}
    paths["program"].write_text(PROGRAM)
    for name, examples in (("train", task.trainset), ("val", task.valset)):
        lines = []
        for i, ex in enumerate(examples):
            rel = Path(name) / f"{i}.png"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            load_image(ex.image).save(root / rel)
            lines.append(json.dumps({"image": rel.as_posix(), "label": ex.label}))
        paths[name] = root / f"{name}.jsonl"
        paths[name].write_text("\n".join(lines) + "\n")
    return paths


def run_compile(
    workers: int, root: Path, data: dict[str, Path], api: str, args: argparse.Namespace, study: str
) -> dict[str, Any]:
    import optuna

    httpx.post(api + "/control", json={"rate": 0.0, "seed": args.seed, "latency": args.latency}, timeout=10)
    out = root / f"out-{workers}"
    cmd = [sys.executable, "-m", "specprompt", "compile", f"{data['program']}:program"]
    cmd += ["--trainset", str(data["train"]), "--valset", str(data["val"]), "--budget", str(args.budget)]
    cmd += ["--cost-model", "local", "--trials", str(args.trials), "--k-demos", str(args.k_demos)]
    cmd += ["--minibatch", str(args.minibatch), "--threads", str(args.threads), "--seed", str(args.seed)]
    cmd += ["--lm", "openai/specprompt/nearest-v1", "--api-base", api + "/v1", "--call-timeout", "30"]
    cmd += ["--storage", args.storage, "--study-name", study, "--workers", str(workers)]
    cmd += ["--out", str(out), "--no-progress"]
    env = {**os.environ, "DSPY_CACHEDIR": str(root / f"cache-{workers}"), "SPECPROMPT_API_KEY": "bench"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=root)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"compile --workers {workers} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    stats = httpx.get(api + "/stats", timeout=10).json()
    s = optuna.load_study(study_name=study, storage=args.storage)
    trials = s.get_trials(deepcopy=False)
    finished_states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    finished = [t for t in trials if t.state in finished_states]
    scored = Counter(
        t.user_attrs["key"]
        for t in finished
        if t.user_attrs.get("key") and t.user_attrs.get("feasible") and "reused_from" not in t.user_attrs
    )
    per_worker = Counter(str(t.user_attrs.get("worker", {}).get("pid")) for t in finished)
    starts = [t.datetime_start for t in finished if t.datetime_start is not None]
    ends = [t.datetime_complete for t in finished if t.datetime_complete is not None]
    span = (max(ends) - min(starts)).total_seconds() if starts and ends else float("nan")
    best = json.loads((out / "pareto.json").read_text())["best"]
    return {
        "workers": workers,
        "wall": wall,
        "span": span,
        "requests": int(stats.get("requests", 0)),
        "finished": len(finished),
        "repeated": sum(1 for n in scored.values() if n > 1),
        "scored": len(scored),
        "surplus": sum(1 for t in trials if "surplus" in t.user_attrs),
        "per_worker": sorted(per_worker.values(), reverse=True),
        "score": float(best["score"]),
        "tokens": int(best["tokens"]),
        "trial": int(best["trial"]),
        "origin": best.get("origin"),
    }


def cleanup(storage: str, studies: list[str]) -> None:
    import optuna
    import sqlalchemy as sa

    for name in studies:
        try:
            optuna.delete_study(study_name=name, storage=storage)
        except KeyError:
            pass
    engine = sa.create_engine(storage)
    with engine.begin() as conn:
        if sa.inspect(conn).has_table("specprompt_claims"):
            conn.execute(sa.text("DELETE FROM specprompt_claims WHERE study = ANY(:names)"), {"names": studies})
    engine.dispose()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="8 trials, 0.05-0.1 s per call (format check)")
    p.add_argument("--storage", default=PG_URL, help="a PostgreSQL URL (default: %(default)s)")
    p.add_argument("--workers", type=int, default=3)
    p.add_argument("--trials", type=int, default=None, help="finished trials asked (default: compile's 50; quick: 8)")
    p.add_argument("--latency", type=float, nargs=2, default=[0.3, 0.5], metavar=("LO", "HI"))
    p.add_argument("--task", default="colour-position")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--n-train", type=int, default=12)
    p.add_argument("--n-val", type=int, default=16)
    p.add_argument("--k-demos", type=int, default=8)
    p.add_argument("--minibatch", type=int, default=8)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--budget", type=int, default=88, help="image tokens of all demos (local cost model)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.quick:
        args.latency, args.n_val, args.minibatch = [0.05, 0.1], 8, 4
    if args.trials is None:
        args.trials = 8 if args.quick else 50
    try:
        import psycopg2  # noqa: F401
        import sqlalchemy as sa

        sa.create_engine(args.storage).connect().close()
    except Exception as exc:
        raise SystemExit(f"PostgreSQL at {args.storage.split('@')[-1]} is unreachable: {exc}") from None
    latency = ("--latency", *map(str, args.latency))
    studies: list[str] = []
    runs = []
    try:
        with fault_server(*latency) as api, tempfile.TemporaryDirectory(prefix="bench-workers-") as tmp:
            root = Path(tmp)
            data = write_data(root, args)
            for workers in (1, args.workers):
                studies.append(f"bench-workers-{uuid.uuid4().hex[:12]}-w{workers}")
                runs.append(run_compile(workers, root, data, api, args, studies[-1]))
    finally:
        cleanup(args.storage, studies)
    one, many = runs
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    where = f"{os.cpu_count()} CPUs (load {load}), {platform.platform()}"
    print(f"# bench_workers: python {platform.python_version()}, {where}")
    print(
        f"# task {args.task} {args.size} px, {args.n_train} train / {args.n_val} val, k_demos {args.k_demos}, "
        f"budget {args.budget} (local), {args.trials} trials, minibatch {args.minibatch}, {args.threads} threads "
        f"per process, seed {args.seed}; endpoint latency {args.latency[0]}-{args.latency[1]} s per call; "
        f"storage {args.storage.split('@')[-1]}"
    )
    print(
        "# each run: specprompt compile prog.py:program --trainset train.jsonl --valset val.jsonl "
        f"--budget {args.budget} --cost-model local --trials {args.trials} --k-demos {args.k_demos} "
        f"--minibatch {args.minibatch} --threads {args.threads} --seed {args.seed} "
        f"--lm openai/specprompt/nearest-v1 --api-base URL --storage {args.storage} --study-name NEW "
        f"--workers 1|{args.workers}"
    )
    print()
    print(
        "| workers | wall s | speed-up | trials s | requests | finished / asked | prompts scored | repeated prompts "
        "| surplus trials | trials per process | chosen trial | chosen score | tokens |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in runs:
        print(
            f"| {r['workers']} | {r['wall']:.1f} | {one['wall'] / r['wall']:.2f}x | {r['span']:.1f} | {r['requests']} "
            f"| {r['finished']} / {args.trials} | {r['scored']} | {r['repeated']} | {r['surplus']} "
            f"| {' + '.join(map(str, r['per_worker']))} | {r['trial']} ({r['origin']}) | {r['score']:.4f} "
            f"| {r['tokens']} |"
        )
    print()
    speedup = one["wall"] / many["wall"]
    exact = all(r["finished"] == args.trials for r in runs)
    tol = 1.0 / args.n_val
    bars = [
        (exact, f"exactly {args.trials} finished trials in both runs ({one['finished']}, {many['finished']})"),
        (many["repeated"] == 0, f"0 prompts scored twice with {args.workers} workers ({many['repeated']})"),
        (speedup >= 1.8, f"{args.workers} workers at least 1.8x faster than one ({speedup:.2f}x)"),
        (
            many["score"] >= one["score"] - tol,
            f"same quality: chosen valset score {many['score']:.4f} with {args.workers} workers vs "
            f"{one['score']:.4f} with one (within one of {args.n_val} examples)",
        ),
    ]
    for ok, text in bars:
        print(f"{'PASS' if ok else 'FAIL'}: {text}")
    return 0 if all(ok for ok, _ in bars) else 1


if __name__ == "__main__":
    sys.exit(main())
