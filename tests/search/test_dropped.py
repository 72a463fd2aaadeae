"""A dropped demo image reaches the model as an explicit "no image" text, never as ``None``."""

from __future__ import annotations

import dspy
import pytest

from specprompt.search import SearchConfig
from specprompt.search._context import Candidate, SearchContext
from specprompt.search._demos import plan_demos
from specprompt.tasks import Task
from specprompt.types import DROPPED_IMAGE


def _texts(message: dict[str, object]) -> str:
    content = message["content"]
    if isinstance(content, str):
        return content
    assert isinstance(content, list)
    return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))


def _images(message: dict[str, object]) -> int:
    content = message["content"]
    return (
        0
        if isinstance(content, str)
        else sum(1 for p in content if isinstance(p, dict) and p.get("type") == "image_url")
    )  # type: ignore[union-attr]


@pytest.mark.parametrize("adapter", [dspy.ChatAdapter(), dspy.JSONAdapter()])
def test_adapter_sends_the_marker_for_a_dropped_image(colour_task: Task, adapter: dspy.Adapter) -> None:
    student = dspy.Predict(colour_task.signature)
    ctx = SearchContext(student, plan_demos(student, colour_task.trainset, 3, 0), SearchConfig())
    slots = [s.id for s in ctx.plan.slots]
    cand = Candidate({**ctx.full().values, slots[1]: ctx.dropped().values[slots[1]]})
    program = ctx.build(cand)
    assert program.demos[1].image == DROPPED_IMAGE == "(no image: dropped to save tokens)"
    query = {"image": colour_task.valset[0].image}
    messages = adapter.format(program.signature, program.demos, query)
    users = [m for m in messages if m["role"] == "user"]
    assert [_images(m) for m in users] == [1, 0, 1, 1]  # demo 1 sends no image part, the query does
    dropped = users[1]
    assert "(no image: dropped to save tokens)" in _texts(dropped)
    assert all("None" not in _texts(m) for m in users)
    assert "not supplied" not in _texts(dropped)  # a complete demo: its label follows as usual
    following = messages[messages.index(dropped) + 1]
    assert following["role"] == "assistant" and program.demos[1].label in _texts(following)


def test_list_field_left_without_images_gets_the_marker(colour_task: Task) -> None:
    student = dspy.Predict("images: list[dspy.Image] -> label")
    a, b = colour_task.trainset[0].image, colour_task.trainset[1].image
    student.demos = [dspy.Example(images=[a, b], label="x").with_inputs("images")]
    ctx = SearchContext(student, plan_demos(student, [], None, 0), SearchConfig())
    one = dict(ctx.dropped().values)
    one["self/demo0/images[0]"] = ctx.full().values["self/demo0/images[0]"]
    assert len(ctx.build(Candidate(one)).demos[0].images) == 1
    assert ctx.build(ctx.dropped()).demos[0].images == DROPPED_IMAGE
