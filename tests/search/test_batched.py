"""Batched scoring with the local band VLM: the same chats, answers, scores and spend as the per-call
DSPy engine path, one encoder pass per batch, and the per-call path for every other judge."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import dspy
import pytest

import specprompt.search._scoring as scoring
from specprompt.scorers import LocalVLMEngine, ParsedChat, local_lm, nearest_lm, pixel_lm
from specprompt.search import BandOptimizer
from specprompt.search._batched import predict_together
from specprompt.search._context import Candidate, SearchContext
from specprompt.search._demos import plan_demos
from specprompt.search._scoring import Scorer
from specprompt.tasks import Task, get_task

from .conftest import exact


@pytest.fixture(scope="module")
def task() -> Task:
    # 64 px: the working resolution of the local model, so every band it is shown matters to it
    return get_task("colour-position", n_train=8, n_val=6, n_test=0, size=64, seed=3)


@pytest.fixture(scope="module")
def lm() -> dspy.LM:
    return local_lm()  # the shipped checkpoint: a real judge, not a random tiny one


@pytest.fixture(scope="module")
def ctx(task: Task) -> SearchContext:
    opt = BandOptimizer(exact, k_demos=4, storage="memory", progress=False)
    student = dspy.Predict(task.signature)
    return SearchContext(student, plan_demos(student, task.trainset, 4, 0), opt.config)


def candidates(ctx: SearchContext) -> list[Candidate]:
    """All bands, every image dropped, one image dropped and the others coarsened, and random
    selections (seeded) of bands and dropped images."""
    rng = random.Random(7)
    dists = ctx.distributions()
    picked = [ctx.full(), ctx.dropped()]
    params = {name: d.high for name, d in dists.items()}
    first = ctx.plan.slots[0].id
    for name, d in dists.items():
        params[name] = d.low if name.startswith(first) else (d.low + d.high) // 2
    picked.append(ctx.from_params(params))
    for _ in range(2):
        picked.append(ctx.from_params({name: rng.randint(d.low, d.high) for name, d in dists.items()}))
    return picked


class Recorder:
    """Records the chats the engine answers on either path, and the per-call path's answers."""

    def __init__(self, engine: LocalVLMEngine, monkeypatch: pytest.MonkeyPatch) -> None:
        self.single: list[tuple[ParsedChat, dict[str, Any]]] = []
        self.batched: list[tuple[ParsedChat, dict[str, Any]]] = []
        answer, answer_batch = engine.answer, engine.answer_batch

        def one(chat: ParsedChat) -> tuple[str, dict[str, Any]]:
            out = answer(chat)
            self.single.append((chat, out[1]))
            return out

        def many(chats: list[ParsedChat]) -> list[tuple[str, dict[str, Any]]]:
            outs = answer_batch(chats)
            self.batched.extend((c, o[1]) for c, o in zip(chats, outs, strict=True))
            return outs

        monkeypatch.setattr(engine, "answer", one)
        monkeypatch.setattr(engine, "answer_batch", many)


@pytest.fixture
def recorder(lm: dspy.LM, monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorder]:
    yield Recorder(lm.engine, monkeypatch)


def _keys(chat: ParsedChat) -> tuple[Any, ...]:
    demos = tuple((d.answer, tuple(i.key for i in d.images)) for d in chat.demos)
    return chat.system, demos, tuple(i.key for i in chat.query), chat.query_text, chat.text_chars


@pytest.mark.parametrize("adapter", [dspy.ChatAdapter(), dspy.JSONAdapter()], ids=type)
def test_same_chats_answers_and_predictions_as_the_per_call_path(
    ctx: SearchContext, task: Task, lm: dspy.LM, recorder: Recorder, adapter: Any
) -> None:
    examples = task.valset[:4]
    labels_seen = set()
    picked = candidates(ctx)
    for cand in picked[:3] if isinstance(adapter, dspy.JSONAdapter) else picked:  # JSON: a check of the format
        program = ctx.build(cand)
        with dspy.context(lm=lm, adapter=adapter):
            single = [program(**ex.inputs()) for ex in examples]
            batch = predict_together(program, examples)
        assert batch is not None
        assert [p.toDict() if p else None for p in batch.predictions] == [p.toDict() for p in single]
        per_call, together = recorder.single[-len(examples) :], recorder.batched[-len(examples) :]
        for (c1, d1), (c2, d2) in zip(per_call, together, strict=True):
            assert _keys(c1) == _keys(c2)  # the engine reads exactly the chat DSPy sends
            assert (d1["answer"], d1["demo"], d1["paths"]) == (d2["answer"], d2["demo"], d2["paths"])
            assert d1["scores"].keys() == d2["scores"].keys()
            assert all(abs(d1["scores"][a] - d2["scores"][a]) < 1e-5 for a in d1["scores"])
        labels_seen |= {p.label for p in single}
    assert len(labels_seen) > 1  # the candidates make the judge give different answers


def test_scores_and_spend_equal_the_per_call_path(
    ctx: SearchContext, task: Task, lm: dspy.LM, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = lm.engine
    indices = list(range(len(task.valset)))
    with dspy.context(lm=lm):
        together = Scorer(exact, task.valset, 2)
        passes = engine.forward_passes
        fast = {i: together.score(str(i), lambda c=c: ctx.build(c), indices) for i, c in enumerate(candidates(ctx))}
        encoder_passes = engine.forward_passes - passes
        monkeypatch.setattr(scoring, "predict_together", lambda *args: None)
        per_call = Scorer(exact, task.valset, 2)
        calls = engine.calls
        slow = {i: per_call.score(str(i), lambda c=c: ctx.build(c), indices) for i, c in enumerate(candidates(ctx))}
    assert fast == slow
    assert together.spend == per_call.spend and together.spend.calls == engine.calls - calls
    assert together.calls == per_call.calls == len(fast) * len(indices)
    assert encoder_passes <= len(fast)  # at most one encoder pass per candidate's batch


def test_the_search_scores_through_the_batch_and_decides_as_before(
    task: Task, lm: dspy.LM, monkeypatch: pytest.MonkeyPatch
) -> None:
    def compile_once() -> Any:
        opt = BandOptimizer(
            exact,
            token_budget=90,
            cost_model="local",
            k_demos=4,
            n_trials=8,
            minibatch_size=4,
            max_calls=200,
            num_threads=2,
            progress=False,
            storage="memory",
        )
        with dspy.context(lm=lm):
            program = opt.compile(dspy.Predict(task.signature), trainset=task.trainset, valset=task.valset)
        assert opt.last_result is not None
        return program, opt.last_result

    engine = lm.engine
    single = {"n": 0}
    answer = engine.answer

    def counted(chat: ParsedChat) -> Any:
        single["n"] += 1
        return answer(chat)

    monkeypatch.setattr(engine, "answer", counted)
    calls, passes = engine.calls, engine.forward_passes
    program, fast = compile_once()
    fast_calls, fast_passes = engine.calls - calls, engine.forward_passes - passes
    assert single["n"] == 0  # not one example went through the per-call engine path
    assert fast.spend is not None and fast.spend.search.calls + fast.spend.baselines.calls == fast_calls
    assert fast_passes * 4 <= fast_calls  # an encoder pass answers a whole batch, not one example

    monkeypatch.setattr(scoring, "predict_together", lambda *args: None)
    slow_program, slow = compile_once()
    assert single["n"] == engine.calls - calls - fast_calls > 0
    assert [(r.trial, r.score, r.tokens) for r in fast.candidates] == [
        (r.trial, r.score, r.tokens) for r in slow.candidates
    ]
    assert fast.spend == slow.spend and fast.best.trial == slow.best.trial
    assert [t.user_attrs.get("spend") for t in fast.study.trials] == [
        t.user_attrs.get("spend") for t in slow.study.trials
    ]
    assert [d.toDict().keys() for d in program.demos] == [d.toDict().keys() for d in slow_program.demos]


def test_other_judges_programs_and_settings_keep_the_per_call_path(ctx: SearchContext, task: Task) -> None:
    program = ctx.build(ctx.full())
    examples = task.valset[:2]

    class Wrapped(dspy.Module):
        def __init__(self) -> None:
            super().__init__()
            self.predict = program

        def forward(self, **inputs: Any) -> Any:
            return self.predict(**inputs)

    for judge in (nearest_lm(), pixel_lm("hist-hog"), local_lm(cache=True)):
        with dspy.context(lm=judge):
            assert predict_together(program, examples) is None
    local = local_lm()
    with dspy.context(lm=local):
        assert predict_together(Wrapped(), examples) is None
        assert predict_together(program, []) is None
    with dspy.context(lm=local, adapter=dspy.TwoStepAdapter(local)):
        assert predict_together(program, examples) is None
    with dspy.context(lm=local.copy(n=2)):
        assert predict_together(program, examples) is None
    with dspy.context(lm=local):
        assert predict_together(program, examples) is not None


def test_an_unreadable_query_falls_back_to_the_per_call_path(ctx: SearchContext, task: Task, lm: dspy.LM) -> None:
    program = ctx.build(ctx.full())
    broken = task.valset[0].copy(image=dspy.Image("https://example.invalid/x.png")).with_inputs("image")
    with dspy.context(lm=lm):
        assert predict_together(program, [task.valset[1], broken]) is None
        scorer = Scorer(exact, [task.valset[1], broken], 1)
        scores = scorer.score("k", lambda: program, [0, 1])
    assert scores[1] == 0.0 and scorer.calls == 2  # the per-call path scores the broken one as a failure


def test_expected_scores_are_the_probability_of_a_right_answer(
    ctx: SearchContext, task: Task, lm: dspy.LM, recorder: Recorder
) -> None:
    indices = list(range(len(task.valset)))
    with dspy.context(lm=lm):
        hard = Scorer(exact, task.valset, 1)
        soft = Scorer(exact, task.valset, 1, expected=True)
        seen: set[bool] = set()
        for i, cand in enumerate(candidates(ctx)[:3]):
            build = lambda c=cand: ctx.build(c)  # noqa: E731
            answers = hard.score(str(i), build, indices)
            details = [d for _, d in recorder.batched[-len(indices) :]]
            expected = soft.score(str(i), build, indices)
            for j in indices:
                probs = details[j]["scores"]
                if not probs:  # no demo to copy (every image dropped): the default answer's metric
                    assert expected[j] == answers[j]
                    continue
                assert answers[j] == float(details[j]["answer"] == task.valset[j].label)
                # exact match: the expectation is the probability the readout gives the right label
                assert expected[j] == pytest.approx(probs.get(task.valset[j].label, 0.0), abs=1e-5)
                seen.add(expected[j] != answers[j])
    assert True in seen  # the expectation is not the answer's 0/1 metric
    assert soft.spend == hard.spend  # the same requests, only the metric is averaged


def test_expected_scores_need_the_batch(ctx: SearchContext, task: Task) -> None:
    indices = list(range(len(task.valset)))
    build = lambda: ctx.build(ctx.full())  # noqa: E731
    with dspy.context(lm=nearest_lm()):  # answered call by call: no probabilities, the answer's metric
        assert Scorer(exact, task.valset, 1, expected=True).score("a", build, indices) == Scorer(
            exact, task.valset, 1
        ).score("a", build, indices)


def test_a_search_scored_by_the_expected_metric(task: Task, lm: dspy.LM) -> None:
    from specprompt.search._record import TrialRecord

    def compile_once(expected: bool) -> Any:
        opt = BandOptimizer(
            exact,
            token_budget=90,
            cost_model="local",
            k_demos=4,
            n_trials=4,
            minibatch_size=4,
            progress=False,
            storage="memory",
            expected_scores=expected,
        )
        with dspy.context(lm=lm):
            opt.compile(dspy.Predict(task.signature), trainset=task.trainset, valset=task.valset)
        assert opt.last_result is not None
        return opt.last_result

    soft, hard = compile_once(True), compile_once(False)
    scores = {
        name: [s for t in r.study.trials for s in (TrialRecord.from_trial(t).example_scores or {}).values()]
        for name, r in (("soft", soft), ("hard", hard))
    }
    assert set(scores["hard"]) <= {0.0, 1.0}
    assert any(0.0 < s < 1.0 for s in scores["soft"])  # probabilities of the right label, not 0/1 answers
    assert soft.study.study_name != hard.study.study_name  # never resumed as the other kind of study
