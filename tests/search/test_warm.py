"""Warm starts (uniform, greedy, label-stratified) and the neighbour step of the local search."""

from __future__ import annotations

import contextlib
import random
from typing import Any

import dspy
import pytest
from PIL import Image

from specprompt import SpecPromptWarning
from specprompt.search import SearchConfig
from specprompt.search._context import Candidate, SearchContext
from specprompt.search._demos import plan_demos
from specprompt.search._labels import answer_fields as _answer_fields
from specprompt.search._warm import answer_rounds, neighbour, stratified_fit, warm_starts
from specprompt.tasks import Task

IMG = dspy.Image(Image.new("RGB", (8, 8)))


def _ctx(student: dspy.Module, **cfg: Any) -> SearchContext:
    config = SearchConfig(**cfg)
    return SearchContext(student, plan_demos(student, [], None, 0), config)


def _rounds(student: dspy.Module) -> list[list[int]]:
    rounds = answer_rounds(student, plan_demos(student, [], None, 0))
    return [[int(d.rsplit("demo", 1)[1]) for d in r] for r in rounds]


def test_answer_rounds_round_robin_over_labels() -> None:
    p = dspy.Predict("image: dspy.Image -> label")
    p.demos = [dspy.Example(image=IMG, label=x).with_inputs("image") for x in "abacb"]
    assert _rounds(p) == [[0, 1, 3], [2, 4]]
    p.demos = [{"image": IMG, "label": x} for x in "xyz"]  # dict demos, every answer once: demo order
    assert _rounds(p) == [[0, 1, 2]]
    p.demos = [dspy.Example(image=IMG if x != "b" else None, label=x) for x in "aba"]
    assert _rounds(p) == [[0], [2]]  # a demo without an image is not in the rounds


def test_answer_rounds_ignore_free_text_and_constant_fields() -> None:
    p = dspy.Predict("image: dspy.Image -> reasoning, source, label")
    p.demos = [
        dspy.Example(image=IMG, reasoning=f"because {i}", source="s", label=x).with_inputs("image")
        for i, x in enumerate("aabb")
    ]
    # every (reasoning, source, label) differs; 'source' is the same everywhere; 'label' groups
    assert _rounds(p) == [[0, 2], [1, 3]]


def test_answer_rounds_are_per_predictor() -> None:
    class Two(dspy.Module):
        def __init__(self) -> None:
            super().__init__()
            self.one = dspy.Predict("image: dspy.Image -> label")
            self.two = dspy.Predict("image: dspy.Image -> label")

    prog = Two()
    prog.one.demos = [dspy.Example(image=IMG, label=x) for x in "aab"]
    prog.two.demos = [dspy.Example(image=IMG, label=x) for x in "aa"]
    plan = plan_demos(prog, [], None, 0)
    assert answer_rounds(prog, plan) == [["one/demo0", "one/demo2", "two/demo0"], ["one/demo1", "two/demo1"]]


def test_answer_fields_without_a_signature() -> None:
    ex = dspy.Example(image=IMG, label="a", note="n").with_inputs("image")
    assert _answer_fields(object(), ex) == ["label", "note"]
    assert _answer_fields(object(), {"image": IMG, "label": "a"}) == ["label"]
    assert _answer_fields(dspy.Predict("image: dspy.Image -> label"), ex) == ["label"]


def _shuffled_texture(task: Task) -> dspy.Predict:
    """Demos listed so that greedy (demo order) misses a class: v v r f h h."""
    student = dspy.Predict(task.signature)
    student.demos = list(task.trainset)
    assert [d.label for d in student.demos] == ["vertical", "vertical", "rising", "falling", "horizontal", "horizontal"]
    return student


def test_stratified_warm_starts_cover_every_answer(texture_task: Task) -> None:
    ctx = _ctx(_shuffled_texture(texture_task))
    slot = ctx.plan.slots[0].id
    rungs = [Candidate({**ctx.dropped().values, slot: {"keep_from": r}}) for r in range(4)]
    rung_tokens = [ctx.slot_tokens(c, ctx.plan.slots[0]) for c in rungs]
    assert rung_tokens == [44, 28, 12, 0]  # keep_from 0 (full), 1 (L1+), 2 (residual), 3 (drop)
    budget = 4 * 44 + 28 + 12
    starts = dict(warm_starts(ctx, budget))
    assert list(starts) == ["uniform", "greedy", "stratified", "stratified-one", "stratified-coarse"]

    def kept(cand: Candidate) -> list[int]:
        return [cand.values[s.id]["keep_from"] for s in ctx.plan.slots]

    assert kept(starts["greedy"]) == [0, 0, 0, 0, 1, 2]  # no horizontal demo at full resolution
    assert kept(starts["stratified"]) == [0, 1, 0, 0, 0, 2]  # v r f h sharp, then the second v, h
    assert kept(starts["stratified-one"]) == [0, 3, 0, 0, 0, 3]  # v r f h sharp, the others dropped
    assert kept(starts["stratified-coarse"]) == [0, 2, 0, 0, 0, 2]  # the others at the coarsest kept level
    for cand in starts.values():
        assert ctx.tokens(cand) <= budget
    # without room for more the stratified starts show the same prompt: it is enqueued once; greedy
    # would drop both horizontal demos (every label keeps an image): it is no warm start then
    assert kept(ctx.greedy_fit(4 * 44)) == [0, 0, 0, 0, 3, 3]
    assert list(dict(warm_starts(ctx, 4 * 44))) == ["uniform", "stratified"]
    assert len({ctx.key(stratified_fit(ctx, 4 * 21, rest)) for rest in ("fine", "drop", "coarse")}) == 1
    # without a budget: everything sharp, one sharp per answer alone, or with coarse others
    unlimited = dict(warm_starts(ctx, None))
    assert list(unlimited) == ["uniform", "stratified-one", "stratified-coarse"]
    assert kept(unlimited["stratified-one"]) == [0, 3, 0, 0, 0, 3]


@pytest.mark.parametrize(("scheme", "model", "budget"), [("dct", "openai:gpt-4o", 300), ("fft", "anthropic", 9)])
def test_warm_starts_fit_other_schemes(texture_task: Task, scheme: str, model: str, budget: int) -> None:
    cheap = model == "anthropic"  # 6 tokens at 64 px, 1 at 8 px; gpt-4o: 255 tokens at any size
    with contextlib.nullcontext() if cheap else pytest.warns(SpecPromptWarning, match="one image per label"):
        ctx = _ctx(_shuffled_texture(texture_task), scheme=scheme, cost_model=model, token_budget=budget)
    starts = warm_starts(ctx, budget)
    assert starts and all(ctx.tokens(c) <= budget for _, c in starts)
    assert len({ctx.key(c) for _, c in starts}) == len(starts)


def test_neighbour_moves_one_or_two_images_within_budget(texture_task: Task) -> None:
    ctx = _ctx(_shuffled_texture(texture_task))
    inc = stratified_fit(ctx, 120)
    seen = {ctx.key(inc)}
    rng = random.Random(0)
    for _ in range(20):
        cand = neighbour(ctx, inc, 120, seen, rng)
        assert cand is not None and ctx.tokens(cand) <= 120 and ctx.key(cand) not in seen
        assert ctx.covers_labels(cand)
        moved = [s.id for s in ctx.plan.slots if cand.values[s.id] != inc.values[s.id]]
        assert 1 <= len(moved) <= 2
        seen.add(ctx.key(cand))


def test_neighbour_gives_up_when_everything_was_seen(colour_task: Task) -> None:
    student = dspy.Predict(colour_task.signature)
    student.demos = colour_task.trainset[:1]
    ctx = _ctx(student)
    slot = ctx.plan.slots[0].id
    every = {ctx.key(Candidate({slot: {"keep_from": v}})) for v in range(4)}
    inc = Candidate({slot: {"keep_from": 1}})
    assert neighbour(ctx, inc, None, every, random.Random(0)) is None
    only = neighbour(ctx, inc, 5, {ctx.key(inc)}, random.Random(0))  # 21 tokens at keep_from 0: too dear
    assert only is not None and only.values[slot]["keep_from"] in (2, 3)
