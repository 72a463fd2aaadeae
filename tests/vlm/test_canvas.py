"""Working resolution above 64 px (ModelConfig.canvas): fine-level tokens, their energy gate, and
the v1 path left exactly as it was."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import specprompt
from specprompt import ConfigError, Selection
from specprompt.vlm import (
    DEFAULT_CHECKPOINT,
    BandVLM,
    LocalVLM,
    ModelConfig,
    TokenLayout,
    fine_names,
    prepare_image,
    resolve_checkpoint,
    shipped_checkpoints,
    token_layout,
)
from specprompt.vlm._checkpoint import CONFIG_FILE
from specprompt.vlm._tokenizer import gate_fine

from ..conftest import TINY_MODEL

FINE_TINY = ModelConfig(**{**TINY_MODEL.to_dict(), "canvas": 256, "aux": []})


def _photo(size: int = 256, seed: int = 0) -> np.ndarray:
    """A textured test image with energy at every scale (smooth gradient + fine noise + edges)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    img = np.stack([yy, xx, 0.5 * (yy + xx)], -1) * 0.6 + 0.2
    for octave in (1, 2, 4):  # noise in every octave above 64 px
        n = rng.normal(0, 0.06, (size // octave, size // octave, 3))
        img += np.repeat(np.repeat(n, octave, 0), octave, 1)
    img[size // 4 : size // 2, size // 4 : size // 2] += 0.2
    return np.clip(img, 0, 1).astype(np.float32)


def _vlm(config: ModelConfig = FINE_TINY) -> LocalVLM:
    torch.manual_seed(0)
    return LocalVLM(BandVLM(config).eval(), {"weights_sha256": "0" * 64})


def test_config_round_trip_and_v1_config_without_the_new_fields() -> None:
    cfg = ModelConfig(canvas=256, fine_threshold=0.02)
    assert ModelConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert cfg.fine_levels == 2 and ModelConfig().fine_levels == 0
    v1 = json.loads((DEFAULT_CHECKPOINT / CONFIG_FILE).read_text())["model"]
    assert "canvas" not in v1  # written before the field existed: it must still load as a 64 px model
    assert ModelConfig.from_dict(v1).canvas == 64


@pytest.mark.parametrize(
    ("field", "value"), [("canvas", 100), ("canvas", True), ("fine_threshold", -0.1), ("fine_threshold", "x")]
)
def test_bad_canvas_options_are_config_errors(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=field):
        ModelConfig(**{field: value})  # type: ignore[arg-type]


def test_a_64_px_model_is_the_v1_module() -> None:
    names = set(BandVLM(ModelConfig()).state_dict())
    assert not any(n.startswith("fine") for n in names)
    fine = set(BandVLM(ModelConfig(canvas=256)).state_dict())
    assert names < fine and {n.split(".")[0] for n in fine - names} == {"fine_embed", "fine_band_emb"}


def test_v1_layouts_are_unchanged_by_the_canvas_argument() -> None:
    spec = specprompt.decompose(_photo(96), "laplacian")
    for sel in (None, Selection.of(["residual", "L2"]), Selection.of(["L0"])):
        a = token_layout(96, 96, sel, spec.bands)
        b = token_layout(96, 96, sel, spec.bands, canvas=64)
        assert a.fine == () and b.fine == ()
        assert all(np.array_equal(x, y) for x, y in zip(a.created, b.created, strict=True))
    assert prepare_image(_photo(96)).detail is None


def test_v1_predicts_as_before_through_the_name_and_the_default() -> None:
    assert "band-vlm-v1" in shipped_checkpoints() and resolve_checkpoint("band-vlm-v1") == DEFAULT_CHECKPOINT
    by_name, default = LocalVLM.load("band-vlm-v1"), LocalVLM.load()
    assert by_name.model_id == default.model_id and by_name.model.config.canvas == 64
    imgs = [_photo(128, s) for s in range(3)]
    assert np.array_equal(by_name.embed(imgs), default.embed(imgs))


def test_fine_tokens_follow_the_kept_bands() -> None:
    vlm = _vlm()
    spec = specprompt.decompose(_photo(256), "laplacian")
    names = [b.name for b in spec.bands]
    counts = []
    for k in range(3):  # drop the k finest source bands
        p = vlm.prepare((spec, Selection.of(names[k:])))
        counts.append((p.layout.n_tokens, p.layout.per_band()))
    assert counts[0][1]["F0"] > 0 and counts[0][1]["F1"] > 0
    assert counts[1][1]["F0"] == 0 and counts[1][1]["F1"] > 0  # 256 px L0 is the F0 octave
    assert counts[2][1]["F0"] == counts[2][1]["F1"] == 0
    assert counts[0][0] > counts[1][0] > counts[2][0]
    # the five 64 px bands are untouched by dropping octaves above 64 px
    assert {k: v for k, v in counts[2][1].items() if not k.startswith("F")} == {
        k: v for k, v in counts[0][1].items() if not k.startswith("F")
    }


def test_pixels_path_small_flat_and_blurred_images_cost_no_fine_token() -> None:
    vlm = _vlm()
    assert vlm.prepare(_photo(256)).layout.per_band()["F0"] > 0
    small = vlm.prepare(_photo(64)).layout  # a 64 px image has nothing above its own Nyquist
    assert small.per_band()["F0"] == small.per_band()["F1"] == 0
    flat = vlm.prepare(np.full((256, 256, 3), 0.4, np.float32)).layout  # no energy: gated
    assert sum(f.sum() for f in flat.fine) == 0 and flat.n_tokens == 44
    import cv2

    blurred = vlm.prepare(cv2.GaussianBlur(_photo(256), (0, 0), 3.0)).layout
    assert blurred.per_band()["F0"] < vlm.prepare(_photo(256)).layout.per_band()["F0"]


def test_fine_tokens_are_seen_and_dropping_them_changes_the_embedding() -> None:
    vlm = _vlm()
    img = _photo(256)
    full = vlm.prepare(img)
    none = type(full)(
        full.canvas,
        TokenLayout(full.layout.shape, full.layout.created, tuple(f & False for f in full.layout.fine)),
        full.detail,
    )
    z_full, z_none = vlm.embed([full]), vlm.embed([none])
    assert not np.allclose(z_full, z_none)  # fine tokens are not free: they change what the model sees
    other = type(full)(full.canvas, full.layout, np.ascontiguousarray(full.detail[::-1]))
    assert not np.allclose(vlm.embed([other]), z_full)  # and what they see matters
    assert np.allclose(vlm.embed([none]), vlm.embed([type(none)(none.canvas, none.layout, np.zeros_like(full.detail))]))


def test_mismatched_prepared_images_and_gates_are_errors() -> None:
    vlm = _vlm()
    v1_prepared = prepare_image(_photo(128))
    with pytest.raises(specprompt.ImageInputError, match="fine levels"):
        vlm.prepare(v1_prepared)
    lay = token_layout(256, 256, canvas=256)
    assert fine_names(256) == ("F0", "F1") and len(lay.fine) == 2
    with pytest.raises(ConfigError, match="fine energy"):
        gate_fine(lay, [np.zeros((4, 4))], 0.01)
    with pytest.raises(ConfigError, match="canvas"):
        token_layout(64, 64, canvas=100)


def test_shipped_v2_loads_by_name_and_sees_fine_texture() -> None:
    from specprompt.vlm._checkpoint import MAX_CHECKPOINT_BYTES, WEIGHTS_FILE

    folder = resolve_checkpoint("band-vlm-v2")
    assert (folder / WEIGHTS_FILE).stat().st_size <= MAX_CHECKPOINT_BYTES
    vlm = LocalVLM.load("band-vlm-v2")
    assert vlm.model.config.canvas == 256 and vlm.model_id != LocalVLM.load().model_id
    assert vlm.meta["train"]["init_from"] == "band-vlm-v1" and vlm.meta["metrics"]["steps_done"] >= 1
    # 2 px stripes, vertical or horizontal: area-averaged to 64 px both are the same flat grey, so
    # v1 is blind to them (probability 0.5 each); only v2's fine levels tell them apart
    yy, xx = np.mgrid[0:256, 0:256]
    rng = np.random.default_rng(0)

    def stripes(vertical: bool) -> np.ndarray:
        grid = xx if vertical else yy
        grey = 0.5 + 0.1 * np.where(grid % 2 == 0, 1.0, -1.0) * rng.uniform(0.8, 1.2)
        return np.repeat(grey[:, :, None], 3, axis=2).astype(np.float32)

    demos = [(stripes(True), "vertical"), (stripes(False), "horizontal")] * 2
    v1 = LocalVLM.load().answer(demos, stripes(True), "Which stripes?")
    assert v1.scores["vertical"] == pytest.approx(0.5, abs=1e-6)
    for vertical, name in ((True, "vertical"), (False, "horizontal")):
        assert vlm.answer(demos, stripes(vertical), "Which stripes?").answer == name


def test_transparency_is_composited_on_white() -> None:
    from specprompt.vlm import to_canvas

    logo = np.zeros((20, 20, 4), np.float32)
    logo[5:15, 5:15, 3] = 1.0  # a black box on a clear background
    on_white = np.ones((20, 20, 3), np.float32)
    on_white[5:15, 5:15] = 0.0
    canvas = to_canvas(logo)
    assert np.array_equal(canvas, to_canvas(on_white)) and canvas[0, 0].tolist() == [1.0, 1.0, 1.0]
    assert np.array_equal(to_canvas(on_white), to_canvas(on_white.copy()))  # RGB images as before
