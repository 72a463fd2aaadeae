"""LocalVLMEngine / local_lm: answers copied from demos in every adapter's format, band-token usage,
native SpectralImage layouts, model ids, errors, and a band search scored by the local model."""

from __future__ import annotations

import base64
import io
import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

import dspy
import numpy as np
import pytest
import torch
from dspy.lm15 import ImagePart, Message, Request, TextPart
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from specprompt import ConfigError, ImageInputError, Selection, decompose
from specprompt.scorers._local import (
    LocalVLMEngine,
    answer_label,
    instruction_of,
    local_lm,
)
from specprompt.vlm import metadata_layout
from specprompt.vlm._checkpoint import DEFAULT_CHECKPOINT, model_id_of, save_checkpoint
from specprompt.vlm._config import ModelConfig
from specprompt.vlm._model import BandVLM
from specprompt.vlm._tokenizer import image_token_count

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220)}


def tiny_checkpoint(directory: Path, seed: int = 0) -> Path:
    """A randomly initialised (seeded) tiny BandVLM saved through the checkpoint API."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = BandVLM(ModelConfig(dim=16, depth=1, heads=2, slices=2, slice_dim=8, readout_tokens=2))
    return save_checkpoint(model, directory)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny")


@pytest.fixture(scope="module")
def lm(checkpoint: Path) -> dspy.LM:
    return local_lm(checkpoint)


class Colour(dspy.Signature):
    """Name the colour."""

    image: dspy.Image = dspy.InputField()
    label: Literal["red", "green", "blue"] = dspy.OutputField()
    note: str = dspy.OutputField()


def picture(rgb: tuple[int, int, int], size: int = 32, seed: int = 0) -> dspy.Image:
    rng = np.random.default_rng(seed)
    arr = np.clip(np.array(rgb, np.float32) + rng.normal(0, 12, (size, size, 3)), 0, 255).astype(np.uint8)
    return dspy.Image(Image.fromarray(arr))


def colour_program(size: int = 32) -> dspy.Predict:
    program = dspy.Predict(Colour)
    program.demos = [
        dspy.Example(image=picture(rgb, size, seed=i), label=name, note=f"note-{name}").with_inputs("image")
        for i, (name, rgb) in enumerate(COLOURS.items())
    ]
    return program


def last_details(lm: dspy.LM) -> dict[str, Any]:
    return dict(lm.history[-1]["response"].provider_data["specprompt"])


def _part(image: dspy.Image) -> ImagePart:
    return ImagePart(data=image.url.split(",", 1)[1], media_type="image/png")


def _request(*messages: Message) -> Request:
    return Request(model="m", messages=messages, system="Your output fields are:\n1. `label` (str):\n")


@pytest.mark.parametrize("adapter", [dspy.ChatAdapter(), dspy.JSONAdapter(), dspy.XMLAdapter()], ids=type)
def test_answers_with_the_chosen_demos_message_in_every_format(lm: dspy.LM, adapter: Any) -> None:
    program = colour_program()
    with dspy.context(lm=lm, adapter=adapter):
        for i, (name, rgb) in enumerate(COLOURS.items()):
            pred = program(image=picture(rgb, seed=i))  # the demo's own image: distance 0 to its class
            assert (pred.label, pred.note) == (name, f"note-{name}")
            details = last_details(lm)
            assert details["answer"] == f"{name} | note-{name}" and details["demo"] == i
            assert set(details["scores"]) == {f"{n} | note-{n}" for n in COLOURS}
            assert abs(sum(details["scores"].values()) - 1.0) < 1e-5
            assert details["scores"][details["answer"]] == max(details["scores"].values())


def test_usage_counts_the_band_tokens_of_every_image(lm: dspy.LM) -> None:
    program = colour_program(size=32)
    with dspy.context(lm=lm, track_usage=True):
        pred = program(image=picture(COLOURS["red"], size=100))
    images = 3 * image_token_count(32, 32) + image_token_count(100, 100)
    assert images == 3 * 28 + 44
    details = last_details(lm)
    assert details["image_tokens"] == images and details["paths"] == ["pixels"] * 4
    usage = pred.get_lm_usage()[lm.model]
    assert images < usage["prompt_tokens"] < images + 1000  # plus the text of the prompt
    assert usage["completion_tokens"] >= 1


def test_spectral_image_demos_create_only_their_kept_band_tokens(lm: dspy.LM) -> None:
    program = dspy.Predict(Colour)
    demos, expected = [], 0
    for i, (name, rgb) in enumerate(COLOURS.items()):
        spec = decompose(np.asarray(Image.open(io.BytesIO(_png(picture(rgb, size=128, seed=i))))))
        sel = Selection.of(["L2", "residual"]) if i else Selection.of(["L0", "residual"])
        demos.append(dspy.Example(image=dspy_spectral(spec, sel), label=name, note=name).with_inputs("image"))
        expected += image_token_count(128, 128, sel, spec.bands)
    program.demos = demos
    with dspy.context(lm=lm):
        program(image=picture(COLOURS["green"], size=64))
    details = last_details(lm)
    assert details["paths"] == ["bands", "bands", "bands", "pixels"]
    assert details["image_tokens"] == expected + image_token_count(64, 64)
    assert expected < 3 * image_token_count(128, 128)  # dropped bands created no token


def test_engine_scores_are_those_of_local_vlm_answer(lm: dspy.LM) -> None:
    """The engine and LocalVLM.answer read SpectralImages alike and share one readout."""
    program, demos = dspy.Predict(Colour), []
    for i, (name, rgb) in enumerate(COLOURS.items()):
        spec = decompose(np.asarray(Image.open(io.BytesIO(_png(picture(rgb, size=128, seed=i))))))
        image = dspy_spectral(spec, Selection.of(["L2", "residual"]) if i else Selection.of(["L1", "L2", "residual"]))
        demos.append((image, name))
    program.demos = [dspy.Example(image=im, label=n, note=n).with_inputs("image") for im, n in demos]
    query = picture(COLOURS["green"], size=64, seed=7)
    with dspy.context(lm=lm):
        program(image=query)
    details = last_details(lm)
    out = lm.engine.vlm.answer([(im, f"{n} | {n}") for im, n in demos], query, "Name the colour.")
    assert details["paths"] == ["bands", "bands", "bands", "pixels"]
    assert (out.answer, out.scores, out.image_tokens) == (details["answer"], details["scores"], details["image_tokens"])


def dspy_spectral(spec: Any, sel: Selection) -> dspy.Image:
    from specprompt.types import SpectralImage

    return SpectralImage.from_spectrum(spec, sel)


def _png(image: dspy.Image) -> bytes:
    return base64.b64decode(image.url.split(",", 1)[1])


def _png_with_chunk(text: str, size: int = 16) -> dspy.Image:
    info = PngInfo()
    info.add_text("specprompt", text)
    buf = io.BytesIO()
    Image.fromarray(np.full((size, size, 3), 128, np.uint8)).save(buf, format="PNG", pnginfo=info)
    return dspy.Image("data:image/png;base64," + base64.b64encode(buf.getvalue()).decode())


def _meta(**over: Any) -> dict[str, Any]:
    base = {
        "source_hash": "0" * 64,
        "scheme": "laplacian",
        "scheme_options": json.dumps({"levels": None, "min_size": 16}),
        "selection": Selection.of(["residual"]).to_json(),
        "source_size": [64, 64],
        "render_size": [16, 16],
        "_png_size": (16, 16),
    }
    base.update(over)
    return base


def test_metadata_layout_matches_the_spectrum_and_refuses_bad_metadata() -> None:
    spec = decompose(np.zeros((64, 64, 3), np.float32))
    sel = Selection.of(["residual"])
    layout = metadata_layout(_meta())
    assert layout is not None and layout.n_tokens == image_token_count(64, 64, sel, spec.bands) == 12
    assert metadata_layout(_meta(scheme="no-such-scheme")) is None  # tokenized from the pixels instead
    dct = decompose(np.zeros((64, 64, 3), np.float32), "dct")
    dsel = Selection.of([dct.bands[0].name])
    opts = json.dumps(dct.config.to_dict())
    got = metadata_layout(_meta(scheme="dct", scheme_options=opts, selection=dsel.to_json()))
    assert got is not None and got.n_tokens == image_token_count(64, 64, dsel, dct.bands)
    for bad, message in (
        (_meta(_png_size=(20, 16)), "but the PNG is (20, 16)"),
        (_meta(source_size=[0, 5]), "bad source_size"),
        (_meta(source_size=[100000, 100000]), "too large"),
        (_meta(selection=Selection.of(["L9"]).to_json()), "does not fit the laplacian bands"),
        (_meta(selection="{not json"), "malformed"),
        (_meta(scheme_options=json.dumps({"nope": 1})), "bad laplacian options"),
        (_meta(scheme=None), "lacks the scheme"),
    ):
        with pytest.raises(ImageInputError, match=re.escape(message)):
            metadata_layout(bad, "<demo>")


def test_engine_errors_name_the_part(checkpoint: Path) -> None:
    engine = LocalVLMEngine(checkpoint)
    demo = Message.user((TextPart("image:"), _part(picture(COLOURS["red"]))))
    answer = Message.assistant((TextPart("red"),))
    with pytest.raises(ImageInputError, match="no image part"):
        engine.complete(_request(demo, answer, Message.user((TextPart("no image"),))))
    broken = _png_with_chunk("{not json")
    with pytest.raises(ImageInputError, match="not JSON"):
        engine.complete(_request(Message.user((_part(broken),))))
    too_big = _png_with_chunk(
        json.dumps({"v": 1, **{k: v for k, v in _meta(source_size=[9, 10**8]).items() if k[0] != "_"}})
    )
    with pytest.raises(ImageInputError, match="too large"):
        engine.complete(_request(demo, answer, Message.user((_part(too_big),))))


def test_no_demo_gives_placeholders_and_one_answer_needs_no_model(lm: dspy.LM) -> None:
    with dspy.context(lm=lm):
        pred = dspy.Predict(Colour)(image=picture((1, 2, 3)))
        assert (pred.label, pred.note) == ("red", "")
        assert last_details(lm)["answer"] is None
        program = dspy.Predict(Colour)
        program.demos = [dspy.Example(image=picture(COLOURS["blue"]), label="blue", note="x").with_inputs("image")]
        assert program(image=picture(COLOURS["red"])).label == "blue"
        assert last_details(lm)["scores"] == {"blue | x": 1.0}


def test_model_string_names_the_weights(tmp_path: Path, checkpoint: Path, lm: dspy.LM) -> None:
    meta = json.loads((checkpoint / "config.json").read_text())
    assert lm.model == "specprompt/" + model_id_of(meta["weights_sha256"])
    other = local_lm(tiny_checkpoint(tmp_path / "other", seed=1))
    assert other.model.startswith("specprompt/local-") and other.model != lm.model


def test_bad_checkpoint_and_options_are_config_errors(tmp_path: Path, checkpoint: Path) -> None:
    with pytest.raises(ConfigError, match="no checkpoint at"):
        local_lm(tmp_path / "missing")
    with pytest.raises(ConfigError, match="allowed: device, cache_size"):
        local_lm(checkpoint, colour=1)
    with pytest.raises(ConfigError, match="cache_size must be an int >= 1"):
        LocalVLMEngine(checkpoint, cache_size=0)


def test_state_round_trip_and_threads_agree(checkpoint: Path) -> None:
    engine = LocalVLMEngine(checkpoint, cache_size=8)
    again = LocalVLMEngine.load_state(json.loads(json.dumps(engine.dump_state())))
    assert again.model_name == engine.model_name
    lm = dspy.LM(engine.model_name, engine=engine, cache=False)
    program = colour_program()
    queries = [picture(rgb, seed=20 + i) for i, rgb in enumerate(COLOURS.values())] * 3

    def run(image: dspy.Image) -> str:
        with dspy.context(lm=lm):
            return str(program(image=image).label)

    alone = [run(q) for q in queries]
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(run, queries)) == alone
    assert engine.calls == 2 * len(queries)


def test_text_helpers() -> None:
    assert instruction_of("x\nIn adhering to this structure, your objective is: \n        Name  the\n colour.") == (
        "Name the colour."
    )
    assert instruction_of("no objective") == ""
    chat = "[[ ## reasoning ## ]]\nbecause\n\n[[ ## label ## ]]\nred\n\n[[ ## n ## ]]\n3\n\n[[ ## completed ## ]]\n"
    assert answer_label(chat) == "red | 3"
    assert answer_label('{"reasoning": "r", "label": "red", "n": 3}') == "red | 3"
    assert answer_label("<label>red</label>\n<note>a</note>") == "red | a"
    assert answer_label("  plain  ") == "plain"
    assert answer_label("{not json") == "{not json"


def test_band_optimizer_compiles_with_the_local_lm(lm: dspy.LM) -> None:
    from specprompt.search import BandOptimizer
    from specprompt.tasks import get_task

    task = get_task("colour-position", n_train=4, n_val=2, n_test=0, size=64, seed=0)
    calls = lm.engine.calls

    def exact(example: Any, pred: Any, trace: Any = None) -> float:
        return float(example.label == pred.label)

    opt = BandOptimizer(
        exact, n_trials=2, k_demos=2, minibatch_size=2, num_threads=1, progress=False, storage="memory", token_budget=60
    )
    with dspy.context(lm=lm):
        program = opt.compile(dspy.Predict(task.signature), trainset=task.trainset, valset=task.valset)
    result = opt.last_result
    assert result is not None and result.best.tokens <= 60
    assert lm.engine.calls > calls
    assert all(len(p.demos) == 2 for _, p in program.named_predictors())


@pytest.mark.skipif(not (DEFAULT_CHECKPOINT / "config.json").is_file(), reason="no shipped checkpoint yet")
def test_default_is_the_shipped_checkpoint() -> None:
    from specprompt.vlm._predict import LocalVLM

    assert local_lm().model == "specprompt/" + LocalVLM.load().model_id
