""":class:`BandOptimizer`: a DSPy teleprompter that picks the frequency bands of each demo image."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import dspy
import optuna
from dspy.teleprompt import Teleprompter

from specprompt.errors import ConfigError
from specprompt.search._agreement import screen_verdict
from specprompt.search._arguments import check_arguments, check_examples
from specprompt.search._baselines import check_baselines, run_baselines
from specprompt.search._calibrate import calibrate_study, use_calibration
from specprompt.search._calibration import Calibration
from specprompt.search._choice import confirm_trim, decide_departure, policy_of, trim_chosen
from specprompt.search._compile_baselines import (
    RANDOM_SUFFIX,
    adopt_baselines,
    baseline_store,
    open_random_study,
    random_best,
)
from specprompt.search._config import SearchConfig
from specprompt.search._guards import warn_budget_holds_full
from specprompt.search._heldout import held_out
from specprompt.search._invisible import warn_invisible, warn_local_price
from specprompt.search._loop import optimize, search
from specprompt.search._objective import finished_trials, worker_tag
from specprompt.search._outcome import CHOSEN_ATTR, compile_result, publish
from specprompt.search._prepare import Run, prepare, scoring_lm
from specprompt.search._record import TrialRecord
from specprompt.search._result import BaselineResult, CompileResult
from specprompt.search._screen import resolve_screen
from specprompt.search._study import check_run_dir, collect_rows, row_candidate
from specprompt.search._workers import check_shared

__all__ = ["CHOSEN_ATTR", "BandOptimizer"]

logger = logging.getLogger("specprompt.search")


class BandOptimizer(Teleprompter):  # type: ignore[misc]
    """Chooses which frequency bands of each few-shot demo image to send, under a token budget.

    Each demo image is decomposed (``scheme``) and a seeded Optuna search picks, per image, how
    many bands to keep (see :mod:`specprompt.search._space`). A candidate over ``token_budget``
    (all demo images of one prompt, priced with ``cost_model``; the bare ``"local"`` prices the
    local band VLM that scores, see :meth:`compile`) is never scored; the others are
    scored with ``metric`` on a fixed minibatch of the valset (reported to the pruner), and the
    finalists on the full valset. The returned program is a deep copy of the student whose demos
    hold :class:`~specprompt.SpectralImage` values (so ``program.save`` records the selections),
    or, when a resizing baseline wins, the baseline's resized ``dspy.Image`` s.

    Args:
        metric: ``metric(example, prediction, trace=None) -> float | bool``.
        config: a :class:`SearchConfig`; keyword ``options`` override its fields.
        sampler: the base Optuna sampler the :class:`~specprompt.search._sampler.BandSampler`
            wraps; default seeded multivariate TPE. The budget and the label rule reach it
            through ``trial.set_constraint`` (constraints ``tokens`` and ``labels``; the JSON
            user attribute ``constraint`` holds them too). Its random
            state is reseeded before each trial from ``seed`` and the trial's place in the study
            (so a resumed run proposes what an uninterrupted one would): a seed given to the
            sampler itself has no effect; vary ``seed`` for repeats.
        pruner: an Optuna pruner; default :func:`default_pruner`. Trials report running
            minibatch scores, or with a ``WilcoxonPruner`` each example's score at its valset
            index (:mod:`specprompt.search._pruning`). Optuna's own ``n_startup_trials`` counts
            every complete trial, baselines and never-scored infeasible trials included: wrap the
            pruner in :class:`~specprompt.search.SearchedStartupPruner` to count the search's
            scored trials only, as the default does.
        storage: ``None`` (SQLite ``<run_dir>/study.db``), ``"memory"``, an RDB URL
            (``postgresql+psycopg2://...``), the path of an Optuna journal file (an existing one, or
            a new one ending in ``.log``; no heartbeat) or an Optuna storage object.
        target: the LM the compiled program will answer with (e.g. a remote VLM), when the
            search scores with another (the local judge). With ``calibrate=True``, ``compile``
            first measures the rank agreement of the scoring LM with it
            (:func:`specprompt.search.calibrate`, at most ``calibration_probes x
            calibration_examples`` target calls), stores it in the study's user attribute
            ``"specprompt:calibration"`` (a resumed study reuses it, with no target call) and
            reports it in ``last_result.calibration``. With ``local_departures="confirmed"`` (the
            default) it also confirms a local judge's pick over the baselines: the pick is
            returned only when the target scores it better than the best baseline on the valset
            (``last_result.local_pick``), and a trim of the returned program only when it loses
            no validation example under the target (``last_result.trim.check``;
            :mod:`specprompt.search._departures`).
        screen: a cheap screening judge for a multi-fidelity search scored by the target
            (``dspy.settings.lm``): ``"local"`` (the shipped band VLM band-vlm-v2,
            :data:`~specprompt.search.SCREEN_CHECKPOINT`), ``"nearest"`` or a
            ``dspy.LM``. Every candidate is scored by it first; only those in the best
            ``screen_keep`` share of the candidates screened so far, and every baseline, are
            scored by the target, and the program is chosen by target scores only
            (:mod:`specprompt.search._screen`). With ``calibrate=True`` its rank agreement with
            the target is measured first, and below ``screen_min_agreement`` (or with a
            confidence interval reaching 0) the search falls back to target-only scoring; with
            ``calibration_mode="trials"`` it is measured on the search's first
            ``calibration_probes`` candidates, which both score (no extra target call), and the
            verdict applies to the later ones; ``screen_rule="top"`` reads the pairs by whether
            the screen's best ``screen_keep`` share holds the target's best instead
            (``screen_tolerance``: or a candidate within that much of the target's best).
            ``last_result.screening`` reports what it did. Not with ``target=``.
        calibration: a :class:`~specprompt.search.Calibration` measured before, or the JSON file
            ``specprompt calibrate --json`` wrote: with ``screen=`` (or ``target=``) its verdict
            decides whether to screen, with no probe and no target call, so one calibration
            serves several compiles of a task (budgets, seeds). It must have been measured with
            the same judges (model strings), else ``compile`` raises :class:`ConfigError`; it is
            stored in the study and reported like a measured one. Not with
            ``calibration_mode="trials"``.
        **options: :class:`SearchConfig` fields (``token_budget=``, ``n_trials=``, ...).

    Attributes:
        last_result: the :class:`CompileResult` of the last finished compile (set at its end;
            nothing else is stored on the optimizer, so one object can run several compiles).

    Raises:
        ConfigError: an unknown option or a bad value (a ``storage`` that is neither an RDB URL
        nor a journal file, a ``metric`` that cannot take ``(example, pred)``). UnknownNameError:
        an unknown scheme, cost model, or a scheme without a search space.

    Convention:
        - Dropping an image: a single ``dspy.Image`` field holds the text
          ``"(no image: dropped to save tokens)"`` (:data:`specprompt.types.DROPPED_IMAGE`)
          instead, so the model reads that no image was sent and still sees the demo's labels; an
          item of a ``list[dspy.Image]`` field is removed (a list left empty gets the same text).
          Dropping every image costs 0 tokens, so some candidate always fits any budget >= 0.
        - Every label keeps a voice: a candidate that drops every image of a label (a demo answer
          that repeats) is infeasible, unless the budget cannot hold one image per label; that,
          a budget below any image's price and one-class demos each raise a
          :class:`~specprompt.errors.SpecPromptWarning`.
        - The first trials of a new study are the baselines that fit the budget (origin
          ``baseline:<name>``: every image Lanczos-resized to the largest common scale that fits,
          OpenAI ``detail="low"`` where the cost model bills it below full detail, text-only
          demos, full resolution; never pruned), then the warm
          starts of :mod:`specprompt.search._warm` (``warm:<name>``), each within the budget:
          uniform (every image coarsened by the same number of steps), greedy (full resolution in
          demo order while it fits), stratified (the same, demos round-robin over their answers),
          stratified-one (one sharp demo per answer, the others dropped) and stratified-coarse
          (the others at their coarsest level). Afterwards one ``study.optimize`` call runs the
          rest: the :class:`~specprompt.search._sampler.BandSampler` proposes an unseen neighbour
          of the incumbent for a ``local_search`` share of them (``neighbour:<trial>``) and leaves
          the others to the base sampler (``sampler``). If no feasible trial completed (a study
          resumed under an explicit ``study_name`` whose trials show other prompts), the first warm
          start that shows an image (keeping one per label where the budget allows), else the
          text-only prompt, is scored on the full valset and added as a trial
          (``fallback:<name>``).
        - The returned program is chosen among the candidates with a full-valset score (the
          ``finalists`` best by minibatch score, every baseline trial, periodic evaluations) by
          the rule of :mod:`specprompt.search._select`: never below the full-valset score of a
          baseline the compile scored; among the candidates that a seeded paired bootstrap
          cannot tell from the best (``tie_confidence``), the resizing baseline if it is one of
          them, else the cheapest; a pick that is not a baseline is kept only when choosing on
          random halves of the valset and scoring on the other halves gains over the best
          baseline (``confirm_splits``; ``last_result.confirmation``); ``last_result.interval`` is a
          confidence interval of its valset score (Wilson's for 0/1 scores, else a bootstrap).
        - ``trim=True`` (default): then the cheapest variant of the chosen program that loses no
          valset example it got is returned (one demo's images dropped at a time, every label
          keeping one; then every image one common step smaller; a chosen baseline only by a
          smaller common size that also scores above it, or that loses none at two smaller
          sizes in a row, ``trim_baselines="scale"``, or by any variant that scores above it,
          ``"gain"``), each variant scored on the valset (a rejected one only up to its first
          lost example) and kept as a trial of origin ``trim:<n>`` that does not count toward
          ``n_trials`` (:mod:`specprompt.search._trim`; ``last_result.trim``). On by default
          because the budget is a cap: the trim's at most ``trim_steps`` full-valset scorings are
          paid once, the demo tokens it saves on every call of the program.
        - ``n_trials`` counts finished (complete or pruned) trials of the study, including those
          of earlier runs and the baselines and warm starts the search ran, but not the trim's,
          the fallback or a baseline added after the search (the random search's pick):
          re-running the same command resumes and only runs the rest. A trial
          left running by a killed process is marked failed (not counted) and its candidate runs
          again first: found at once on this host (process check), elsewhere by Optuna's
          heartbeat (:mod:`specprompt.search._stale`). With the same seed the resumed compile
          returns the program the uninterrupted one returns (the base sampler is reseeded per
          trial, :mod:`specprompt.search._seeding`); finished trials are never scored again.
        - On a storage several processes share (PostgreSQL), ``n_trials`` counts the trials of
          every process: each process (``worker=`` index: its own sampler stream) runs trials
          until the study has them, no prompt is scored twice, and the process that calls
          :meth:`compile` waits for the others' trials before it chooses (:meth:`work` runs
          trials only; see :mod:`specprompt.search._workers`).
        - ``search_demos=True``: every image demo gets an ``include`` dimension, and up to
          ``demo_pool`` more trainset examples per label are added as candidate demos
          (:func:`~specprompt.search._demos.add_pool`; never an example of the valset or
          testset), so the search chooses which demos are shown and how many (e.g. more,
          smaller ones). The baselines and the first warm starts show the program's own demos;
          the ``demos+<m>`` warm starts add ``m`` pooled demos per label at one common size.
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
        target: dspy.LM | None = None,
        screen: dspy.LM | str | None = None,
        calibration: Calibration | str | os.PathLike[str] | None = None,
        **options: Any,
    ) -> None:
        super().__init__()
        self.metric = metric
        self.config, self.calibration = check_arguments(
            metric,
            config,
            options,
            sampler=sampler,
            pruner=pruner,
            storage=storage,
            target=target,
            screen=screen,
            calibration=calibration,
        )
        self.target = target
        self.screen = screen
        self.sampler = sampler
        self.pruner = pruner
        self.storage = storage
        self.last_result: CompileResult | None = None

    def _prepare(self, student: dspy.Module, trainset: Sequence[Any], valset: Sequence[Any] | None, **kw: Any) -> Run:
        """:func:`~specprompt.search._prepare.prepare` with this optimizer's metric, config, sampler and storage."""
        return prepare(
            student,
            trainset,
            valset,
            metric=self.metric,
            config=self.config,
            sampler=self.sampler,
            pruner=self.pruner,
            storage=self.storage,
            **kw,
        )

    # -- public API ----------------------------------------------------------------------------------

    def compile(
        self,
        student: dspy.Module,
        *,
        trainset: Sequence[Any],
        teacher: dspy.Module | None = None,
        valset: Sequence[Any] | None = None,
        testset: Sequence[Any] | None = None,
        baselines: bool | Sequence[str] = False,
        **kwargs: Any,
    ) -> dspy.Module:
        """Searches the demo-image bands of ``student`` and returns the best program.

        Args:
            student: the program; its predictors' demos are used (or ``k_demos`` trainset
                examples where a predictor has none and its input fields hold trainset images;
                only images in input fields are searched). It is not modified.
            trainset: labeled examples (source of demos and of the default valset).
            teacher: unused (accepted for the Teleprompter interface).
            valset: validation examples; default: trainset minus the demo examples (and, with
                ``search_demos``, minus the pooled candidate demos).
            testset: held-out examples, never used to choose: the returned program and every
                baseline are scored on them (``last_result.test_score``, ``BaselineResult.test_score``).
                With a testset and ``baselines=False``, the baselines of
                :data:`~specprompt.search._reference.REFERENCES` are reported.
            baselines: ``True``, or names from :data:`BASELINES`, to also report baselines.

        Returns:
            a deep copy of ``student`` with SpectralImage demos whose images fit the budget,
            marked compiled (``_compiled = True``, as DSPy's optimizers mark theirs): an optimizer
            run later on a module that holds it leaves its demos alone.

        Raises:
            ConfigError: bad arguments, no demo images, no validation examples, an unwritable ``run_dir``.

        Convention:
            Candidates are scored with ``dspy.settings.lm``; when none is configured, with the
            local band VLM (:func:`specprompt.scorers.local_lm`, the default checkpoint). The local
            model sees images at its checkpoint's working resolution (64 px for ``band-vlm-v1``,
            256 px for ``band-vlm-v2``): when it scores, a
            :class:`~specprompt.errors.SpecPromptWarning` names the demo bands it cannot see. The
            bare ``cost_model="local"`` then prices the tokens of the checkpoint that scores (the
            registered name of its working resolution, e.g. ``"local:band-vlm-v2"``, which
            ``last_result.config.cost_model`` and the study name carry); with a remote scorer it
            prices ``band-vlm-v1``. An explicit ``local`` model of another checkpoint (e.g.
            ``"local:band-vlm-v1"`` while ``band-vlm-v2`` scores) is kept, with a warning that
            names the matching one.
            The returned program is chosen among the candidates with a full-valset score by the
            rule of :mod:`specprompt.search._select`: never below a baseline the compile
            scored; of those a paired bootstrap cannot tell from the best, the resizing baseline
            if it is one, else the cheapest.
        """
        if kwargs:
            raise ConfigError(
                f"unknown compile argument(s) {sorted(kwargs)}; allowed: trainset, valset, testset, teacher, baselines"
            )
        names = check_baselines(baselines)
        test = None if testset is None else check_examples(testset, "testset")
        if test is not None and not names:
            names = ("full", "uniform", "sharpened", "low_detail", "text_only")
        if teacher is not None:
            logger.info("BandOptimizer does not use a teacher; ignoring it")
        screen_lm = None if self.screen is None else resolve_screen(self.screen)
        with scoring_lm(self.config.call_timeout, student):
            run = self._prepare(student, trainset, valset, testset=test, screen_lm=screen_lm)
            check_run_dir(self.storage, self.config.run_dir, run.study_name)  # before any scoring
            return self._compile(run, names, test)

    def _calibrate(self, run: Run) -> Calibration | None:
        """The rank agreement this compile works with (given, measured on a probe, or on the search's
        first trials: then ``None`` here), and whether a multi-fidelity search screens."""
        cfg, ctx, study = run.ctx.config, run.ctx, run.study
        calibration = None
        online = run.screen is not None and run.screen.pending > 0
        if run.screen is not None and online:  # calibration_mode="trials": on the search's own trials
            if not run.screen.decide(study):
                run.screen.note = "rank agreement measured on the first trials, scored by both judges: not decided"
                logger.info(
                    "multi-fidelity search: the first %d candidates are scored by %s and the target (%s) "
                    "to measure their rank agreement",
                    run.screen.pending,
                    run.screen.judge,
                    run.screen.target,
                )
        elif self.calibration is not None:  # measured before this compile: no target call
            local, target = (
                (run.screen.lm, dspy.settings.lm) if run.screen is not None else (dspy.settings.lm, self.target)
            )
            calibration = use_calibration(study, self.calibration, local, target)
        elif cfg.calibrate and run.screen is not None:  # the screen is the local judge, the scoring LM the target
            calibration = calibrate_study(study, ctx, self.metric, run.valset, run.screen.lm, dspy.settings.lm)
        elif cfg.calibrate:
            calibration = calibrate_study(study, ctx, self.metric, run.valset, dspy.settings.lm, self.target)
        if run.screen is not None and not online:
            run.screen.active, run.screen.note = screen_verdict(calibration, run.screen.verdict)
            if run.screen.active and calibration is not None:
                run.screen.tighten(calibration.local_scores, calibration.target_scores)
            (logger.info if run.screen.active else logger.warning)("multi-fidelity search: %s", run.screen.note)
        return calibration

    def _compile(self, run: Run, names: tuple[str, ...], testset: list[Any] | None) -> dspy.Module:
        cfg, ctx, study = run.ctx.config, run.ctx, run.study
        warn_invisible(ctx)
        warn_local_price(ctx)
        warn_budget_holds_full(ctx)
        calibration = self._calibrate(run)
        # the random-search baseline's study is opened first: a name another compile's study holds is refused now
        random_study = open_random_study(run, self.config, self.pruner) if "random" in names else None
        rows = search(run, study, "band search")
        if run.screen is not None:
            run.screen.decide(study, final=True)  # the last trial may have completed the pairs
        search_calls = run.scorer.calls
        search_spend = run.scorer.spend
        run.cap.end_search()  # [spend] records after each phase: a kill loses at most one phase's calls
        base: dict[str, BaselineResult] | None = None
        if names:
            base = run_baselines(
                ctx,
                run.scorer,
                names,
                lambda: random_best(run, self.config, self.pruner, random_study),
                baseline_store(run, study, self.metric),
                random_study=run.study_name + RANDOM_SUFFIX,
            )
            adopt_baselines(run, base, rows)
            run.cap.record()
            rows = collect_rows(study, ctx, cfg.token_budget)
        policy = policy_of(ctx, run.screen is not None, self.target)
        decision = decide_departure(study, ctx, rows, policy, self.metric, run.valset, self.target)
        if decision is None:  # pragma: no cover - the finalists and the fallback have full scores
            raise ConfigError("no candidate fits the token budget")
        best, interval = decision.row, decision.interval
        baseline_calls = run.scorer.calls - search_calls
        trimmed = None
        before_trim = run.scorer.calls
        if cfg.trim:
            out = trim_chosen(study, ctx, run.scorer, best)
            if policy[0] == "confirm":  # the local judge's trim: does the target agree?
                out = confirm_trim(study, ctx, best, interval, out, self.metric, run.valset, self.target)
            best, interval, trimmed = out.row, out.interval, out.trim
            run.cap.record()
            rows = collect_rows(study, ctx, cfg.token_budget)
        trim_calls = run.scorer.calls - before_trim
        program = ctx.build(row_candidate(ctx, best))
        test = None if testset is None else held_out(self.metric, self.config, testset, best, program, base)
        result = compile_result(
            run,
            rows,
            decision,
            best=best,
            interval=interval,
            base=base,
            test=test,
            trimmed=trimmed,
            search_calls=search_calls,
            search_spend=search_spend,
            baseline_calls=baseline_calls,
            trim_calls=trim_calls,
            calibration=calibration,
            calibration_given=self.calibration is not None and calibration is self.calibration,
        )
        publish(result, self.storage, self.config.run_dir)
        self.last_result = result
        return program

    def run_baselines(
        self,
        student: dspy.Module,
        *,
        trainset: Sequence[Any],
        valset: Sequence[Any] | None = None,
        which: bool | Sequence[str] = True,
    ) -> dict[str, BaselineResult]:
        """Scores baselines (:mod:`specprompt.search._baselines`) without the band search.

        Prepared and scored like :meth:`compile` (the same LM, or the local band VLM when none
        is configured; the same study).

        Raises:
            ConfigError: an unknown baseline name or bad arguments.
        """
        names = check_baselines(which)
        with scoring_lm(self.config.call_timeout, student):
            run = self._prepare(student, trainset, valset)
            run.cap.end_search()  # [spend] all of it is the baselines' part
            base = run_baselines(
                run.ctx,
                run.scorer,
                names,
                lambda: random_best(run, self.config, self.pruner),
                baseline_store(run, run.study, self.metric),
                random_study=run.study_name + RANDOM_SUFFIX,
            )
            run.cap.record()
            return base

    def work(self, student: dspy.Module, *, trainset: Sequence[Any], valset: Sequence[Any] | None = None) -> int:
        """Runs trials of a study that several processes share, as one more worker; chooses nothing.

        The process that calls :meth:`compile` with the same arguments and storage waits for
        every trial, scores the finalists and returns the program; ``work`` processes (give each
        its own ``worker=`` index, hence its own sampler stream) run trials beside it until the
        study has ``n_trials`` finished trials (see :mod:`specprompt.search._workers`).

        Returns:
            the number of finished trials this process ran.

        Raises:
            ConfigError: a storage several processes cannot write at once (``None``, SQLite,
                ``"memory"``, journal files), or bad arguments.
        """
        check_shared(self.storage, "BandOptimizer.work (several processes on one study)")
        with scoring_lm(self.config.call_timeout, student):
            run = self._prepare(student, trainset, valset, finalizer=False)
            optimize(run, run.study, f"worker {self.config.worker}", guided=True)
        me = worker_tag()
        return sum(
            1
            for t in finished_trials(run.study)
            if isinstance(w := TrialRecord.from_trial(t).worker, Mapping)
            and w.get("pid") == me["pid"]
            and w.get("host") == me["host"]
        )
