"""search_demos: a trainset pool of candidate demos; which demos are shown and how many is searched."""

from __future__ import annotations

import json
import random
from collections import Counter
from typing import Any

import dspy
import optuna
import pytest

from specprompt import ConfigError, load_image
from specprompt.cost import image_tokens
from specprompt.search import BandOptimizer, SearchConfig
from specprompt.search._context import SearchContext
from specprompt.search._demos import add_pool, default_valset, plan_demos
from specprompt.search._examples import example_hash
from specprompt.search._warm import neighbour, warm_starts
from specprompt.tasks import Task, get_task
from specprompt.types import SpectralImage, content_hash

from .conftest import exact, options

MODEL = "openai:gpt-4.1-mini"  # prices the pixels sent: every image has a size dimension


@pytest.fixture(scope="module")
def task() -> Task:
    return get_task("colour-position", n_train=16, n_val=4, n_test=4, size=64, seed=0)


def _student(task: Task) -> dspy.Predict:
    student = dspy.Predict(task.signature)
    student.demos = [next(ex for ex in task.trainset if ex.label == label) for label in task.labels]
    return student


def _shown(program: dspy.Module) -> list[tuple[str, Any]]:
    """(label, image) of every demo of ``program`` that shows an image."""
    return [(d.label, d.image) for d in program.demos if isinstance(d.image, dspy.Image)]


def _sent_tokens(program: dspy.Module) -> int:
    return sum(image_tokens(MODEL, *load_image(img).size) for _, img in _shown(program))


def test_pool_comes_from_the_trainset_and_never_from_val_or_test(task: Task) -> None:
    student = _student(task)
    overlap = task.trainset[-3:]  # examples that are both in the trainset and the valset
    plan = plan_demos(student, task.trainset, None, 0)
    pooled = add_pool(plan, student, task.trainset, 2, 0, exclude=[*overlap, *task.valset, *task.testset])
    assert pooled.demos[0][: len(student.demos)] == tuple(student.demos)  # the program's demos come first
    extra = pooled.demos[0][len(student.demos) :]
    assert pooled.pooled == {f"self/demo{i}" for i in range(4, 4 + len(extra))}
    train = {example_hash(ex) for ex in task.trainset}
    banned = {example_hash(ex) for ex in [*overlap, *task.valset, *task.testset, *student.demos]}
    assert extra and {example_hash(ex) for ex in extra} <= train - banned
    assert len({example_hash(ex) for ex in extra}) == len(extra)
    assert max(Counter(ex.label for ex in extra).values()) <= 2
    assert set(Counter(ex.label for ex in extra)) == set(task.labels)
    val = {example_hash(ex) for ex in default_valset(task.trainset, pooled)}  # the default valset: no demo
    assert not val & {example_hash(ex) for ex in pooled.demos[0]}
    assert add_pool(plan, student, task.trainset, 0, 0) is plan
    again = add_pool(plan, student, task.trainset, 2, 0)
    other = add_pool(plan, student, task.trainset, 2, 1)
    twice = add_pool(plan, student, task.trainset, 2, 0)
    assert [example_hash(d) for d in again.demos[0]] == [example_hash(d) for d in twice.demos[0]]
    assert [example_hash(d) for d in again.demos[0]] != [example_hash(d) for d in other.demos[0]]


def test_baselines_and_first_warm_starts_keep_the_programs_demos(task: Task) -> None:
    student = _student(task)
    config = SearchConfig(token_budget=40, cost_model=MODEL, search_demos=True, demo_pool=2)
    plan = add_pool(plan_demos(student, task.trainset, None, 0), student, task.trainset, 2, 0, task.valset)
    ctx = SearchContext(student, plan, config)
    assert ctx.pool == plan.pooled and len(ctx.demo_dims) == 4 + len(plan.pooled)
    for cand in (ctx.full(), ctx.dropped(), ctx.uniform_fit(40), ctx.greedy_fit(40)):
        assert cand.excluded == ctx.pool
        assert len(ctx.build(cand).demos) == 4
    found = ctx.uniform_resize(40)
    assert found is not None and len(_shown(ctx.build(found[0]))) == 4
    starts = dict(warm_starts(ctx, 40))
    assert starts["uniform"].excluded == ctx.pool
    more = [name for name in starts if name.startswith("demos+")]
    assert more  # more, smaller demos: the program's demos and pooled ones at one common size
    for name in more:
        assert len(_shown(ctx.build(starts[name]))) > 4 and ctx.tokens(starts[name]) <= 40


@pytest.mark.parametrize("budget", [12, 40, 90])
def test_neighbours_move_demos_within_the_budget_and_keep_every_label(task: Task, budget: int) -> None:
    student = _student(task)
    config = SearchConfig(token_budget=budget, cost_model=MODEL, search_demos=True, demo_pool=3)
    plan = add_pool(plan_demos(student, task.trainset, None, 0), student, task.trainset, 3, 0, task.valset)
    ctx = SearchContext(student, plan, config)
    start = ctx.uniform_fit(budget)
    rng = random.Random(0)
    seen: set[str] = {ctx.key(start)}
    moved = 0
    for _ in range(40):
        cand = neighbour(ctx, start, budget, seen, rng)
        if cand is None:
            continue
        seen.add(ctx.key(cand))
        moved += cand.excluded != start.excluded
        program = ctx.build(cand)
        assert ctx.tokens(cand) <= budget and _sent_tokens(program) <= budget
        assert ctx.covers_labels(cand) and {label for label, _ in _shown(program)} == set(task.labels)
    assert moved >= 10  # most draws change which demos are shown


def test_compile_keeps_the_guarantees(task: Task, lm: dspy.LM) -> None:
    budget = 40
    train_sources = {content_hash(ex.image) for ex in task.trainset}
    held_out = {content_hash(ex.image) for ex in [*task.valset, *task.testset]}
    opt = BandOptimizer(
        exact, **options(token_budget=budget, cost_model=MODEL, n_trials=14, search_demos=True, demo_pool=3)
    )
    program = opt.compile(_student(task), trainset=task.trainset, valset=task.valset, testset=task.testset)
    result = opt.last_result
    assert result is not None and result.test_score is not None
    assert _sent_tokens(program) <= budget
    trials = result.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    counts = set()
    for t in trials:
        origin = t.user_attrs.get("origin")
        built = result._build(t.params, origin)
        shown = _shown(built)
        counts.add(len(shown))
        if origin == "baseline:uniform":  # Lanczos stays on the program's own four demos
            assert [d.label for d in built.demos] == list(task.labels)
        if t.user_attrs.get("feasible") is False:
            continue
        assert _sent_tokens(built) <= budget
        sources = {img.source_hash for _, img in shown if isinstance(img, SpectralImage)}
        assert sources <= train_sources and not sources & held_out  # demos only from the trainset
        if origin != "baseline:text_only":
            assert {label for label, _ in shown} == set(task.labels)  # every label keeps an image
    assert len(counts) > 1  # the search tried prompts with other numbers of demos


def test_same_seed_same_search_and_resume_scores_nothing(task: Task, lm: dspy.LM) -> None:
    def run(seed: int, storage: optuna.storages.BaseStorage | None = None) -> tuple[BandOptimizer, list[Any]]:
        over: dict[str, Any] = {"seed": seed, "search_demos": True, "demo_pool": 2}
        if storage is not None:
            over["storage"] = storage
        opt = BandOptimizer(exact, **options(token_budget=40, cost_model=MODEL, n_trials=8, **over))
        opt.compile(_student(task), trainset=task.trainset, valset=task.valset)
        assert opt.last_result is not None
        trials = opt.last_result.study.get_trials(deepcopy=False)
        return opt, [(t.params, t.values, t.user_attrs.get("origin")) for t in trials]

    _, first = run(0)
    storage = optuna.storages.InMemoryStorage()
    stored, before = run(0, storage)
    assert before == first  # the same seed: the same trials
    resumed, after = run(0, storage)  # the same study again: resumed, nothing scored
    assert stored.last_result is not None and resumed.last_result is not None
    assert resumed.last_result.scorer_calls == 0 and after == before
    assert resumed.last_result.best == stored.last_result.best
    scored = [
        t.user_attrs["key"]
        for t in resumed.last_result.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        if t.user_attrs.get("feasible") and t.user_attrs.get("reused_from") is None
    ]
    assert len(scored) == len(set(scored))  # a rendered prompt is scored once


def test_demo_pool_is_validated() -> None:
    for bad in (-1, 1.5, "4", True):
        with pytest.raises(ConfigError, match=r"SearchConfig\.demo_pool must be an int >= 0"):
            SearchConfig(demo_pool=bad)  # type: ignore[arg-type]
    assert SearchConfig.from_dict(SearchConfig(search_demos=True, demo_pool=0).to_dict()).demo_pool == 0
    assert json.loads(SearchConfig().to_json())["demo_pool"] == 4
