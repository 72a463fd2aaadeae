"""What a compile works with, prepared once: the search context, scorer, valset order and study.

:func:`prepare` is shared by :meth:`~specprompt.search.BandOptimizer.compile`,
:meth:`~specprompt.search.BandOptimizer.run_baselines` and
:meth:`~specprompt.search.BandOptimizer.work`; the :class:`Run` it returns lives on the stack of
one call, never on the optimizer. :func:`scoring_lm` is the LM the candidates are scored with.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import random
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import dspy
import optuna

from specprompt.errors import ConfigError, SpecPromptWarning
from specprompt.search._agreement import VerdictRule
from specprompt.search._arguments import check_examples, check_trainset
from specprompt.search._claims import shared_url
from specprompt.search._config import SearchConfig
from specprompt.search._context import SearchContext
from specprompt.search._demos import DemoPlan, add_pool, default_valset, plan_demos
from specprompt.search._examples import ShownDemos, example_hash
from specprompt.search._guards import SpendCap
from specprompt.search._identity import LATER_ENTRIES, derive_study_name, own_image_lm, scoring_identity
from specprompt.search._invisible import resolve_local_cost
from specprompt.search._labels import answer_fields, unshown_answers
from specprompt.search._record import TrialRecord
from specprompt.search._sampler import BandSampler
from specprompt.search._scoring import Scorer
from specprompt.search._screen import Screen
from specprompt.search._study import default_pruner, default_sampler, make_storage
from specprompt.search._study_record import RECORD_ATTR, StudyRecord
from specprompt.search._transport import model_name, remote_lm
from specprompt.search._workers import worker_seed

__all__ = ["Run", "open_study", "prepare", "scoring_lm"]

logger = logging.getLogger("specprompt.search")


@dataclass(frozen=True)
class Run:
    """Everything one compile works with; lives on the stack of ``compile``, never on ``self``."""

    ctx: SearchContext
    scorer: Scorer
    valset: list[Any]
    minibatch: list[int]
    study_name: str
    storage: Any
    valset_digest: str
    study: optuna.Study
    cap: SpendCap
    #: the database URL when several processes may share the study (PostgreSQL), else None
    shared_url: str | None = None
    #: this process scores finalists and chooses (``compile``); ``False`` for ``work``
    finalizer: bool = True
    #: the multi-fidelity screen (``screen=``), or None
    screen: Screen | None = None
    #: what the study's scores are scores of (:func:`~specprompt.search._identity.scoring_identity`)
    identity: Mapping[str, str] | None = None


@contextlib.contextmanager
def scoring_lm(call_timeout: float | None, student: dspy.Module | None = None) -> Iterator[None]:
    """``dspy.settings.lm``; when none is configured, the LM of the first predictor of ``student``
    that takes images and has one of its own (``predictor.set_lm``: it answers the prompts the
    search prices), else the local band VLM. A remote LM gets the per-call timeout and no retries
    of its own (:func:`~specprompt.search._transport.remote_lm`)."""
    lm = dspy.settings.lm
    own = None if student is None or not isinstance(student, dspy.Module) else own_image_lm(student)
    if lm is None and own is not None:
        lm = own[1]
        logger.info(
            "no LM configured (dspy.configure(lm=...)): the search's decisions follow %s, the LM of predictor %r",
            model_name(lm),
            own[0],
        )
    elif lm is None:
        from specprompt.scorers import local_lm

        lm = local_lm()
        logger.info("no LM configured (dspy.configure(lm=...)): scoring with the local band VLM %s", lm.model)
    elif own is not None and own[1] is not lm:
        logger.info(
            "predictor %r answers with its own LM %s, not with dspy.settings.lm (%s): the search's scores are its",
            own[0],
            model_name(own[1]),
            model_name(lm),
        )
    with dspy.context(lm=remote_lm(lm, call_timeout)):
        yield


def open_study(
    ctx: SearchContext,
    storage: Any,
    name: str,
    sampler: optuna.samplers.BaseSampler,
    n_val: int,
    pruner: optuna.pruners.BasePruner | None = None,
    identity: Mapping[str, str] | None = None,
    strategy: str = "band",
) -> optuna.Study:
    """Creates (or loads, with ``load_if_exists``) the study ``name`` and records the config in it.

    ``identity`` (:func:`~specprompt.search._identity.scoring_identity`) is recorded with it; a study
    loaded later must have been scored with the same one. ``strategy`` (:data:`STRATEGIES`) says
    which search the study holds; a study loaded later must hold the same one.

    Raises:
        ConfigError: the study exists and ``load_if_exists`` is False, it has other directions
            than ``multi_objective`` asks for (both named), it holds trials but no specprompt
            record (a study of someone else's), it holds the other search (a band search where
            a random-search baseline goes, or the reverse: two compiles would share it), or it
            was scored with another program, valset, metric, LM or screen (each that differs named).
    """
    cfg = ctx.config
    directions: list[Literal["minimize", "maximize"]] = (
        ["maximize", "minimize"] if cfg.multi_objective else ["maximize"]
    )
    try:
        study = optuna.create_study(
            storage=storage,
            study_name=name,
            sampler=sampler,
            pruner=pruner or default_pruner(cfg),
            directions=directions,
            load_if_exists=cfg.load_if_exists,
        )
    except optuna.exceptions.DuplicatedStudyError:
        raise ConfigError(
            f"study {name!r} exists in the storage and load_if_exists is False; pass another study_name"
        ) from None
    have = [d.name.lower() for d in study.directions]
    if have != directions:
        raise ConfigError(
            f"study {name!r} in the storage has directions {have}, and multi_objective={cfg.multi_objective} "
            f"needs {directions}: pass another study_name (--study-name), or none"
        )
    record = StudyRecord.read(study)
    foreign = [] if record is not None else study.get_trials(deepcopy=False)
    if foreign:  # a study of someone else's: its trials would count towards n_trials and none is a candidate
        raise ConfigError(
            f"study {name!r} in the storage holds {len(foreign)} trial(s) and was not "
            f"made by specprompt (no {RECORD_ATTR!r} study attribute): pass another study_name (--study-name), or none"
        )
    if record is None:
        slots = tuple(s.id for s in ctx.plan.slots)
        scored_with = None if identity is None else dict(identity)
        StudyRecord(cfg.to_dict(), slots, n_val, scored_with, strategy=strategy).write(study)
        return study
    held = record.strategy or _strategy_of_trials(study)
    if held is not None and held != strategy:
        raise ConfigError(
            f"study {name!r} in the storage holds {_HOLDS[held]}, not {_HOLDS[strategy]}: two compiles would "
            "share it (the random-search baseline of study NAME is study NAME-random); pass another study_name "
            "(--study-name)"
        )
    stored = record.scored_with
    if identity is not None and stored is not None:
        # entries an earlier version did not record are not compared (and are recorded from now on)
        differ = [k for k in identity if stored.get(k) != identity[k] and (k in stored or k not in LATER_ENTRIES)]
        if differ:
            what = "; ".join(f"{k}: {stored.get(k)!r} there, {identity[k]!r} here" for k in differ)
            raise ConfigError(
                f"study {name!r} in the storage was scored with another {', '.join(differ)} ({what}): its "
                "stored scores are not scores of this compile. Pass another study_name (--study-name), or none: "
                "the default name is derived from the program, data, metric and LM"
            )
        if any(k not in stored for k in identity):
            record.replace(scored_with={**stored, **identity}).write(study)
    elif identity is not None:  # recorded by a version that kept no identity: keep this one from now on
        record.replace(scored_with=dict(identity)).write(study)
    return study


#: What a study of each strategy holds, in messages.
_HOLDS = {"band": "the band search of a compile", "random": "a random-search baseline (baselines 'random')"}


def _strategy_of_trials(study: optuna.Study) -> str | None:
    """``"band"`` when a trial has an origin only the band search gives (a baseline, a warm start, a
    neighbour, a trim); ``None`` when the trials cannot tell (a record of a version that kept no
    strategy: a random-search baseline's trials are all the sampler's)."""
    origins = {TrialRecord.from_trial(t).origin for t in study.get_trials(deepcopy=False)}
    return "band" if origins - {None, "sampler"} else None


def check_valset(student: dspy.Module, plan: DemoPlan, valset: Sequence[Any]) -> None:
    """Warns about a given valset whose scores would mislead.

    Two cases: examples that are demos of the program (each is scored with its own answer shown
    among the demos; matched by their inputs, :class:`~specprompt.search._examples.ShownDemos`, so a
    bootstrapped demo counts too), and, for a ``dspy.Predict`` or ``dspy.ChainOfThought`` whose answers are
    classes, a valset none of whose answers a demo shows (spelled otherwise, or other labels:
    under an exact-match metric every score is 0 and no choice of bands can change it).
    """
    from specprompt.search._invisible import _caller_level

    shown = ShownDemos(plan.all_demos())
    both = sum(1 for ex in valset if ex in shown)
    if both:
        warnings.warn(
            f"{both} of the {len(valset)} validation examples are demos of the program: they are scored with their "
            "own answer shown, so their scores are optimistic; give a valset without the demos (or none: the "
            "default valset is the trainset minus the demos)",
            SpecPromptWarning,
            stacklevel=_caller_level(),
        )
    predictors = list(student.named_predictors())
    plain = isinstance(student, (dspy.Predict, dspy.ChainOfThought))  # its answers are its predictor's
    if not plain or len(predictors) != 1 or not plan.demos or not any(c is not None for c in plan.classes[0]):
        return
    unshown = unshown_answers(predictors[0][1], plan.demos[0], valset)
    if unshown and len(unshown) == len(valset):
        names = answer_fields(predictors[0][1], valset[0])
        seen = sorted({str(plan.classes[0][i]) for i in range(len(plan.demos[0]))} - {"None"})
        warnings.warn(
            f"none of the {len(valset)} validation examples has an answer a demo shows ({', '.join(names)} of "
            f"example 0: {', '.join(repr(valset[0][n]) for n in names)}; the demos show {', '.join(seen[:6])}): "
            "under an exact-match metric every score is 0 whatever the bands; are the valset's labels those of "
            "the trainset?",
            SpecPromptWarning,
            stacklevel=_caller_level(),
        )
    elif unshown:  # some answers have no demo: the program can only guess those
        names = answer_fields(predictors[0][1], valset[0])
        missing = sorted({", ".join(str(valset[i][n]) for n in names) for i in unshown})
        logger.warning(
            "the demos show no example of %s %s, the answer of %d of the %d validation examples: the program "
            "can only guess those; give demos that cover every answer (a student without demos gets them "
            "spread over the trainset's labels)",
            "answer" if len(missing) == 1 else "answers",
            ", ".join(repr(m) for m in missing[:6]) + (" ..." if len(missing) > 6 else ""),
            len(unshown),
            len(valset),
        )


def check_testset(plan: DemoPlan, valset: Sequence[Any], testset: Sequence[Any]) -> None:
    """Warns about a testset whose score would not be held out: examples that are demos of the
    program (scored with their own answer shown) or validation examples (the program was chosen on
    them); matched by their inputs as :func:`check_valset` matches demos."""
    from specprompt.search._invisible import _caller_level

    shown, chosen_on = ShownDemos(plan.all_demos()), ShownDemos(valset)
    demos = sum(1 for ex in testset if ex in shown)
    val = sum(1 for ex in testset if ex in chosen_on and ex not in shown)
    parts = [f"{demos} are demos of the program"] if demos else []
    parts += [f"{val} are validation examples the program was chosen on"] if val else []
    if parts:
        warnings.warn(
            f"of the {len(testset)} test examples, {' and '.join(parts)}: the test score is not a held-out "
            "score; give a testset that shares no example with the trainset's demos or the valset",
            SpecPromptWarning,
            stacklevel=_caller_level(),
        )


def _screen(screen_lm: dspy.BaseLM, metric: Callable[..., Any], val: list[Any], cfg: SearchConfig) -> Screen:
    # the screen ranks: the local band VLM's expected metric (Scorer(expected=True)) ranks with less noise
    judge = Scorer(metric, val, cfg.num_threads, expected=True)
    online = cfg.calibrate and cfg.calibration_mode == "trials"
    return Screen(
        screen_lm,
        judge,
        VerdictRule.from_config(cfg),
        trials=cfg.calibration_probes if online else 0,
        target=model_name(dspy.settings.lm),
    )


def prepare(
    student: dspy.Module,
    trainset: Sequence[Any],
    valset: Sequence[Any] | None,
    *,
    metric: Callable[..., Any],
    config: SearchConfig,
    sampler: optuna.samplers.BaseSampler | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
    storage: str | optuna.storages.BaseStorage | None = None,
    testset: Sequence[Any] | None = None,
    screen_lm: dspy.BaseLM | None = None,
    finalizer: bool = True,
) -> Run:
    """Plans the demos, decomposes their images and opens the study of one compile.

    Args:
        student, trainset, valset, testset: as :meth:`~specprompt.search.BandOptimizer.compile`
            gets them (the testset only keeps pooled demos out of it).
        metric, config, sampler, pruner, storage: the optimizer's (checked by
            :func:`~specprompt.search._arguments.check_arguments`).
        screen_lm: the screening judge of a multi-fidelity search, or None.
        finalizer: this process chooses the program (``False`` for a ``work`` process).

    Raises:
        ConfigError: bad arguments (named), no demo images, no validation examples, a study that
            cannot be opened, or a screen on a shared PostgreSQL study.
    """
    if not isinstance(student, dspy.Module):
        raise ConfigError(f"student must be a dspy.Module, got {type(student).__name__}")
    check_trainset(trainset)
    # [cost] the bare "local" prices the checkpoint that scores; run.ctx.config is this compile's config
    cfg = resolve_local_cost(config)
    plan = plan_demos(student, trainset, cfg.k_demos, cfg.seed)
    given = None if valset is None else check_examples(valset, "valset")
    if cfg.search_demos and cfg.demo_pool:
        # candidate demos from the trainset only: never an example of the valset or testset
        plan = add_pool(plan, student, trainset, cfg.demo_pool, cfg.seed, [*(given or ()), *(testset or ())])
    val = default_valset(trainset, plan) if given is None else given
    hashes = [example_hash(ex) for ex in val]  # once: they check, name and fingerprint the study
    if given is not None:
        check_valset(student, plan, val)
    if testset:
        check_testset(plan, val, testset)
    ctx = SearchContext(student, plan, cfg)
    order = list(range(len(val)))
    random.Random(cfg.seed).shuffle(order)
    name = cfg.study_name or derive_study_name(ctx, cfg, hashes, metric)
    screen = None if screen_lm is None else _screen(screen_lm, metric, val, cfg)
    if screen_lm is not None and cfg.study_name is None:
        # screened trials are PRUNED: never resume them as a target-only study
        tag = f"{model_name(screen_lm)}|{cfg.screen_keep!r}|expected"
        if cfg.screen_keep_min is not None:  # another share once the verdict screens
            tag += f"|keep_min={cfg.screen_keep_min!r}"
        name += "-screen-" + hashlib.sha256(tag.encode()).hexdigest()[:8]
    store = make_storage(storage, cfg.run_dir)
    if screen is not None and shared_url(store) is not None:
        raise ConfigError(
            "screen= (multi-fidelity search) does not run on a shared PostgreSQL study yet; "
            "use the default SQLite storage or storage='memory'"
        )
    digest = hashlib.sha256("".join(hashes).encode()).hexdigest()
    scorer = Scorer(metric, val, cfg.num_threads, cfg.retry_policy(), seed=cfg.seed, expected=cfg.expected_scores)
    # [workers] worker w > 0 proposes from a sampler stream of its own (worker 0: the seed itself);
    # BandSampler reseeds any base sampler per trial from it
    seed = worker_seed(cfg.seed, cfg.worker)
    base = sampler or default_sampler(cfg.replace(seed=seed))
    band_sampler = BandSampler(base, ctx, local_search=float(cfg.local_search), seed=seed)
    identity = scoring_identity(ctx, hashes, metric, None if screen_lm is None else model_name(screen_lm))
    study = open_study(ctx, store, name, band_sampler, len(val), pruner, identity)
    return Run(
        ctx,
        scorer,
        val,
        order[: cfg.minibatch_size],
        name,
        store,
        digest,
        study,
        SpendCap(scorer, cfg, study, records=finalizer),  # [spend] the study's earlier spend counts
        shared_url=shared_url(store),
        finalizer=finalizer,
        screen=screen,
        identity=identity,
    )
