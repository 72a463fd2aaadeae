""":class:`BandOptimizer`: a DSPy teleprompter that picks the frequency bands of each demo image."""

from __future__ import annotations

import hashlib
import json
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import dspy
import optuna
from dspy.teleprompt import Teleprompter

from specprompt.errors import ConfigError, TransportError
from specprompt.search._baselines import BaselineStore, check_baselines, run_baselines
from specprompt.search._config import SearchConfig, check_options
from specprompt.search._context import SearchContext
from specprompt.search._demos import default_valset, example_hash, plan_demos
from specprompt.search._guards import SpendCap, quiet_scoring_tracebacks, requeue_failed
from specprompt.search._invisible import warn_invisible
from specprompt.search._objective import Objective, finished_trials, full_score
from specprompt.search._result import BaselineResult, CompileResult, ParetoRow, SpendReport, pareto
from specprompt.search._scoring import Scorer
from specprompt.search._spend import Spend, cost_of, repays_after
from specprompt.search._study import (
    DEFAULT_RUN_DIR,
    NAMING_FIELDS,
    check_storage,
    collect_rows,
    default_pruner,
    default_sampler,
    derive_study_name,
    fail_stale_trials,
    finalize,
    make_storage,
    worker_tag,
)
from specprompt.search._transport import RetryPolicy, remote_lm
from specprompt.search._warm import neighbour, warm_starts

__all__ = ["BandOptimizer"]

logger = logging.getLogger("specprompt.search")


@dataclass(frozen=True)
class _Run:
    """Everything one compile works with; lives on the stack of ``compile``, never on ``self``."""

    ctx: SearchContext
    scorer: Scorer
    valset: list[Any]
    minibatch: list[int]
    study_name: str
    storage: Any
    valset_digest: str
    cap: SpendCap


def _check_names(config: SearchConfig) -> None:
    """Fails early on an unknown scheme, bad scheme options, an unknown cost model or no search space."""
    from specprompt.cost import get_cost_model
    from specprompt.search._space import _SPACES
    from specprompt.spectral import get_scheme

    scheme = get_scheme(config.scheme)
    try:
        scheme.config_cls(**config.options)
    except TypeError as exc:
        raise ConfigError(f"bad scheme_options for scheme {config.scheme!r}: {exc}") from None
    _SPACES.get(config.scheme)
    get_cost_model(config.cost_model)


class BandOptimizer(Teleprompter):  # type: ignore[misc]
    """Chooses which frequency bands of each few-shot demo image to send, under a token budget.

    Each demo image is decomposed (``scheme``) and a seeded Optuna search picks, per image, how
    many bands to keep (see :mod:`specprompt.search._space`). A candidate over ``token_budget``
    (all demo images of one prompt, priced with ``cost_model``) is never scored; the others are
    scored with ``metric`` on a fixed minibatch of the valset (reported to the pruner), and the
    best ones on the full valset. The returned program is a deep copy of the student whose demos
    hold :class:`~specprompt.SpectralImage` values (so ``program.save`` records the selections).

    Args:
        metric: ``metric(example, prediction, trace=None) -> float | bool``.
        config: a :class:`SearchConfig`; keyword ``options`` override its fields.
        sampler: an Optuna sampler; default seeded multivariate TPE. The budget reaches it
            through ``trial.set_constraint`` (and the JSON user attribute ``constraint``).
        pruner: an Optuna pruner; default :func:`default_pruner`.
        storage: ``None`` (SQLite ``<run_dir>/study.db``), ``"memory"``, an RDB URL
            (``postgresql+psycopg2://...``) or an Optuna storage object.
        **options: :class:`SearchConfig` fields (``token_budget=``, ``n_trials=``, ...).

    Attributes:
        last_result: the :class:`CompileResult` of the last finished compile (set at its end;
            nothing else is stored on the optimizer, so one object can run several compiles).

    Raises:
        ConfigError: an unknown option or a bad value. UnknownNameError: an unknown scheme,
        cost model, or a scheme without a search space.

    Convention:
        - Dropping an image: a single ``dspy.Image`` field becomes ``None`` (DSPy sends the demo
          as a text-only "incomplete" example that still shows its labels); an item of a
          ``list[dspy.Image]`` field is removed. Dropping every image costs 0 tokens, so some
          candidate always fits any budget >= 0.
        - The first trials of a new study are the warm starts of :mod:`specprompt.search._warm`,
          each within the budget: uniform (every image coarsened by the same number of steps),
          greedy (full resolution in demo order while it fits), stratified (the same, demos
          round-robin over their answers), stratified-one (one sharp demo per answer, the others
          dropped) and stratified-coarse (the others at their coarsest level). Afterwards a
          ``local_search`` share of the trials tries an unseen neighbour of the best trial so far
          (one or two images at another level, within budget); the sampler proposes the rest.
          Each trial's user attribute ``origin`` says which. If no feasible trial completes (all
          pruned, or a custom sampler stayed over budget), the uniform warm start is scored on
          the full valset and added as one more trial: the returned program always fits.
        - ``n_trials`` counts finished (complete or pruned) trials of the study, including those
          of earlier runs: re-running the same command resumes and only runs the rest. Trials
          left running by a killed process on this host are marked failed and not counted.
        - A trial over budget returns ``-inf`` (and ``tokens`` in multi-objective mode) without
          scoring; a trial whose prompt (source hashes and kept bands of every image) was
          already scored in the study reuses that trial's values (``reused_from``).

    Example:
        >>> opt = BandOptimizer(lambda ex, pred, trace=None: 1.0, token_budget=300, n_trials=20)
        >>> opt.config.token_budget, opt.config.n_trials
        (300, 20)
    """

    def __init__(
        self,
        metric: Callable[..., Any],
        config: SearchConfig | None = None,
        *,
        sampler: optuna.samplers.BaseSampler | None = None,
        pruner: optuna.pruners.BasePruner | None = None,
        storage: str | optuna.storages.BaseStorage | None = None,
        **options: Any,
    ) -> None:
        super().__init__()
        if not callable(metric):
            raise ConfigError(f"metric must be callable as metric(example, pred, trace=None), got {metric!r}")
        if config is not None and not isinstance(config, SearchConfig):
            raise ConfigError(f"config must be a SearchConfig or None, got {type(config).__name__}")
        base = config or SearchConfig()
        self.metric = metric
        self.config = base.replace(**check_options(options)) if options else base
        if sampler is not None and not isinstance(sampler, optuna.samplers.BaseSampler):
            raise ConfigError(f"sampler must be an optuna sampler, got {type(sampler).__name__}")
        if pruner is not None and not isinstance(pruner, optuna.pruners.BasePruner):
            raise ConfigError(f"pruner must be an optuna pruner, got {type(pruner).__name__}")
        check_storage(storage)
        _check_names(self.config)
        self.sampler = sampler
        self.pruner = pruner
        self.storage = storage
        self.last_result: CompileResult | None = None

    # -- preparation -------------------------------------------------------------------------------
    def _prepare(self, student: dspy.Module, trainset: Sequence[Any], valset: Sequence[Any] | None) -> _Run:
        if not isinstance(student, dspy.Module):
            raise ConfigError(f"student must be a dspy.Module, got {type(student).__name__}")
        if isinstance(trainset, (str, bytes)) or not isinstance(trainset, Sequence):
            raise ConfigError(f"trainset must be a list of dspy.Example, got {type(trainset).__name__}")
        cfg = self.config
        plan = plan_demos(student, trainset, cfg.k_demos, cfg.seed)
        if valset is None:
            val = default_valset(trainset, plan)
        else:
            if isinstance(valset, (str, bytes)) or not isinstance(valset, Sequence) or not valset:
                raise ConfigError(f"valset must be a non-empty list of dspy.Example or None, got {valset!r:.80}")
            val = list(valset)
        for ex in val:
            if not isinstance(ex, dspy.Example):
                raise ConfigError(f"validation examples must be dspy.Example, got {type(ex).__name__}")
            try:
                ex.inputs()
            except ValueError:
                raise ConfigError(
                    f"validation examples have no inputs: call .with_inputs(...) on them (got {ex!r:.80})"
                ) from None
        ctx = SearchContext(student, plan, cfg)
        order = list(range(len(val)))
        random.Random(cfg.seed).shuffle(order)
        name = cfg.study_name or derive_study_name(ctx, cfg, val, self.metric)
        storage = make_storage(self.storage, cfg.run_dir)
        digest = hashlib.sha256("".join(example_hash(ex) for ex in val).encode()).hexdigest()
        policy = RetryPolicy(cfg.retries, cfg.retry_backoff, 60.0, cfg.endpoint_failures)
        scorer = Scorer(self.metric, val, cfg.num_threads, policy, seed=cfg.seed)
        cap = SpendCap(scorer, cfg)
        return _Run(ctx, scorer, val, order[: cfg.minibatch_size], name, storage, digest, cap)

    def _study(self, run: _Run, name: str, sampler: optuna.samplers.BaseSampler) -> optuna.Study:
        cfg = self.config
        directions: list[Literal["minimize", "maximize"]] = (
            ["maximize", "minimize"] if cfg.multi_objective else ["maximize"]
        )
        try:
            study = optuna.create_study(
                storage=run.storage,
                study_name=name,
                sampler=sampler,
                pruner=self.pruner or default_pruner(cfg),
                directions=directions,
                load_if_exists=cfg.load_if_exists,
            )
        except optuna.exceptions.DuplicatedStudyError:
            raise ConfigError(
                f"study {name!r} exists in the storage and load_if_exists is False; pass another study_name"
            ) from None
        if [d.name.lower() for d in study.directions] != directions:
            raise ConfigError(
                f"study {name!r} in the storage has other directions than multi_objective={cfg.multi_objective}"
            )
        if "specprompt" not in study.user_attrs:
            study.set_user_attr(
                "specprompt",
                {"config": cfg.to_dict(), "slots": [s.id for s in run.ctx.plan.slots], "valset": len(run.valset)},
            )
        return study

    # -- the search ----------------------------------------------------------------------------------
    def _optimize(self, run: _Run, study: optuna.Study, desc: str, *, guided: bool) -> None:
        """Runs trials until the study has ``n_trials`` finished ones.

        Args:
            guided: enqueue the warm starts into a new study and take ``local_search`` of the
                later trials from :func:`neighbour`; ``False`` leaves every trial to the sampler
                (the random-search baseline).

        Convention:
            Each trial is enqueued with this process's ``worker`` tag and its ``origin``
            (``warm:<name>``, ``neighbour:<trial>`` or ``sampler``) before Optuna starts it, so a
            trial left RUNNING by a kill at any moment carries the dead process's id and
            :func:`fail_stale_trials` can retire it on the next run. Whether a trial is a
            neighbour, and which, depends only on the seed and the trials before it, so an
            interrupted study resumes the same way.
        """
        cfg = self.config
        ctx = run.ctx
        quiet_scoring_tracebacks()
        fail_stale_trials(study)
        tag = worker_tag()
        if guided and not study.trials:
            for name, cand in warm_starts(ctx, cfg.token_budget)[: cfg.n_trials]:
                attrs = {"worker": tag, "origin": f"warm:{name}"}
                study.enqueue_trial(ctx.to_params(cand), user_attrs=attrs, skip_if_exists=True)
        done = len(finished_trials(study))
        if done >= cfg.n_trials:
            logger.info("study %s already has %d finished trials; nothing to run", study.study_name, done)
            return
        if done:
            logger.info("resuming study %s: %d of %d trials done", study.study_name, done, cfg.n_trials)
        objective = Objective(ctx, run.scorer, cfg.token_budget, run.minibatch, cfg.multi_objective)

        def tagged(trial: optuna.Trial) -> Any:
            if trial.user_attrs.get("worker") != tag:  # popped from another process's queue
                trial.set_user_attr("worker", tag)
            return objective(trial)

        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.n_trials, initial=done, desc=desc, unit="trial", disable=None if cfg.progress else True)

        def after(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
            if trial.state == optuna.trial.TrialState.FAIL:  # [faults] a transport failure: not finished
                return
            bar.update(1)
            if len(finished_trials(study)) % cfg.full_eval_every == 0:
                self._periodic_full_eval(run, study)

        waiting = (optuna.trial.TrialState.WAITING,)
        try:
            # [faults] keep in any restructuring: requeue_failed before proposing, catch=TransportError
            # (a trial that failed in transport FAILs, the compile goes on) and the spend cap
            # (run.cap as a callback; with one study.optimize call, its study.stop() ends the search).
            while len(finished_trials(study)) < cfg.n_trials and not run.cap.reached():
                requeue_failed(study, tag)
                if not study.get_trials(deepcopy=False, states=waiting):
                    local = self._next_local(run, study) if guided else None
                    params, origin = local if local is not None else ({}, "sampler")
                    study.enqueue_trial(params, user_attrs={"worker": tag, "origin": origin})
                study.optimize(tagged, n_trials=1, callbacks=[after, run.cap], catch=(TransportError,))
        finally:
            bar.close()

    def _next_local(self, run: _Run, study: optuna.Study) -> tuple[dict[str, int], str] | None:
        """Parameters and origin of a neighbour of the incumbent when this trial is a local step."""
        cfg = self.config
        n = len(finished_trials(study))
        share = float(cfg.local_search)
        if int((n + 1) * share) <= int(n * share):
            return None
        rows = collect_rows(study, run.ctx, cfg.token_budget)
        if not rows:
            return None
        rng = random.Random(f"{cfg.seed}:{n}")
        if cfg.multi_objective:
            row = rng.choice(pareto(rows))
        else:
            row = max(rows, key=lambda r: (r.score, -r.tokens, -r.trial))
        seen = {str(t.user_attrs["key"]) for t in study.get_trials(deepcopy=False) if "key" in t.user_attrs}
        cand = neighbour(run.ctx, run.ctx.from_params(json.loads(row.params)), cfg.token_budget, seen, rng)
        if cand is None:
            return None
        return run.ctx.to_params(cand), f"neighbour:{row.trial}"

    def _periodic_full_eval(self, run: _Run, study: optuna.Study) -> None:
        """Scores the best candidate (by minibatch score) that has no full-valset score yet."""
        rows = [r for r in collect_rows(study, run.ctx, self.config.token_budget) if not r.full]
        if rows:
            r = max(rows, key=lambda r: (r.minibatch_score, -r.tokens, -r.trial))
            try:
                full_score(study, run.ctx, run.scorer, r.key, run.ctx.from_params(json.loads(r.params)), r.trial)
            except TransportError as exc:  # [faults] nothing stored: a later evaluation scores it
                logger.warning("full-valset evaluation of trial %d postponed: %s", r.trial, exc)

    def _search(
        self, run: _Run, name: str, sampler: optuna.samplers.BaseSampler, desc: str, *, guided: bool = True
    ) -> tuple[optuna.Study, tuple[ParetoRow, list[ParetoRow]] | None]:
        """Runs (or resumes) one study and returns it with ``(best, front)``.

        ``guided=False`` (random search) has no warm starts, no local steps and no fallback, so
        its outcome is ``None`` when no feasible trial completed.
        """
        study = self._study(run, name, sampler)
        for t in finished_trials(study):  # a resumed study: its per-example scores are known
            scores = t.user_attrs.get("example_scores")
            if scores and "key" in t.user_attrs:
                run.scorer.remember(t.user_attrs["key"], {int(k): float(v) for k, v in scores.items()})
        self._optimize(run, study, desc, guided=guided)
        outcome = self._finalize(run, study)
        if outcome is None and guided:
            self._fallback(run, study)
            outcome = self._finalize(run, study)
            if outcome is None:  # pragma: no cover - the fallback adds a feasible complete trial
                raise ConfigError("no candidate fits the token budget")
        return study, outcome

    def _finalize(self, run: _Run, study: optuna.Study) -> tuple[ParetoRow, list[ParetoRow]] | None:
        """:func:`finalize`, tried again when a call fails in transport (scored examples are kept)."""
        for attempt in range(3):
            try:
                return finalize(study, run.ctx, run.scorer, self.config.token_budget)
            except TransportError as exc:  # [faults] the endpoint stays down: EndpointError stops us
                if attempt == 2:
                    raise
                logger.warning("the final evaluation is tried again: %s", exc)
        raise AssertionError("unreachable")  # pragma: no cover

    def _fallback(self, run: _Run, study: optuna.Study) -> None:
        """Adds the finest uniform candidate that fits, scored on the full valset, as a trial.

        Used when no feasible trial completed (all pruned, or a custom sampler stayed over budget).
        """
        ctx, cfg = run.ctx, self.config
        logger.warning("no feasible trial completed; scoring the finest uniform candidate that fits the budget")
        cand = ctx.uniform_fit(cfg.token_budget)
        key, tokens = ctx.key(cand), ctx.tokens(cand)
        score = full_score(study, ctx, run.scorer, key, cand, None)
        attrs: dict[str, Any] = {
            "key": key,
            "tokens": tokens,
            "feasible": True,
            "selections": ctx.describe(cand),
            "score": score,
            "fallback": True,
        }
        system: dict[str, Any] = {}
        if cfg.token_budget is not None:
            attrs["constraint"] = [float(tokens - cfg.token_budget)]
            system["constraints:tokens"] = float(tokens - cfg.token_budget)
        study.add_trial(
            optuna.trial.create_trial(
                params=ctx.to_params(cand),
                distributions=dict(ctx.distributions()),
                values=[score, float(tokens)] if cfg.multi_objective else [score],
                user_attrs=attrs,
                system_attrs=system,
            )
        )

    # -- public API ----------------------------------------------------------------------------------
    def compile(
        self,
        student: dspy.Module,
        *,
        trainset: Sequence[Any],
        teacher: dspy.Module | None = None,
        valset: Sequence[Any] | None = None,
        baselines: bool | Sequence[str] = False,
        **kwargs: Any,
    ) -> dspy.Module:
        """Searches the demo-image bands of ``student`` and returns the best program.

        Args:
            student: the program; its predictors' demos are used (or ``k_demos`` trainset
                examples where a predictor has none). It is not modified.
            trainset: labeled examples (source of demos and of the default valset).
            teacher: unused (accepted for the Teleprompter interface).
            valset: validation examples; default: trainset minus the demo examples.
            baselines: ``True``, or names from :data:`BASELINES`, to also score baselines.

        Returns:
            a deep copy of ``student`` with SpectralImage demos whose images fit the budget.

        Raises:
            ConfigError: bad arguments, no demo images, no validation examples.

        Convention:
            Candidates are scored with ``dspy.settings.lm``; when none is configured, with the
            local band VLM (:func:`specprompt.vlm.local_lm`, the shipped checkpoint). The local
            model sees images at 64 px: when it scores, a
            :class:`~specprompt.errors.SpecPromptWarning` names the demo bands it cannot see.
        """
        if kwargs:
            raise ConfigError(
                f"unknown compile argument(s) {sorted(kwargs)}; allowed: trainset, valset, teacher, baselines"
            )
        names = check_baselines(baselines)
        if teacher is not None:
            logger.info("BandOptimizer does not use a teacher; ignoring it")
        lm = dspy.settings.lm
        if lm is None:
            from specprompt.vlm._engine import local_lm

            lm = local_lm()
            logger.info("no LM configured (dspy.configure(lm=...)): scoring with the local band VLM %s", lm.model)
        with dspy.context(lm=remote_lm(lm, self.config.call_timeout)):
            return self._compile(student, trainset, valset, names)

    def _compile(
        self, student: dspy.Module, trainset: Sequence[Any], valset: Sequence[Any] | None, names: tuple[str, ...]
    ) -> dspy.Module:
        run = self._prepare(student, trainset, valset)
        warn_invisible(run.ctx)
        study, outcome = self._search(run, run.study_name, self.sampler or default_sampler(self.config), "band search")
        if outcome is None:  # pragma: no cover - the guided search falls back to a feasible trial
            raise ConfigError("no candidate fits the token budget")
        best, front = outcome
        search_calls = run.scorer.calls
        search_spend = run.scorer.spend
        base: dict[str, BaselineResult] | None = None
        if names:
            base = run_baselines(run.ctx, run.scorer, names, lambda: self._random_best(run), self._store(run, study))
        program = run.ctx.build(run.ctx.from_params(json.loads(best.params)))
        ctx = run.ctx
        result = CompileResult(
            study=study,
            study_name=run.study_name,
            config=self.config,
            best=best,
            front=tuple(front),
            scorer_calls=search_calls,
            n_trials=len(finished_trials(study)),
            baseline_calls=run.scorer.calls - search_calls,
            baselines=base,
            spend=self._spend(run, search_spend, best.tokens),
            _build=lambda params: ctx.build(ctx.from_params(params)),
        )
        self._write(result)
        logger.info(
            "best: trial %d, score %.4f, %d tokens; %d scorer calls (+ %d for baselines)",
            best.trial,
            best.score,
            best.tokens,
            search_calls,
            run.scorer.calls - search_calls,
        )
        self.last_result = result
        return program

    def _spend(self, run: _Run, search: Spend, chosen_tokens: int) -> SpendReport:
        """The spend of this compile and when the chosen program repays the search."""
        cfg = self.config
        full_tokens = run.ctx.tokens(run.ctx.full())
        saved = full_tokens - chosen_tokens
        return SpendReport(
            search=search,
            baselines=run.scorer.spend - search,
            cost=cost_of(search, cfg.price_per_million_tokens),
            stopped_by=run.cap.reason,
            saved_tokens_per_call=saved,
            repays_after_calls=repays_after(search.tokens, saved),
        )

    def _random_best(self, run: _Run) -> ParetoRow | None:
        sampler = default_sampler(self.config, random=True)
        _, outcome = self._search(run, run.study_name + "-random", sampler, "random search", guided=False)
        return None if outcome is None else outcome[0]

    def _store(self, run: _Run, study: optuna.Study) -> BaselineStore:
        """Where baseline results of this compile are kept: the main study's user attributes."""
        full = self.config.to_dict()
        fingerprint = {
            "v": 1,
            "config": {k: full[k] for k in NAMING_FIELDS},
            "valset": run.valset_digest,
            "metric": getattr(self.metric, "__qualname__", type(self.metric).__qualname__),
        }
        return BaselineStore(study, fingerprint)

    def run_baselines(
        self,
        student: dspy.Module,
        *,
        trainset: Sequence[Any],
        valset: Sequence[Any] | None = None,
        which: bool | Sequence[str] = True,
    ) -> dict[str, BaselineResult]:
        """Scores baselines (:mod:`specprompt.search._baselines`) without the band search.

        Raises:
            ConfigError: an unknown baseline name or bad arguments.
        """
        names = check_baselines(which)
        run = self._prepare(student, trainset, valset)
        study = self._study(run, run.study_name, self.sampler or default_sampler(self.config))
        return run_baselines(run.ctx, run.scorer, names, lambda: self._random_best(run), self._store(run, study))

    def _write(self, result: CompileResult) -> None:
        if self.storage is not None and self.config.run_dir is None:
            return
        folder = Path(self.config.run_dir or DEFAULT_RUN_DIR)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{result.study_name}.result.json"
        path.write_text(result.to_json(indent=2))
        logger.info("wrote %s", path)
