"""LocalVLMEngine.respond / answer_batch and parse_messages: the chats DSPy sends, answered together
with the per-call answers, usage and call count, one encoder pass, and clear errors."""

from __future__ import annotations

import re
from typing import Any

import dspy
import numpy as np
import pytest
import torch
from dspy.lm15 import InvalidRequestError

from specprompt import ConfigError, ImageInputError
from specprompt.scorers import LocalVLMEngine, ParsedChat, parse_messages, with_query

from .test_local import COLOURS, Colour, colour_program, picture, tiny_checkpoint


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> LocalVLMEngine:
    return LocalVLMEngine(tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny"))


def chats_of(program: dspy.Predict, queries: list[dspy.Image], adapter: Any = None) -> list[ParsedChat]:
    adapter = adapter or dspy.ChatAdapter()
    return [parse_messages(adapter.format(program.signature, program.demos, {"image": q})) for q in queries]


def test_parse_messages_reads_what_the_engine_reads_from_dspys_request(
    engine: LocalVLMEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    program = colour_program()
    seen: list[ParsedChat] = []
    answer = engine.answer

    def record(chat: ParsedChat) -> Any:
        seen.append(chat)
        return answer(chat)

    monkeypatch.setattr(engine, "answer", record)
    with dspy.context(lm=dspy.LM(engine.model_name, engine=engine, cache=False)):
        program(image=picture(COLOURS["green"], seed=9))
    (chat,) = chats_of(program, [picture(COLOURS["green"], seed=9)])
    assert chat == seen[0]
    assert [d.answer for d in chat.demos] == [d.answer for d in seen[0].demos] and len(chat.demos) == 3


def test_respond_gives_the_per_call_answers_usage_and_calls_with_one_encoder_pass(engine: LocalVLMEngine) -> None:
    program = colour_program()
    queries = [picture(rgb, seed=20 + i) for i, rgb in enumerate([*COLOURS.values(), (200, 200, 40)])]
    chats = chats_of(program, queries)
    calls, passes = engine.calls, engine.forward_passes
    together = engine.respond(chats)
    assert engine.calls - calls == len(chats) and engine.forward_passes - passes == 1
    assert engine.respond(chats) and engine.forward_passes - passes == 1  # every embedding is cached now
    lm = dspy.LM(engine.model_name, engine=engine, cache=False)
    with dspy.context(lm=lm):
        for query, response in zip(queries, together, strict=True):
            program(image=query)
            single = lm.history[-1]["response"]
            assert response.text == single.text and response.usage == single.usage
            mine, theirs = response.provider_data["specprompt"], single.provider_data["specprompt"]
            assert {k: v for k, v in mine.items() if k != "scores"} == {
                k: v for k, v in theirs.items() if k != "scores"
            }
            assert np.allclose(list(mine["scores"].values()), list(theirs["scores"].values()), atol=1e-5)


def test_chats_without_demos_or_with_one_answer_need_no_model(engine: LocalVLMEngine) -> None:
    empty = dspy.Predict(Colour)
    one = dspy.Predict(Colour)
    one.demos = [dspy.Example(image=picture(COLOURS["blue"]), label="blue", note="x").with_inputs("image")]
    passes = engine.forward_passes
    no_demo, single = engine.answer_batch(chats_of(empty, [picture((9, 9, 9))]) + chats_of(one, [picture((1, 2, 3))]))
    assert no_demo[1]["answer"] is None and "[[ ## label ## ]]\nred" in no_demo[0]
    assert single[1]["scores"] == {"blue | x": 1.0} and engine.forward_passes == passes


def test_errors_are_those_of_the_per_call_path(engine: LocalVLMEngine) -> None:
    program = colour_program()
    (chat,) = chats_of(program, [picture(COLOURS["red"])])
    with pytest.raises(ImageInputError, match="no image part"):
        engine.respond([chat, with_query(chat, ParsedChat(chat.system, (), (), "no image", (), 0))])
    with pytest.raises(InvalidRequestError, match="has none"):
        engine.respond([ParsedChat("plain system", (), chat.query, "hi", chat.query, 10)])
    url = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x.invalid/a.png"}}]}]
    with pytest.raises(ImageInputError, match="inline image data only"):
        parse_messages(url)
    audio = [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]
    with pytest.raises(ImageInputError, match=re.escape("<'input_audio' part in the query>")):
        parse_messages(audio)
    with pytest.raises(ImageInputError, match="got a 'assistant' message"):
        parse_messages([{"role": "system", "content": "s"}, {"role": "assistant", "content": "a"}])
    with pytest.raises(ImageInputError, match="got no message"):
        parse_messages([{"role": "system", "content": "s"}])


def test_readout_checks_shapes(engine: LocalVLMEngine) -> None:
    z = torch.zeros(3, 5)
    with pytest.raises(ConfigError, match=r"got demos \(3, 5\), 2 labels"):
        engine.vlm.readout(z, ["a", "b"], z)
    with pytest.raises(ConfigError, match=r"queries \(5,\)"):
        engine.vlm.readout(z, ["a", "b", "a"], z[0])
    answers, probs = engine.vlm.readout(z, ["a", "a", "a"], z[:2])
    assert answers == ["a"] and probs.tolist() == [[1.0], [1.0]]


def test_with_query_swaps_the_query_only() -> None:
    program = colour_program()
    a, b = chats_of(program, [picture(COLOURS["red"], size=32), picture(COLOURS["blue"], size=48)])
    swapped = with_query(a, b)
    assert swapped.demos == a.demos and swapped.system == a.system
    assert swapped.query == b.query and swapped.images[-1] == b.query[0] and swapped.images[:-1] == a.images[:-1]
    assert swapped.text_chars == b.text_chars and swapped == b
