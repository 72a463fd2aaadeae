"""Every ```python block of README.md runs as written (each in a fresh interpreter, warnings as errors).

The blocks name a user's files (``photo.jpg``, ``train/``, ``val/``, ``test/``); the fixture writes small ones
into the working folder: a scikit-image photo and 128 px pictures of the built-in
``colour-position`` task, a folder per label.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks(text: str) -> list[tuple[int, str]]:
    """``(first line number, code)`` of each fenced ```python block."""
    return [
        (text.count("\n", 0, m.start()) + 2, m.group(1))
        for m in re.finditer(r"^```python\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)
    ]


BLOCKS = python_blocks(README.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def user_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import numpy as np
    import skimage.data
    from PIL import Image

    from specprompt import get_task, load_image

    root = tmp_path_factory.mktemp("readme")
    Image.fromarray(np.asarray(skimage.data.astronaut())).save(root / "photo.jpg")
    task = get_task("colour-position", n_train=8, n_val=12, n_test=8, size=128, seed=0)
    for split, examples in (("train", task.trainset), ("val", task.valset), ("test", task.testset)):
        for i, ex in enumerate(examples):
            folder = root / split / ex.label
            folder.mkdir(parents=True, exist_ok=True)
            load_image(ex.image).save(folder / f"{i}.png")
    return root


def test_the_readme_has_python_blocks() -> None:
    assert len(BLOCKS) >= 2
    assert any("program_for_budget" in code for _, code in BLOCKS)


@pytest.mark.parametrize(("line", "code"), BLOCKS, ids=[f"README.md:{line}" for line, _ in BLOCKS])
def test_readme_block_runs(line: int, code: str, user_files: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    shutil.copytree(user_files, work)
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], cwd=work, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, f"README.md block at line {line} failed:\n{done.stderr[-3000:]}"
