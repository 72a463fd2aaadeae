"""Deterministic resume: a compile SIGKILLed at three points and run again returns the uninterrupted program.

Usage::

    python benchmarks/bench_resume.py            # 30 trials (about a minute per compile on 2 CPUs)
    python benchmarks/bench_resume.py --quick    # 12 trials, smaller task (format check)
    python benchmarks/bench_resume.py --quick --points between   # one kill point

Each compile is a separate Python process (this script with ``--child``) running a seeded
:class:`~specprompt.search.BandOptimizer` compile with the offline nearest-band scorer on SQLite
storage (``run_dir``), one scoring thread. The anchor is the uninterrupted compile. For each kill
point a fresh run folder gets a compile that SIGKILLs itself at that point, then the same
command again (no kill), which resumes the study:

=============  ======================================================================================
kill point     where the process kills itself (deterministic: counted, not timed)
=============  ======================================================================================
between        right after Optuna logs the ``B``-th finished trial, before anything else happens
               (``B``: the largest multiple of ``--full-eval-every`` up to ``N``, so the periodic
               full-valset evaluation due then is cut off too and made on resume)
mid-trial      at the 2nd metric call after the ``N``-th finished trial (a trial of the sampler
               phase; ``N`` is no multiple of ``--full-eval-every``)
baselines      at the 2nd metric call of the compile (the first trial: a baseline prompt)
=============  ======================================================================================

Per point it prints the chosen program of both compiles (a hash of its rendered prompt, its
score and tokens), PASS when they are the same program with the same score and Pareto front,
whether the resumed study holds the same trials in the same order (prompt, state, values of
every trial but the interrupted one) and made the same full-valset evaluations, the metric calls
each process made, the extra calls the kill cost (calls of the killed trial that were lost) and
how many trials finished before the kill were scored again (must be 0).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

POINTS = ("between", "mid-trial", "baselines")


# -- the child: one compile, optionally killing itself -------------------------------------------------


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class _KillAfterTrial(logging.Handler):
    """Counts Optuna's "Trial N finished/pruned" lines; kills at the N-th, or arms a metric kill."""

    def __init__(self, n: int, arm: Any = None) -> None:
        super().__init__(logging.INFO)
        self.n, self.seen, self.arm = n, 0, arm

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        if msg.startswith("Trial ") and (" finished with value" in msg or " pruned." in msg):
            self.seen += 1
            if self.seen == self.n:
                if self.arm is None:
                    _die()
                self.arm()


def child(args: argparse.Namespace) -> int:
    import dspy
    import optuna

    from specprompt.scorers import nearest_lm
    from specprompt.search import BandOptimizer
    from specprompt.tasks import get_task

    task = get_task(args.task, n_train=args.n_train, n_val=args.n_val, n_test=0, size=args.size, seed=args.seed)
    calls = {"n": 0, "kill_at": None}
    if args.kill == "baselines":
        calls["kill_at"] = 2

    def metric(example: Any, pred: Any, trace: Any = None) -> float:
        calls["n"] += 1
        with open(args.log, "a") as f:
            f.write(f"{os.getpid()}\n")
        if calls["kill_at"] is not None and calls["n"] >= calls["kill_at"]:
            _die()
        return float(example.label == pred.label)

    def arm() -> None:
        calls["kill_at"] = calls["n"] + 2

    optuna.logging.set_verbosity(optuna.logging.INFO)
    optuna.logging.disable_default_handler()
    if args.kill in ("between", "mid-trial"):
        n = args.kill_after
        if args.kill == "between":
            n = max(args.full_eval_every, n - n % args.full_eval_every)
        handler = _KillAfterTrial(n, arm if args.kill == "mid-trial" else None)
        logging.getLogger("optuna").addHandler(handler)
    logging.basicConfig(level=logging.ERROR)
    dspy.configure(lm=nearest_lm())
    opt = BandOptimizer(
        metric,
        n_trials=args.trials,
        k_demos=args.k_demos,
        token_budget=args.budget,
        minibatch_size=args.minibatch,
        full_eval_every=args.full_eval_every,
        num_threads=1,
        seed=args.seed,
        progress=False,
        run_dir=args.run_dir,
    )
    opt.compile(dspy.Predict(task.signature), trainset=task.trainset, valset=task.valset)
    r = opt.last_result
    assert r is not None
    out = {
        "study": r.study_name,
        "key": r.best.key,
        "params": r.best.params,
        "score": r.best.score,
        "tokens": r.best.tokens,
        "origin": r.best.origin,
        "front": [[x.key, x.score, x.tokens] for x in r.front],
        "scorer_calls": r.scorer_calls,
        "n_trials": r.n_trials,
    }
    print(json.dumps(out))
    return 0


# -- the parent ------------------------------------------------------------------------------------


def _run(args: argparse.Namespace, run_dir: Path, kill: str | None) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--run-dir", str(run_dir)]
    cmd += ["--log", str(run_dir / "calls.log"), "--kill", kill or "none", "--kill-after", str(args.kill_after)]
    for name in ("task", "size", "n_train", "n_val", "k_demos", "trials", "minibatch", "budget", "seed"):
        cmd += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    cmd += ["--full-eval-every", str(args.full_eval_every)]
    env = {**os.environ, "DSPY_CACHEDIR": str(run_dir / "dspy-cache"), "PYTHONWARNINGS": "ignore"}
    run_dir.mkdir(parents=True, exist_ok=True)
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)


def _result(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    if proc.returncode != 0:
        raise SystemExit(f"a compile failed (rc {proc.returncode}):\n{proc.stderr[-3000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def _calls_by_pid(log: Path) -> list[int]:
    """Metric calls per process, in the order the processes ran."""
    counts: dict[str, int] = {}
    for pid in log.read_text().split():
        counts[pid] = counts.get(pid, 0) + 1
    return list(counts.values())


def _inspect(run_dir: Path, study_name: str, before: dict[int, str]) -> dict[str, Any]:
    """The interrupted trial (number, origin) and trials finished before the kill that were scored again."""
    import optuna

    url = f"sqlite:///{run_dir / 'study.db'}"
    study = optuna.load_study(study_name=study_name, storage=url)
    trials = study.get_trials(deepcopy=False)
    killed = [t for t in trials if t.state == optuna.trial.TrialState.FAIL]
    rescored = sum(
        1
        for t in trials
        if t.number not in before
        and t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
        and "reused_from" not in t.user_attrs
        and t.user_attrs.get("key") in set(before.values())
    )
    retried = [t for t in trials if t.user_attrs.get("retry_of") is not None]
    return {
        "killed": [(t.number, t.user_attrs.get("origin"), "interrupted" in t.user_attrs) for t in killed],
        "retried": [(t.number, t.user_attrs["retry_of"], t.state.name) for t in retried],
        "rescored": rescored,
    }


def _history(run_dir: Path, study_name: str) -> tuple[list[tuple[str, str, Any]], list[str]]:
    """(prompt key, state, values) of every trial that was not interrupted, by trial number, and
    the study attributes of the full-valset evaluations (candidates scored on the whole valset)."""
    import optuna

    study = optuna.load_study(study_name=study_name, storage=f"sqlite:///{run_dir / 'study.db'}")
    trials = [
        (str(t.user_attrs.get("key")), t.state.name, t.values)
        for t in study.get_trials(deepcopy=False)
        if t.state != optuna.trial.TrialState.FAIL
    ]
    return trials, sorted(k for k in study.user_attrs if k.startswith(("full:", "periodic:")))


def _finished_keys(run_dir: Path) -> dict[int, str]:
    import sqlite3
    from contextlib import closing

    db = run_dir / "study.db"
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
        rows = con.execute(
            "SELECT t.number, a.value_json FROM trials t JOIN trial_user_attributes a ON a.trial_id = t.trial_id "
            "WHERE t.state IN ('COMPLETE', 'PRUNED') AND a.key = 'key'"
        ).fetchall()
    return {int(n): str(json.loads(v)) for n, v in rows}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="12 trials on a smaller task")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--run-dir", help=argparse.SUPPRESS)
    p.add_argument("--log", help=argparse.SUPPRESS)
    p.add_argument("--kill", default="none", choices=("none", *POINTS), help=argparse.SUPPRESS)
    p.add_argument("--kill-after", type=int, default=None, help="the N of the between and mid-trial points")
    p.add_argument("--points", nargs="+", choices=POINTS, default=list(POINTS), help="kill points to run")
    p.add_argument("--task", default="fine-texture")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--n-train", type=int, default=12)
    p.add_argument("--n-val", type=int, default=16)
    p.add_argument("--k-demos", type=int, default=6)
    p.add_argument("--trials", type=int, default=30)
    p.add_argument("--minibatch", type=int, default=8)
    p.add_argument("--budget", type=int, default=132, help="image tokens of all demos (local cost model)")
    p.add_argument("--full-eval-every", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.child:
        return child(args)
    if args.quick:
        args.trials, args.n_train, args.n_val, args.k_demos, args.minibatch = 12, 8, 8, 4, 4
        args.budget, args.full_eval_every = 88, 4
    if args.kill_after is None:
        args.kill_after = args.trials // 2 + 1
    if args.kill_after % args.full_eval_every == 0:
        raise SystemExit(
            "--kill-after must be no multiple of --full-eval-every (a mid-trial kill would hit the evaluation)"
        )
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-resume-") as tmp:
        root = Path(tmp)
        anchor = _result(_run(args, root / "uninterrupted", None))
        anchor_calls = _calls_by_pid(root / "uninterrupted" / "calls.log")
        anchor_history = _history(root / "uninterrupted", anchor["study"])
        rows = []
        for point in args.points:
            folder = root / point
            killed = _run(args, folder, point)
            if killed.returncode != -signal.SIGKILL:
                raise SystemExit(
                    f"the {point} compile was not killed (rc {killed.returncode}):\n{killed.stderr[-3000:]}"
                )
            before = _finished_keys(folder)
            resumed = _result(_run(args, folder, None))
            calls = _calls_by_pid(folder / "calls.log")
            seen = _inspect(folder, resumed["study"], before)
            same = all(resumed[k] == anchor[k] for k in ("key", "params", "score", "tokens", "front"))
            history = _history(folder, resumed["study"]) == anchor_history
            rows.append((point, resumed, calls, seen, len(before), same, history))
    wall = time.perf_counter() - start
    print(f"# bench_resume: python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.platform()}")
    print(
        f"# task {args.task} {args.size} px, {args.n_train} train / {args.n_val} val, k_demos {args.k_demos}, "
        f"budget {args.budget} (local), {args.trials} trials, minibatch {args.minibatch}, full eval every "
        f"{args.full_eval_every}, seed {args.seed}; nearest-band scorer, SQLite, 1 thread; N = {args.kill_after}, "
        f"B = {max(args.full_eval_every, args.kill_after - args.kill_after % args.full_eval_every)}"
    )
    print(
        f"# uninterrupted: program {anchor['key'][:12]} ({anchor['origin']}), score {anchor['score']:.4f}, "
        f"{anchor['tokens']} tokens, {sum(anchor_calls)} metric calls"
    )
    print()
    print(
        "| kill point | finished at kill | interrupted trial | resumed program | score | tokens "
        "| same program | same trials + full evals | calls killed + resumed | extra calls | finished trials re-scored |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    ok = True
    for point, r, calls, seen, n_before, same, history in rows:
        killed = ", ".join(f"#{n} {o}" for n, o, _ in seen["killed"]) or "none"
        extra = sum(calls) - sum(anchor_calls)
        ok &= same and history and seen["rescored"] == 0
        print(
            f"| {point} | {n_before} | {killed} | {r['key'][:12]} ({r['origin']}) | {r['score']:.4f} | {r['tokens']} "
            f"| {'PASS' if same else 'FAIL'} | {'yes' if history else 'NO'} | {' + '.join(map(str, calls))} | {extra} "
            f"| {seen['rescored']} |"
        )
    print()
    print(f"wall time {wall:.0f} s")
    print(
        f"{'PASS' if ok else 'FAIL'}: every killed and resumed compile returned the uninterrupted program "
        "after the same trials, re-scoring no finished trial"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
