"""The local model on CUDA (``--device cuda``): the same answers as on CPU, and training there.

Skipped where torch sees no CUDA device (as on CI); run on a GPU machine with
``pytest tests/vlm/test_cuda.py tests/spectral/test_torch.py``. These need neither dspy nor optuna.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from specprompt.io import sample_photo
from specprompt.training import train
from specprompt.vlm import LocalVLM, load_checkpoint

from ..conftest import tiny_config

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="torch sees no CUDA device")


def _crops(name: str, n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    pix = sample_photo(name)
    out = []
    for _ in range(n):
        y, x = int(rng.integers(0, pix.shape[0] - 256)), int(rng.integers(0, pix.shape[1] - 256))
        out.append(np.array(pix[y : y + 256, x : x + 256]))
    return out


@pytest.mark.parametrize("checkpoint", ["band-vlm-v1", "band-vlm-v2"])
def test_shipped_checkpoints_answer_on_cuda_as_on_cpu(checkpoint: str) -> None:
    cpu, gpu = LocalVLM.load(checkpoint, device="cpu"), LocalVLM.load(checkpoint, device="cuda")
    assert gpu.device.startswith("cuda") and next(gpu.model.parameters()).is_cuda
    assert gpu.model_id == cpu.model_id
    names = ("astronaut", "coffee", "chelsea", "rocket")
    demos = [(img, name) for i, name in enumerate(names) for img in _crops(name, 2, i)]
    for q, name in enumerate(names):
        query = _crops(name, 1, 100 + q)[0]
        a, b = cpu.answer(demos, query, "Which photo?"), gpu.answer(demos, query, "Which photo?")
        assert a.answer == b.answer and a.image_tokens == b.image_tokens
        for label in names:
            assert b.scores[label] == pytest.approx(a.scores[label], abs=2e-3)
    emb_cpu, emb_gpu = cpu.embed([d for d, _ in demos]), gpu.embed([d for d, _ in demos])
    assert np.allclose(emb_cpu, emb_gpu, atol=1e-3)


def test_training_on_cuda_with_workers_writes_a_cpu_loadable_checkpoint(tmp_path: Path) -> None:
    out = train(tiny_config(tmp_path / "c", device="cuda", workers=2, steps=6))
    meta = json.loads((out / "config.json").read_text())
    assert meta["metrics"]["device"].startswith("cuda") and meta["metrics"]["steps_done"] == 6
    model, _ = load_checkpoint(out)  # saved from CPU tensors: loads where there is no GPU
    assert not next(model.parameters()).is_cuda
