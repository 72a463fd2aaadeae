"""Photo training families, fine-level masks and the v2 recipe (warm start, preset)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from specprompt import ConfigError, UnknownNameError
from specprompt.tasks._photos import COLOUR_PHOTOS
from specprompt.training import (
    PHOTO_FAMILIES,
    TRAIN_PHOTOS,
    TRAIN_PRESETS,
    TrainConfig,
    augment,
    fine_allowed,
    fine_keep_masks,
    get_photo_family,
    sample_episodes,
    train,
)
from specprompt.vlm import LocalVLM, ModelConfig

from ..conftest import TINY_MODEL, tiny_config


def test_training_photos_are_disjoint_from_the_benchmark_tasks() -> None:
    benchmark = {*COLOUR_PHOTOS, "astronaut", "chelsea", "coffee", "rocket", "brick", "grass", "gravel"}
    assert not benchmark & set(TRAIN_PHOTOS)


@pytest.mark.parametrize("name", sorted(PHOTO_FAMILIES))
def test_photo_families_render_every_class_at_any_size(name: str) -> None:
    fam = get_photo_family(name)
    rng = np.random.default_rng(0)
    for value in range(len(fam.values)):
        img = fam.render(rng, value, 128)
        assert img.shape == (128, 128, 3) and img.dtype == np.float32
        assert 0.0 <= img.min() and img.max() <= 1.0


def test_unknown_photo_family_is_named() -> None:
    with pytest.raises(UnknownNameError, match="photo-scene"):
        get_photo_family("photo-nothing")


def test_augment_resamples_small_or_blurs_at_full_size() -> None:
    rng = np.random.default_rng(1)
    img = get_photo_family("photo-grain").render(rng, 0, 256)
    sides = set()
    for _ in range(12):
        out, side = augment(rng, img)
        assert out.shape == (side, side, 3)
        sides.add(side == 256)
    assert sides == {True, False}


def test_episodes_at_256_px_carry_detail_and_sent_sizes() -> None:
    rng = np.random.default_rng(0)
    b = sample_episodes(rng, ("colour", "fine-texture"), 4, n_way=2, k_shot=1, n_query=1, canvas=256, augment=0.5)
    assert b.images.shape == (4, 4, 64, 64, 3) and b.detail is not None and b.detail.shape == (4, 4, 256, 256, 3)
    assert b.sent is not None
    procedural = np.array([f == "colour" for f in b.families])
    photo = b.sent[~procedural]
    assert (b.sent[procedural] == 64).all() and ((photo >= 8) & (photo <= 256)).all() and (photo == 256).any()
    allowed = fine_allowed(np.array([64, 100, 200, 256]), 256)
    assert [a[:, 0].tolist() for a in allowed] == [[False, False, True, True], [False, True, True, True]]
    masks = fine_keep_masks(rng, allowed, dropout_prob=1.0, tile_dropout=1.0, band_dropout=0.5)
    assert all((m <= a).all() for m, a in zip(masks, allowed, strict=True))  # never more than allowed
    v1 = sample_episodes(np.random.default_rng(0), ("colour",), 2, n_way=2, k_shot=1, n_query=1)
    assert v1.detail is None and v1.sent is None


def test_photo_mark_letters_and_fonts_are_not_the_benchmark_digits() -> None:
    import cv2

    from specprompt.tasks._photos import PhotoDetail
    from specprompt.training._photo_families import _MARK_FONTS

    fam = get_photo_family("photo-mark")
    assert not set(fam.values) & set(PhotoDetail.labels)  # letters; the benchmark shows digits
    assert cv2.FONT_HERSHEY_SIMPLEX not in _MARK_FONTS  # the benchmark's font is left out
    assert fam.shared_scene > 0


def test_photo_mark_shared_scene_differs_only_in_the_tag() -> None:
    fam = get_photo_family("photo-mark")
    rng = np.random.default_rng(0)
    a = fam.render(rng, 0, 256, np.random.default_rng(7))
    b = fam.render(rng, 1, 256, np.random.default_rng(7))
    changed = np.abs(a - b).max(axis=2) > 0.1
    ys, xs = np.nonzero(changed)
    assert changed.any() and changed.mean() < 0.02  # only the letter's strokes
    assert np.ptp(ys) < 256 / 5 and np.ptp(xs) < 256 / 5  # inside one small tag
    c = fam.render(rng, 1, 256)  # no shared scene: a different photo crop
    assert (np.abs(b - c).max(axis=2) > 0.1).mean() > 0.2


def test_photo_mark_episodes_share_a_scene_in_most_episodes() -> None:
    b = sample_episodes(np.random.default_rng(0), ("photo-mark",), 8, n_way=3, k_shot=1, n_query=1, canvas=256)
    assert b.detail is not None
    shared = [(np.abs(ep[0] - ep[1]).max(axis=2) > 0.1).mean() < 0.05 for ep in b.detail]
    assert 4 <= sum(shared) < len(shared)  # 3 in 4 episodes share one scene


def test_warm_started_fine_model_trains_and_loads(tmp_path: Path, tiny_checkpoint: Path) -> None:
    fine = ModelConfig(**{**TINY_MODEL.to_dict(), "canvas": 128})
    cfg = tiny_config(
        tmp_path / "v2",
        steps=2,
        families=("colour", "fine-texture"),
        model=fine,
        augment=0.5,
        init_from=str(tiny_checkpoint),
    )
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    vlm = LocalVLM.load(train(cfg))
    assert vlm.model.config.canvas == 128 and vlm.meta["train"]["init_from"] == str(tiny_checkpoint)
    img = get_photo_family("fine-texture").render(np.random.default_rng(0), 0, 128)
    assert vlm.prepare(img).layout.per_band()["F0"] > 0
    assert vlm.answer([(img, "a"), (img[::-1].copy(), "b")], img, "which?").answer in ("a", "b")


def test_bad_v2_options_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="augment"):
        tiny_config(tmp_path, augment=2.0)
    with pytest.raises(ConfigError, match="init_from"):
        tiny_config(tmp_path, init_from="")
    with pytest.raises(UnknownNameError):
        tiny_config(tmp_path, held_out=("photo-scene",))  # held-out families are procedural
    with pytest.raises(ConfigError, match=r"no weight|no checkpoint"):
        train(tiny_config(tmp_path / "x", init_from=str(tmp_path / "missing")))


def test_v2_preset_is_a_valid_config() -> None:
    cfg = TrainConfig.from_dict({**TRAIN_PRESETS["v2"], "out": "x"})
    assert cfg.model.canvas == 256 and cfg.init_from == "band-vlm-v1" and "photo-scene" in cfg.families
    assert TrainConfig.from_dict({**TRAIN_PRESETS["v1"], "out": "x"}) == TrainConfig(out="x")


def test_the_shipped_v2_checkpoint_is_the_v2_preset() -> None:
    # `specprompt train --preset v2` is the recipe of the shipped band-vlm-v2: its stored config is the preset's
    import json
    from pathlib import Path

    import specprompt.vlm

    stored = json.loads((Path(specprompt.vlm.__file__).parent / "checkpoints/band-vlm-v2/config.json").read_text())
    shipped = TrainConfig.from_dict({**stored["train"], "out": "x"})
    assert shipped == TrainConfig.from_dict({**TRAIN_PRESETS["v2"], "out": "x"})
    assert shipped.families.count("photo-cast") == 3  # the colour casts weigh three shares


def test_the_recorded_gpu_run_is_the_large_gpu_preset() -> None:
    # benchmarks/gpu/large-gpu.config.json is the config.json the H200 run wrote: its recipe is the preset's
    import json
    from pathlib import Path

    stored = json.loads((Path(__file__).parents[2] / "benchmarks/gpu/large-gpu.config.json").read_text())
    ran = TrainConfig.from_dict({**stored["train"], "out": "x"})
    assert ran == TrainConfig.from_dict({**TRAIN_PRESETS["large-gpu"], "out": "x"})
    assert stored["metrics"]["device"] == "cuda" and ran.workers == 14 and ran.model.dim == 128
