"""The raw fine readout (ModelConfig.fine_readout): a second, unlearned readout over the kept fine
tokens' spectral signatures that speaks only where they separate the demos."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from specprompt import ConfigError
from specprompt.tasks import get_task
from specprompt.vlm import BandVLM, LocalVLM, ModelConfig, save_checkpoint
from specprompt.vlm._readout import SHARE_RANGE, TRUST_RANGE, raw_logits
from specprompt.vlm._tokenizer import SPECTRAL_BINS

from ..conftest import TINY_MODEL

FINE = ModelConfig(**{**TINY_MODEL.to_dict(), "canvas": 128, "aux": [], "fine_readout": 16.0})


def _digit_like(n_dims: int = 200, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Demos of 4 classes x 2 shots that share a noisy scene and differ in 3 dimensions only."""
    g = torch.Generator().manual_seed(seed)
    scene = 1.0 + torch.rand(n_dims, generator=g)
    code = torch.zeros(4, n_dims)
    code[:, :3] = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    ys = torch.arange(4).repeat_interleave(2)
    zs = scene + code[ys] + 0.01 * torch.randn(8, n_dims, generator=g)
    return zs[None], ys[None]


def test_it_finds_the_few_dimensions_where_the_demos_differ() -> None:
    zs, ys = _digit_like()
    zq = zs[:, ::2] + 0.01  # one query per class, slightly off every demo
    logits = raw_logits(zs, ys, 4, zq, tau=16.0)[0]
    assert logits.argmax(-1).tolist() == [0, 1, 2, 3]
    assert float((logits.max(-1).values - logits.topk(2, -1).values[:, 1]).min()) > 4.0  # decisive


def test_a_readout_of_nothing_or_of_noise_adds_nothing() -> None:
    ys = torch.arange(4).repeat_interleave(2)[None]
    zq = torch.rand(1, 3, 50)
    assert torch.equal(raw_logits(torch.zeros(1, 8, 50), ys, 4, zq, tau=64.0), torch.zeros(1, 3, 4))
    g = torch.Generator().manual_seed(1)
    noise = 1.0 + torch.randn(1, 8, 400, generator=g)  # no dimension separates the classes
    assert torch.equal(raw_logits(noise, ys, 4, zq[..., :1].expand(1, 3, 400), tau=64.0), torch.zeros(1, 3, 4))
    assert TRUST_RANGE[0] < TRUST_RANGE[1] and SHARE_RANGE[0] < SHARE_RANGE[1]


def test_differences_spread_over_the_whole_image_are_left_to_the_learned_readout() -> None:
    g = torch.Generator().manual_seed(2)
    ys = torch.arange(4).repeat_interleave(2)
    code = torch.randn(4, 300, generator=g)  # every dimension tells the classes apart (a texture)
    zs = (code[ys] + 0.05 * torch.randn(8, 300, generator=g))[None]
    zq = zs[:, ::2]
    assert torch.equal(raw_logits(zs, ys[None], 4, zq, tau=64.0), torch.zeros(1, 4, 4))
    local = zs.clone()
    local[..., 5:] = 1.0 + 0.01 * torch.randn(1, 8, 295, generator=g)  # the same 5 dimensions, in a shared scene
    assert raw_logits(local, ys[None], 4, local[:, ::2], tau=64.0)[0].argmax(-1).tolist() == [0, 1, 2, 3]


def test_a_class_whose_demos_lack_a_token_neither_wins_nor_loses_on_it() -> None:
    zs, ys = _digit_like()
    zq = zs[:, ::2]
    full = raw_logits(zs, ys, 4, zq, tau=16.0)[0]
    gap = zs.clone()
    gap[0, 6:8, 100:] = 0.0  # class 3's demos lost half their tokens (a dropped band)
    part = raw_logits(gap, ys, 4, zq, tau=16.0)[0]
    assert part.argmax(-1).tolist() == full.argmax(-1).tolist() == [0, 1, 2, 3]
    none = zs.clone()
    none[0, 6:8] = 0.0  # class 3 has no fine token at all
    logits = raw_logits(none, ys, 4, zq, tau=16.0)[0]
    assert logits[:3].argmax(-1).tolist() == [0, 1, 2]  # the others still answer right
    assert bool(torch.isfinite(logits).all())


def test_the_option_is_checked_and_part_of_the_model_id(tmp_path: Path) -> None:
    for bad in (-1.0, True, "64", 1e6):
        with pytest.raises(ConfigError, match="fine_readout"):
            ModelConfig(fine_readout=bad)  # type: ignore[arg-type]
    assert ModelConfig.from_dict(FINE.to_dict()).fine_readout == 16.0
    torch.manual_seed(0)
    folder = save_checkpoint(BandVLM(ModelConfig(**{**FINE.to_dict(), "fine_readout": 0.0})).eval(), tmp_path / "m")
    plain = LocalVLM.load(folder)
    cfg = json.loads((folder / "config.json").read_text())
    cfg["model"]["fine_readout"] = 16
    (folder / "config.json").write_text(json.dumps(cfg))
    raw = LocalVLM.load(folder)
    assert raw.weights_sha256 == plain.weights_sha256
    assert raw.model_id == plain.model_id + "-fine16"  # other answers, so another DSPy cache key
    img = np.random.default_rng(0).random((128, 128, 3)).astype(np.float32)
    z_plain, z_raw = plain.embed([img]), raw.embed([img])
    d = FINE.embedding_dim
    assert z_plain.shape == (1, d)
    assert z_raw.shape == (1, d + FINE.fine_levels * FINE.fine_grid**2 * SPECTRAL_BINS)
    assert raw.embed([]).shape == (0, d + FINE.fine_readout_dim) and plain.model.config.fine_readout_dim == 0
    np.testing.assert_allclose(z_raw[:, :d], z_plain, atol=1e-5)


def test_shipped_v2_reads_the_digit_on_the_tag_at_full_resolution() -> None:
    """photo-detail: the learned readout alone gives every answer the same probability here."""
    task = get_task("photo-detail", n_train=8, n_val=8, n_test=0, size=512, seed=3)
    vlm = LocalVLM.load("band-vlm-v2")
    assert vlm.model.config.fine_readout > 0
    demos = [(ex.image, ex.label) for ex in task.trainset]
    right = sum(vlm.answer(demos, ex.image, task.instructions).answer == ex.label for ex in task.valset)
    assert right >= 6  # chance is 2 of 8
