from __future__ import annotations

import base64
import io
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import dspy
import numpy as np
import pytest
from dspy.lm15 import ImagePart, Message, Request, TextPart
from dspy.utils.exceptions import LMError
from PIL import Image

from specprompt import ConfigError, ImageInputError, Selection, UnknownNameError, decompose
from specprompt.cost import image_tokens
from specprompt.scorers import (
    MODEL_NAME,
    NearestBandEngine,
    NearestConfig,
    band_signature,
    effective_levels,
    image_distance,
    nearest_lm,
    parse_chat,
    pixel_lm,
    resample,
)
from specprompt.types import SpectralImage

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220)}


class Colour(dspy.Signature):
    """Name the colour."""

    image: dspy.Image = dspy.InputField()
    label: Literal["red", "green", "blue"] = dspy.OutputField()
    note: str = dspy.OutputField()


class Pair(dspy.Signature):
    """Name the colour of both pictures."""

    image: dspy.Image = dspy.InputField()
    others: list[dspy.Image] = dspy.InputField()
    label: str = dspy.OutputField()


def picture(rgb: tuple[int, int, int], size: int = 32, seed: int = 0) -> dspy.Image:
    rng = np.random.default_rng(seed)
    arr = np.clip(np.array(rgb, np.float32) + rng.normal(0, 12, (size, size, 3)), 0, 255).astype(np.uint8)
    return dspy.Image(Image.fromarray(arr))


def colour_demos() -> list[dspy.Example]:
    return [
        dspy.Example(image=picture(rgb, seed=i), label=name, note=f"note-{name}").with_inputs("image")
        for i, (name, rgb) in enumerate(COLOURS.items())
    ]


@pytest.mark.parametrize("adapter", [dspy.ChatAdapter(), dspy.JSONAdapter(), dspy.XMLAdapter()], ids=type)
def test_answers_with_every_field_of_the_nearest_demo(adapter: Any) -> None:
    lm = nearest_lm()
    program = dspy.Predict(Colour)
    program.demos = colour_demos()
    with dspy.context(lm=lm, adapter=adapter):
        for name, (r, g, b) in COLOURS.items():
            pred = program(image=picture((r - 25, g + 15, b), seed=9))
            assert (pred.label, pred.note) == (name, f"note-{name}")
    assert lm.engine.calls == 3


def test_usage_counts_image_tokens_of_every_image() -> None:
    lm = nearest_lm(cost_model="openai:gpt-4o")
    program = dspy.Predict(Colour)
    program.demos = colour_demos()
    with dspy.context(lm=lm, track_usage=True):
        pred = program(image=picture((200, 30, 30), size=40))
    usage = pred.get_lm_usage()[MODEL_NAME + lm.model[len(MODEL_NAME) :]]
    images = 3 * image_tokens("openai:gpt-4o", 32, 32) + image_tokens("openai:gpt-4o", 40, 40)
    assert images == 4 * 255
    assert images < usage["prompt_tokens"] < images + 2000  # plus the text of the prompt
    assert 1 <= usage["completion_tokens"] <= 20


def test_list_of_images_pairs_by_position() -> None:
    red, blue = COLOURS["red"], COLOURS["blue"]
    program = dspy.Predict(Pair)
    program.demos = [
        dspy.Example(image=picture(red), others=[picture(red)], label="red+red"),
        dspy.Example(image=picture(red), others=[picture(blue)], label="red+blue"),
        dspy.Example(image=picture(blue), others=[picture(blue), picture(red)], label="blue+blue"),
    ]
    with dspy.context(lm=nearest_lm()):
        assert program(image=picture(red, seed=5), others=[picture(blue, seed=6)]).label == "red+blue"
        assert program(image=picture(red, seed=5), others=[]).label == "red+red"  # first of the tie
        assert program(image=picture(blue, seed=5), others=[picture(blue, seed=6)]).label == "blue+blue"


def test_spectral_image_demos_at_minimal_size_are_compared_at_their_resolution() -> None:
    program = dspy.Predict(Colour)
    demos = []
    for i, (name, rgb) in enumerate(COLOURS.items()):
        spec = decompose(np.asarray(picture(rgb, size=64, seed=i).url and _pixels(picture(rgb, size=64, seed=i))))
        small = SpectralImage.from_spectrum(spec, Selection.of(["residual"]))
        assert small.render_size == (16, 16)
        demos.append(dspy.Example(image=small, label=name, note=name).with_inputs("image"))
    program.demos = demos
    with dspy.context(lm=nearest_lm()):
        assert program(image=picture(COLOURS["green"], size=64, seed=7)).label == "green"


def _pixels(image: dspy.Image) -> np.ndarray:
    data = base64.b64decode(image.url.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_no_demos_gives_a_parseable_placeholder() -> None:
    for adapter in (dspy.ChatAdapter(), dspy.JSONAdapter(), dspy.XMLAdapter()):
        with dspy.context(lm=nearest_lm(), adapter=adapter):
            pred = dspy.Predict(Colour)(image=picture((1, 2, 3)))
        assert (pred.label, pred.note) == ("red", "")


def _request(*messages: Message) -> Request:
    return Request(model="m", messages=messages, system="Your output fields are:\n1. `label` (str):\n")


def _part(image: dspy.Image | str) -> ImagePart:
    url = image if isinstance(image, str) else image.url
    return ImagePart(data=url.split(",", 1)[1], media_type="image/png")


def test_engine_reports_scores_and_the_chosen_demo() -> None:
    engine = NearestBandEngine()
    demo = [
        Message.user((TextPart("x"), _part(picture(rgb)))) if i % 2 == 0 else Message.assistant("ans")
        for rgb in COLOURS.values()
        for i in range(2)
    ]
    demo[3] = Message.assistant("green-answer")
    resp = engine.complete(_request(*demo, Message.user((_part(picture(COLOURS["green"], seed=4)),))))
    data = resp.provider_data["specprompt"]  # type: ignore[index]
    assert data["demo"] == 1 and resp.message.parts[0].text == "green-answer"  # type: ignore[union-attr]
    assert data["score"] == max(data["scores"]) and len(data["scores"]) == 3
    assert data["image_tokens"] == 4 * image_tokens("local", 32, 32)
    empty = engine.complete(_request(Message.user((_part(picture((0, 0, 0))),))))
    assert empty.provider_data["specprompt"]["score"] is None  # type: ignore[index]
    assert empty.message.parts[0].text == "[[ ## label ## ]]\n\n\n[[ ## completed ## ]]\n"  # type: ignore[union-attr]
    assert json.dumps(resp.provider_data)  # JSON-ready
    events = list(engine.stream(_request(Message.user((_part(picture((0, 0, 0))),)))))
    assert len(events) >= 2
    engine.close()


@pytest.mark.parametrize("adapter", [dspy.ChatAdapter(), dspy.JSONAdapter(), dspy.XMLAdapter()], ids=type)
@pytest.mark.parametrize("judge", ["nearest", "pixel"])
def test_chain_of_thought_answers_from_demos_without_reasoning(adapter: Any, judge: str) -> None:
    # trainset demos of a ChainOfThought program lack `reasoning`: DSPy sends them as "not supplied"
    program = dspy.ChainOfThought(Colour)
    program.predict.demos = colour_demos()
    lm = nearest_lm() if judge == "nearest" else pixel_lm("hist-hog")
    with dspy.context(lm=lm, adapter=adapter):
        for i, name in enumerate(COLOURS):
            out = program(image=picture(COLOURS[name], seed=10 + i))
            assert (out.label, out.note, out.reasoning) == (name, f"note-{name}", "")


def test_demos_without_images_or_with_unsupplied_fields_are_skipped() -> None:
    chat = parse_chat(
        _request(
            Message.user("no image"),
            Message.assistant("a"),
            Message.user((_part(picture((0, 0, 0))),)),
            Message.assistant("Not supplied for this particular example."),
            Message.user((_part(picture((9, 9, 9))),)),
            Message.assistant("kept"),
            Message.user((_part(picture((1, 1, 1))),)),
        )
    )
    assert [d.answer for d in chat.demos] == ["kept"]
    assert len(chat.images) == 3 and len(chat.query) == 1


def test_missing_and_bad_images_raise_clear_errors() -> None:
    program = dspy.Predict(Colour)
    program.demos = colour_demos()
    with dspy.context(lm=nearest_lm()), pytest.raises(LMError) as info:
        program(image=None)
    assert isinstance(info.value.__cause__, ImageInputError)
    assert "no image part" in str(info.value.__cause__)

    engine = NearestBandEngine()
    broken = "data:image/png;base64," + base64.b64encode(b"not a png").decode()
    with pytest.raises(ImageInputError, match=r"message 0.*not an image"):
        engine.complete(
            _request(Message.user((_part(broken),)), Message.assistant("a"), Message.user((_part(broken),)))
        )
    with pytest.raises(ImageInputError, match="never a URL"):
        engine.complete(_request(Message.user((ImagePart(url="https://example.com/x.png"),))))
    with pytest.raises(ImageInputError, match="last message"):
        engine.complete(_request(Message.user((_part(picture((0, 0, 0))),)), Message.assistant("a")))


def test_calls_are_counted_across_threads() -> None:
    engine = NearestBandEngine()
    req = _request(
        Message.user((_part(picture((0, 0, 0))),)), Message.assistant("a"), Message.user((_part(picture((1, 1, 1))),))
    )
    with ThreadPoolExecutor(4) as pool:
        texts = list(pool.map(lambda _: engine.complete(req).message.parts[0].text, range(12)))  # type: ignore[union-attr]
    assert texts == ["a"] * 12 and engine.calls == 12


def test_config_model_string_and_state() -> None:
    assert NearestConfig().model_string() == MODEL_NAME
    custom = NearestConfig(working_size=32)
    assert custom.model_string().startswith(MODEL_NAME + "+") and custom.model_string() != MODEL_NAME
    assert NearestConfig.from_dict(custom.to_dict()) == custom
    engine = NearestBandEngine(custom)
    assert NearestBandEngine.load_state(engine.dump_state()).config == custom
    lm = nearest_lm(working_size=32)
    assert lm.model == custom.model_string() and lm.engine.config == custom
    state = lm.dump_state()
    assert state["engine"]["state"] == custom.to_dict()


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"working_size": 2}, "working_size"),
        ({"pixel_weight": -1.0}, "pixel_weight"),
        ({"spectral_weight": float("nan")}, "spectral_weight"),
        ({"pixel_weight": 0.0, "spectral_weight": 0.0}, "both be 0"),
        ({"cache_size": 0}, "cache_size"),
        ({"empty_band_rms": "x"}, "empty_band_rms"),
        ({"colour": 1}, "allowed"),
    ],
)
def test_bad_options_are_refused(options: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        NearestBandEngine(**options)


def test_other_engine_errors() -> None:
    with pytest.raises(UnknownNameError, match="cost model"):
        NearestConfig(cost_model="nope")
    with pytest.raises(ConfigError, match="not both"):
        NearestBandEngine(NearestConfig(), working_size=32)
    with pytest.raises(ConfigError, match="NearestConfig"):
        NearestBandEngine({"working_size": 32})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="unknown NearestConfig option"):
        NearestConfig.from_dict({"bogus": 1})


# -- the pure functions ----------------------------------------------------------------------------


def test_resample_and_effective_levels() -> None:
    rng = np.random.default_rng(0)
    img = rng.random((64, 64, 3)).astype(np.float32)
    assert resample(img, (16, 16)).shape == (16, 16, 3)
    assert resample(img, (40, 30)).shape == (40, 30, 3)
    assert resample(img[:8, :8], (16, 16)).shape == (16, 16, 3)
    assert effective_levels(img, 1.5 / 255) == 0
    spec = decompose(img, "laplacian", levels=4)
    coarse = spec.render_array(Selection.of(["L2", "L3", "residual"]), "full")
    assert effective_levels(np.rint(np.clip(coarse, 0, 1) * 255) / 255, 1.5 / 255) == 2
    fine = spec.render_array(Selection.of(["L1", "L2", "L3", "residual"]), "full")
    assert effective_levels(np.rint(np.clip(fine, 0, 1) * 255) / 255, 1.5 / 255) == 1


def test_band_signature_is_shift_invariant_and_sees_orientation() -> None:
    yy = np.mgrid[0:64, 0:64][0].astype(np.float32)
    horizontal = (0.5 + 0.2 * np.sin(2 * np.pi * yy / 3))[:, :, None].repeat(3, axis=2)
    shifted = (0.5 + 0.2 * np.sin(2 * np.pi * (yy + 1) / 3))[:, :, None].repeat(3, axis=2)
    vertical = np.transpose(horizontal, (1, 0, 2))
    a, b, c = band_signature(horizontal), band_signature(shifted), band_signature(vertical)
    assert np.sum((a - b) ** 2) < 1e-3 * np.sum(a**2)
    assert np.sum((a - c) ** 2) > np.sum(a**2)
    assert band_signature(np.zeros((1, 1, 1))).shape == a.shape


def test_band_signature_orientation_bins_are_centred_on_the_main_axes() -> None:
    # gratings a few degrees either side of 0, 45 and 90 degrees must share their orientation bin
    yy, xx = np.mgrid[0:128, 0:128].astype(np.float32)

    def grating(deg: float) -> np.ndarray:
        t, k = np.deg2rad(deg), 2 * np.pi / 3
        g = 0.5 + 0.16 * np.sin(k * np.cos(t) * xx + k * np.sin(t) * yy)
        return np.repeat(g[:, :, None], 3, axis=2)

    def dist(a: float, b: float) -> float:
        return float(np.sum((band_signature(grating(a)) - band_signature(grating(b))) ** 2))

    across = dist(0, 90)
    for centre in (0, 45, 90):
        assert dist(centre - 3, centre + 3) < 1e-3 * across


def test_distance_ignores_bands_the_demo_does_not_hold() -> None:
    rng = np.random.default_rng(1)
    base = np.full((64, 64, 3), 0.4, np.float32)
    query = base + rng.normal(0, 0.1, base.shape).astype(np.float32)  # fine noise the demo lacks
    spec = decompose(query)
    sel = Selection.of(["residual"])
    minimal = spec.render_array(sel, "minimal")
    full = np.rint(np.clip(spec.render_array(sel, "full"), 0, 1) * 255) / 255
    other = np.full((16, 16, 3), 0.7, np.float32)
    d_min, d_full, d_other = image_distance(minimal, query), image_distance(full, query), image_distance(other, query)
    assert d_min < 1e-3 and d_full < 1e-3 < d_other
    assert image_distance(query, query) == 0.0


def test_transparency_is_read_on_white_like_every_judge() -> None:
    logo = np.zeros((32, 32, 4), np.float32)
    logo[8:24, 8:24, 3] = 1.0  # a black box on a clear background
    on_white = np.ones((32, 32, 3), np.float32)
    on_white[8:24, 8:24] = 0.0
    black = np.zeros((32, 32, 3), np.float32)
    assert image_distance(logo, on_white) == 0.0 < image_distance(logo, black)
    assert image_distance(on_white, logo) == 0.0
