"""LocalVLM: inputs, answers, scores, native band path, errors."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from specprompt import ConfigError, ImageInputError, Selection, SelectionError, Spectrum, decompose
from specprompt.types import SpectralImage
from specprompt.vlm import LocalAnswer, LocalVLM, image_token_count
from specprompt.vlm._prepare import PreparedImage, prepare_image
from specprompt.vlm._tokenizer import token_layout


def _img(colour: int, size: int = 64) -> np.ndarray:
    out = np.zeros((size, size, 3), np.float32)
    out[size // 4 : 3 * size // 4, size // 4 : 3 * size // 4, colour] = 1.0
    return out


@pytest.fixture(scope="module")
def vlm(tiny_checkpoint: Path) -> LocalVLM:
    return LocalVLM.load(tiny_checkpoint)


def test_answer_is_one_of_the_demo_answers_with_scores(vlm: LocalVLM) -> None:
    demos = [(_img(0), "red"), (_img(1), "green"), (_img(2), "blue"), (_img(0, 48), "red")]
    out = vlm.answer(demos, _img(1, 100), "Colour?")
    assert isinstance(out, LocalAnswer)
    answer, scores = out
    assert answer == out.answer in {"red", "green", "blue"}
    assert list(scores) == ["red", "green", "blue"]
    assert sum(scores.values()) == pytest.approx(1.0, abs=1e-5)
    assert answer == max(scores, key=lambda k: scores[k])
    assert out.image_tokens == 3 * 44 + image_token_count(48, 48) + 44


def test_every_input_form_gives_the_same_answer(vlm: LocalVLM) -> None:
    demos = [(_img(0), "a"), (_img(2), "b")]
    q = _img(2)
    base = vlm.answer(demos, q)
    pil = Image.fromarray((q * 255).astype(np.uint8))
    grey = (q.mean(-1) * 255).astype(np.uint8)
    assert vlm.answer(demos, pil).scores == pytest.approx(base.scores, abs=1e-3)
    assert vlm.answer(demos, decompose(q)).scores == pytest.approx(base.scores, abs=1e-4)
    assert vlm.answer(demos, [q, q]).scores == pytest.approx(base.scores, abs=1e-4)
    assert vlm.answer(demos, grey).answer in {"a", "b"}


def test_native_band_path_creates_only_kept_tokens(vlm: LocalVLM) -> None:
    q = np.random.default_rng(0).random((256, 256, 3)).astype(np.float32)
    spec = decompose(q, "laplacian")
    sel = Selection.of(["L3", "residual"])
    demos = [(_img(0), "a"), (_img(2), "b")]
    out = vlm.answer(demos, (spec, sel))
    assert out.image_tokens == 2 * 44 + image_token_count(256, 256, sel, spec.bands)
    assert image_token_count(256, 256, sel, spec.bands) < 44
    assert vlm.answer(demos, (spec, None)).image_tokens == 3 * 44


def test_a_single_answer_is_certain_and_model_id_names_the_weights(vlm: LocalVLM) -> None:
    out = vlm.answer([(_img(0), "only"), (_img(1), "only")], _img(2))
    assert (out.answer, out.scores) == ("only", {"only": 1.0})
    assert vlm.model_id == "local-" + vlm.weights_sha256[:12]
    emb = vlm.embed([_img(0), _img(1)])
    assert emb.shape == (2, vlm.model.config.embedding_dim)


def test_bad_inputs_raise_specprompt_errors(vlm: LocalVLM) -> None:
    q = _img(0)
    with pytest.raises(ConfigError, match="non-empty sequence"):
        vlm.answer([], q)
    with pytest.raises(ConfigError, match="pair"):
        vlm.answer([q], q)  # type: ignore[list-item]
    with pytest.raises(ConfigError, match="answer must be a str"):
        vlm.answer([(q, 3)], q)  # type: ignore[list-item]
    with pytest.raises(ConfigError, match="instruction must be a str"):
        vlm.answer([(q, "a")], q, None)  # type: ignore[arg-type]
    with pytest.raises(ImageInputError, match="no image given"):
        vlm.answer([(q, "a")], [])
    with pytest.raises(ImageInputError):
        vlm.answer([(q, "a")], "/no/such/file.png")
    with pytest.raises(ImageInputError, match="NaN"):
        vlm.answer([(q, "a")], np.full((8, 8, 3), np.nan, np.float32))
    spec = decompose(np.random.default_rng(0).random((256, 256, 3)).astype(np.float32))
    with pytest.raises(SelectionError, match="keeps no band"):
        vlm.answer([(q, "a"), (q, "b")], (spec, Selection.of(["L0"])))
    with pytest.raises(SelectionError, match="unknown band"):
        vlm.answer([(q, "a"), (q, "b")], (spec, Selection.of(["zz"])))
    with pytest.raises(SelectionError, match="as selection"):
        vlm.answer([(q, "a"), (q, "b")], (spec, "L0"))


def test_answer_matches_the_batched_episode_path(vlm: LocalVLM) -> None:
    import torch

    from specprompt.training import episode_forward, sample_episodes

    b = sample_episodes(np.random.default_rng(1), ("shape",), 1, n_way=3, k_shot=2, n_query=1)
    with torch.no_grad():
        _, logits, _ = episode_forward(vlm.model, b, None, "cpu")
    probs = torch.softmax(logits[0], -1).numpy()
    instruction = b.texts[0].split(" || ")[0]
    demos = [(b.images[0, j], b.answers[0][b.labels[0, j]]) for j in range(6)]
    for q in range(3):
        out = vlm.answer(demos, b.images[0, 6 + q], instruction)
        assert [out.scores[a] for a in b.answers[0]] == pytest.approx(probs[q].tolist(), abs=1e-4)


# -- SpectralImage, encoded PNG and PreparedImage inputs ------------------------------------------------


def _source() -> np.ndarray:
    rng = np.random.default_rng(3)
    img = np.zeros((256, 256, 3), np.float32)
    img[64:192, 32:160, 0] = 1.0
    img[100:140, 150:230, 2] = 0.8
    return np.clip(img + rng.normal(0, 0.05, img.shape), 0, 1).astype(np.float32)


def _spectral(sel: Selection) -> tuple[Spectrum, SpectralImage]:
    spec = decompose(_source(), "laplacian")
    return spec, SpectralImage.from_spectrum(spec, sel)


def _png_bytes(url: str) -> bytes:
    return base64.b64decode(url.split(",", 1)[1])


def test_a_spectral_image_demo_scores_like_the_pair_it_was_made_from(vlm: LocalVLM, tmp_path: Path) -> None:
    sel = Selection.of(["L2", "L3", "residual"])  # coarse-first: L0 and L1 dropped, 256 divisible by 4
    spec, img = _spectral(sel)
    assert img.render_size == (64, 64)
    rest = [(_img(2), "b"), (_img(1), "c")]
    pair = vlm.answer([((spec, sel), "a"), *rest], _img(0), "Which one?")
    assert pair.image_tokens == image_token_count(256, 256, sel, spec.bands) + 3 * 44
    path = tmp_path / "demo.png"
    path.write_bytes(_png_bytes(img.url))
    for form in (img, _png_bytes(img.url), img.url, path, str(path)):
        out = vlm.answer([(form, "a"), *rest], _img(0), "Which one?")
        assert out.image_tokens == pair.image_tokens, type(form)
        # the PNG holds the 64 px minimal render in uint8, the pair the float render: close, not equal
        assert out.answer == pair.answer and out.scores == pytest.approx(pair.scores, abs=0.02), type(form)
    emb = vlm.embed([img, (spec, sel), _img(0)])
    # near each other (minimal render in uint8 vs float full render), far from another image
    assert np.linalg.norm(emb[0] - emb[1]) < 0.6 * np.linalg.norm(emb[0] - emb[2])


def test_spectral_metadata_decides_the_tokens_of_a_png(vlm: LocalVLM, tmp_path: Path) -> None:
    sel = Selection.of(["L2"])  # keeps a fine band only: the pixels alone cannot tell what was dropped
    spec, img = _spectral(sel)
    kept = image_token_count(256, 256, sel, spec.bands)
    pixels = np.asarray(Image.open(io.BytesIO(_png_bytes(img.url))))
    assert prepare_image(pixels).layout.n_tokens == image_token_count(*img.render_size) > kept
    path = tmp_path / "l2.png"
    path.write_bytes(_png_bytes(img.url))
    native = prepare_image((spec, sel)).layout
    for form in (img, _png_bytes(img.url), bytearray(_png_bytes(img.url)), img.url, path):
        layout = prepare_image(form).layout
        assert layout.shape == native.shape and layout.n_tokens == kept, type(form)
        assert all(np.array_equal(a, b) for a, b in zip(layout.created, native.created, strict=True)), type(form)
    stripped = tmp_path / "stripped.png"
    Image.fromarray(pixels).save(stripped)  # the metadata chunk is lost: tokenized from the pixels
    assert prepare_image(stripped).layout.n_tokens == image_token_count(*img.render_size)
    assert vlm.answer([(img, "a"), (_img(2), "b")], _img(0)).image_tokens == kept + 2 * 44


def test_a_spectral_image_without_visible_tokens_or_with_bad_metadata_is_refused(vlm: LocalVLM) -> None:
    from PIL.PngImagePlugin import PngInfo

    _, img = _spectral(Selection.of(["L0"]))  # finer than the 64 px working resolution
    demos = [(_img(0), "a"), (_img(2), "b")]
    with pytest.raises(SelectionError, match=r"SpectralImage\(scheme='laplacian', bands=\[L0\].*keeps no band"):
        vlm.answer(demos, img)
    with pytest.raises(SelectionError, match=r"<bytes: \d+ B> keeps no band"):
        vlm.answer(demos, _png_bytes(img.url))
    info = PngInfo()
    info.add_text("specprompt", "{not json")
    buf = io.BytesIO()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(buf, format="PNG", pnginfo=info)
    with pytest.raises(ImageInputError, match=r"<data URI: image/png.*not JSON"):
        vlm.answer(demos, "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode())


def test_a_prepared_image_is_used_as_it_is(vlm: LocalVLM) -> None:
    demos = [(_img(0), "a"), (_img(2), "b"), (_img(1), "c")]
    q = _img(1, 100)
    base = vlm.answer(demos, q)
    prepared = prepare_image(q)
    out = vlm.answer([(prepare_image(im), a) for im, a in demos], prepared)
    assert (out.answer, out.scores, out.image_tokens) == (base.answer, base.scores, base.image_tokens)
    spec = decompose(_source())
    sel = Selection.of(["L3", "residual"])
    narrow = PreparedImage(prepared.canvas, prepare_image((spec, sel)).layout)
    assert vlm.answer(demos, narrow).image_tokens == 3 * 44 + image_token_count(256, 256, sel, spec.bands)
    with pytest.raises(ImageInputError, match="float32 array"):
        vlm.answer(demos, PreparedImage(prepared.canvas[:32], prepared.layout))
    empty = PreparedImage(prepared.canvas, token_layout(256, 256, Selection.of(["L0"]), spec.bands))
    assert empty.layout.n_tokens == 0
    with pytest.raises(SelectionError, match="keeps no band"):
        vlm.answer(demos, empty)


def test_probabilities_is_the_readout_of_answer(vlm: LocalVLM) -> None:
    demos = [(_img(0), "a"), (_img(2), "b"), (_img(0, 48), "a")]
    q = [_img(2, 80), _img(1)]
    groups = [[prepare_image(im)] for im, _ in demos] + [[prepare_image(im) for im in q]]
    answers, probs = vlm.probabilities(groups, [a for _, a in demos], "Colour?")
    assert answers == ["a", "b"] and probs.dtype == np.float64
    assert dict(zip(answers, probs.tolist(), strict=True)) == vlm.answer(demos, q, "Colour?").scores
    assert vlm.probabilities(groups, ["a", "a", "a"]).probs.tolist() == [1.0]
    with pytest.raises(ConfigError, match="one group per label"):
        vlm.probabilities(groups[:-1], ["a", "b", "a"])
    with pytest.raises(ConfigError, match=r"group\(s\) \[3\] hold no image"):
        vlm.probabilities([*groups[:-1], []], ["a", "b", "a"])
