"""BandSampler: delegation to its base sampler, budget-aware redraws, neighbour proposals."""

from __future__ import annotations

from typing import Any

import dspy
import optuna
import pytest
from optuna.distributions import BaseDistribution

from specprompt.errors import ConfigError
from specprompt.search import SearchConfig
from specprompt.search._coarsen import coarsen_to_fit
from specprompt.search._context import SearchContext
from specprompt.search._demos import plan_demos
from specprompt.search._record import TrialRecord
from specprompt.search._reference import reference_candidates
from specprompt.search._sampler import BUDGET_REDRAWS, BandSampler
from specprompt.search._seeding import reseed, trial_seed
from specprompt.tasks import Task


class Scripted(optuna.samplers.BaseSampler):
    """Proposes every parameter jointly from a script (stands in for multivariate TPE)."""

    def __init__(self, script: list[dict[str, int]], space: dict[str, BaseDistribution]) -> None:
        self.script = list(script)
        self.space = space
        self.asked = 0

    def infer_relative_search_space(self, study: Any, trial: Any) -> dict[str, BaseDistribution]:
        return dict(self.space)

    def sample_relative(self, study: Any, trial: Any, search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        self.asked += 1
        return self.script.pop(0) if self.script else {}

    def sample_independent(self, study: Any, trial: Any, name: str, dist: BaseDistribution) -> Any:
        raise AssertionError("every parameter is proposed jointly")


def _ctx(task: Task, budget: int | None) -> SearchContext:
    student = dspy.Predict(task.signature)
    student.demos = task.trainset[:2]
    return SearchContext(student, plan_demos(student, [], None, 0), SearchConfig(token_budget=budget))


def _params(ctx: SearchContext, keep_from: int) -> dict[str, int]:
    return {name: keep_from for name in ctx.distributions()}  # 64 px: 44, 28, 12 or 0 local tokens per image


def _ask(sampler: BandSampler) -> tuple[dict[str, Any], optuna.Study]:
    study = optuna.create_study(sampler=sampler)
    trial = study.ask(dict(sampler._ctx.distributions()))
    return trial.params, study


def test_an_over_budget_joint_proposal_is_drawn_again(colour_task: Task) -> None:
    ctx = _ctx(colour_task, 30)  # two images: keep_from 1 costs 56, keep_from 2 costs 24
    base = Scripted([_params(ctx, 0), _params(ctx, 1), _params(ctx, 2), _params(ctx, 0)], ctx.distributions())
    params, study = _ask(BandSampler(base, ctx, local_search=0.0, seed=0))
    assert params == _params(ctx, 2) and base.asked == 3
    assert study.trials[0].user_attrs["origin"] == "sampler" and "pid" in study.trials[0].user_attrs["worker"]


def test_over_budget_coarsen_fits_the_first_proposal_without_asking_again(colour_task: Task) -> None:
    ctx = _ctx(colour_task, 30)  # as above: keep_from 0 and 1 are over 30 tokens
    base = Scripted([_params(ctx, 0), _params(ctx, 2)], ctx.distributions())
    params, _ = _ask(BandSampler(base, ctx, local_search=0.0, seed=0, over_budget="coarsen"))
    assert base.asked == 1 and params != _params(ctx, 0)  # the proposal itself is coarsened
    assert ctx.tokens(ctx.from_params(params)) <= 30


def test_redraws_stop_after_a_bounded_number(colour_task: Task) -> None:
    ctx = _ctx(colour_task, 30)  # keep_from 0 costs 88
    base = Scripted([_params(ctx, 0)] * (BUDGET_REDRAWS + 5), ctx.distributions())
    params, _ = _ask(BandSampler(base, ctx, local_search=0.0, seed=0))
    assert params == _params(ctx, 0) and base.asked == BUDGET_REDRAWS + 1  # the objective refuses it


def test_no_budget_or_independent_sampling_is_left_alone(colour_task: Task) -> None:
    ctx = _ctx(colour_task, None)
    base = Scripted([_params(ctx, 0), _params(ctx, 3)], ctx.distributions())
    params, _ = _ask(BandSampler(base, ctx, local_search=0.0, seed=0))
    assert params == _params(ctx, 0) and base.asked == 1
    budgeted = _ctx(colour_task, 30)
    first, _ = _ask(BandSampler(optuna.samplers.RandomSampler(seed=3), budgeted, local_search=0.0, seed=0))
    pure = optuna.samplers.RandomSampler(seed=3)
    reseed(pure, trial_seed(0, 0, salt="running:0"))  # what BandSampler does before the first trial
    plain = optuna.create_study(sampler=pure)
    assert first == plain.ask(dict(budgeted.distributions())).params  # the random baseline stays pure


def test_an_enqueued_trial_keeps_its_parameters_and_origin(colour_task: Task) -> None:
    ctx = _ctx(colour_task, 30)
    base = Scripted([], ctx.distributions())
    study = optuna.create_study(sampler=BandSampler(base, ctx, local_search=1.0, seed=0))
    study.enqueue_trial(_params(ctx, 3), user_attrs={"origin": "warm:x"})
    trial = study.ask(dict(ctx.distributions()))
    assert trial.params == _params(ctx, 3) and trial.user_attrs == {"origin": "warm:x"} and base.asked == 0


@pytest.mark.parametrize(("model", "steps"), [("openai:gpt-4.1-mini", True), ("local", False)])
def test_the_uniform_baseline_is_an_incumbent_where_it_is_a_point_of_the_band_space(
    colour_task: Task, model: str, steps: bool
) -> None:
    student = dspy.Predict(colour_task.signature)
    student.demos = colour_task.trainset[:2]
    budget = 6 if model != "local" else 30  # 6: two images of 64 px cost 4 tokens each
    ctx = SearchContext(student, plan_demos(student, [], None, 0), SearchConfig(token_budget=budget, cost_model=model))
    name, uniform = reference_candidates(ctx)[0]
    assert name == "uniform" and bool(uniform.overrides) != steps
    study = optuna.create_study(
        direction="maximize", sampler=BandSampler(optuna.samplers.RandomSampler(seed=0), ctx, local_search=1.0, seed=0)
    )
    record = TrialRecord(origin="baseline:uniform", key=ctx.key(uniform), tokens=ctx.tokens(uniform), score=1.0)
    study.add_trial(
        optuna.trial.create_trial(
            params=ctx.to_params(uniform), distributions=ctx.distributions(), value=1.0, user_attrs=record.to_attrs()
        )
    )
    study.ask(dict(ctx.distributions()))
    assert study.trials[-1].user_attrs["origin"] == ("neighbour:0" if steps else "sampler")


def test_a_trial_left_running_elsewhere_does_not_change_what_the_base_sampler_proposes(colour_task: Task) -> None:
    """Proposals follow from the seed and the finished trials: a trial that a process killed on another
    host left RUNNING (not retired yet) changes none, so a study resumed beside it proposes what the
    uninterrupted one did."""
    ctx = _ctx(colour_task, None)

    def proposals(stale: bool) -> list[dict[str, Any]]:
        sampler = BandSampler(optuna.samplers.RandomSampler(seed=1), ctx, local_search=0.0, seed=0)
        study = optuna.create_study(direction="maximize", sampler=sampler)
        if stale:
            trial_id = study._storage.create_new_trial(study._study_id)
            study._storage.set_trial_user_attr(trial_id, "worker", {"host": "elsewhere", "pid": 1})
        out = []
        for value in (0.5, 0.25, 0.75):
            trial = study.ask(dict(ctx.distributions()))
            study.tell(trial, value)
            out.append(trial.params)
        return out

    assert proposals(stale=True) == proposals(stale=False)


class CountingGP(optuna.samplers.GPSampler):
    """Optuna's GPSampler, counting the joint proposals it is asked for."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.asked: list[int] = []

    def sample_relative(self, study: Any, trial: Any, search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        params = super().sample_relative(study, trial, search_space)
        if params:
            self.asked.append(trial.number)
        return params


def test_a_gp_proposal_over_budget_is_coarsened_not_drawn_again(colour_task: Task) -> None:
    """Asking a GPSampler again refits its model: its over-budget proposal is coarsened to fit instead,
    the same way for the same seed."""
    ctx = _ctx(colour_task, 30)  # two 64 px images: 44 tokens each at full resolution

    def run() -> tuple[list[dict[str, Any]], list[int]]:
        gp = CountingGP(seed=0, n_startup_trials=2)
        study = optuna.create_study(direction="maximize", sampler=BandSampler(gp, ctx, local_search=0.0, seed=0))
        for _ in range(6):  # finer images score higher: the model's optimum is over budget
            trial = study.ask(dict(ctx.distributions()))
            study.tell(trial, -float(sum(trial.params.values())))
        return [t.params for t in study.trials], gp.asked

    params, asked = run()
    assert asked and len(asked) == len(set(asked)), "one GP proposal per trial"
    assert all(ctx.tokens(ctx.from_params(p)) <= 30 for p in params[2:])  # the GP's trials fit
    assert run() == (params, asked)  # deterministic given the seed
    with pytest.raises(ConfigError, match="over_budget"):
        BandSampler(optuna.samplers.RandomSampler(), ctx, local_search=0.0, seed=0, over_budget="drop")  # type: ignore[arg-type]


def test_coarsen_to_fit_steps_down_until_the_prompt_fits_and_keeps_every_label(colour_task: Task) -> None:
    student = dspy.Predict(colour_task.signature)
    student.demos = colour_task.trainset[:4]
    ctx = SearchContext(student, plan_demos(student, [], None, 0), SearchConfig(token_budget=60))
    assert ctx.must_cover and ctx.covers_labels(ctx.full())
    full = ctx.full()
    assert coarsen_to_fit(ctx, full, None) is full and coarsen_to_fit(ctx, full, 10**6) is full
    for budget in (150, 100, 60, 30):
        fitted = coarsen_to_fit(ctx, full, budget)
        assert ctx.tokens(fitted) <= budget, budget
        for sid, values in fitted.values.items():  # only coarser: keep_from never goes down
            assert values["keep_from"] >= full.values[sid]["keep_from"]
        if budget >= 60:  # room for one image per label: every label keeps one
            assert ctx.covers_labels(fitted), budget
    assert ctx.tokens(coarsen_to_fit(ctx, full, 0)) == 0
