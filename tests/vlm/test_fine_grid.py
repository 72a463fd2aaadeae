"""Finer fine levels (ModelConfig.fine_grid, fine_cells): more, smaller fine tokens, priced by a
cost model of the same grid; the shipped grid (4 x 4 tokens, 4 x 4 cells) left as it was."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import specprompt
from specprompt import ConfigError
from specprompt.cost import LocalCostModel, get_cost_model, image_tokens
from specprompt.search import SearchConfig
from specprompt.search._invisible import local_cost_name, resolve_local_cost
from specprompt.vlm import (
    FINE_GRIDS,
    BandVLM,
    LocalVLM,
    ModelConfig,
    fine_feature_dim,
    image_token_count,
    prepare_image,
    read_config,
    resolve_checkpoint,
    save_checkpoint,
    token_layout,
)

from ..conftest import TINY_MODEL
from .test_canvas import _photo

GRID8 = ModelConfig(**{**TINY_MODEL.to_dict(), "canvas": 256, "aux": [], "fine_grid": 8, "fine_cells": 8})


def test_shipped_configs_load_with_the_4_by_4_grid() -> None:
    for name in ("band-vlm-v1", "band-vlm-v2"):
        stored = read_config(resolve_checkpoint(name))["model"]
        assert "fine_grid" not in stored  # written before the fields existed
        cfg = ModelConfig.from_dict(stored)
        assert (cfg.fine_grid, cfg.fine_cells) == (4, 4)
    assert ModelConfig.from_dict(json.loads(json.dumps(GRID8.to_dict()))) == GRID8
    from specprompt.cost._local import FINE_GRIDS as COST_GRIDS

    assert FINE_GRIDS == COST_GRIDS


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"fine_grid": 5}, "fine_grid"),
        ({"fine_grid": True}, "fine_grid"),
        ({"fine_cells": 3}, "fine_cells"),
        ({"fine_grid": 16, "fine_cells": 16}, "fine_cells"),
    ],
)
def test_bad_fine_grid_options_are_config_errors(changes: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        ModelConfig(**{"canvas": 256, **changes})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="fine_grid"):
        token_layout(256, 256, canvas=256, fine_grid=3)


def test_a_finer_grid_counts_grid_squared_tokens_per_fine_level() -> None:
    four = token_layout(256, 256, canvas=256)
    eight = token_layout(256, 256, canvas=256, fine_grid=8)
    assert [f.shape for f in eight.fine] == [(8, 8), (8, 8)] and [f.shape for f in four.fine] == [(4, 4), (4, 4)]
    assert all((a == b).all() for a, b in zip(eight.created, four.created, strict=True))  # 64 px bands alike
    assert image_token_count(256, 256, canvas=256, fine_grid=8) == 44 + 2 * 64
    assert image_token_count(128, 128, canvas=256, fine_grid=8) == 44 + 64  # F0 is above its Nyquist
    assert fine_feature_dim(4) == 80 and fine_feature_dim(8) == 224


def test_the_cost_model_of_a_grid_is_registered_and_prices_its_tokens() -> None:
    name = local_cost_name(256, 8)
    assert name == "local:canvas-256-grid-8"
    assert get_cost_model(name) == LocalCostModel(canvas=256, fine_grid=8)
    assert image_tokens(name, 1024, 768) == image_token_count(1024, 768, canvas=256, fine_grid=8)
    assert image_tokens(name, 1024, 768) > image_tokens("local:band-vlm-v2", 1024, 768)
    with pytest.raises(ConfigError, match="fine_grid"):
        LocalCostModel(canvas=256, fine_grid=6)


def test_a_grid_8_model_reads_8_by_8_fine_tokens_and_the_search_prices_them(tmp_path: object) -> None:
    from pathlib import Path

    from specprompt.scorers import local_lm

    torch.manual_seed(0)
    folder = Path(str(tmp_path)) / "g8"
    save_checkpoint(BandVLM(GRID8).eval(), folder)
    vlm = LocalVLM.load(folder)
    img = _photo(256)
    prepared = vlm.prepare(img)
    assert [f.shape for f in prepared.layout.fine] == [(8, 8), (8, 8)]
    assert prepared.layout.n_tokens > prepare_image(img, canvas=256, fine_threshold=0.012).layout.n_tokens
    assert vlm.embed([img]).shape == (1, GRID8.embedding_dim)
    flipped = np.ascontiguousarray(img[::-1])
    assert vlm.answer([(img, "a"), (flipped, "b")], img, "which?").answer in ("a", "b")
    with pytest.raises(specprompt.ImageInputError, match="8 x 8"):
        vlm.prepare(prepare_image(img, canvas=256))  # prepared for a 4 x 4 grid
    cfg = resolve_local_cost(SearchConfig(cost_model="local"), local_lm(str(folder)))
    assert cfg.cost_model == "local:canvas-256-grid-8"


def test_a_grid_8_model_trains_on_photo_material_and_loads(tmp_path: object) -> None:
    from pathlib import Path

    from specprompt.training import train

    from ..conftest import tiny_config

    fine = ModelConfig(**{**TINY_MODEL.to_dict(), "canvas": 128, "fine_grid": 8, "fine_cells": 4})
    cfg = tiny_config(Path(str(tmp_path)) / "g8", steps=2, families=("colour", "photo-mark"), model=fine, augment=0.5)
    vlm = LocalVLM.load(train(cfg))
    assert (vlm.model.config.fine_grid, vlm.model.config.fine_cells) == (8, 4)
    img = _photo(128)
    assert [f.shape for f in vlm.prepare(img).layout.fine] == [(8, 8)]
    assert vlm.answer([(img, "a"), (np.ascontiguousarray(img[::-1]), "b")], img, "which?").answer in ("a", "b")


def test_the_episode_readout_separates_demos_that_differ_only_slightly() -> None:
    from specprompt.vlm._readout import fisher_logits

    torch.manual_seed(0)
    base = torch.randn(1, 1, 16)
    offsets = torch.zeros(4, 16)
    offsets[torch.arange(4), torch.arange(4)] = 1e-3  # class c differs from the others in dimension c only
    zs = base + offsets.repeat_interleave(2, 0)[None] + 1e-5 * torch.randn(1, 8, 16)
    ys = torch.arange(4).repeat_interleave(2)[None]
    zq = base + offsets[None, 2:3]  # a query of class 2
    kwargs = {"prior_var": torch.full((16,), 0.05), "kappa": 1.0, "beta": torch.tensor(1.0), "tau": torch.tensor(2.0)}
    prior = torch.softmax(fisher_logits(zs, ys, 4, zq, **kwargs), -1)[0, 0]
    episode = torch.softmax(fisher_logits(zs, ys, 4, zq, scale="episode", **kwargs), -1)[0, 0]
    assert float(prior.max() - prior.min()) < 0.01  # the prior floor: every answer about equally likely
    assert int(episode.argmax()) == 2 and float(episode[2]) > 0.45  # about twice any other answer


def test_the_readout_scale_is_a_checked_option_and_part_of_the_model_id(tmp_path: object) -> None:
    from pathlib import Path

    with pytest.raises(ConfigError, match="readout_scale"):
        ModelConfig(readout_scale="nearest")
    torch.manual_seed(0)
    folder = save_checkpoint(BandVLM(TINY_MODEL).eval(), Path(str(tmp_path)) / "m")
    prior = LocalVLM.load(folder)
    cfg = json.loads((folder / "config.json").read_text())
    cfg["model"]["readout_scale"] = "episode"
    (folder / "config.json").write_text(json.dumps(cfg))
    episode = LocalVLM.load(folder)
    assert episode.weights_sha256 == prior.weights_sha256
    assert episode.model_id == prior.model_id + "-episode"  # other answers, so another DSPy cache key
