"""The band optimizer's default scorer (the local band VLM) and its warning about invisible bands."""

from __future__ import annotations

import logging
import warnings

import dspy
import optuna
import pytest

from specprompt.cost import LocalCostModel
from specprompt.errors import SpecPromptWarning
from specprompt.search import BandOptimizer, SearchConfig
from specprompt.search._context import SearchContext
from specprompt.search._demos import plan_demos
from specprompt.search._invisible import (
    invisible_report,
    local_canvas,
    local_cost_name,
    resolve_local_cost,
    warn_invisible,
    warn_local_price,
)
from specprompt.tasks import Task, get_task

from .conftest import exact, options


@pytest.fixture(scope="module")
def big_task() -> Task:
    return get_task("colour-position", n_train=6, n_val=4, n_test=0, size=256, seed=0)


def _ctx(task: Task, **over: object) -> SearchContext:
    opt = BandOptimizer(exact, **options(**{"token_budget": 800, "cost_model": "openai:gpt-4o", **over}))
    student = dspy.Predict(task.signature)
    return SearchContext(student, plan_demos(student, task.trainset, 3, 0), opt.config)


def test_compile_without_an_lm_scores_with_the_local_vlm(colour_task: Task, caplog: pytest.LogCaptureFixture) -> None:
    opt = BandOptimizer(exact, **options(n_trials=3, token_budget=60))
    with dspy.context(lm=None), caplog.at_level(logging.INFO, logger="specprompt.search"):
        program = opt.compile(dspy.Predict(colour_task.signature), trainset=colour_task.trainset)
        assert dspy.settings.lm is None  # the default LM is not left configured
    assert "scoring with the local band VLM specprompt/local-" in caplog.text
    result = opt.last_result
    assert result is not None and result.scorer_calls > 0 and result.best.tokens <= 60
    assert len(program.demos) == 3


def test_invisible_bands_are_reported_for_large_demo_images(big_task: Task, colour_task: Task) -> None:
    report = invisible_report(_ctx(big_task))
    assert report and all(names == ("L0", "L1") for names in report.values())
    assert invisible_report(_ctx(colour_task)) == {}  # 64 px: the model sees every band
    assert invisible_report(_ctx(big_task), 256) == {}  # a 256 px model (band-vlm-v2) sees them all


def test_warning_names_the_bands_only_for_the_local_vlm(big_task: Task) -> None:
    from specprompt.scorers import nearest_lm
    from specprompt.vlm import local_lm

    ctx = _ctx(big_task)
    with pytest.warns(SpecPromptWarning, match=r"band\(s\) L0, L1 of \d+ of \d+ demo image") as record:
        warn_invisible(ctx, local_lm())
    assert record[0].filename == __file__  # points at the caller outside specprompt and dspy
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_invisible(ctx, nearest_lm())
        warn_invisible(ctx, None)  # no LM configured: nothing to say


def test_compile_warns_at_the_users_call(big_task: Task) -> None:
    """The warning is raised inside compile (behind dspy's callback wrapper) but names the caller's line."""
    from specprompt.vlm import local_lm

    opt = BandOptimizer(exact, **options(token_budget=800, cost_model="openai:gpt-4o", n_trials=2))
    with dspy.context(lm=local_lm()), pytest.warns(SpecPromptWarning, match="64 px") as record:
        opt.compile(dspy.Predict(big_task.signature), trainset=big_task.trainset, valset=big_task.valset)
    assert [w.filename for w in record if issubclass(w.category, SpecPromptWarning)] == [__file__]


@pytest.fixture(scope="module")
def huge_task() -> Task:
    return get_task("colour-position", n_train=4, n_val=2, n_test=0, size=512, seed=0)


def test_v2_sees_bands_down_to_a_256th_of_the_image(big_task: Task, huge_task: Task) -> None:
    from specprompt.scorers import local_lm

    v2 = local_lm("band-vlm-v2")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_invisible(_ctx(big_task), v2)  # 256 px images: every band is visible to the 256 px model
    report = invisible_report(_ctx(huge_task), 256)
    assert report and all(names == ("L0",) for names in report.values())  # 512 px: L0 is finer than 1/256
    assert all(names == ("L0", "L1", "L2") for names in invisible_report(_ctx(huge_task)).values())  # v1: 1/64
    with pytest.warns(SpecPromptWarning, match=r"at 256 px: band\(s\) L0 of") as record:
        warn_invisible(_ctx(huge_task), v2)
    assert record[0].filename == __file__


def test_local_canvas_is_the_scoring_checkpoints() -> None:
    from specprompt.scorers import local_lm, nearest_lm

    assert local_canvas(local_lm()) == 64
    assert local_canvas(local_lm("band-vlm-v2")) == 256
    assert local_canvas(nearest_lm()) is None
    with dspy.context(lm=None):
        assert local_canvas() is None
    with dspy.context(lm=local_lm("band-vlm-v2")):
        assert local_canvas() == 256


@pytest.mark.parametrize(
    ("checkpoint", "cost_model", "hint"),
    [
        ("band-vlm-v2", "local:band-vlm-v1", "local:band-vlm-v2"),
        ("band-vlm-v2", "local", "local:band-vlm-v2"),  # unresolved (a search resolves it first)
        ("band-vlm-v1", "local:band-vlm-v2", "local"),
    ],
)
def test_a_local_cost_model_of_another_checkpoint_warns(
    colour_task: Task, checkpoint: str, cost_model: str, hint: str
) -> None:
    from specprompt.scorers import local_lm

    lm = local_lm(checkpoint)
    with pytest.warns(SpecPromptWarning, match=f"cost_model={hint!r}") as record:
        warn_local_price(_ctx(colour_task, cost_model=cost_model, token_budget=200), lm)
    assert record[0].filename == __file__
    assert f"cost_model {cost_model!r} prices a" in str(record[0].message)


def test_the_matching_or_a_non_local_cost_model_does_not_warn(colour_task: Task) -> None:
    from specprompt.scorers import local_lm, nearest_lm

    cases = [
        ("band-vlm-v1", "local"),
        ("band-vlm-v1", "local:band-vlm-v1"),
        ("band-vlm-v2", "local:band-vlm-v2"),
        ("band-vlm-v2", "openai:gpt-4o"),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for checkpoint, cost_model in cases:
            warn_local_price(_ctx(colour_task, cost_model=cost_model, token_budget=800), local_lm(checkpoint))
        warn_local_price(_ctx(colour_task, cost_model="local", token_budget=200), nearest_lm())
        with dspy.context(lm=None):
            warn_local_price(_ctx(colour_task, cost_model="local", token_budget=200))


def test_compile_scored_by_v2_warns_about_an_explicit_v1_price(colour_task: Task) -> None:
    from specprompt.scorers import local_lm

    opt = BandOptimizer(exact, **options(token_budget=200, cost_model="local:band-vlm-v1", n_trials=2))
    with dspy.context(lm=local_lm("band-vlm-v2")), pytest.warns(SpecPromptWarning, match="local:band-vlm-v2") as record:
        opt.compile(dspy.Predict(colour_task.signature), trainset=colour_task.trainset, valset=colour_task.valset)
    assert [w.filename for w in record if issubclass(w.category, SpecPromptWarning)] == [__file__]


def test_local_cost_name_is_the_registered_name_of_a_canvas() -> None:
    assert local_cost_name(64) == "local"
    assert local_cost_name(256) == "local:band-vlm-v2"
    assert local_cost_name(128) == "local:canvas-128" and local_cost_name(512) == "local:canvas-512"


def test_bare_local_follows_the_local_checkpoint_that_scores() -> None:
    from specprompt.scorers import local_lm, nearest_lm

    v1, v2 = local_lm(), local_lm("band-vlm-v2")
    for bare in ("local", "LOCAL", " Local "):
        assert resolve_local_cost(SearchConfig(cost_model=bare), v2).cost_model == "local:band-vlm-v2"
    for name, lm in [("local", v1), ("local", nearest_lm()), ("local", None), ("local:band-vlm-v1", v2)]:
        cfg = SearchConfig(cost_model=name)
        with dspy.context(lm=lm):
            assert resolve_local_cost(cfg) is cfg  # v1, another scorer, none, or a name the user chose
    cfg = SearchConfig(cost_model="openai:gpt-4o")
    assert resolve_local_cost(cfg, v2) is cfg


@pytest.fixture(scope="module")
def mid_task() -> Task:
    """128 px images: v2 prices the full image 60 tokens (F1), v1 44."""
    return get_task("colour-position", n_train=6, n_val=4, n_test=0, size=128, seed=0)


def _full_tokens(opt: BandOptimizer) -> int:
    result = opt.last_result
    assert result is not None
    return next(r.tokens for r in result.candidates if r.origin == "baseline:full")


def test_compile_with_bare_local_prices_the_v2_checkpoint_that_scores(
    mid_task: Task, caplog: pytest.LogCaptureFixture
) -> None:
    from specprompt.scorers import local_lm

    storage = optuna.storages.InMemoryStorage()
    student = dspy.Predict(mid_task.signature)
    opt = BandOptimizer(exact, **options(token_budget=400, cost_model="local", n_trials=2, storage=storage))
    with (
        dspy.context(lm=local_lm("band-vlm-v2")),
        warnings.catch_warnings(),
        caplog.at_level(logging.INFO, logger="specprompt.search"),
    ):
        warnings.simplefilter("error", SpecPromptWarning)  # no price-mismatch warning
        opt.compile(student, trainset=mid_task.trainset, valset=mid_task.valset)
        first = opt.last_result
        assert first is not None and first.config.cost_model == "local:band-vlm-v2"
        assert _full_tokens(opt) == 3 * LocalCostModel(canvas=256).tokens(128, 128) == 180
        assert "cost_model 'local' prices the tokens of the local band VLM that scores (256 px" in caplog.text
        stored = first.study.user_attrs["specprompt:config"]
        assert stored["cost_model"] == "local:band-vlm-v2"
        # resuming, with "local" or the name it resolved to, finds the same study and scores nothing again
        for name in ("local", "local:band-vlm-v2"):
            again = BandOptimizer(exact, **options(token_budget=400, cost_model=name, n_trials=2, storage=storage))
            again.compile(student, trainset=mid_task.trainset, valset=mid_task.valset)
            assert again.last_result is not None
            assert again.last_result.study_name == first.study_name and again.last_result.scorer_calls == 0
            assert again.last_result.best.key == first.best.key


def test_compile_with_bare_local_and_another_scorer_prices_v1(mid_task: Task) -> None:
    from specprompt.scorers import nearest_lm

    opt = BandOptimizer(exact, **options(token_budget=400, cost_model="local", n_trials=2))
    with dspy.context(lm=nearest_lm()):
        opt.compile(dspy.Predict(mid_task.signature), trainset=mid_task.trainset, valset=mid_task.valset)
    assert opt.last_result is not None and opt.last_result.config.cost_model == "local"
    assert _full_tokens(opt) == 3 * LocalCostModel().tokens(128, 128) == 132


def test_calibrate_prices_bare_local_as_the_local_judge(colour_task: Task, monkeypatch: pytest.MonkeyPatch) -> None:
    import specprompt.search._calibrate as cal
    from specprompt.scorers import local_lm, nearest_lm

    seen: list[str] = []
    monkeypatch.setattr(cal, "calibrate_context", lambda ctx, *a, **k: seen.append(ctx.config.cost_model))
    student = dspy.Predict(colour_task.signature)
    for judge in (local_lm("band-vlm-v2"), local_lm()):
        cal.calibrate(
            student, exact, trainset=colour_task.trainset, target=nearest_lm(), local=judge, cost_model="local"
        )
    assert seen == ["local:band-vlm-v2", "local"]
