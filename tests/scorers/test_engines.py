"""What every offline scorer LM (nearest_lm, pixel_lm, local_lm) must do: answer DSPy's async calls
with the same engine, and refuse a text-only prompt with a message that says what to do."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import dspy
import numpy as np
import pytest
from dspy.lm15 import ImagePart, Message, Request, TextPart
from dspy.utils.exceptions import LMError, LMInvalidRequestError
from PIL import Image

from specprompt import ConfigError, ImageInputError
from specprompt.scorers import AsyncScorerEngine, NearestBandEngine, ScorerEngine, local_lm, nearest_lm, pixel_lm

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220)}


class Colour(dspy.Signature):
    """Name the colour."""

    image: dspy.Image = dspy.InputField()
    label: Literal["red", "green", "blue"] = dspy.OutputField()


def picture(rgb: tuple[int, int, int], seed: int = 0) -> dspy.Image:
    rng = np.random.default_rng(seed)
    arr = np.clip(np.array(rgb, np.float32) + rng.normal(0, 12, (32, 32, 3)), 0, 255).astype(np.uint8)
    return dspy.Image(Image.fromarray(arr))


def colour_program() -> dspy.Predict:
    program = dspy.Predict(Colour)
    program.demos = [
        dspy.Example(image=picture(rgb, seed=i), label=name).with_inputs("image")
        for i, (name, rgb) in enumerate(COLOURS.items())
    ]
    return program


@pytest.fixture(scope="module")
def checkpoint(untrained_checkpoint: Path) -> Path:
    return untrained_checkpoint


@pytest.fixture(params=["nearest", "pixel", "local"])
def make_lm(request: pytest.FixtureRequest, checkpoint: Path) -> Callable[[], dspy.LM]:
    factories: dict[str, Callable[[], dspy.LM]] = {
        "nearest": nearest_lm,
        "pixel": lambda: pixel_lm("hist-hog"),
        "local": lambda: local_lm(checkpoint),
    }
    return factories[request.param]


def test_async_calls_answer_with_the_same_engine_calls_and_usage(make_lm: Callable[[], dspy.LM]) -> None:
    lm = make_lm()
    program = colour_program()
    query = picture(COLOURS["green"], seed=7)
    with dspy.context(lm=lm, track_usage=True):
        sync = program(image=query)

        async def both() -> tuple[dspy.Prediction, dspy.Prediction]:
            return await program.acall(image=query), await dspy.asyncify(program)(image=query)

        awaited, asyncified = asyncio.run(both())
    assert awaited.label == asyncified.label == sync.label
    assert awaited.get_lm_usage() == sync.get_lm_usage() != {}
    assert lm.engine.calls == 3  # one engine answers all three paths, each call counted once


def test_evaluate_runs_in_threads(make_lm: Callable[[], dspy.LM]) -> None:
    lm = make_lm()
    devset = [
        dspy.Example(image=picture(rgb, seed=10 + i), label=name).with_inputs("image")
        for i, (name, rgb) in enumerate(COLOURS.items())
    ]
    with dspy.context(lm=lm):
        result = dspy.Evaluate(devset=devset, metric=lambda ex, pred, trace=None: 1.0, num_threads=2)(colour_program())
    assert result.score == 100.0 and lm.engine.calls == len(devset)


def test_the_async_engine_streams_and_round_trips_through_dspy_state() -> None:
    lm = nearest_lm(working_size=32)
    engine = AsyncScorerEngine(NearestBandEngine())

    def request(*query: ImagePart) -> Request:
        demo = ImagePart(data=picture(COLOURS["red"]).url.split(",", 1)[1], media_type="image/png")
        messages = (Message.user((demo,)), Message.assistant("red"), Message.user((TextPart("hi"), *query)))
        return Request(model="m", system="Your output fields are:\n1. `label` (str):\n", messages=messages)

    async def events(req: Request) -> list[Any]:
        return [e async for e in engine.stream(req)]

    query = ImagePart(data=picture(COLOURS["red"], seed=4).url.split(",", 1)[1], media_type="image/png")
    streamed = asyncio.run(events(request(query)))
    assert [type(e) for e in streamed] == [type(e) for e in engine.engine.stream(request(query))]
    assert engine.engine.calls == 2
    with pytest.raises(ImageInputError, match="no image part"):  # the async path refuses as the sync one
        asyncio.run(events(request()))
    state = lm.dump_state()
    assert state["async_engine"]["state"]["engine"].endswith(":NearestBandEngine")
    loaded = dspy.LM.load_state(state, allow_custom_lm_class=True)
    assert isinstance(loaded.engine, NearestBandEngine) and loaded.engine.config == lm.engine.config
    program = colour_program()
    with dspy.context(lm=loaded):
        assert asyncio.run(program.acall(image=picture(COLOURS["blue"], seed=3))).label == "blue"


def test_the_async_engine_refuses_what_it_cannot_wrap_or_load() -> None:
    with pytest.raises(ConfigError, match="wraps a ScorerEngine, got str"):
        AsyncScorerEngine("nearest")  # type: ignore[arg-type]
    for state in ({}, {"engine": "json:dumps"}, {"engine": "specprompt.nope:X"}, {"engine": "builtins"}):
        with pytest.raises(ConfigError, match="names no ScorerEngine class"):
            AsyncScorerEngine.load_state(state)
    assert issubclass(NearestBandEngine, ScorerEngine)


def test_a_text_only_prompt_is_refused_with_what_to_do(make_lm: Callable[[], dspy.LM]) -> None:
    lm = make_lm()
    with dspy.context(lm=lm), pytest.raises(LMInvalidRequestError) as info:
        dspy.Predict("label -> answer")(label="red")
    message = str(info.value)
    assert "answers only prompts with images" in message and "predictor.set_lm(dspy.LM(" in message
    assert "cannot read image" not in message and lm.engine.calls == 0


def test_a_query_without_its_image_still_names_the_image_fields(make_lm: Callable[[], dspy.LM]) -> None:
    with dspy.context(lm=make_lm()), pytest.raises(LMError) as info:
        colour_program()(image=None)
    assert isinstance(info.value.__cause__, ImageInputError)
    assert "the final user message has no image part; pass dspy.Image objects" in str(info.value.__cause__)
