"""SearchContext: parameters, prompt keys, warm starts and program building."""

from __future__ import annotations

from pathlib import Path

import dspy
import pytest

from specprompt import ConfigError
from specprompt.search import SearchConfig
from specprompt.search._context import Candidate, SearchContext
from specprompt.search._demos import plan_demos
from specprompt.search._warm import warm_starts
from specprompt.tasks import Task


def _ctx(task: Task, **cfg: object) -> SearchContext:
    config = SearchConfig(k_demos=3, **cfg)  # type: ignore[arg-type]
    student = dspy.Predict(task.signature)
    return SearchContext(student, plan_demos(student, task.trainset, config.k_demos, config.seed), config)


def test_params_round_trip_and_missing_params(colour_task: Task) -> None:
    ctx = _ctx(colour_task, search_demos=True)
    assert list(ctx.distributions()) == [
        "self/demo0:include",
        "self/demo1:include",
        "self/demo2:include",
        "self/demo0/image:keep_from",
        "self/demo1/image:keep_from",
        "self/demo2/image:keep_from",
    ]
    cand = Candidate({f"self/demo{i}/image": {"keep_from": i} for i in range(3)}, excluded=frozenset({"self/demo1"}))
    params = ctx.to_params(cand)
    assert params["self/demo1:include"] == 0 and params["self/demo2/image:keep_from"] == 2
    assert ctx.from_params(params) == cand
    with pytest.raises(ConfigError, match="the study was made for another program"):
        ctx.from_params({"self/demo0/image:keep_from": 1})


def test_key_is_about_the_prompt_not_the_parameters(colour_task: Task) -> None:
    ctx = _ctx(colour_task, search_demos=True)
    base = {f"self/demo{i}/image": {"keep_from": 1} for i in range(3)}
    out = frozenset({"self/demo0"})
    a = Candidate(base, excluded=out)
    b = Candidate({**base, "self/demo0/image": {"keep_from": 3}}, excluded=out)
    c = Candidate({**base, "self/demo0/image": {"keep_from": 3}})
    assert ctx.key(a) == ctx.key(b) != ctx.key(c)
    assert ctx.tokens(a) == ctx.tokens(b) == 2 * 28 and ctx.tokens(c) == 2 * 28  # keep_from 1: L1 + residual
    assert ctx.describe(a)["self/demo0/image"] == {
        "source": ctx.sources["self/demo0/image"][:16],
        "choice": "excluded",
        "tokens": 0,
    }
    program = ctx.build(a)
    assert len(program.demos) == 2


def test_warm_starts_fit_and_differ(colour_task: Task) -> None:
    student = dspy.Predict(colour_task.signature)
    student.demos = [colour_task.trainset[i] for i in (3, 0, 5)]  # two demos share an answer
    ctx = SearchContext(student, plan_demos(student, colour_task.trainset, 3, 0), SearchConfig())
    starts = dict(warm_starts(ctx, 84))  # a 64 px demo costs 44 (full), 28 (L1+), 12 (residual) or 0
    assert list(starts) == ["uniform", "greedy", "stratified-one"]  # the others equal greedy here
    assert [v["keep_from"] for v in starts["stratified-one"].values.values()] == [0, 1, 3]
    uniform, greedy = starts["uniform"], starts["greedy"]
    assert [v["keep_from"] for v in uniform.values.values()] == [1, 1, 1]  # 3 x 28 tokens
    assert [v["keep_from"] for v in greedy.values.values()] == [0, 1, 2]  # 44 + 28 + 12 tokens
    assert ctx.tokens(uniform) == 84 and ctx.tokens(greedy) == 84
    unlimited = dict(warm_starts(ctx, None))  # uniform, greedy and stratified keep everything
    assert list(unlimited) == ["uniform", "stratified-one", "stratified-coarse"]
    assert ctx.tokens(unlimited["uniform"]) == 132
    assert [d.label for d in ctx.plan.demos[0]] == ["bottom-right", "top-right", "top-right"]
    assert [v["keep_from"] for v in unlimited["stratified-one"].values.values()] == [0, 0, 3]
    assert [v["keep_from"] for v in unlimited["stratified-coarse"].values.values()] == [0, 0, 2]
    assert ctx.tokens(ctx.uniform_fit(0)) == 0 == ctx.tokens(ctx.greedy_fit(0))
    assert ctx.tokens(ctx.full()) == 132


def test_one_decomposition_per_distinct_source(colour_task: Task) -> None:
    student = dspy.Predict(colour_task.signature)
    ex = colour_task.trainset[0]
    student.demos = [ex, ex.copy(label="other"), colour_task.trainset[1]]
    config = SearchConfig()
    ctx = SearchContext(student, plan_demos(student, colour_task.trainset, None, 0), config)
    assert len(ctx.plan.slots) == 3 and len(ctx.spectra) == 2
    assert ctx.sources["self/demo0/image"] == ctx.sources["self/demo1/image"]


def _png_uri(shape: tuple[int, int, int]) -> str:
    import base64
    import io

    import numpy as np
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.full(shape, 128, np.uint8)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


#: Two demo images; the second a 3x700 strip (aspect ratio 233: Qwen2-VL reads at most 200).
_SHAPES = (("a", (32, 32, 3)), ("b", (700, 3, 3)))


def test_a_demo_the_cost_model_cannot_price_is_named(tmp_path: Path) -> None:
    from PIL import Image

    from specprompt.data import load_dataset
    from specprompt.io import load_image

    config = SearchConfig(k_demos=2, cost_model="qwen2-vl")
    student = dspy.Predict("image: dspy.Image -> label")
    made = [
        dspy.Example(image=dspy.Image(_png_uri(shape)), label=label).with_inputs("image") for label, shape in _SHAPES
    ]
    with pytest.raises(ConfigError) as info:
        SearchContext(student, plan_demos(student, made, 2, 0), config)
    text = str(info.value)
    assert (
        "demo image self/demo1/image (predictor 'self', demo 1, field 'image') cannot be priced for qwen2-vl: " in text
    )
    assert "aspect ratio at most 200" in text and "3x700 image" in text
    for label, _ in _SHAPES:  # the same images read from files: the file is named too
        (tmp_path / label).mkdir()
        Image.Image.save(load_image(next(e.image for e in made if e.label == label)), tmp_path / label / f"{label}.png")
    with pytest.raises(ConfigError) as info:
        SearchContext(student, plan_demos(student, load_dataset(tmp_path), 2, 0), config)
    path = str(tmp_path / "b" / "b.png")
    assert f"(predictor 'self', demo 1, field 'image', file {path!r}) cannot be priced for qwen2-vl" in str(info.value)
