"""Pixel-only judges: they read pixels only (never PNG metadata) and answer like a nearest-demo classifier."""

from __future__ import annotations

import base64
import io
from typing import Any

import dspy
import numpy as np
import pytest
from dspy.adapters import ChatAdapter, JSONAdapter
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from specprompt import ConfigError, ImageInputError, Selection, decompose
from specprompt.cost import image_tokens
from specprompt.scorers import PIXEL_JUDGES, PixelJudgeConfig, PixelJudgeEngine, pixel_lm, sent_pixels
from specprompt.tasks import get_task
from specprompt.types import SpectralImage


def _png(pixels: np.ndarray, text: dict[str, str] | None = None) -> bytes:
    info = PngInfo()
    for k, v in (text or {}).items():
        info.add_text(k, v)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def _uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _accuracy(lm: dspy.LM, task: Any, demos: list[dspy.Example], adapter: Any = None) -> float:
    program = dspy.Predict(task.signature)
    program.demos = demos
    with dspy.context(lm=lm, adapter=adapter or ChatAdapter()):
        return float(np.mean([program(image=ex.image).label == ex.label for ex in task.testset]))


def _stratified(task: Any, k: int) -> list[dspy.Example]:
    per = [[ex for ex in task.trainset if ex.label == label][:k] for label in task.labels]
    return [per[c][i] for i in range(k) for c in range(len(per))]


@pytest.mark.parametrize("judge", PIXEL_JUDGES)
def test_judges_answer_sensibly_on_a_tiny_tint_task(judge: str) -> None:
    task = get_task("photo-tint", n_train=8, n_val=0, n_test=8, size=64, seed=0)
    lm = pixel_lm(judge)
    assert _accuracy(lm, task, _stratified(task, 2)) >= 0.75
    assert lm.engine.calls == 8
    # without image demos there is nothing to copy: the first label, a placeholder
    text_only = [dspy.Example(image=None, label=ex.label).with_inputs("image") for ex in _stratified(task, 2)]
    assert _accuracy(lm, task, text_only) == pytest.approx(np.mean([ex.label == task.labels[0] for ex in task.testset]))


@pytest.mark.parametrize("judge", PIXEL_JUDGES)
def test_metadata_never_changes_an_answer_and_is_never_read(judge: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import specprompt.types._image as image_module

    task = get_task("photo-texture", n_train=6, n_val=0, n_test=6, size=64, seed=0)
    demos = _stratified(task, 2)
    # demos as SpectralImages (specprompt chunk inside), as plain PNGs of the same pixels, and with
    # a lying chunk copied from another demo: the same answers every time
    spectral = []
    for ex in demos:
        img = SpectralImage.from_spectrum(decompose(ex.image), Selection.of(["L1", "residual"]))
        spectral.append(dspy.Example(image=img, label=ex.label).with_inputs("image"))
    plain, lying = [], []
    donor = base64.b64decode(spectral[-1].image.url.split(",", 1)[1])
    with Image.open(io.BytesIO(donor)) as im:
        chunk = dict(im.info)
    for ex in spectral:
        pixels = np.asarray(ex.image.to_pil().convert("RGB"))
        plain.append(dspy.Example(image=dspy.Image(_uri(_png(pixels))), label=ex.label).with_inputs("image"))
        fake = {k: str(v) for k, v in chunk.items() if isinstance(v, str)}
        lying.append(dspy.Example(image=dspy.Image(_uri(_png(pixels, fake))), label=ex.label).with_inputs("image"))

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a pixel judge read PNG metadata")

    monkeypatch.setattr(image_module, "png_bytes_metadata", refuse)
    monkeypatch.setattr(image_module, "read_metadata", refuse)
    answers = []
    for variant in (spectral, plain, lying):
        lm = pixel_lm(judge)
        program = dspy.Predict(task.signature)
        program.demos = variant
        with dspy.context(lm=lm, adapter=ChatAdapter()):
            answers.append([program(image=ex.image).label for ex in task.testset])
    assert answers[0] == answers[1] == answers[2]


def test_sent_pixels_drops_metadata_alpha_and_shrinks_low_detail() -> None:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    a = sent_pixels(_png(pixels))
    b = sent_pixels(_png(pixels, {"specprompt": '{"selection": "lies"}'}))
    assert a.shape == (20, 30, 3) and np.array_equal(a, b) and np.array_equal(a, pixels / np.float32(255))
    rgba = np.zeros((4, 4, 4), np.uint8)  # fully transparent: white, as a browser shows it
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, format="PNG")
    assert np.all(sent_pixels(buf.getvalue()) == 1.0)
    big = _png(np.zeros((600, 1200, 3), np.uint8))
    assert sent_pixels(big).shape == (600, 1200, 3)
    assert sent_pixels(big, "low").shape == (256, 512, 3)
    with pytest.raises(ImageInputError, match="not an image"):
        sent_pixels(b"not a png", where="<demo 3>")


def test_sent_pixels_refuses_unknown_details_and_non_bytes() -> None:
    png = _png(np.zeros((4, 4, 3), np.uint8))
    for detail in ("auto", "high", None):
        assert sent_pixels(png, detail).shape == (4, 4, 3)
    with pytest.raises(ConfigError, match="detail must be one of None, 'auto', 'low', 'high', got 'medium'"):
        sent_pixels(png, detail="medium")
    with pytest.raises(
        ImageInputError, match=r"cannot read image <demo 1>: expected the encoded image as bytes, got str"
    ):
        sent_pixels("not bytes", where="<demo 1>")  # type: ignore[arg-type]


def test_the_engine_reads_an_unknown_detail_hint_as_full_size() -> None:
    from specprompt.scorers._engine_base import ChatImage

    png = _png(np.zeros((600, 1200, 3), np.uint8))
    engine = PixelJudgeEngine(PixelJudgeConfig())
    payload = base64.b64encode(png).decode("ascii")
    engine.descriptor(ChatImage(payload, "image/png", "medium", "k", "<message 0>"))
    assert engine._sizes.get("k") == (1200, 600)


def test_usage_counts_text_and_image_tokens() -> None:
    task = get_task("photo-tint", n_train=4, n_val=0, n_test=1, size=64, seed=0)
    lm = pixel_lm("lbp-dct", cost_model="qwen2-vl")
    program = dspy.Predict(task.signature)
    program.demos = _stratified(task, 1)
    with dspy.context(lm=lm, adapter=JSONAdapter(), track_usage=True):
        pred = program(image=task.testset[0].image)
    usage = next(iter(pred.get_lm_usage().values()))
    per_image = image_tokens("qwen2-vl", 64, 64)
    assert usage["prompt_tokens"] > 5 * per_image
    assert pred.label in task.labels


def test_config_and_errors() -> None:
    assert PixelJudgeEngine().model_name == "specprompt/pixel-hist-hog-v1"
    engine = PixelJudgeEngine(PixelJudgeConfig(judge="lbp-dct", cache_size=4))
    assert PixelJudgeEngine.load_state(engine.dump_state()).config == engine.config
    with pytest.raises(ConfigError, match="unknown pixel judge 'sift'; known: hist-hog, lbp-dct"):
        pixel_lm("sift")
    with pytest.raises(ConfigError, match="cache_size must be an int >= 1"):
        PixelJudgeEngine(cache_size=0)
    with pytest.raises(ConfigError, match="allowed"):
        PixelJudgeEngine(working_size=3)
    with pytest.raises(ConfigError, match="not both"):
        PixelJudgeEngine(PixelJudgeConfig(), judge="lbp-dct")
    with pytest.raises(ConfigError, match="must be a PixelJudgeConfig"):
        PixelJudgeEngine("hist-hog")  # type: ignore[arg-type]


def test_sent_pixels_decodes_as_demo_images_are_decoded() -> None:
    from specprompt.io import as_array

    upright = np.zeros((32, 16, 3), np.uint8)
    upright[:8, :8] = (255, 0, 0)  # a red block top-left
    exif = Image.Exif()
    exif[0x0112] = 6  # a phone photo stored sideways: viewers turn it 90 degrees clockwise
    buf = io.BytesIO()
    Image.fromarray(np.rot90(upright, 1)).save(buf, format="JPEG", quality=100, exif=exif)
    photo = sent_pixels(buf.getvalue())
    assert photo.shape == (32, 16, 3) and photo[2, 2, 0] > 0.8 and photo[2, 2, 1] < 0.2  # upright
    assert np.array_equal(photo, as_array(buf.getvalue()))
    grey16 = np.linspace(0, 65535, 5).astype(np.uint16)[None, :]  # a 16-bit scan: not clipped to white
    np.testing.assert_allclose(sent_pixels(_png(grey16))[0, :, 0], grey16[0] / 65535, atol=1e-6)
