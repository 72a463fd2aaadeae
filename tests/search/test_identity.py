"""A study's name and recorded identity follow everything that changes its scores (``_identity.py``)."""

from __future__ import annotations

import functools
import logging
from typing import Any, Literal

import dspy
import optuna
import pytest

from specprompt import ConfigError
from specprompt.scorers import nearest_lm, pixel_lm
from specprompt.search import BandOptimizer
from specprompt.search._identity import LATER_ENTRIES, code_digest
from specprompt.tasks import Task

from .conftest import exact, options


def _study_name(task: Task, metric: Any = exact, student: dspy.Module | None = None, **kw: Any) -> str:
    opt = BandOptimizer(metric, **options(n_trials=1, **kw))
    opt.compile(student or dspy.Predict(task.signature), trainset=task.trainset, valset=task.valset)
    assert opt.last_result is not None
    return opt.last_result.study_name


def _edited_exact() -> Any:
    def exact(example: Any, pred: Any, trace: Any = None) -> float:  # same name, other body
        return float(str(example.label).lower() == str(pred.label).lower())

    exact.__qualname__ = "exact"
    return exact


def test_code_digest_follows_the_code_not_the_name() -> None:
    edited = _edited_exact()
    assert edited.__qualname__ == exact.__qualname__
    assert code_digest(edited) != code_digest(exact)
    assert code_digest(exact) == code_digest(exact)
    assert code_digest(functools.partial(exact, trace=1)) != code_digest(functools.partial(exact, trace=2))

    class Metric:
        def __call__(self, example: Any, pred: Any, trace: Any = None) -> float:
            return 1.0

    assert code_digest(Metric()) == code_digest(Metric)  # a callable object: its class's code
    # where no file holds the source (python -c, exec), the bytecode decides
    space: dict[str, Any] = {}
    exec("def m(a, b):\n    return a == b\n\ndef n(a, b):\n    return a != b\n", space)
    assert code_digest(space["m"]) != code_digest(space["n"])
    exec("class C:\n    def forward(self):\n        return 1\n", space)
    one = code_digest(space["C"])
    exec("class C:\n    def forward(self):\n        return 2\n", space)
    assert code_digest(space["C"]) != one


def test_an_edited_metric_signature_adapter_or_predictor_lm_names_another_study(colour_task: Task, lm: dspy.LM) -> None:
    base = _study_name(colour_task)
    assert _study_name(colour_task) == base  # the same compile resumes its study
    assert _study_name(colour_task, metric=_edited_exact()) != base
    labels = tuple(sorted({ex.label for ex in colour_task.trainset}))
    narrowed = colour_task.signature.with_updated_fields("label", type_=Literal[labels])  # type: ignore[valid-type]
    assert _study_name(colour_task, student=dspy.Predict(narrowed)) != base
    described = colour_task.signature.with_updated_fields("label", desc="where the square is")
    assert _study_name(colour_task, student=dspy.Predict(described)) != base
    with dspy.context(adapter=dspy.JSONAdapter()):
        assert _study_name(colour_task) != base
    own = dspy.Predict(colour_task.signature)
    own.set_lm(pixel_lm("hist-hog"))
    assert _study_name(colour_task, student=own) != base

    class Shouting(dspy.Module):
        def __init__(self) -> None:
            super().__init__()
            self.predict = dspy.Predict(colour_task.signature)

        def forward(self, image: Any) -> Any:
            return self.predict(image=image)

    assert _study_name(colour_task, student=Shouting()) != base


def test_a_named_study_refuses_an_edited_metric_and_resumes_an_earlier_versions_record(
    colour_task: Task, lm: dspy.LM
) -> None:
    storage = optuna.storages.InMemoryStorage()
    kw = {**options(n_trials=2, study_name="named"), "storage": storage}
    student = dspy.Predict(colour_task.signature)
    train, val = colour_task.trainset, colour_task.valset
    BandOptimizer(exact, **kw).compile(student, trainset=train, valset=val)
    calls = lm.engine.calls
    with pytest.raises(ConfigError, match=r"scored with another metric_code \(metric_code: '[0-9a-f]{16}' there"):
        BandOptimizer(_edited_exact(), **kw).compile(student, trainset=train, valset=val)
    assert lm.engine.calls == calls  # refused before any scorer call
    # a study recorded before the metric's code was part of the identity resumes, and records it from now on
    study = optuna.load_study(study_name="named", storage=storage)
    record = dict(study.user_attrs["specprompt"])
    record["scored_with"] = {k: v for k, v in record["scored_with"].items() if k not in LATER_ENTRIES}
    study.set_user_attr("specprompt", record)
    opt = BandOptimizer(exact, **{**kw, "n_trials": 3})
    opt.compile(student, trainset=train, valset=val)
    assert opt.last_result is not None and len(opt.last_result.study.trials) >= 3
    stored = optuna.load_study(study_name="named", storage=storage).user_attrs["specprompt"]["scored_with"]
    assert set(LATER_ENTRIES) <= set(stored)


def test_a_predictor_with_its_own_lm_is_the_scorer_when_none_is_configured(
    colour_task: Task, caplog: pytest.LogCaptureFixture
) -> None:
    assert dspy.settings.lm is None
    own = nearest_lm()
    student = dspy.Predict(colour_task.signature)
    student.set_lm(own)
    opt = BandOptimizer(exact, **options(n_trials=2))
    with caplog.at_level(logging.INFO, logger="specprompt.search"):
        opt.compile(student, trainset=colour_task.trainset, valset=colour_task.valset)
    assert opt.last_result is not None
    assert "scoring with the local band VLM" not in caplog.text
    assert f"the search's decisions follow {own.model}, the LM of predictor 'self'" in caplog.text
    scored_with = opt.last_result.study.user_attrs["specprompt"]["scored_with"]
    assert scored_with["lm"] == own.model and own.engine.calls > 0


def test_the_local_judge_rule_follows_the_lm_of_the_searched_predictor(colour_task: Task, lm: dspy.LM) -> None:
    from specprompt.search import SearchConfig
    from specprompt.search._context import SearchContext
    from specprompt.search._demos import plan_demos
    from specprompt.search._identity import image_lm

    student = dspy.Predict(colour_task.signature)
    ctx = SearchContext(student, plan_demos(student, colour_task.trainset, 3, 0), SearchConfig(k_demos=3))
    assert image_lm(ctx) is lm  # none of its own: the configured one
    own = pixel_lm("hist-hog")
    student.set_lm(own)
    assert image_lm(ctx) is own
