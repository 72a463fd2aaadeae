""":class:`BandSampler`: the band-search strategy as an Optuna sampler wrapping a base sampler.

The study runs ``study.optimize``; the strategy only proposes. Trials come from three places:

=========================  ==================================================================
origin                     who proposes
=========================  ==================================================================
``baseline:<name>``        enqueued first, one at a time (:mod:`specprompt.search._queue`,
                           :mod:`specprompt.search._reference`): the baselines that fit the
                           budget are candidates of the study
``warm:<name>``            enqueued next, one at a time (:mod:`specprompt.search._warm`)
``neighbour:<trial>``      this sampler: a ``local_search`` share of the other trials shows an
                           unseen neighbour of the incumbent (one or two images at another
                           level, within the budget; under pixel pricing one budget-aware move
                           of :mod:`specprompt.search._moves`; :func:`~specprompt.search._warm.neighbour`)
``sampler``                the base sampler (seeded TPE by default; ``RandomSampler`` for the
                           random-search baseline), which sees the budget and the label
                           rule as the trial constraints ``tokens`` and ``labels``
                           (``trial.set_constraint``)
=========================  ==================================================================

Budget-aware sampling: when the base sampler proposes every parameter at once (multivariate TPE
after its startup trials) and the proposal is over budget, it is asked again, up to
:data:`BUDGET_REDRAWS` times, and the first proposal that fits is used (else the last one, which
the objective then refuses without scoring). A ``GPSampler`` is not asked again: each call refits
its Gaussian process and optimizes the acquisition anew (the redraws made ``--sampler gp`` many
times slower per trial than TPE); its over-budget proposal is coarsened until it fits instead
(:func:`~specprompt.search._coarsen.coarsen_to_fit`, no sampler call; ``over_budget``).
Samplers that propose parameter by parameter (``RandomSampler``, TPE's startup trials) are left
alone, so the random-search baseline stays pure.

It wraps its base sampler the way :class:`optuna.samplers.PartialFixedSampler` does: for a
neighbour trial every parameter is fixed, for the others everything is delegated.

Deterministic resume: before each trial the base sampler is reseeded from ``seed`` and the
trial's place in the study (:func:`~specprompt.search._seeding.trial_seed` of the number of
finished trials; trials running meanwhile do not count), not left to draw on from one stream per
process. A study killed and resumed therefore proposes, trial for trial, what the uninterrupted
study with the same seed proposed: the killed trial's candidate runs again first (it is the only
waiting trial, :mod:`specprompt.search._stale`), then the proposals go on as before.

A trial left RUNNING by a process killed on another host stays RUNNING until Optuna's heartbeat
retires it (:data:`~specprompt.search._stale.GRACE_PERIOD`). Until then it counts as shown, as a
live worker's trial does: its first guess is not enqueued again (:mod:`specprompt.search._queue`)
and its prompt is no unseen neighbour; the base sampler, reseeded from the finished trials alone,
proposes what it proposed for the killed trial, so the killed sampler candidate runs again at
once. When the heartbeat retires the trial, its candidate is enqueued again unless a later trial
shows it already (:class:`~specprompt.search._stale.RequeueInterrupted`).
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from optuna.samplers import BaseSampler, GPSampler

from specprompt.errors import ConfigError
from specprompt.search._budget import fits
from specprompt.search._coarsen import coarsen_to_fit
from specprompt.search._context import SearchContext
from specprompt.search._objective import searched_trials, worker_tag
from specprompt.search._record import TrialRecord
from specprompt.search._reference import shows_band_space
from specprompt.search._result import best_row, pareto
from specprompt.search._seeding import reseed, trial_seed
from specprompt.search._study import collect_rows
from specprompt.search._warm import neighbour

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution
    from optuna.study import Study
    from optuna.trial import FrozenTrial, TrialState

__all__ = ["BUDGET_REDRAWS", "BandSampler"]

#: Extra proposals asked of the base sampler when its joint proposal is over budget.
BUDGET_REDRAWS = 8

#: Salt of the per-trial seeds: the one earlier versions used when no other trial ran (they
#: counted running trials), so a study they began resumes with the proposals it had.
_SEED_SALT = "running:0"


def _whole(study: Study) -> Study:
    """The study itself when a pruner hands the sampler a view of it.

    ``HyperbandPruner`` gives samplers a per-bracket view that hides ``user_attrs`` (where the
    full-valset scores live); the local step reads the whole study.
    """
    import optuna

    inner = getattr(study, "_study", None)
    return inner if isinstance(inner, optuna.Study) else study


class BandSampler(BaseSampler):
    """Proposes local steps around the incumbent and delegates every other proposal.

    Args:
        base_sampler: proposes the ``sampler`` trials (TPE, ``RandomSampler``, ...).
        ctx: the compile's search context (prices and keys candidates).
        local_search: share of the trials that are not enqueued which try a neighbour of the
            incumbent (0 = the base sampler alone: the random-search baseline).
        seed: seeds the neighbour draws and, per trial, the base sampler.
        over_budget: what becomes of an over-budget joint proposal: ``"redraw"`` (ask the base
            sampler again, up to :data:`BUDGET_REDRAWS` times) or ``"coarsen"``
            (:func:`~specprompt.search._coarsen.coarsen_to_fit`); ``None``: ``"coarsen"`` for a
            ``GPSampler`` (asking it again refits its model), ``"redraw"`` for the others.

    Raises:
        ConfigError: ``over_budget`` is none of these.

    Convention:
        Whether a trial is a neighbour, and which, and what the base sampler proposes depend
        only on ``seed`` and the finished trials before it, so an interrupted study resumes the
        same way. The incumbent is the
        best feasible complete trial (single objective; by full-valset score where known) or a
        seeded pick of the Pareto front (multi-objective); baselines whose images are not points
        of the band space (``low_detail``; ``uniform`` without a ``size`` dimension) and
        baselines that drop every image of a label (``text_only`` when the budget holds one
        image per label) are never incumbents. A trial's ``worker`` tag and ``origin`` are
        written in :meth:`before_trial`; an enqueued trial keeps the origin it was enqueued with.
    """

    def __init__(
        self,
        base_sampler: BaseSampler,
        ctx: SearchContext,
        *,
        local_search: float,
        seed: int,
        over_budget: Literal["redraw", "coarsen"] | None = None,
    ) -> None:
        if over_budget not in (None, "redraw", "coarsen"):
            raise ConfigError(f"over_budget must be 'redraw', 'coarsen' or None, got {over_budget!r}")
        self._base_sampler = base_sampler
        self._ctx = ctx
        self._local_search = float(local_search)
        self._seed = seed
        self._over_budget = over_budget or ("coarsen" if isinstance(base_sampler, GPSampler) else "redraw")
        self._proposals: dict[int, dict[str, int]] = {}

    def reseed_rng(self) -> None:
        self._base_sampler.reseed_rng()

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self._reseed(_whole(study), trial)
        self._base_sampler.before_trial(study, trial)
        if TrialRecord.from_trial(trial).origin is not None or "fixed_params" in trial.system_attrs:
            return  # enqueued: its parameters and origin are given
        # the process tag first: a kill while the local step is computed leaves a trial that
        # fail_stale_trials can retire
        self._write(study, trial, TrialRecord(worker=worker_tag()))
        origin = "sampler"
        found = self._local_step(_whole(study))
        if found is not None:
            self._proposals[trial._trial_id], origin = found
        self._write(study, trial, TrialRecord(origin=origin))

    def _reseed(self, study: Study, trial: FrozenTrial) -> None:
        """Seeds the base sampler from ``seed`` and the trial's place (the searched trials before it).

        Trials running meanwhile do not count: one left RUNNING by a process killed on another
        host is not told apart from a live one until Optuna's heartbeat retires it, so a seed
        that counted it would make a resumed study propose what the uninterrupted one never did.
        """
        reseed(self._base_sampler, trial_seed(self._seed, searched_trials(study), salt=_SEED_SALT))

    @staticmethod
    def _write(study: Study, trial: FrozenTrial, record: TrialRecord) -> None:
        for name, value in record.to_attrs().items():
            study._storage.set_trial_user_attr(trial._trial_id, name, value)

    def _local_step(self, study: Study) -> tuple[dict[str, int], str] | None:
        """Parameters and origin of an unseen neighbour of the incumbent, when this trial is a local step."""
        n = searched_trials(study)
        share = self._local_search
        if int((n + 1) * share) <= int(n * share):
            return None
        ctx = self._ctx
        # incumbents: points of the band space that keep an image of every label (text_only is a
        # baseline, exempt from that rule; no neighbour of it that moves one or two images keeps
        # every label, so it is no place to step from)
        rows = [
            r
            for r in collect_rows(study, ctx, ctx.config.token_budget)
            if shows_band_space(ctx, r.origin) and ctx.covers_labels(ctx.from_params(json.loads(r.params)))
        ]
        if not rows:
            return None
        rng = random.Random(f"{self._seed}:{n}")
        row = rng.choice(pareto(rows)) if len(study.directions) > 1 else best_row(rows)
        seen = {str(k) for t in study.get_trials(deepcopy=False) if (k := TrialRecord.from_trial(t).key)}
        cand = neighbour(ctx, ctx.from_params(json.loads(row.params)), ctx.config.token_budget, seen, rng)
        if cand is None:
            return None
        return ctx.to_params(cand), f"neighbour:{row.trial}"

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        if trial._trial_id in self._proposals:
            return {}
        return self._base_sampler.infer_relative_search_space(study, trial)

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if trial._trial_id in self._proposals:
            return {}
        params = self._base_sampler.sample_relative(study, trial, search_space)
        ctx = self._ctx
        budget = ctx.config.token_budget
        if budget is None or set(params) != set(ctx.distributions()):
            return params
        if self._over_budget == "coarsen":
            cand = ctx.from_params(params)
            return params if fits(ctx.tokens(cand), budget) else ctx.to_params(coarsen_to_fit(ctx, cand, budget))
        for _ in range(BUDGET_REDRAWS):
            if fits(ctx.tokens(ctx.from_params(params)), budget):
                break
            params = self._base_sampler.sample_relative(study, trial, search_space)
        return params

    def sample_independent(
        self, study: Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        proposal = self._proposals.get(trial._trial_id)
        if proposal is not None and param_name in proposal:
            return proposal[param_name]
        return self._base_sampler.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None) -> None:
        self._proposals.pop(trial._trial_id, None)
        self._base_sampler.after_trial(study, trial, state, values)
