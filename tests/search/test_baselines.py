"""Baselines through the same scorer: full, uniform, low detail, text only, random search."""

from __future__ import annotations

from pathlib import Path

import dspy
import optuna
import pytest

from specprompt import ConfigError, SpecPromptWarning, load_image
from specprompt.cost import image_tokens
from specprompt.search import BASELINES, BandOptimizer, CompileResult
from specprompt.search._baselines import BaselineStore, check_baselines
from specprompt.search._study_record import StudyRecord
from specprompt.tasks import Task
from specprompt.types import DROPPED_IMAGE, SpectralImage

from .conftest import exact, options


def test_compile_with_all_baselines(texture_task: Task, lm: dspy.LM) -> None:
    storage = optuna.storages.InMemoryStorage()
    opt = BandOptimizer(exact, **options(token_budget=60, n_trials=6, storage=storage))
    opt.compile(
        dspy.Predict(texture_task.signature), trainset=texture_task.trainset, valset=texture_task.valset, baselines=True
    )
    result = opt.last_result
    assert result is not None and result.baselines is not None
    base = result.baselines
    assert list(base) == list(BASELINES)
    assert base["full"].tokens == 3 * 44 and not base["full"].fits  # 44 local tokens per 64 px image
    assert base["text_only"].tokens == 0 and base["text_only"].fits
    assert all(d.image == DROPPED_IMAGE for d in base["text_only"].program.demos)  # type: ignore[union-attr]
    uni = base["uniform"]
    assert uni.fits and uni.tokens is not None and uni.tokens <= 60 and "Lanczos" in uni.note
    sizes = {load_image(d.image).size for d in uni.program.demos}  # type: ignore[union-attr]
    assert len(sizes) == 1 and max(next(iter(sizes))) < 64
    assert base["low_detail"].score is None and "openai" in base["low_detail"].note
    rnd = base["random"]
    assert rnd.fits and rnd.tokens is not None and rnd.tokens <= 60 and rnd.score is not None
    random_study = optuna.load_study(study_name=result.study_name + "-random", storage=storage)
    # the trial number is the random study's own (in the main study its pick is another trial)
    picked = next(t.number for t in random_study.trials if t.user_attrs.get("key") == rnd.key)
    assert rnd.note == f"best of random search: trial {picked} of study '{result.study_name}-random'"
    assert len(random_study.trials) == 6
    # pure random search: no warm starts, no neighbours, every trial from the sampler
    assert [t.user_attrs["origin"] for t in random_study.trials] == ["sampler"] * 6
    assert not any(t.system_attrs.get("fixed_params") for t in random_study.trials)
    fulls = {k: v["score"] for k, v in random_study.user_attrs.items() if k.startswith("full:")}
    assert rnd.score in fulls.values()
    for b in base.values():
        if b.score is not None:
            assert 0.0 <= b.score <= 1.0
    assert result.scorer_calls + result.baseline_calls == lm.engine.calls
    assert result.baseline_calls > 0 and result.to_dict()["baseline_calls"] == result.baseline_calls
    assert "baselines:" in result.pareto_table()
    stored = {k: v for k, v in result.study.user_attrs.items() if k.startswith("baseline:")}
    assert sorted(v.get("note", "") for v in stored.values() if "params" in v) == [rnd.note]
    assert len(stored) == 4  # full, uniform, text_only, random (low_detail was skipped)

    # the same compile again: the search and every baseline are reused, nothing is scored
    calls = lm.engine.calls
    again = BandOptimizer(exact, **options(token_budget=60, n_trials=6, storage=storage))
    again.compile(
        dspy.Predict(texture_task.signature), trainset=texture_task.trainset, valset=texture_task.valset, baselines=True
    )
    second = again.last_result
    assert second is not None and second.baselines is not None
    assert lm.engine.calls == calls and second.scorer_calls == 0 and second.baseline_calls == 0
    assert {k: b.to_dict() for k, b in second.baselines.items()} == {k: b.to_dict() for k, b in base.items()}
    assert second.baselines["random"].program is not None


def test_run_baselines_openai_low_detail(colour_task: Task, lm: dspy.LM) -> None:
    opt = BandOptimizer(exact, **options(token_budget=300, cost_model="openai:gpt-4o", k_demos=2))
    with pytest.warns(SpecPromptWarning, match=r"300 cannot hold one image per label: .* 2 labels costs 510 tokens"):
        base = opt.run_baselines(
            dspy.Predict(colour_task.signature), trainset=colour_task.trainset, which=["low_detail", "full", "uniform"]
        )
    assert list(base) == ["full", "uniform", "low_detail"]
    low = base["low_detail"]
    assert low.tokens == 2 * image_tokens("openai:gpt-4o", 64, 64, detail="low") == 170 and low.fits
    imgs = [d.image for d in low.program.demos]  # type: ignore[union-attr]
    assert all(isinstance(i, SpectralImage) and i.detail == "low" for i in imgs)
    assert imgs[0].format()[0]["image_url"]["detail"] == "low"
    assert base["full"].tokens == 510 and not base["full"].fits
    assert base["uniform"].score is None and "1-pixel" in base["uniform"].note  # 255 tokens per image at any size


def test_uniform_needs_a_budget(colour_task: Task, lm: dspy.LM) -> None:
    opt = BandOptimizer(exact, **options(k_demos=1))
    base = opt.run_baselines(dspy.Predict(colour_task.signature), trainset=colour_task.trainset, which=["uniform"])
    assert base["uniform"].score is None and base["uniform"].note == "skipped: no token_budget to fit"
    roomy = BandOptimizer(exact, **options(k_demos=1, token_budget=1000))
    base = roomy.run_baselines(dspy.Predict(colour_task.signature), trainset=colour_task.trainset, which=["uniform"])
    assert base["uniform"].score is None and "full resolution fits the budget" in base["uniform"].note
    assert lm.engine.calls == 0


def test_check_baselines() -> None:
    assert check_baselines(True) == BASELINES
    assert check_baselines(False) == () == check_baselines(None)
    assert check_baselines(["random", "full"]) == ("full", "random")
    with pytest.raises(ConfigError, match=r"unknown baseline\(s\) \['best'\]; known: full, uniform"):
        check_baselines(["best"])
    with pytest.raises(ConfigError, match="baselines must be True, False or a list of names"):
        check_baselines("full")


def test_stored_baselines_are_not_reused_for_another_budget(colour_task: Task, lm: dspy.LM) -> None:
    storage = optuna.storages.InMemoryStorage()
    student = dspy.Predict(colour_task.signature)
    kw = options(n_trials=3, study_name="shared", storage=storage)
    # budget 40 < 132 tokens of the full prompt: no trial scores it, only the baseline does
    first = BandOptimizer(exact, **kw, token_budget=40)
    first.run_baselines(student, trainset=colour_task.trainset, valset=colour_task.valset, which=["full"])
    n_val = len(colour_task.valset)
    assert lm.engine.calls == n_val
    first.run_baselines(student, trainset=colour_task.trainset, valset=colour_task.valset, which=["full"])
    assert lm.engine.calls == n_val  # stored in the study: reused
    BandOptimizer(exact, **kw, token_budget=41).run_baselines(
        student, trainset=colour_task.trainset, valset=colour_task.valset, which=["full"]
    )
    assert lm.engine.calls == 2 * n_val  # another budget: scored again
    with pytest.raises(ConfigError, match=r"study 'shared' in the storage was scored with another valset"):
        BandOptimizer(exact, **kw, token_budget=40).run_baselines(
            student, trainset=colour_task.trainset, valset=colour_task.valset[:2], which=["full"]
        )
    assert lm.engine.calls == 2 * n_val  # another valset: refused before any call


def test_random_search_without_a_feasible_trial(colour_task: Task, lm: dspy.LM) -> None:
    # budget 0: only "drop every image" fits, which 2 random trials over 4^3 prompts do not draw
    opt = BandOptimizer(exact, **options(token_budget=0, n_trials=2))
    with pytest.warns(SpecPromptWarning, match="token_budget 0 is below the price of the cheapest demo image"):
        base = opt.run_baselines(dspy.Predict(colour_task.signature), trainset=colour_task.trainset, which=["random"])
    rnd = base["random"]
    assert rnd.score is None and rnd.program is None and rnd.note == "no feasible random trial completed"
    assert lm.engine.calls == 0


def test_baseline_store_keys_cover_name_fingerprint_and_prompt() -> None:
    study = optuna.create_study()
    a, b = BaselineStore(study, {"budget": 10}), BaselineStore(study, {"budget": 11})
    a.put("full", "k", {"score": 1.0})
    assert a.get("full", "k") == {"score": 1.0}
    assert a.get("full", "other") is None and a.get("text_only", "k") is None and b.get("full", "k") is None
    assert all(k.startswith("baseline:") for k in study.user_attrs)
    off = BaselineStore(None, {})
    off.put("full", "k", {"score": 1.0})
    assert off.get("full", "k") is None


def test_the_random_baseline_resumes_and_its_pick_is_no_search_trial(
    texture_task: Task, lm: dspy.LM, tmp_path: Path
) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    student, train, val = dspy.Predict(texture_task.signature), texture_task.trainset, texture_task.valset

    def compile_with(n_trials: int) -> CompileResult:
        opt = BandOptimizer(exact, **options(token_budget=60, n_trials=n_trials, storage=storage))
        opt.compile(student, trainset=train, valset=val, baselines=["random"])
        assert opt.last_result is not None
        return opt.last_result

    def trials(name: str) -> list[tuple[int, str, dict[str, int]]]:
        study = optuna.load_study(study_name=name, storage=storage)
        return [(t.number, t.user_attrs["origin"], t.params) for t in study.trials]

    first = compile_with(4)
    name = first.study_name
    assert first.baselines is not None and first.baselines["random"].score is not None
    main_trials, random_trials = trials(name), trials(name + "-random")
    # the random search's pick joins the band search's study as a candidate, but is none of its 4 trials
    assert [o for _, o, _ in main_trials].count("baseline:random") == 1 and len(main_trials) == 5
    assert first.n_trials == 4 and len(random_trials) == 4
    random_record = StudyRecord.read(optuna.load_study(study_name=name + "-random", storage=storage))
    assert random_record is not None and random_record.strategy == "random"

    calls = lm.engine.calls
    again = compile_with(4)  # resumed: nothing runs again, nothing is added
    assert lm.engine.calls == calls and again.scorer_calls == 0 and again.baseline_calls == 0
    assert trials(name) == main_trials and trials(name + "-random") == random_trials
    assert again.baselines is not None and again.baselines["random"].to_dict() == first.baselines["random"].to_dict()

    more = compile_with(6)  # two more trials in each study, the earlier ones kept
    assert more.n_trials == 6 and trials(name)[:5] == main_trials and trials(name + "-random")[:4] == random_trials
    added = trials(name)[5:]
    assert len([o for _, o, _ in added if o != "baseline:random"]) == 2 and len(trials(name + "-random")) == 6


def test_a_study_name_two_compiles_would_share_is_refused(colour_task: Task, lm: dspy.LM, tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    student, train, val = dspy.Predict(colour_task.signature), colour_task.trainset, colour_task.valset

    def compile_named(name: str, baselines: list[str]) -> None:
        opt = BandOptimizer(exact, **options(n_trials=3, storage=storage, study_name=name))
        opt.compile(student, trainset=train, valset=val, baselines=baselines)

    compile_named("x-random", [])  # a band search under the name the random baseline of "x" would take
    calls = lm.engine.calls
    with pytest.raises(ConfigError, match=r"study 'x-random' in the storage holds the band search of a compile, not a"):
        compile_named("x", ["random"])
    assert lm.engine.calls == calls  # refused before the search
    compile_named("y", ["random"])
    with pytest.raises(ConfigError, match=r"study 'y-random' in the storage holds a random-search baseline"):
        compile_named("y-random", [])
    # a band search recorded before the strategy was (one 'specprompt' attribute) is known by its trials
    study = optuna.load_study(study_name="x-random", storage=storage)
    record = StudyRecord.read(study)
    assert record is not None
    for key, value in record.replace(format=1).to_attrs().items():
        study.set_user_attr(key, value)
    assert StudyRecord.read(study) == record.replace(format=1, strategy=None)
    with pytest.raises(ConfigError, match=r"study 'x-random' in the storage holds the band search of a compile"):
        compile_named("x", ["random"])


def test_low_detail_is_skipped_where_it_costs_what_full_resolution_does(colour_task: Task, lm: dspy.LM) -> None:
    # gpt-4.1-mini bills 32 px patches whatever the detail: detail="low" would only send a blurrier image
    opt = BandOptimizer(exact, **options(token_budget=1000, cost_model="openai:gpt-4.1-mini", k_demos=2))
    base = opt.run_baselines(
        dspy.Predict(colour_task.signature), trainset=colour_task.trainset, which=["low_detail", "full"]
    )
    low = base["low_detail"]
    assert low.score is None and low.program is None
    assert low.note == "skipped: detail='low' costs what full resolution does under 'openai:gpt-4.1-mini'"
    assert base["full"].score is not None
