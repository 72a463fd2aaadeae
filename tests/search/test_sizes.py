"""The sent size: a per-image search dimension, Lanczos renders, prices of what is sent, uniform fit."""

from __future__ import annotations

import random
from pathlib import Path

import dspy
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from specprompt import ConfigError, decompose
from specprompt.cost import image_tokens
from specprompt.io import load_image
from specprompt.search import SearchConfig
from specprompt.search._context import Candidate, SearchContext
from specprompt.search._demos import plan_demos
from specprompt.search._space import MIN_SIDE, SIZE_DIM, Dim, search_space_for, sent_size, with_size
from specprompt.tasks import Task, get_task
from specprompt.types import SpectralImage, load_program

PRICINGS = ("openai:gpt-4.1-mini", "qwen2-vl", "anthropic", "openai:gpt-4o")


@pytest.fixture(scope="module")
def photo_task() -> Task:
    return get_task("colour-position", n_train=8, n_val=2, n_test=0, size=96, seed=3)


def _ctx(task: Task, cost_model: str, scheme: str = "laplacian", **cfg: object) -> SearchContext:
    config = SearchConfig(k_demos=4, cost_model=cost_model, scheme=scheme, **cfg)  # type: ignore[arg-type]
    student = dspy.Predict(task.signature)
    return SearchContext(student, plan_demos(student, task.trainset, config.k_demos, config.seed), config)


def _sent_images(program: dspy.Module) -> list[dspy.Image]:
    return [d["image"] for d in program.demos if isinstance(d["image"], dspy.Image)]


def test_size_dimension_and_ladder() -> None:
    spec = decompose(np.zeros((48, 96, 3), np.float32))
    space = with_size(search_space_for(spec), spec.size)
    assert space.size_dim == Dim(SIZE_DIM, MIN_SIDE, 96, log=True)
    assert space.sent_size({"keep_from": 0, "size": 37}) == (37, 18)
    ladder = space.ladder()
    assert ladder[0] == space.full() == {"keep_from": 0, "size": 96}
    sides = [r["size"] for r in ladder[:-1]]
    assert sides == sorted(set(sides), reverse=True) and sides[-1] == MIN_SIDE
    assert 67 in sides and 48 in sides  # 0.7 and 0.5 of 96: not only powers of two
    assert space.selection(ladder[-1]).bands == frozenset()
    assert space.describe(ladder[-1]) == {"keep_from": "drop", "size": "drop"}
    assert search_space_for(spec).sent_size({"keep_from": 0}) is None
    with pytest.raises(ConfigError, match="already has a size dimension"):
        with_size(space, spec.size)
    with pytest.raises(ConfigError, match=r"size=7 outside 8..96"):
        space.check({"keep_from": 0, "size": 7})
    assert sent_size((5, 3), 3) == (3, 2) and sent_size((1, 500), 8) == (1, 8)


def test_local_cost_model_has_no_size_dimension(photo_task: Task) -> None:
    ctx = _ctx(photo_task, "local")
    assert not ctx.sized
    assert all(d.name != SIZE_DIM for space in ctx.spaces.values() for d in space.dims)


@pytest.mark.parametrize("model", PRICINGS)
def test_price_is_the_price_of_the_image_actually_sent(photo_task: Task, model: str) -> None:
    """Hypothesis-style: random candidates over every dimension; ctx.tokens is what the sent PNGs cost."""
    ctx = _ctx(photo_task, model)
    dists = ctx.distributions()
    rng = random.Random(model)
    for _ in range(12):
        params = {name: rng.randint(d.low, d.high) for name, d in dists.items()}
        cand = ctx.from_params(params)
        sent = _sent_images(ctx.build(cand))
        priced = sum(image_tokens(model, *load_image(img).size) for img in sent)
        assert ctx.tokens(cand) == priced
        for img in sent:
            assert isinstance(img, SpectralImage) and img.resample == "lanczos"
            assert load_image(img).size == tuple(img.render_size)


@settings(max_examples=25, deadline=None)
@given(
    data=st.data(),
    model=st.sampled_from(PRICINGS),
    fraction=st.floats(min_value=0.0, max_value=1.2),
)
def test_budget_guarantee_for_every_dimension(
    photo_task: Task, data: st.DataObject, model: str, fraction: float
) -> None:
    """Every warm start, uniform fit and neighbour-like random candidate that 'fits' sends images within budget."""
    from specprompt.search._warm import warm_starts

    ctx = _ctx(photo_task, model, search_demos=True)
    budget = int(fraction * ctx.tokens(ctx.full()))
    candidates = [c for _, c in warm_starts(ctx, budget)] + [ctx.uniform_fit(budget), ctx.greedy_fit(budget)]
    params = {n: data.draw(st.integers(d.low, d.high), label=n) for n, d in ctx.distributions().items()}
    candidates.append(ctx.from_params(params))
    for cand in candidates:
        if ctx.tokens(cand) > budget:
            continue
        sent = _sent_images(ctx.build(cand))
        assert sum(image_tokens(model, *load_image(img).size) for img in sent) <= budget


def test_render_is_lanczos_of_the_kept_bands(photo_task: Task) -> None:
    ctx = _ctx(photo_task, "openai:gpt-4.1-mini")
    slot = ctx.plan.slots[0]
    space = ctx.spaces[slot.id]
    cand = Candidate({**ctx.full().values, slot.id: {**space.full(), SIZE_DIM: 41}})
    img = _sent_images(ctx.build(cand))[0]
    assert img.render_size == (41, 41)
    source = load_image(ctx.plan.images[slot.id]).convert("RGB")
    ref = np.asarray(source.resize((41, 41), Image.Resampling.LANCZOS))
    # all bands kept: exactly the pixels of a plain PIL Lanczos resize of the source
    assert np.array_equal(np.asarray(load_image(img).convert("RGB")), ref)
    coarse = Candidate({**ctx.full().values, slot.id: {"keep_from": 2, SIZE_DIM: 41}})
    blurred = np.asarray(load_image(_sent_images(ctx.build(coarse))[0]).convert("RGB"))
    spec = ctx.spectra[ctx.sources[slot.id]]
    low = spec.render(space.selection({"keep_from": 2, SIZE_DIM: 41}), "full")  # the kept bands, 8-bit
    assert np.array_equal(blurred, np.asarray(low.resize((41, 41), Image.Resampling.LANCZOS)))
    assert not np.array_equal(blurred, ref)
    assert ctx.key(cand) != ctx.key(coarse) and ctx.describe(cand)[slot.id]["sent"] == [41, 41]


@pytest.mark.parametrize("model", ["openai:gpt-4.1-mini", "qwen2-vl", "anthropic"])
def test_uniform_fit_is_the_largest_common_scale_that_fits(photo_task: Task, model: str) -> None:
    ctx = _ctx(photo_task, model)
    full = ctx.tokens(ctx.full())
    assert ctx.uniform_fit(None) == ctx.uniform_fit(full) == ctx.full()
    smallest = Candidate({sid: {**v, SIZE_DIM: MIN_SIDE} for sid, v in ctx.full().values.items()})
    for fraction in (0.1, 0.25, 0.5):
        budget = fraction * full
        cand = ctx.uniform_fit(budget)
        tokens = ctx.tokens(cand)
        if ctx.tokens(smallest) > budget:
            assert cand == ctx.dropped()
            continue
        assert 0 < tokens <= budget
        sides = {v[SIZE_DIM] for v in cand.values.values()}
        assert len(sides) == 1 and all(v["keep_from"] == 0 for v in cand.values.values())
        side = sides.pop()
        bigger = Candidate({sid: {**v, SIZE_DIM: side + 1} for sid, v in cand.values.items()})
        assert ctx.tokens(bigger) > budget
    assert ctx.tokens(ctx.uniform_fit(0)) == 0


def test_saved_program_keeps_what_was_kept_and_the_sent_size(photo_task: Task, tmp_path: Path) -> None:
    ctx = _ctx(photo_task, "qwen2-vl")
    cand = ctx.uniform_fit(0.6 * ctx.tokens(ctx.full()))
    program = ctx.build(cand)
    path = tmp_path / "p.json"
    program.save(str(path))
    loaded = load_program(dspy.Predict(photo_task.signature), path)
    before, after = _sent_images(program), _sent_images(loaded)
    assert len(after) == len(ctx.plan.slots) == 4
    assert [a == b for a, b in zip(before, after, strict=True)] == [True] * len(before)
    assert all(isinstance(a, SpectralImage) and a.resample == "lanczos" for a in after)
    for slot, img in zip(ctx.plan.slots, after, strict=True):
        assert tuple(img.render_size) == sent_size(img.source_size, cand.values[slot.id][SIZE_DIM])
