"""LocalVLM: inputs, answers, scores, native band path, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from specprompt import ConfigError, ImageInputError, Selection, SelectionError, decompose
from specprompt.vlm import LocalAnswer, LocalVLM, image_token_count


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

    from specprompt.vlm._episodes import sample_episodes
    from specprompt.vlm._train import episode_forward

    b = sample_episodes(np.random.default_rng(1), ("shape",), 1, n_way=3, k_shot=2, n_query=1)
    with torch.no_grad():
        _, logits, _ = episode_forward(vlm.model, b, None, "cpu")
    probs = torch.softmax(logits[0], -1).numpy()
    instruction = b.texts[0].split(" || ")[0]
    demos = [(b.images[0, j], b.answers[0][b.labels[0, j]]) for j in range(6)]
    for q in range(3):
        out = vlm.answer(demos, b.images[0, 6 + q], instruction)
        assert [out.scores[a] for a in b.answers[0]] == pytest.approx(probs[q].tolist(), abs=1e-4)
