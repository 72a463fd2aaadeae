"""The ``sharpen`` dimension: an unsharp mask of the sent images, chosen per program, free of tokens."""

from __future__ import annotations

import random
from dataclasses import replace

import dspy
import numpy as np
import pytest

from specprompt.errors import ConfigError
from specprompt.io import as_array
from specprompt.search import SearchConfig
from specprompt.search._context import SHARPEN_DIM, SHARPEN_LEVELS, SearchContext
from specprompt.search._demos import plan_demos
from specprompt.search._moves import sized_move
from specprompt.search._trim import _dropped, _scaled
from specprompt.search._warm import SHARP_START, warm_starts
from specprompt.tasks import Task, get_task
from specprompt.types import SpectralImage

MODEL = "openai:gpt-4.1-mini"


@pytest.fixture(scope="module")
def task() -> Task:
    return get_task("photo-texture", n_train=6, n_val=2, n_test=0, size=128, seed=3)


def _ctx(task: Task, budget: int | None, **options: object) -> SearchContext:
    student = dspy.Predict(task.signature)
    student.demos = task.trainset[:6]
    config = SearchConfig(token_budget=budget, **{"cost_model": MODEL, **options})  # type: ignore[arg-type]
    return SearchContext(student, plan_demos(student, [], None, 0), config)


def _images(program: dspy.Module) -> list[SpectralImage]:
    out = []
    for _, pred in program.named_predictors():
        for demo in pred.demos:
            img = demo.get("image") if hasattr(demo, "get") else None
            if isinstance(img, SpectralImage):
                out.append(img)
    return out


def test_the_dimension_exists_only_where_pixels_are_priced_and_it_is_on(task: Task) -> None:
    ctx = _ctx(task, 200)
    dist = ctx.distributions()[SHARPEN_DIM]
    assert (dist.low, dist.high) == (0, len(SHARPEN_LEVELS) - 1) and SHARPEN_LEVELS[0] == 0
    assert SHARPEN_DIM not in _ctx(task, 200, sharpen=False).distributions()
    assert SHARPEN_DIM not in _ctx(task, 200, cost_model="local").distributions()  # minimal renders: no resize


def test_params_round_trip_and_a_trial_stored_without_it_reads_as_none(task: Task) -> None:
    ctx = _ctx(task, 200)
    cand = replace(ctx.uniform_fit(200), sharpen=2)
    params = ctx.to_params(cand)
    assert params[SHARPEN_DIM] == 2 and ctx.from_params(params) == cand
    old = {k: v for k, v in params.items() if k != SHARPEN_DIM}
    assert ctx.from_params(old).sharpen == 0
    with pytest.raises(ConfigError, match="sharpen=9"):
        ctx.from_params({**params, SHARPEN_DIM: 9})
    off = _ctx(task, 200, sharpen=False)
    assert SHARPEN_DIM not in off.to_params(cand) and off.from_params(params).sharpen == 0


def test_sharpening_costs_no_tokens_and_changes_only_the_pixels(task: Task) -> None:
    ctx = _ctx(task, 200)
    plain = ctx.uniform_fit(200)
    sharp = replace(plain, sharpen=3)
    assert ctx.tokens(sharp) == ctx.tokens(plain) <= 200
    assert ctx.key(sharp) != ctx.key(plain)
    assert ctx.key(replace(ctx.dropped(), sharpen=3)) == ctx.key(ctx.dropped())  # nothing sent, nothing sharpened
    a, b = _images(ctx.build(plain)), _images(ctx.build(sharp))
    assert len(a) == len(b) == 6
    for x, y in zip(a, b, strict=True):
        assert x.render_size == y.render_size and x.sharpen is None and y.sharpen == SHARPEN_LEVELS[3]
        px, py = as_array(x), as_array(y)
        assert not np.array_equal(px, py)
        assert abs(float(px.mean()) - float(py.mean())) < 0.02  # an unsharp mask keeps the mean brightness
        assert float(np.abs(np.diff(py, axis=1)).mean()) > float(np.abs(np.diff(px, axis=1)).mean())  # more contrast
        assert SpectralImage.from_data_uri(y.url).sharpen == SHARPEN_LEVELS[3]  # travels with the PNG
    desc = ctx.describe(sharp)
    assert all(entry[SHARPEN_DIM] == SHARPEN_LEVELS[3] for entry in desc.values())
    assert all(SHARPEN_DIM not in entry for entry in ctx.describe(plain).values())


def test_the_sharpened_uniform_warm_start_follows_uniform(task: Task) -> None:
    budget = 200
    ctx = _ctx(task, budget)
    starts = dict(warm_starts(ctx, budget))
    assert list(starts)[:2] == ["uniform", "uniform-sharp"]
    assert starts["uniform-sharp"] == replace(starts["uniform"], sharpen=SHARP_START)
    assert "uniform-sharp" not in dict(warm_starts(_ctx(task, budget, sharpen=False), budget))


def test_moves_and_trims_keep_the_sharpening_and_a_sharpen_move_changes_only_it(task: Task) -> None:
    budget = 200
    ctx = _ctx(task, budget)
    start = replace(ctx.uniform_fit(budget), sharpen=1)
    rng = random.Random(0)
    seen_sharpen_moves = 0
    for _ in range(200):
        moved = sized_move(ctx, start, budget, rng)
        if moved is None:
            continue
        assert ctx.tokens(moved) <= budget
        if moved.values == start.values:
            seen_sharpen_moves += 1
            assert abs(moved.sharpen - start.sharpen) == 1
        else:
            assert moved.sharpen == start.sharpen
    assert seen_sharpen_moves > 0
    smaller = _scaled(ctx, start)  # the trim's steps: a smaller common size, a demo dropped
    assert smaller is not None and smaller.sharpen == 1 and ctx.tokens(smaller) < ctx.tokens(start)
    assert _dropped(ctx, start, ctx.plan.slots[0].demo_id).sharpen == 1


def test_a_sharpen_value_out_of_range_is_refused_naming_it() -> None:
    from specprompt import decompose

    spec = decompose(np.full((32, 32, 3), 0.5, np.float32))
    for bad in (-1, 501, True, 1.5):
        with pytest.raises(ConfigError, match="sharpen"):
            SpectralImage.from_spectrum(spec, None, size=(16, 16), sharpen=bad)  # type: ignore[arg-type]
    img = SpectralImage.from_spectrum(spec, None, size=(16, 16), sharpen=50)
    with pytest.raises(ConfigError, match="sharpen"):
        SpectralImage(**{**img._fields(), "sharpen": 0})


def test_the_sharpened_baseline_is_uniform_sharpened_at_equal_tokens(task: Task) -> None:
    from specprompt.search._reference import SHARPENED_LEVEL, reference, reference_candidates

    ctx = _ctx(task, 80)
    uniform, _ = reference(ctx, "uniform")
    sharp, note = reference(ctx, "sharpened")
    assert uniform is not None and sharp == replace(uniform, sharpen=SHARPENED_LEVEL)
    assert ctx.tokens(sharp) == ctx.tokens(uniform) and note.endswith(f"sharpened {SHARPEN_LEVELS[SHARPENED_LEVEL]}%")
    names = [name for name, _ in reference_candidates(ctx)]
    assert names.index("uniform") < names.index("sharpened")  # enqueued after it: ties go to plain resizing
    off, why = reference(_ctx(task, 80, sharpen=False), "sharpened")
    assert off is None and "no sharpen dimension" in why
