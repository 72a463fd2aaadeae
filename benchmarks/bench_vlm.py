"""Quality and speed of the local band VLM against the nearest-neighbour band scorer.

5-way 2-shot episodes (one query per class) on held-out seeds of the training families and on the
held-out families. Prints markdown tables and PASS/FAIL lines for the bars:

1. mean accuracy >= 0.80 over the training families (all bands);
2. higher mean accuracy than the nearest-neighbour band scorer over all families (all bands);
3. with a random half of the band tokens, >= 90% of the full-band accuracy (mean over all families);
and, as a stretch goal, beating the nearest-neighbour scorer on the held-out families.

Token conditions, applied to demos and queries alike, at a fraction f of the 44 tokens of a
64 x 64 image: ``coarse``: the first round(44 f) tokens from the residual up (a partial band keeps
its tiles in raster order); ``random``: a random subset of round(44 f) tokens; ``downsample``: the
image shrunk to the largest r x r whose token count is <= round(44 f) (the tokenizer then creates
no token above the shrunken image's Nyquist), so its token count can be lower.

Usage::

    python benchmarks/bench_vlm.py [--checkpoint DIR|NAME] [--episodes 100] [--threads 1] [--json OUT]
    python benchmarks/bench_vlm.py --real-photos [--locals band-vlm-v1,band-vlm-v2,nearest] [--n-probes 12]
    python benchmarks/bench_vlm.py --scoring [bench_local_scoring.py options]

``--real-photos`` measures instead how well each local judge ranks band selections like each
pixel-only judge (:func:`specprompt.scorers.pixel_lm`, standing in for a remote VLM) on the
real-photo tasks (:mod:`specprompt.tasks._photos`, at the sizes of ``bench_realphoto.py``): for
every task x pixel judge x local judge it runs :func:`specprompt.search.calibrate` (the probe a
band search would send: full, coarsened, stratified and random selections of the demos, scored on
the same validation examples by both judges) and prints Spearman's rank correlation with its
bootstrap interval, and a PASS/FAIL line per local judge for the bar "Spearman >= 0.7 on every
task and judge". Tasks are generated with ``--task-seed`` (default 100; the real-photo benchmark
uses seeds 0-4, and the v2 training families read none of these photos). With
``--finetune-steps N`` each local band VLM is also measured finetuned (``specprompt finetune``, a
FourierFT adapter) on ``--finetune-per-label`` photos per label of each task, drawn with
``--finetune-seed``: the column ``<judge>+ft``.

``--scoring`` runs ``benchmarks/bench_local_scoring.py`` instead: seconds per band-search trial
with the shipped model as scorer, the per-call DSPy engine path against batched scoring.

Timings are on this machine; compare them only with timings taken in the same run.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/_common.py, next to this script
from _common import check_outputs


def _masks_for(condition: str, frac: float, n: int, rng: np.random.Generator) -> list[np.ndarray]:
    from specprompt.vlm import MAX_TOKENS, PATCHES, WORKING_SIZE

    grid = [((WORKING_SIZE >> lv) // p) ** 2 for lv, p in enumerate(PATCHES)]
    total = MAX_TOKENS
    budget = max(1, round(frac * total))
    keep = np.zeros((n, total), bool)
    band_of = np.repeat(np.arange(len(grid)), grid)
    offsets = np.concatenate([[0], np.cumsum(grid)])
    coarse = np.concatenate([np.arange(offsets[lv], offsets[lv + 1]) for lv in reversed(range(len(grid)))])
    for i in range(n):
        if condition in ("full", "downsample"):
            keep[i] = True
        elif condition == "coarse":
            keep[i, coarse[:budget]] = True
        elif condition == "random":
            keep[i, rng.choice(total, budget, replace=False)] = True
        else:
            raise ValueError(condition)
    del band_of
    return np.split(keep, offsets[1:-1], axis=1)


def _downsample_side(frac: float) -> int:
    from specprompt.vlm import MAX_TOKENS, WORKING_SIZE, image_token_count

    budget = max(1, round(frac * MAX_TOKENS))
    for r in range(WORKING_SIZE, 0, -1):
        if image_token_count(r, r) <= budget:
            return r
    return 1


def _run_condition(
    vlm: Any, batch: Any, condition: str, frac: float, rng: np.random.Generator, device: str
) -> tuple[float, float, float]:
    """(model accuracy, nearest-neighbour accuracy, mean tokens per image)."""
    import cv2
    import torch

    from specprompt.training import band_vectors, episode_forward, nearest_neighbour_scores
    from specprompt.vlm import PATCHES, band_features, to_canvas, token_layout, working_bands

    e, m = batch.labels.shape
    imgs = batch.images.reshape(e * m, 64, 64, 3)
    if condition == "downsample":
        r = _downsample_side(frac)
        small = [cv2.resize(im, (r, r), interpolation=cv2.INTER_AREA).reshape(r, r, 3) for im in imgs]
        canv = np.stack([to_canvas(s) for s in small])
        lay = token_layout(r, r)
        masks = [np.repeat(c.reshape(1, -1), e * m, 0) for c in lay.created]
    else:
        canv = imgs
        masks = _masks_for(condition, frac, e * m, rng)
    tokens = float(sum(k.sum() for k in masks)) / (e * m)
    view = type(batch)(
        canv.reshape(batch.images.shape),
        batch.labels,
        batch.aux,
        batch.texts,
        batch.answers,
        batch.families,
        batch.n_way,
        batch.k_shot,
        batch.n_query,
    )
    with torch.no_grad():
        _, logits, yq = episode_forward(vlm.model, view, masks, device)
        acc = float((logits.argmax(-1) == yq).float().mean())
        bands = working_bands(torch.from_numpy(canv).permute(0, 3, 1, 2))
        del band_features
    vec = band_vectors([b.numpy() for b in bands], masks, PATCHES).reshape(e, m, -1)
    s = batch.n_way * batch.k_shot
    correct = 0
    for i in range(e):
        sc = nearest_neighbour_scores(vec[i, :s], batch.labels[i, :s], vec[i, s:], batch.n_way)
        correct += int((sc.argmax(-1) == batch.labels[i, s:]).sum())
    return acc, correct / (e * (m - s)), tokens


def _timings(vlm: Any, device: str, n: int) -> dict[str, float]:
    import torch

    from specprompt.training import episode_forward, sample_episodes

    b = sample_episodes(np.random.default_rng(99), ("shape",), n, n_way=5, k_shot=2, n_query=1)
    demos = [[(b.images[i, j], b.answers[i][b.labels[i, j]]) for j in range(10)] for i in range(n)]
    vlm.answer(demos[0], b.images[0, 10], "What shape is it?")  # warm-up
    t0 = time.perf_counter()
    for i in range(n):
        vlm.answer(demos[i], b.images[i, 10], "What shape is it?")
    single = (time.perf_counter() - t0) / n
    # batched: 5 queries per episode share the demos -> report per prompt (= per query)
    with torch.no_grad():
        episode_forward(vlm.model, b, None, device)
        t0 = time.perf_counter()
        episode_forward(vlm.model, b, None, device)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        batched = time.perf_counter() - t0
    return {"seconds_per_prompt": single, "prompts_per_s_batched": n * 5 / batched}


#: Real-photo task -> image side (as in bench_realphoto.py).
PHOTO_TASKS: dict[str, int] = {"photo-tint": 384, "photo-texture": 256, "photo-identity": 256, "photo-detail": 512}


def _local_judge(name: str) -> Any:
    """The judge a ``--locals`` name stands for: ``nearest``, ``pixel:JUDGE`` or a local band VLM."""
    from specprompt.scorers import local_lm, nearest_lm, pixel_lm

    if name == "nearest":
        return nearest_lm()
    if name.startswith("pixel:"):
        return pixel_lm(name.removeprefix("pixel:"))
    return local_lm(name)


def _same_judge(column: str, judge: str) -> bool:
    """Whether the ``--locals`` column ``column`` is the pixel judge ``judge`` itself (rho 1 by definition)."""
    return column == f"pixel:{judge}"


def finetuned_judge(name: str, task_name: str, args: argparse.Namespace, out: Any) -> tuple[Any, dict[str, Any]]:
    """The local judge ``name`` with a FourierFT adapter trained on labelled photos of ``task_name``.

    The photos are ``--finetune-per-label`` per label of the task drawn with ``--finetune-seed``
    (another seed than the probes' ``--task-seed``: other crops), at the task's size; the adapter
    (``--finetune-steps`` steps, the other options :class:`~specprompt.training.FinetuneConfig`'s
    defaults) is written under ``out``. Returns the adapted judge and the finetune's metrics.
    """
    from specprompt.scorers import local_lm
    from specprompt.tasks import get_task
    from specprompt.training import FinetuneConfig, finetune

    n_labels = len(get_task(task_name, n_train=0, n_val=0, n_test=0, size=64).labels)
    data = get_task(
        task_name,
        n_train=args.finetune_per_label * n_labels,
        n_val=0,
        n_test=0,
        size=PHOTO_TASKS[task_name],
        seed=args.finetune_seed,
    )
    field = next(iter(data.trainset[0].inputs().keys()))
    pairs = [(ex[field], ex.label) for ex in data.trainset]
    adapter = finetune(
        pairs, Path(out) / f"{task_name}-{Path(name).name}", FinetuneConfig(steps=args.finetune_steps), checkpoint=name
    )
    metrics = json.loads((adapter / "adapter.json").read_text())["metrics"]
    return local_lm(name, adapter_path=adapter), metrics


def real_photos(args: argparse.Namespace) -> int:
    """The ``--real-photos`` mode: rank agreement of local judges with the pixel-only judges."""
    import logging

    import dspy
    from dspy.adapters import ChatAdapter

    from specprompt.scorers import pixel_lm
    from specprompt.search import calibrate
    from specprompt.tasks import get_task

    logging.getLogger("specprompt").setLevel(logging.WARNING)
    logging.getLogger("dspy").setLevel(logging.WARNING)
    dspy.configure(adapter=ChatAdapter(), disable_history=True)
    locals_ = [n.strip() for n in args.locals.split(",") if n.strip()]
    judges = [n.strip() for n in args.judges.split(",") if n.strip()]
    tasks = [n.strip() for n in args.tasks.split(",") if n.strip()]
    lms = {n: _local_judge(n) for n in locals_}
    targets = {j: pixel_lm(j) for j in judges}

    def metric(example: Any, pred: Any, trace: Any = None) -> float:
        return float(getattr(pred, "label", None) == example.label)

    tuned = [n for n in locals_ if n != "nearest" and not n.startswith("pixel:")] if args.finetune_steps else []
    columns = [*locals_, *(f"{n}+ft" for n in tuned)]
    rows: list[tuple[str, str, str, float | None, tuple[float, float] | None, float]] = []
    t0 = time.perf_counter()
    adapters = tempfile.TemporaryDirectory(prefix="bench-vlm-ft-")
    for task_name in tasks:
        n_labels = len(get_task(task_name, n_train=0, n_val=0, n_test=0, size=64).labels)
        task = get_task(
            task_name,
            n_train=args.k_per_class * n_labels,
            n_val=args.n_examples,
            n_test=0,
            size=PHOTO_TASKS[task_name],
            seed=args.task_seed,
        )
        program = dspy.Predict(task.signature)
        judges_of_task = dict(lms)
        for name in tuned:
            lm, m = finetuned_judge(name, task_name, args, adapters.name)
            judges_of_task[f"{name}+ft"] = lm
            print(
                f"  {task_name} / {name}: finetuned {m['steps']} steps on {m['images']} photos in {m['seconds']} s, "
                f"loss {m['loss_first']} -> {m['loss_last']}, training-episode accuracy "
                f"{m['train_episode_accuracy_before']} -> {m['train_episode_accuracy_after']}",
                flush=True,
            )
        for judge in judges:
            for name in columns:
                if _same_judge(name, judge):
                    continue
                t1 = time.perf_counter()
                cal = calibrate(
                    program,
                    metric,
                    trainset=task.trainset,
                    valset=task.valset,
                    target=targets[judge],
                    local=judges_of_task[name],
                    n_probes=args.n_probes,
                    n_examples=args.n_examples,
                    seed=args.task_seed,
                    num_threads=1,
                )
                rows.append((task_name, judge, name, cal.spearman, cal.interval, time.perf_counter() - t1))
                local_scores = [round(x, 2) for x in cal.local_scores]
                target_scores = [round(x, 2) for x in cal.target_scores]
                print(
                    f"  {task_name} / {judge} / {name}: spearman {cal.spearman} interval {cal.interval} "
                    f"local {local_scores} target {target_scores}",
                    flush=True,
                )
    print(
        f"\n# Rank agreement with the pixel-only judges ({args.n_probes} probes x {args.n_examples} examples, "
        f"{args.k_per_class} demos per class, task seed {args.task_seed})\n"
    )
    adapters.cleanup()
    if tuned:
        print(
            f"(`+ft`: finetuned {args.finetune_steps} steps on {args.finetune_per_label} photos per label of the task, "
            f"task seed {args.finetune_seed})\n"
        )
    print("| task | pixel judge | " + " | ".join(columns) + " |")
    print("|---|---|" + "---|" * len(columns))
    for task_name in tasks:
        for judge in judges:
            cells = []
            for name in columns:
                if _same_judge(name, judge):
                    cells.append("-")
                    continue
                r = next(r for r in rows if r[:3] == (task_name, judge, name))
                sp = "undefined" if r[3] is None else f"{r[3]:.2f}"
                ci = "" if r[4] is None else f" [{r[4][0]:.2f}, {r[4][1]:.2f}]"
                cells.append(sp + ci)
            print(f"| {task_name} | {judge} | " + " | ".join(cells) + " |")
    print(f"\n(took {time.perf_counter() - t0:.0f} s)\n")
    for name in columns:
        values = [r[3] for r in rows if r[2] == name]
        worst = min((v for v in values if v is not None), default=None)
        ok = all(v is not None and v >= 0.7 for v in values)
        mean = float(np.mean([v for v in values if v is not None])) if any(v is not None for v in values) else None
        others = " (the other one)" if name.startswith("pixel:") else ""
        print(
            f"{'PASS' if ok else 'FAIL'}: {name}: Spearman >= 0.7 on every task and pixel judge{others} "
            f"(worst {worst if worst is None else round(worst, 2)}, mean {mean if mean is None else round(mean, 2)})"
        )
    return 0


def _scoring(argv: list[str]) -> int:
    """``bench_local_scoring.py`` with ``argv``: the search's per-call path against batched scoring."""
    import importlib.util

    path = Path(__file__).with_name("bench_local_scoring.py")
    spec = importlib.util.spec_from_file_location("bench_local_scoring", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return int(module.main(argv))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--scoring" in argv:
        return _scoring([a for a in argv if a != "--scoring"])
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default=None, help="checkpoint directory or shipped name (default: band-vlm-v1)")
    p.add_argument("--real-photos", action="store_true", help="rank agreement with pixel judges on real photos")
    p.add_argument(
        "--locals",
        default="band-vlm-v1,nearest",
        help="--real-photos: judges to compare (checkpoint names/dirs, nearest, pixel:JUDGE for another pixel judge)",
    )
    p.add_argument("--judges", default="hist-hog,lbp-dct", help="--real-photos: pixel judges")
    p.add_argument("--tasks", default=",".join(PHOTO_TASKS), help="--real-photos: tasks")
    p.add_argument("--n-probes", type=int, default=12, help="--real-photos: probes per calibration")
    p.add_argument("--n-examples", type=int, default=12, help="--real-photos: validation examples per probe")
    p.add_argument("--k-per-class", type=int, default=2, help="--real-photos: demos per class")
    p.add_argument("--task-seed", type=int, default=100, help="--real-photos: seed of the tasks and probes")
    p.add_argument(
        "--finetune-steps",
        type=int,
        default=0,
        help="--real-photos: also measure each local band VLM finetuned this many steps on the task's photos",
    )
    p.add_argument("--finetune-per-label", type=int, default=8, help="--real-photos: finetune photos per label")
    p.add_argument("--finetune-seed", type=int, default=7, help="--real-photos: task seed of the finetune photos")
    p.add_argument("--episodes", type=int, default=100, help="episodes per family and condition")
    p.add_argument("--fractions", default="0.75,0.5,0.25,0.125", help="token fractions to sweep")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--json", default=None, help="also write the results to this JSON file")
    p.add_argument("--scoring", action="store_true", help="run bench_local_scoring.py instead (its options follow)")
    args = p.parse_args(argv)
    check_outputs(p, {"--json": args.json})
    if args.real_photos:
        return real_photos(args)

    import torch

    from specprompt.training import HELD_OUT_FAMILIES, PHOTO_FAMILIES, TRAIN_FAMILIES, sample_episodes
    from specprompt.vlm import LocalVLM

    if args.threads:
        torch.set_num_threads(args.threads)
    vlm = LocalVLM.load(args.checkpoint)
    train_cfg = vlm.meta.get("train", {})
    # procedural families only: photo families (v2 recipe) are measured by --real-photos
    train_fams = tuple(f for f in train_cfg.get("families", TRAIN_FAMILIES) if f not in PHOTO_FAMILIES)
    held_fams = tuple(train_cfg.get("held_out", HELD_OUT_FAMILIES))
    fracs = [float(f) for f in args.fractions.split(",")]
    conditions = [("full", 1.0)] + [(c, f) for f in fracs for c in ("coarse", "random", "downsample")]
    results: dict[str, dict[str, tuple[float, float, float]]] = {}
    t_start = time.perf_counter()
    for fi, fam in enumerate((*train_fams, *held_fams)):
        rng = np.random.default_rng(np.random.SeedSequence([2**32 + 7, fi]))
        batch = sample_episodes(rng, (fam,), args.episodes, n_way=5, k_shot=2, n_query=1)
        results[fam] = {}
        for cond, frac in conditions:
            key = cond if cond == "full" else f"{cond}@{frac:g}"
            results[fam][key] = _run_condition(vlm, batch, cond, frac, rng, "cpu")
    eval_s = time.perf_counter() - t_start

    def mean(fams: tuple[str, ...], key: str, idx: int) -> float:
        return float(np.mean([results[f][key][idx] for f in fams]))

    all_fams = (*train_fams, *held_fams)
    print(f"# band VLM benchmark: {vlm.model_id}, 5-way 2-shot, {args.episodes} episodes x 5 queries per cell\n")
    print("## Accuracy with all bands (model / nearest-neighbour band scorer)\n")
    print("| family | split | model | NN | tokens/image |")
    print("|---|---|---|---|---|")
    for fam in all_fams:
        acc, nn, tok = results[fam]["full"]
        print(
            f"| {fam} | {'train (held-out seeds)' if fam in train_fams else 'held-out family'} "
            f"| {acc:.3f} | {nn:.3f} | {tok:.0f} |"
        )
    for name, fams in (
        ("mean train families", train_fams),
        ("mean held-out families", held_fams),
        ("mean all families", all_fams),
    ):
        print(f"| **{name}** | | **{mean(fams, 'full', 0):.3f}** | **{mean(fams, 'full', 1):.3f}** | |")
    print("\n## Mean accuracy over all families vs fraction of band tokens kept (model / NN, tokens/image)\n")
    print("| fraction | coarse-first | random dropout | pixel downsampling |")
    print("|---|---|---|---|")
    print(f"| 1.0 | {mean(all_fams, 'full', 0):.3f} / {mean(all_fams, 'full', 1):.3f} (44) | | |")
    for f in fracs:
        cells = []
        for c in ("coarse", "random", "downsample"):
            key = f"{c}@{f:g}"
            cells.append(f"{mean(all_fams, key, 0):.3f} / {mean(all_fams, key, 1):.3f} ({mean(all_fams, key, 2):.0f})")
        print(f"| {f:g} | " + " | ".join(cells) + " |")
    print("\n## Per family, random half of the tokens (model / NN)\n")
    print("| family | full | random@0.5 | coarse@0.5 |")
    print("|---|---|---|---|")
    for fam in all_fams:
        r = results[fam]
        print(
            f"| {fam} | {r['full'][0]:.3f} | {r['random@0.5'][0]:.3f} / {r['random@0.5'][1]:.3f} "
            f"| {r['coarse@0.5'][0]:.3f} / {r['coarse@0.5'][1]:.3f} |"
        )

    timing = {"cpu": _timings(vlm, "cpu", 20)}
    if torch.cuda.is_available():
        gpu = LocalVLM.load(args.checkpoint, device="cuda")
        timing["cuda"] = _timings(gpu, "cuda", 20)
    print(f"\n## Speed (torch threads: {torch.get_num_threads()})\n")
    print("| device | seconds per prompt (LocalVLM.answer, 11 images) | prompts/s (batched, 20 episodes x 5 queries) |")
    print("|---|---|---|")
    for dev, t in timing.items():
        print(f"| {dev} | {t['seconds_per_prompt'] * 1e3:.1f} ms | {t['prompts_per_s_batched']:.0f} |")
    print(f"\n(accuracy sweep took {eval_s:.0f} s)\n")

    full_train = mean(train_fams, "full", 0)
    full_all, nn_all = mean(all_fams, "full", 0), mean(all_fams, "full", 1)
    half = mean(all_fams, "random@0.5", 0)
    held, held_nn = mean(held_fams, "full", 0), mean(held_fams, "full", 1)
    bars = [
        ("mean accuracy over training families (all bands) >= 0.80", full_train >= 0.80, f"{full_train:.3f}"),
        ("beats nearest-neighbour over all families", full_all > nn_all, f"{full_all:.3f} vs {nn_all:.3f}"),
        (
            "random half of tokens keeps >= 90% of full accuracy",
            half >= 0.9 * full_all,
            f"{half:.3f} vs {0.9 * full_all:.3f}",
        ),
    ]
    for text, ok, detail in bars:
        print(f"{'PASS' if ok else 'FAIL'}: {text} ({detail})")
    print(
        f"{'STRETCH PASS' if held > held_nn else 'STRETCH FAIL'}: beats nearest-neighbour on held-out families "
        f"({held:.3f} vs {held_nn:.3f})"
    )
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        with open(args.json, "w") as fh:
            json.dump({"model_id": vlm.model_id, "results": results, "timing": timing}, fh, indent=1)
    return 0 if all(ok for _, ok, _ in bars) else 1


if __name__ == "__main__":
    sys.exit(main())
