"""Compile a DSPy image classifier against any OpenAI-compatible chat API.

The same program and search as ``offline_compile.py``, but the candidates are scored by a model
behind an OpenAI-compatible endpoint, reached through ``dspy.LM("openai/<model>", api_base=...)``:

* specprompt's own server (offline; the client needs some key, and ``specprompt serve`` reads
  the same variable, so one export serves both)::

      export SPECPROMPT_API_KEY=local-secret
      specprompt serve --port 8000 &                    # the local band VLM, as specprompt/local
      SPECPROMPT_MODEL=specprompt/local SPECPROMPT_API_BASE=http://127.0.0.1:8000/v1 \\
          python examples/openai_compatible.py

* a real provider, e.g. OpenAI (every trial makes real, billed requests: start with few trials)::

      SPECPROMPT_MODEL=gpt-4.1-mini SPECPROMPT_API_BASE=https://api.openai.com/v1 \\
      SPECPROMPT_API_KEY=sk-... SPECPROMPT_COST_MODEL=openai:gpt-4.1-mini SPECPROMPT_TRIALS=10 \\
          python examples/openai_compatible.py

* a local vLLM / llama.cpp / Ollama server: its URL (``http://host:port/v1``) and model name, and
  the cost model of that model family (``qwen2.5-vl``, ``local``, ...).

Environment: ``SPECPROMPT_MODEL`` (required), ``SPECPROMPT_API_BASE`` (required),
``SPECPROMPT_API_KEY`` (optional), ``SPECPROMPT_COST_MODEL`` (default ``openai:gpt-4.1-mini``;
see ``specprompt.available_cost_models()``), ``SPECPROMPT_TRIALS`` (default 12),
``SPECPROMPT_BUDGET`` (default 120 tokens for the four demo images), ``SPECPROMPT_SIZE``
(default 256 px). The compiled program and an HTML report are written to ``SPECPROMPT_OUT``
(default ``./specprompt-openai-example``); re-running resumes the study stored there.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import dspy
import optuna
from dspy.teleprompt import LabeledFewShot

from specprompt.reports import CompileReport, describe_program
from specprompt.search import BandOptimizer
from specprompt.tasks import get_task


class Quadrant(dspy.Signature):
    """Which quadrant of the picture holds the large coloured disc?"""

    image: dspy.Image = dspy.InputField(desc="a noisy picture with one large coloured disc")
    label: Literal["top-left", "top-right", "bottom-left", "bottom-right"] = dspy.OutputField()


def exact(example: dspy.Example, pred: dspy.Prediction, trace: object = None) -> float:
    return float(example.label == pred.label)


def main() -> None:
    cost_model = os.environ.get("SPECPROMPT_COST_MODEL", "openai:gpt-4.1-mini")
    out = Path(os.environ.get("SPECPROMPT_OUT", "specprompt-openai-example"))
    out.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    lm = dspy.LM(
        "openai/" + os.environ["SPECPROMPT_MODEL"],
        api_base=os.environ["SPECPROMPT_API_BASE"],
        api_key=os.environ.get("SPECPROMPT_API_KEY"),
    )
    task = get_task(
        "colour-position", n_train=8, n_val=16, n_test=16, size=int(os.environ.get("SPECPROMPT_SIZE", "256"))
    )
    optimizer = BandOptimizer(
        exact,
        token_budget=int(os.environ.get("SPECPROMPT_BUDGET", "120")),
        cost_model=cost_model,
        n_trials=int(os.environ.get("SPECPROMPT_TRIALS", "12")),
        minibatch_size=8,
        num_threads=4,
        run_dir=str(out),
    )
    evaluate = dspy.Evaluate(devset=task.testset, metric=exact, num_threads=4, display_progress=False)
    with dspy.context(lm=lm):
        before = LabeledFewShot(k=4).compile(dspy.Predict(Quadrant), trainset=task.trainset)
        after = optimizer.compile(before, trainset=task.trainset, valset=task.valset, baselines=["full"])
        acc_before, acc_after = evaluate(before).score, evaluate(after).score

    _, tokens_before = describe_program(before, cost_model=cost_model).tokens()
    _, tokens_after = describe_program(after, cost_model=cost_model).tokens()
    print(f"image tokens per prompt ({cost_model}): before {tokens_before}, after {tokens_after}")
    print(f"test accuracy (%): before {acc_before:.1f}, after {acc_after:.1f}")
    after.save(str(out / "program.json"))
    result = optimizer.last_result
    if result is None:  # set by every finished compile
        raise SystemExit("the optimizer returned no result")
    CompileReport(result, after, sources=task.trainset, run={"lm": lm.model}).save(out / "report.html")
    print(f"wrote {out / 'program.json'} and {out / 'report.html'}")


if __name__ == "__main__":
    main()
