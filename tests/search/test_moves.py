"""Budget-aware local moves on the size dimension and the round-scaled warm starts."""

from __future__ import annotations

import random

import dspy
import pytest

from specprompt.search import SearchConfig
from specprompt.search._context import Candidate, SearchContext
from specprompt.search._demos import plan_demos
from specprompt.search._moves import rebalance, scaled_subset, sized_move
from specprompt.search._space import SIZE_DIM
from specprompt.search._warm import answer_rounds, neighbour, round_scaled, warm_starts
from specprompt.tasks import Task, get_task

MODEL = "openai:gpt-4.1-mini"


@pytest.fixture(scope="module")
def task() -> Task:
    return get_task("colour-position", n_train=8, n_val=2, n_test=0, size=128, seed=2)


def _ctx(task: Task, budget: int | None) -> SearchContext:
    student = dspy.Predict(task.signature)
    student.demos = task.trainset[:8]
    return SearchContext(student, plan_demos(student, [], None, 0), SearchConfig(token_budget=budget, cost_model=MODEL))


def _full_tokens(task: Task) -> int:
    ctx = _ctx(task, None)
    return ctx.tokens(ctx.full())


def _sides(ctx: SearchContext, cand: Candidate) -> list[int | None]:
    return [
        None if ctx.spaces[s.id].selection(cand.values[s.id]).bands == frozenset() else cand.values[s.id][SIZE_DIM]
        for s in ctx.plan.slots
    ]


def test_rebalance_spends_the_budget_and_never_exceeds_it(task: Task) -> None:
    budget = _full_tokens(task) // 4
    ctx = _ctx(task, budget)
    small = {s.id: {**ctx.spaces[s.id].full(), SIZE_DIM: 16} for s in ctx.plan.slots}
    every = [s.id for s in ctx.plan.slots]
    grown = rebalance(ctx, small, every, budget, ctx.dropped())
    assert grown is not None
    tokens = ctx.tokens(Candidate(grown))
    assert tokens <= budget < tokens + 8 * 8  # within budget, and little of it left over
    larger = {sid: {**v, SIZE_DIM: v[SIZE_DIM] + 8} for sid, v in grown.items()}
    assert ctx.tokens(Candidate(larger)) > budget  # a larger common side no longer fits
    big = {s.id: ctx.spaces[s.id].full() for s in ctx.plan.slots}
    shrunk = rebalance(ctx, big, every, budget, ctx.dropped())
    assert shrunk is not None and ctx.tokens(Candidate(shrunk)) <= budget
    assert rebalance(ctx, big, every, 0, ctx.dropped()) is None  # not even 8 px images fit 0 tokens
    assert rebalance(ctx, big, [], None, ctx.dropped()) == big  # no budget: nothing to do


def test_scaled_subset_shows_the_chosen_images_at_one_side(task: Task) -> None:
    budget = _full_tokens(task) // 4
    ctx = _ctx(task, budget)
    chosen = [s.id for s in ctx.plan.slots[:3]]
    cand = scaled_subset(ctx, chosen, budget)
    sides = _sides(ctx, cand)
    assert len(set(sides[:3])) == 1 and sides[0] is not None and sides[3:] == [None] * 5
    assert ctx.tokens(cand) <= budget
    assert scaled_subset(ctx, chosen, 0) == ctx.dropped()


def test_round_scaled_warm_starts_follow_uniform_under_pixel_pricing(task: Task) -> None:
    budget = _full_tokens(task) // 4
    ctx = _ctx(task, budget)
    starts = dict(warm_starts(ctx, budget))
    names = list(starts)
    assert names[:4] == ["uniform", "uniform-sharp", "round-scaled", "round-scaled-rest"]
    first = set(answer_rounds(ctx.student, ctx.plan)[0])
    one = _sides(ctx, starts["round-scaled"])
    rest = _sides(ctx, round_scaled(ctx, budget, rest=True))
    for s, a, b in zip(ctx.plan.slots, one, rest, strict=True):
        assert (a is not None) == (s.demo_id in first)
        assert b is not None
    firsts = {b for s, b in zip(ctx.plan.slots, rest, strict=True) if s.demo_id in first}
    others = {b for s, b in zip(ctx.plan.slots, rest, strict=True) if s.demo_id not in first}
    assert len(firsts) == 1 and len(others) == 1 and abs(firsts.pop() / 2 - others.pop()) <= 1
    assert all(ctx.tokens(c) <= budget and ctx.covers_labels(c) for c in starts.values())


def test_sized_moves_are_local_fit_and_cover_every_label(task: Task) -> None:
    budget = _full_tokens(task) // 4
    ctx = _ctx(task, budget)
    inc = ctx.uniform_fit(budget)
    seen = {ctx.key(inc)}
    rng = random.Random(0)
    for _ in range(25):
        cand = neighbour(ctx, inc, budget, seen, rng)
        assert cand is not None and ctx.key(cand) not in seen
        assert ctx.tokens(cand) <= budget and ctx.covers_labels(cand)
        seen.add(ctx.key(cand))
    moves = [sized_move(ctx, inc, budget, random.Random(i)) for i in range(40)]
    made = [m for m in moves if m is not None]
    assert made and all(ctx.tokens(m) <= budget for m in made)
    kinds = set()
    for m in made:
        before, after = _sides(ctx, inc), _sides(ctx, m)
        if after.count(None) > before.count(None):
            kinds.add("drop")
        elif any(m.values[s.id]["keep_from"] != inc.values[s.id]["keep_from"] for s in ctx.plan.slots):
            kinds.add("level")
        elif after != before:
            kinds.add("resize")
    assert kinds == {"drop", "level", "resize"}  # "show" needs a dropped image (the uniform start has none)
