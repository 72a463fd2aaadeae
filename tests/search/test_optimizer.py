"""BandOptimizer end to end with the real nearest engine: budgets, no wasted calls, Pareto, programs."""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import warnings
from typing import Any

import dspy
import numpy as np
import optuna
import pytest

from specprompt import ConfigError, SpecPromptWarning, UnknownNameError, decompose, load_image, load_program
from specprompt.cost import image_tokens, selection_tokens
from specprompt.io import as_array
from specprompt.search import BandOptimizer, CompileResult, SearchConfig
from specprompt.search._sampler import BandSampler
from specprompt.tasks import Task
from specprompt.types import DROPPED_IMAGE, SpectralImage, content_hash

from .conftest import exact, options


def _images(value: Any) -> list[Any]:
    if isinstance(value, dspy.Image):
        return [value]
    if isinstance(value, (list, tuple)):
        return [v for v in value if isinstance(v, dspy.Image)]
    return []


def demo_images(program: dspy.Module) -> list[Any]:
    out = []
    for _, pred in program.named_predictors():
        for demo in pred.demos:
            for _, value in demo.items():
                out.extend(_images(value))
    return out


def prompt_tokens(program: dspy.Module, model: str, sources: dict[str, Any], scheme: str = "laplacian") -> int:
    """Image tokens of all demo images, recomputed from the images themselves."""
    total = 0
    for img in demo_images(program):
        if not isinstance(img, SpectralImage):  # a resized baseline image (origin baseline:uniform)
            w, h = load_image(img).size
            total += image_tokens(model, w, h, detail=getattr(img, "detail", None) or "auto")
            continue
        if model == "local":
            src = sources.get(img.source_hash)
            spec = decompose(src if src is not None else img.to_pil(), scheme)
            total += selection_tokens(spec, img.selection_obj, "local")
        else:
            total += image_tokens(model, *img.render_size, detail=img.detail or "auto")
    return total


def sources_of(task: Task) -> dict[str, Any]:
    return {content_hash(ex.image): ex.image for ex in task.trainset}


@pytest.mark.parametrize(
    ("scheme", "model", "budget", "warns"),
    [
        ("laplacian", "local", 12, "12 cannot hold one image per label"),  # 3 labels x 12 tokens (residual)
        ("dct", "openai:gpt-4o", 600, "600 cannot hold one image per label"),  # 255 tokens per image
        ("fft", "anthropic", 9, None),
    ],
)
def test_budget_guarantee(
    colour_task: Task, lm: dspy.LM, scheme: str, model: str, budget: int, warns: str | None
) -> None:
    opt = BandOptimizer(exact, **options(token_budget=budget, cost_model=model, scheme=scheme, n_trials=10))
    student = dspy.Predict(colour_task.signature)
    with pytest.warns(SpecPromptWarning, match=warns) if warns else contextlib.nullcontext():
        program = opt.compile(student, trainset=colour_task.trainset, valset=colour_task.valset)
    result = opt.last_result
    assert isinstance(result, CompileResult)
    assert prompt_tokens(program, model, sources_of(colour_task), scheme) <= budget
    assert result.best.tokens <= budget
    assert all(r.tokens <= budget for r in result.pareto_front())
    for row in result.pareto_front():
        rebuilt = result.program_for_budget(row.tokens)
        assert prompt_tokens(rebuilt, model, sources_of(colour_task), scheme) <= row.tokens
    assert not student.demos, "the student must stay untouched"


def test_infeasible_trials_never_call_the_scorer(colour_task: Task, lm: dspy.LM) -> None:
    # 3 demos at 64 px cost 21 local tokens each at full resolution: budget 10 rules most out.
    opt = BandOptimizer(exact, **options(token_budget=10, n_trials=12, pruner=optuna.pruners.NopPruner()))
    with pytest.warns(SpecPromptWarning, match=r"token_budget 10 is below the price of the cheapest demo image \(12"):
        opt.compile(dspy.Predict(colour_task.signature), trainset=colour_task.trainset, valset=colour_task.valset)
    result = opt.last_result
    assert result is not None
    trials = result.study.get_trials(deepcopy=False)
    infeasible = [t for t in trials if not t.user_attrs["feasible"]]
    assert infeasible, "the test needs over-budget proposals"
    for t in infeasible:
        assert t.values[0] == -math.inf
        assert t.user_attrs["constraint"]["tokens"] > 0
        assert t.constraints["tokens"] > 0
        assert "example_scores" not in t.user_attrs and "score" not in t.user_attrs
    scored = {t.user_attrs["key"] for t in trials if t.user_attrs["feasible"]}
    n_val = len(colour_task.valset)
    assert lm.engine.calls == result.scorer_calls == len(scored) * n_val


def test_same_prompt_is_never_scored_twice(colour_task: Task, lm: dspy.LM) -> None:
    # one demo image of 64 px: keep_from in 0..3 gives 4 prompts; 12 trials must repeat some.
    # trim=False: the search's own trials only (the trim adds full-valset trials, tests/search/test_trim.py)
    opt = BandOptimizer(exact, **options(k_demos=1, n_trials=12, pruner=optuna.pruners.NopPruner(), trim=False))
    opt.compile(dspy.Predict(colour_task.signature), trainset=colour_task.trainset, valset=colour_task.valset)
    result = opt.last_result
    assert result is not None
    trials = result.study.get_trials(deepcopy=False)
    assert len(trials) == 12
    keys = {t.user_attrs["key"] for t in trials}
    assert len(keys) <= 4
    assert any("reused_from" in t.user_attrs for t in trials)
    scored = {t.user_attrs["key"] for t in trials if t.user_attrs["feasible"]}
    assert len(scored) == len(keys)  # dropping its only image: infeasible for the search, scored as text-only baseline
    assert lm.engine.calls == result.scorer_calls == len(scored) * len(colour_task.valset)
    for t in trials:
        if "reused_from" in t.user_attrs:
            first = trials[t.user_attrs["reused_from"]]
            assert first.user_attrs["key"] == t.user_attrs["key"] and first.values == t.values


def test_minibatch_pruning_and_full_evaluation(colour_task: Task, lm: dspy.LM) -> None:
    # minibatch of 2 of the 4 val examples: best candidates get full-valset scores as study attrs
    opt = BandOptimizer(exact, **options(minibatch_size=2, n_trials=6, full_eval_every=2, trim=False))
    opt.compile(dspy.Predict(colour_task.signature), trainset=colour_task.trainset, valset=colour_task.valset)
    result = opt.last_result
    assert result is not None
    fulls = {k: v for k, v in result.study.user_attrs.items() if k.startswith("full:")}
    assert len(fulls) >= 3  # periodic (trials 2, 4, 6) plus the final check
    assert result.best.full
    assert fulls["full:" + result.best.key]["score"] == result.best.score
    for t in result.study.get_trials(deepcopy=False):
        if t.user_attrs.get("feasible") and "reused_from" not in t.user_attrs:
            assert len(t.user_attrs["example_scores"]) <= 2


def test_multi_objective_pareto_front(texture_task: Task, lm: dspy.LM) -> None:
    # fine textures: the score depends on the kept bands (every label keeps an image)
    opt = BandOptimizer(exact, **options(multi_objective=True, n_trials=14, k_demos=4))
    opt.compile(dspy.Predict(texture_task.signature), trainset=texture_task.trainset, valset=texture_task.valset)
    result = opt.last_result
    assert result is not None
    assert [d.name for d in result.study.directions] == ["MAXIMIZE", "MINIMIZE"]
    front = result.pareto_front()
    assert len(front) >= 2
    assert [r.tokens for r in front] == sorted(r.tokens for r in front)
    assert all(a.score < b.score for a, b in itertools.pairwise(front))
    assert all(r.full for r in front)
    sources = sources_of(texture_task)
    for row in front:
        program = result.program_for_budget(row.tokens + 0.5)
        assert prompt_tokens(program, "local", sources) == row.tokens
    with pytest.raises(ConfigError, match="budget must be a number >= 0"):
        result.program_for_budget(-1)
    table = result.pareto_table()
    assert table.splitlines()[0].split() == ["trial", "score", "on", "tokens", "choices"]
    assert "<table>" in result._repr_html_()
    data = json.loads(result.to_json())
    assert data["front"][0]["tokens"] == front[0].tokens and data["scorer_calls"] == result.scorer_calls


class TwoStep(dspy.Module):
    """Two predictors: one single-image field, one list[dspy.Image] field."""

    def __init__(self, signature: type[dspy.Signature]) -> None:
        super().__init__()
        self.first = dspy.Predict(signature)
        self.pair = dspy.Predict(
            dspy.Signature(
                {
                    "images": (list[dspy.Image], dspy.InputField()),
                    "label": (str, dspy.OutputField()),
                },
                "Classify the pictures.",
            )
        )

    def forward(self, image: dspy.Image) -> dspy.Prediction:
        self.first(image=image)
        return self.pair(images=[image, image])


def _two_step(task: Task) -> TwoStep:
    program = TwoStep(task.signature)
    program.pair.demos = [
        dspy.Example(images=[ex.image, ex.image], label=ex.label).with_inputs("images") for ex in task.trainset[3:5]
    ]
    return program


def test_several_predictors_and_list_fields(colour_task: Task, lm: dspy.LM) -> None:
    student = _two_step(colour_task)
    opt = BandOptimizer(exact, **options(token_budget=30, n_trials=8, detail_crops=True, search_demos=True))
    with pytest.warns(SpecPromptWarning, match="30 cannot hold one image per label"):
        program = opt.compile(student, trainset=colour_task.trainset, valset=colour_task.valset)
    result = opt.last_result
    assert result is not None
    slots = json.loads(result.best.selections)
    # first: its 3 demos and the 3 other trainset examples as candidate demos (search_demos pools the
    # trainset); pair's list[dspy.Image] demos get no pool (no trainset example has that field)
    assert sorted(slots) == sorted(
        [f"first/demo{i}/image" for i in range(6)] + [f"pair/demo{i}/images[{j}]" for i in range(2) for j in range(2)]
    )
    params = json.loads(result.best.params)
    assert "pair/demo0/images[1]:crop" in params and "first/demo0/image:crop" not in params
    assert "first/demo2:include" in params and "first/demo5:include" in params
    assert prompt_tokens(program, "local", sources_of(colour_task)) <= 30
    assert len(program.first.demos) <= 6 and len(program.pair.demos) <= 2
    resized = result.best.origin in ("baseline:uniform", "baseline:low_detail")  # plain resized images
    for demo in program.pair.demos:
        assert isinstance(demo.images, list)
        assert all(isinstance(i, SpectralImage) or (resized and isinstance(i, dspy.Image)) for i in demo.images)
    assert len(student.pair.demos[0].images) == 2 and not student.first.demos
    # a forced crop renders one more image part right after its whole image
    cand = json.loads(result.best.params)
    cand.update({k: 1 for k in cand if k.endswith(":crop") or k.endswith(":include")})
    cand.update({k: 0 for k in cand if k.endswith(":keep_from")})
    rebuilt = result._build(cand)  # type: ignore[misc]
    assert [len(d.images) for d in rebuilt.pair.demos] == [4, 4]
    crop = rebuilt.pair.demos[0].images[1]
    assert crop.source_size == (32, 32) and crop.render_size == (32, 32)
    # the crop says where it was cut from, and the pixels there are the crop's
    whole = student.pair.demos[0].images[0]
    assert crop.crop_of is not None and crop.crop_of["source_hash"] == content_hash(whole)
    left, top, w, h = crop.crop_of["box"]
    assert crop.crop_of["source_size"] == [64, 64] and (w, h) == crop.source_size
    assert content_hash(as_array(whole)[top : top + h, left : left + w]) == crop.source_hash


def test_repeatable_with_a_seed(texture_task: Task, lm: dspy.LM) -> None:
    def run(seed: int) -> tuple[list[Any], float]:
        opt = BandOptimizer(exact, **options(token_budget=40, n_trials=8, seed=seed))
        opt.compile(dspy.Predict(texture_task.signature), trainset=texture_task.trainset, valset=texture_task.valset)
        assert opt.last_result is not None
        trials = opt.last_result.study.get_trials(deepcopy=False)
        return [(t.params, t.values) for t in trials], opt.last_result.best.score

    first, again, other = run(3), run(3), run(4)
    assert first == again
    assert first[0] != other[0]


@pytest.mark.parametrize("share", [0.0, 0.5, 1.0])
def test_local_search_proposes_neighbours_of_the_incumbent(texture_task: Task, lm: dspy.LM, share: float) -> None:
    opt = BandOptimizer(
        exact, **options(token_budget=100, n_trials=12, local_search=share, pruner=optuna.pruners.NopPruner())
    )
    opt.compile(dspy.Predict(texture_task.signature), trainset=texture_task.trainset, valset=texture_task.valset)
    assert opt.last_result is not None
    trials = opt.last_result.study.get_trials(deepcopy=False)
    origins = [str(t.user_attrs["origin"]) for t in trials]
    n_base = sum(o.startswith("baseline:") for o in origins)
    n_warm = sum(o.startswith("warm:") for o in origins)
    assert n_base >= 2 and all(o.startswith("baseline:") for o in origins[:n_base])  # uniform, text_only
    assert n_warm >= 2 and all(o.startswith("warm:") for o in origins[n_base : n_base + n_warm])
    later = origins[n_base + n_warm :]
    # enqueued: only the baselines and warm starts; the rest came from the BandSampler in study.optimize
    assert all(("fixed_params" in t.system_attrs) == (t.number < n_base + n_warm) for t in trials)
    local = [t for t in trials if str(t.user_attrs["origin"]).startswith("neighbour:")]
    if share == 0.0:
        assert set(later) == {"sampler"}
    elif share == 1.0:
        assert all(o.startswith("neighbour:") for o in later)  # an unseen neighbour always exists here
    else:
        assert 0 < len(local) < len(later)
    for t in local:
        inc = trials[int(str(t.user_attrs["origin"]).split(":")[1])]
        assert inc.number < t.number and inc.state == optuna.trial.TrialState.COMPLETE
        moved = [k for k in t.params if t.params[k] != inc.params[k]]
        assert 1 <= len(moved) <= 2 and t.user_attrs["feasible"]
        best_before = max(
            (
                u
                for u in trials[: t.number]
                if u.user_attrs.get("feasible") and "score" in u.user_attrs
                # resized images are not a point of the band space; text-only demos drop every label's image
                if u.user_attrs["origin"] not in ("baseline:uniform", "baseline:text_only")
            ),
            key=lambda u: (u.user_attrs["score"], -u.user_attrs["tokens"], -u.number),
        )
        assert inc.user_attrs["key"] == best_before.user_attrs["key"]
        assert t.user_attrs["key"] not in {u.user_attrs["key"] for u in trials[: t.number]}


def test_composes_after_labeled_few_shot(colour_task: Task, lm: dspy.LM) -> None:
    student = dspy.LabeledFewShot(k=2).compile(dspy.Predict(colour_task.signature), trainset=colour_task.trainset)
    before = [d.image.url for d in student.demos]
    opt = BandOptimizer(exact, **options(n_trials=3))
    program = opt.compile(student, trainset=colour_task.trainset)  # default valset: trainset minus demos
    assert len(program.demos) == 2
    assert [d.label for d in program.demos] == [d.label for d in student.demos]
    assert [d.image.url for d in student.demos] == before
    assert all(d.image == DROPPED_IMAGE or isinstance(d.image, SpectralImage) for d in program.demos)
    assert opt.last_result is not None and opt.last_result.scorer_calls == lm.engine.calls
    assert lm.engine.calls % (len(colour_task.trainset) - 2) == 0


def test_the_programs_handed_out_stay_frozen_inside_a_module_compiled_later(
    colour_task: Task, lm: dspy.LM, tmp_path: Any
) -> None:
    # a module holding a predictor: DSPy lists a bare Predict held by another module whatever its flag
    opt = BandOptimizer(exact, **options(n_trials=3, trim=False))
    student = dspy.ChainOfThought(colour_task.signature)
    program = opt.compile(student, trainset=colour_task.trainset, valset=colour_task.valset, baselines=["full"])
    result = opt.last_result
    assert result is not None and result.baselines is not None
    assert program._compiled is True and result.program_for_budget(1e9)._compiled is True
    assert all(b.program._compiled for b in result.baselines.values() if b.program is not None)

    class Outer(dspy.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = program
            self.other = dspy.Predict(colour_task.signature)

        def forward(self, image: Any) -> Any:
            return self.inner(image=image)

    shown = [d.image for d in program.predict.demos]
    outer = dspy.LabeledFewShot(k=4).compile(Outer(), trainset=colour_task.trainset)
    assert [name for name, _ in outer.named_predictors()] == ["other"]
    assert [d.image for d in outer.inner.predict.demos] == shown  # not replaced by full-size trainset demos

    path = tmp_path / "program.json"
    program.save(str(path))
    loaded = load_program(dspy.ChainOfThought(colour_task.signature), path)
    assert loaded._compiled is False  # as DSPy's load leaves it (load_program's docstring says why)
    assert [d["image"] for d in loaded.predict.demos] == shown


def test_dropped_single_image_keeps_the_labels(colour_task: Task, lm: dspy.LM) -> None:
    opt = BandOptimizer(exact, **options(token_budget=0, n_trials=2))
    with pytest.warns(SpecPromptWarning, match="program sees text only"):
        program = opt.compile(dspy.Predict(colour_task.signature), trainset=colour_task.trainset)
    assert [d.image for d in program.demos] == [DROPPED_IMAGE] * 3
    assert all(d.label in colour_task.labels for d in program.demos)
    assert opt.last_result is not None and opt.last_result.best.tokens == 0


def test_constructor_and_compile_errors(colour_task: Task) -> None:
    with pytest.raises(ConfigError, match="metric must be callable"):
        BandOptimizer("exact")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"metric must be callable as .*; <lambda> takes \(example\)"):
        BandOptimizer(lambda example: 1.0)
    with pytest.raises(ConfigError, match="unknown search option"):
        BandOptimizer(exact, n_trails=3)
    with pytest.raises(ConfigError, match="config must be a SearchConfig"):
        BandOptimizer(exact, {"n_trials": 3})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="sampler must be an optuna sampler"):
        BandOptimizer(exact, sampler="tpe")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="pruner must be an optuna pruner"):
        BandOptimizer(exact, pruner="median")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"storage='study\.db' is neither an RDB URL"):
        BandOptimizer(exact, storage="study.db")
    with pytest.raises(ConfigError, match="storage must be None, 'memory', an RDB URL, an Optuna journal file"):
        BandOptimizer(exact, storage=" ")
    with pytest.raises(UnknownNameError, match="unknown scheme 'wavelets'"):
        BandOptimizer(exact, scheme="wavelets")
    with pytest.raises(ConfigError, match="bad scheme_options for scheme 'laplacian'"):
        BandOptimizer(exact, scheme_options={"level": 3})
    with pytest.raises(ConfigError, match="laplacian levels must be"):
        BandOptimizer(exact, scheme_options={"levels": -1})
    with pytest.raises(UnknownNameError, match="unknown cost model"):
        BandOptimizer(exact, cost_model="nope")
    assert BandOptimizer(exact, scheme_options=None).config.scheme_options == ()
    opt = BandOptimizer(exact, SearchConfig(n_trials=2), **options(n_trials=3))
    assert opt.config.n_trials == 3
    student = dspy.Predict(colour_task.signature)
    with pytest.raises(ConfigError, match="unknown compile argument"):
        opt.compile(student, trainset=colour_task.trainset, max_demos=3)
    with pytest.raises(ConfigError, match=r"student must be a dspy\.Module"):
        opt.compile("program", trainset=colour_task.trainset)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="trainset must be a list"):
        opt.compile(student, trainset="data")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="valset must be a non-empty list"):
        opt.compile(student, trainset=colour_task.trainset, valset=[])
    with pytest.raises(ConfigError, match=r"validation examples must be dspy\.Example"):
        opt.compile(student, trainset=colour_task.trainset, valset=[{"image": None}])
    with pytest.raises(ConfigError, match="have no inputs"):
        opt.compile(student, trainset=colour_task.trainset, valset=[dspy.Example(image=None, label="x")])
    with pytest.raises(ConfigError, match="unknown baseline"):
        opt.compile(student, trainset=colour_task.trainset, baselines=["fancy"])
    text = dspy.Predict("question -> answer")
    with pytest.raises(ConfigError, match=r"no demo holds a dspy\.Image"):
        opt.compile(text, trainset=[dspy.Example(question="q", answer="a").with_inputs("question")])


def test_study_name_is_stable_and_resumes_in_memory_storage(colour_task: Task, lm: dspy.LM) -> None:
    storage = optuna.storages.InMemoryStorage()
    kw = options(n_trials=4)
    kw.pop("storage")
    opt = BandOptimizer(exact, storage=storage, **kw)
    student = dspy.Predict(colour_task.signature)
    opt.compile(student, trainset=colour_task.trainset, valset=colour_task.valset)
    first = opt.last_result
    assert first is not None and first.study_name.startswith("specprompt-")
    calls = lm.engine.calls
    again = BandOptimizer(exact, storage=storage, **kw)
    again.compile(student, trainset=colour_task.trainset, valset=colour_task.valset)
    assert again.last_result is not None
    assert again.last_result.study_name == first.study_name
    assert again.last_result.n_trials == 4 and again.last_result.scorer_calls == 0
    assert lm.engine.calls == calls
    other = BandOptimizer(exact, storage=storage, **{**kw, "token_budget": 5})
    with pytest.warns(SpecPromptWarning, match="below the price of the cheapest demo image"):
        other.compile(student, trainset=colour_task.trainset, valset=colour_task.valset)
    assert other.last_result is not None and other.last_result.study_name != first.study_name
    with pytest.raises(ConfigError, match="load_if_exists is False"):
        BandOptimizer(exact, storage=storage, **{**kw, "load_if_exists": False}).compile(
            student, trainset=colour_task.trainset, valset=colour_task.valset
        )
    with pytest.raises(ConfigError, match=r"has directions \[.maximize.\], and multi_objective=True needs"):
        BandOptimizer(
            exact, storage=storage, **{**kw, "study_name": first.study_name, "multi_objective": True}
        ).compile(student, trainset=colour_task.trainset, valset=colour_task.valset)


def test_writes_result_json_to_run_dir(colour_task: Task, lm: dspy.LM, tmp_path: Any) -> None:
    kw = options(n_trials=2, run_dir=str(tmp_path), progress=True)
    kw.pop("storage")
    opt = BandOptimizer(exact, **kw)
    opt.compile(dspy.Predict(colour_task.signature), trainset=colour_task.trainset, valset=colour_task.valset)
    assert opt.last_result is not None
    assert (tmp_path / "study.db").is_file()
    data = json.loads((tmp_path / f"{opt.last_result.study_name}.result.json").read_text())
    assert data["best"]["trial"] == opt.last_result.best.trial
    assert np.isfinite(data["best"]["score"])


def test_pruned_trials_keep_partial_scores_baselines_are_never_pruned(colour_task: Task, lm: dspy.LM) -> None:
    # a pruner that stops every prunable trial at its first report (after 1 of 4 examples)
    opt = BandOptimizer(exact, **options(n_trials=6, pruner=optuna.pruners.ThresholdPruner(lower=1.1), trim=False))
    program = opt.compile(dspy.Predict(colour_task.signature), trainset=colour_task.trainset, valset=colour_task.valset)
    result = opt.last_result
    assert result is not None
    trials = result.study.get_trials(deepcopy=False)
    pruned = [t for t in trials if t.state == optuna.trial.TrialState.PRUNED]
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    base = [t for t in trials if t.user_attrs["origin"].startswith("baseline:")]
    assert [t.user_attrs["origin"] for t in base] == ["baseline:text_only", "baseline:full"]  # no budget
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in base)
    assert len(pruned) == 6 - len(complete) >= 3
    scored = [t for t in complete if t not in base and t.user_attrs["feasible"]]  # an infeasible one is never scored
    assert all("reused_from" in t.user_attrs for t in scored)
    assert all(len(t.user_attrs["example_scores"]) == 1 for t in pruned if "reused_from" not in t.user_attrs)
    assert all(t.intermediate_values for t in pruned)
    assert result.best.full and result.best.origin.startswith("baseline:")
    n_val = len(colour_task.valset)
    new_pruned = {t.user_attrs["key"] for t in pruned if "reused_from" not in t.user_attrs}
    assert lm.engine.calls == result.scorer_calls == 2 * n_val + len(new_pruned)
    assert len(program.demos) == 3


def test_fallback_when_no_stored_trial_shows_this_prompt(colour_task: Task, lm: dspy.LM) -> None:
    storage = optuna.storages.InMemoryStorage()
    kw = {**options(n_trials=3, study_name="fallback"), "storage": storage}
    student = dspy.Predict(colour_task.signature)
    BandOptimizer(exact, **kw).compile(student, trainset=colour_task.trainset, valset=colour_task.valset)
    # other scheme options render other images: no stored trial matches, and none is left to run
    opt = BandOptimizer(exact, **{**kw, "scheme_options": {"levels": 1}, "token_budget": 12})
    with pytest.warns(SpecPromptWarning, match="12 is below the price of the cheapest demo image"):
        program = opt.compile(student, trainset=colour_task.trainset, valset=colour_task.valset)
    result = opt.last_result
    assert result is not None and result.n_trials == 3  # the fallback is not a searched trial
    last = result.study.trials[-1]
    assert last.user_attrs["origin"] == "fallback:text_only" and result.best.trial == last.number
    assert result.best.full and result.best.tokens == 0
    assert [d.image for d in program.demos] == [DROPPED_IMAGE] * 3


def test_explicit_study_name_resumed_with_a_smaller_budget(colour_task: Task, lm: dspy.LM) -> None:
    storage = optuna.storages.InMemoryStorage()
    kw = {**options(n_trials=4, study_name="shared"), "storage": storage}
    student = dspy.Predict(colour_task.signature)
    student.demos = [colour_task.trainset[i] for i in (3, 5, 0)]  # labels bottom-right, top-right, top-right
    BandOptimizer(exact, **kw).compile(student, trainset=colour_task.trainset, valset=colour_task.valset)
    # a 64 px demo costs 12 (residual), 28 (L1+) or 44 local tokens
    opt = BandOptimizer(exact, **{**kw, "n_trials": 7, "token_budget": 30})
    program = opt.compile(student, trainset=colour_task.trainset, valset=colour_task.valset)
    result = opt.last_result
    assert result is not None and result.n_trials == 7  # a fallback, if one was added, is not counted
    assert prompt_tokens(program, "local", sources_of(colour_task)) <= 30
    assert all(r.tokens <= 30 for r in result.pareto_front())
    over = [t for t in result.study.trials[:4] if t.user_attrs["tokens"] > 30]
    assert over, "the first run (no budget) should have tried prompts over 30 tokens"
    assert not {t.number for t in over} & {r.trial for r in result.pareto_front()}
    # another scheme option renders other images: old trials no longer describe these prompts
    other = BandOptimizer(exact, **{**kw, "n_trials": 8, "scheme_options": {"levels": 1}})
    other.compile(student, trainset=colour_task.trainset, valset=colour_task.valset)
    assert other.last_result is not None
    assert all(r.trial >= 7 for r in other.last_result.pareto_front())


def test_one_optimize_call_runs_the_search(colour_task: Task, lm: dspy.LM, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    original = optuna.Study.optimize

    def counted(self: optuna.Study, *args: Any, **kwargs: Any) -> None:
        calls.append((self.study_name, kwargs.get("n_trials")))
        original(self, *args, **kwargs)

    monkeypatch.setattr(optuna.Study, "optimize", counted)
    opt = BandOptimizer(exact, **options(token_budget=36, n_trials=9))  # one 12-token image per label
    opt.compile(
        dspy.Predict(colour_task.signature), trainset=colour_task.trainset, valset=colour_task.valset, baselines=True
    )
    result = opt.last_result
    assert result is not None and result.n_trials == 9 + sum(
        t.user_attrs["origin"] == "baseline:random" for t in result.study.trials
    )
    assert calls == [(result.study_name, None), (result.study_name + "-random", None)]
    assert isinstance(result.study.sampler, BandSampler)
    assert isinstance(result.study.sampler._base_sampler, optuna.samplers.TPESampler)


def test_scoring_keeps_no_dspy_call_history(colour_task: Task, lm: dspy.LM) -> None:
    # every scored request holds all demo images as base64: a long search must not keep them all
    from dspy.clients.base_lm import GLOBAL_HISTORY

    before = len(GLOBAL_HISTORY)
    opt = BandOptimizer(exact, **options(n_trials=4))
    opt.compile(dspy.Predict(colour_task.signature), trainset=colour_task.trainset, valset=colour_task.valset)
    assert opt.last_result is not None and lm.engine.calls > 0
    assert lm.history == [] and len(GLOBAL_HISTORY) == before


def test_a_study_scored_with_other_data_metric_or_lm_is_not_resumed(colour_task: Task, lm: dspy.LM) -> None:
    from specprompt.scorers import pixel_lm

    storage = optuna.storages.InMemoryStorage()
    kw = {**options(n_trials=3, study_name="named"), "storage": storage}
    student = dspy.Predict(colour_task.signature)
    train, val = colour_task.trainset, colour_task.valset
    first = BandOptimizer(exact, **kw)
    first.compile(student, trainset=train, valset=val)
    assert first.last_result is not None
    started = [t.datetime_start for t in first.last_result.study.trials]
    calls = lm.engine.calls
    relabelled = [ex.copy(label="nowhere") for ex in val]  # answers no demo shows: every score would be 0

    def other_metric(example: Any, pred: Any, trace: Any = None) -> float:
        return exact(example, pred, trace)

    cases: list[tuple[dict[str, Any], str]] = [
        ({"valset": relabelled}, r"scored with another valset \(valset: '4 examples, [0-9a-f]{16}' there"),
        ({"metric": other_metric}, "scored with another metric"),
        ({"lm": pixel_lm("hist-hog")}, "scored with another lm"),
    ]
    for change, match in cases:
        metric = change.get("metric", exact)
        relabel = "valset" in change  # warned first: no demo shows its answer
        warned = pytest.warns(SpecPromptWarning, match="none of the 4") if relabel else contextlib.nullcontext()
        with dspy.context(lm=change.get("lm", lm)), warned, pytest.raises(ConfigError, match=match):
            BandOptimizer(metric, **kw).compile(student, trainset=train, valset=change.get("valset", val))
    assert lm.engine.calls == calls  # refused before any scorer call
    # the same program, data, metric and LM resume the study, with other search options too
    opt = BandOptimizer(exact, **{**kw, "n_trials": 4, "token_budget": 100})
    opt.compile(student, trainset=train, valset=val)
    assert opt.last_result is not None
    resumed = [t.datetime_start for t in opt.last_result.study.trials]
    assert resumed[: len(started)] == started and len(resumed) > len(started)  # kept, then more


def test_a_valset_that_would_mislead_is_warned_about(colour_task: Task, lm: dspy.LM) -> None:
    student = dspy.Predict(colour_task.signature)
    train, val = colour_task.trainset, colour_task.valset
    opt = BandOptimizer(exact, **options(n_trials=2))
    with pytest.warns(SpecPromptWarning, match=r"3 of the 10 validation examples are demos of the program"):
        opt.compile(student, trainset=train, valset=[*val, *train])  # the 3 demos (k_demos=3) come from the trainset
    shouted = [ex.copy(label=ex.label.upper()) for ex in val]
    with pytest.warns(SpecPromptWarning, match=r"none of the 4 validation examples has an answer a demo shows") as got:
        opt.compile(student, trainset=train, valset=shouted)
    assert "the demos show label=" in str(got[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt.compile(student, trainset=train, valset=val)  # the task's own valset: no warning
