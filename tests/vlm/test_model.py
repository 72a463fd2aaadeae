"""The band VLM network: tokens of dropped bands, padding, readout."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from specprompt.vlm import ModelConfig
from specprompt.vlm._model import BandVLM
from specprompt.vlm._pyramid import band_features, feature_dims, tokens_per_band, working_bands
from specprompt.vlm._readout import fisher_logits

TINY = ModelConfig(dim=16, depth=1, heads=2, readout_tokens=2, slices=2, slice_dim=4, text_dim=4, aux=(("a", 3),))


def _model() -> BandVLM:
    torch.manual_seed(0)
    return BandVLM(TINY).eval()


def test_pyramid_is_an_exact_laplacian_and_features_have_the_documented_shape() -> None:
    x = torch.rand(2, 3, 64, 64)
    bands = working_bands(x)
    assert [tuple(b.shape[2:]) for b in bands] == [(64, 64), (32, 32), (16, 16), (8, 8), (4, 4)]
    from specprompt.spectral import laplacian_pyramid, laplacian_reconstruct

    assert torch.allclose(laplacian_reconstruct(bands, border="replicate"), x, atol=1e-5)
    same = laplacian_pyramid(x, levels=4, border="replicate")
    assert all(torch.equal(a, b) for a, b in zip(bands, same, strict=True))
    feats = band_features(bands)
    assert [f.shape[1] for f in feats] == tokens_per_band() == [16, 16, 4, 4, 4]
    assert [f.shape[2] for f in feats] == feature_dims()


def test_dropped_tokens_have_no_influence_and_padding_is_neutral() -> None:
    model = _model()
    x = torch.rand(3, 3, 64, 64)
    feats = band_features(working_bands(x))
    rng = np.random.default_rng(0)
    keep = [torch.from_numpy(rng.random(f.shape[:2]) < 0.5) for f in feats]
    for k in keep:
        k[:, 0] = True
    z = model.encode(feats, keep)
    # change the content of every dropped token: nothing moves
    noisy = [torch.where(k[..., None], f, torch.randn_like(f) * 100) for f, k in zip(feats, keep, strict=True)]
    assert torch.allclose(model.encode(noisy, keep), z, atol=1e-5)
    # encoding each image alone (no padding) gives the same embedding as the padded batch
    for i in range(3):
        alone = model.encode([f[i : i + 1] for f in feats], [k[i : i + 1] for k in keep])
        assert torch.allclose(alone[0], z[i], atol=1e-5)
    # a token that is kept does matter
    keep2 = [k.clone() for k in keep]
    keep2[1][:, 0] = ~keep2[1][:, 0]
    assert not torch.allclose(model.encode(feats, keep2), z, atol=1e-4)
    assert z.shape == (3, TINY.embedding_dim)


def test_fisher_readout_picks_the_dimension_that_separates_the_demos() -> None:
    g = torch.Generator().manual_seed(0)
    zs = torch.randn(1, 6, 4, generator=g) * 3  # noise everywhere ...
    ys = torch.tensor([[0, 0, 1, 1, 2, 2]])
    zs[0, :, 2] = torch.tensor([0.0, 0.05, 5.0, 5.02, 10.0, 9.97])  # ... except dim 2
    zq = torch.randn(1, 3, 4, generator=g) * 3
    zq[0, :, 2] = torch.tensor([10.0, 0.0, 5.0])
    kw = {"prior_var": torch.ones(4), "kappa": 1.0, "beta": torch.tensor(2.0), "tau": torch.tensor(10.0)}
    logits = fisher_logits(zs, ys, 3, zq, **kw)  # type: ignore[arg-type]
    assert logits.argmax(-1).tolist() == [[2, 0, 1]]
    # a class with no demo gets -inf; demo order does not matter
    four = fisher_logits(zs, ys, 4, zq, **kw)  # type: ignore[arg-type]
    assert torch.isinf(four[..., 3]).all()
    perm = torch.tensor([5, 3, 1, 0, 2, 4])
    assert torch.allclose(fisher_logits(zs[:, perm], ys[:, perm], 3, zq, **kw), logits, atol=1e-5)  # type: ignore[arg-type]


@pytest.mark.parametrize("k_shot", [1, 3])
def test_episode_logits_work_for_one_and_several_shots(k_shot: int) -> None:
    model = _model()
    zs = torch.randn(2, 4 * k_shot, TINY.embedding_dim)
    ys = torch.arange(4).repeat_interleave(k_shot)[None].expand(2, -1)
    gate = model.text_gate_of([[1, 2, 3], []])
    out = model.episode_logits(zs, ys, 4, torch.randn(2, 5, TINY.embedding_dim), gate)
    assert out.shape == (2, 5, 4) and torch.isfinite(out).all()
