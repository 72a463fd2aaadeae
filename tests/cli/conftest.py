"""Tiny datasets and program files written into tmp folders for the CLI tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from specprompt.io import load_image
from specprompt.tasks import get_task

PROGRAM_FILE = '''
from typing import Literal

import dspy


class Quadrant(dspy.Signature):
    """Which quadrant of the picture holds the large coloured disc?"""

    image: dspy.Image = dspy.InputField()
    label: Literal["top-left", "top-right", "bottom-left", "bottom-right"] = dspy.OutputField()


class TwoInputs(dspy.Signature):
    """Answer about the picture."""

    image: dspy.Image = dspy.InputField()
    question: str = dspy.InputField()
    answer: str = dspy.OutputField()


class Album(dspy.Signature):
    """Name the place."""

    images: list[dspy.Image] = dspy.InputField()
    place: str = dspy.OutputField()


class Classifier(dspy.Module):
    def __init__(self):
        super().__init__()
        self.predict = dspy.Predict(Quadrant)

    def forward(self, image):
        return self.predict(image=image)


class Pipeline(dspy.Module):
    def __init__(self):
        super().__init__()
        self.first = dspy.Predict(Quadrant)
        self.second = dspy.Predict("label -> verdict")


program = dspy.Predict(Quadrant)
two_inputs = dspy.Predict(TwoInputs)
album = dspy.Predict(Album)
cot = dspy.ChainOfThought(TwoInputs)


def make():
    return dspy.Predict(Quadrant)


def needs_args(x):
    return x


def returns_int():
    return 1


class NotAModule:
    pass


class NeedsArgs:
    def __init__(self, x):
        self.x = x


NOT_A_PROGRAM = 3


def metric(example, pred, trace=None):
    return float(example.label == pred.label)
'''


@pytest.fixture
def program_file(tmp_path: Path) -> Path:
    path = tmp_path / "prog.py"
    path.write_text(PROGRAM_FILE)
    return path


def write_split(root: Path, name: str, examples: list[Any]) -> tuple[Path, Path]:
    """Writes ``examples`` as ``root/name/<label>/<i>.png`` and ``root/name.jsonl`` (paths relative to it)."""
    lines = []
    for i, ex in enumerate(examples):
        rel = Path(name) / ex.label / f"{i}.png"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        load_image(ex.image).save(root / rel)
        lines.append(json.dumps({"image": rel.as_posix(), "label": ex.label}))
    jsonl = root / f"{name}.jsonl"
    jsonl.write_text("\n".join(lines) + "\n")
    return root / name, jsonl


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """64 px colour-position images: ``train``/``val`` folders per label and JSONL files."""
    root = tmp_path_factory.mktemp("data")
    task = get_task("colour-position", n_train=6, n_val=6, n_test=0, size=64, seed=3)
    train_dir, train_jsonl = write_split(root, "train", task.trainset)
    val_dir, val_jsonl = write_split(root, "val", task.valset)
    return {
        "root": root,
        "train_dir": train_dir,
        "train_jsonl": train_jsonl,
        "val_dir": val_dir,
        "val_jsonl": val_jsonl,
    }


@pytest.fixture(scope="session")
def compiled_out(tiny_data: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``--out`` folder of one small ``specprompt compile`` run (program file next to it)."""
    from specprompt.cli import main

    root = tmp_path_factory.mktemp("compiled")
    prog = root / "prog.py"
    prog.write_text(PROGRAM_FILE)
    out = root / "out"
    args = ["compile", f"{prog}:program", "--trainset", str(tiny_data["train_dir"]), "--valset"]
    args += [str(tiny_data["val_jsonl"]), "--budget", "30", "--cost-model", "openai:gpt-4.1-mini", "--trials", "3"]
    args += ["--k-demos", "3", "--minibatch", "3", "--threads", "2", "--out", str(out), "--no-progress"]
    if main(args) != 0:
        raise RuntimeError("the fixture compile failed")
    return out
