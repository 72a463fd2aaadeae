"""Compile a small DSPy image classifier offline: full-resolution demos before, chosen bands after.

Runs without network or downloads: the LM is specprompt's local band VLM (the checkpoint shipped
in the package, ``--lm local``, the default) or its nearest-band engine (``--lm nearest``), which
answers with the label of the demo whose kept frequency bands best match the query image. With
either, demos that lost the bands their label depends on stop helping, as they would with a
remote model.

    python examples/offline_compile.py                  # about a minute on 2 CPU cores
    python examples/offline_compile.py --size 64 --budget 20 --trials 6 --n-val 8 --n-test 8   # seconds
    python examples/offline_compile.py --lm nearest

Steps: a ``dspy.Predict`` classifier gets four labelled demos, one per answer (full-resolution
images; ``LabeledFewShot(k=4)`` draws at random and can miss an answer, which the program then only
guesses), then ``BandOptimizer`` keeps only the bands of each demo image that fit a token budget
priced with a provider's formula. The script prints image tokens per prompt and test accuracy
before and after, and writes the compiled program and an HTML report to ``--out``.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Literal

import dspy
import optuna

from specprompt.reports import CompileReport, describe_program
from specprompt.scorers import local_lm, nearest_lm
from specprompt.search import BandOptimizer
from specprompt.tasks import get_task


class Quadrant(dspy.Signature):
    """Which quadrant of the picture holds the large coloured disc?"""

    image: dspy.Image = dspy.InputField(desc="a noisy picture with one large coloured disc")
    label: Literal["top-left", "top-right", "bottom-left", "bottom-right"] = dspy.OutputField()


def exact(example: dspy.Example, pred: dspy.Prediction, trace: object = None) -> float:
    return float(example.label == pred.label)


def accuracy(program: dspy.Module, examples: list[dspy.Example]) -> float:
    return sum(exact(ex, program(image=ex.image)) for ex in examples) / len(examples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=192, help="image side in px (default 192)")
    parser.add_argument("--trials", type=int, default=16, help="band-search trials (default 16)")
    parser.add_argument("--n-val", type=int, default=16, help="validation examples (default 16)")
    parser.add_argument("--n-test", type=int, default=24, help="test examples (default 24)")
    parser.add_argument("--budget", type=int, default=60, help="image tokens of the four demos (default 60)")
    parser.add_argument("--cost-model", default="openai:gpt-4.1-mini", help="provider pricing (default %(default)s)")
    parser.add_argument("--lm", choices=("local", "nearest"), default="local", help="offline scorer (default local)")
    parser.add_argument("--out", default=None, help="output folder (default: a new temporary folder)")
    args = parser.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="specprompt-example-"))
    out.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    task = get_task("colour-position", n_train=8, n_val=args.n_val, n_test=args.n_test, size=args.size, seed=0)
    lm = local_lm() if args.lm == "local" else nearest_lm(cost_model=args.cost_model)
    print(f"scorer: {lm.model}")
    with dspy.context(lm=lm):
        before = dspy.Predict(Quadrant)
        before.demos = list({ex.label: ex for ex in reversed(task.trainset)}.values())  # the first of each answer
        optimizer = BandOptimizer(
            exact,
            token_budget=args.budget,
            cost_model=args.cost_model,
            n_trials=args.trials,
            minibatch_size=8,
            num_threads=2,
            storage="memory",
            progress=False,
        )
        after = optimizer.compile(before, trainset=task.trainset, valset=task.valset)
        acc_before, acc_after = accuracy(before, task.testset), accuracy(after, task.testset)

    _, tokens_before = describe_program(before, cost_model=args.cost_model).tokens()
    images = describe_program(after, cost_model=args.cost_model)
    _, tokens_after = images.tokens()
    print(images.table())
    print(f"image tokens per prompt ({args.cost_model}): before {tokens_before}, after {tokens_after}")
    print(f"test accuracy: before {acc_before:.3f}, after {acc_after:.3f}")
    after.save(str(out / "program.json"))
    result = optimizer.last_result
    if result is None:  # set by every finished compile
        raise SystemExit("the optimizer returned no result")
    CompileReport(result, after, sources=task.trainset).save(out / "report.html")
    print(f"wrote {out / 'program.json'} and {out / 'report.html'}")


if __name__ == "__main__":
    main()
