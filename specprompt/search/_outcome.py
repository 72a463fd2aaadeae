"""What one compile hands back: the :class:`~specprompt.search.CompileResult` assembled from its
parts (the choice, the trim, the held-out scores, the scorer calls and spend), the study attribute
that names the returned trial (:data:`CHOSEN_ATTR`), and the ``<study name>.result.json`` file of
the run folder."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from specprompt._outputs import write_atomic
from specprompt.search._objective import searched_trials
from specprompt.search._record import FullScore
from specprompt.search._reference import candidate_of
from specprompt.search._result import BaselineResult, CompileResult, ParetoRow, pareto
from specprompt.search._select import interval_method
from specprompt.search._study import result_folder

if TYPE_CHECKING:
    from specprompt.search._calibration import Calibration
    from specprompt.search._heldout import HeldOut
    from specprompt.search._prepare import Run
    from specprompt.search._select import Decision
    from specprompt.search._spend import Spend
    from specprompt.search._trim import TrimReport

__all__ = ["CHOSEN_ATTR", "compile_result", "publish"]

logger = logging.getLogger("specprompt.search")

#: The study attribute naming the trial whose program the last compile returned (its number, key,
#: origin, full-valset score and tokens): ``study.best_trial`` ranks trials by their stored value,
#: a minibatch score for search trials, and knows nothing of the selection rule or the trim.
CHOSEN_ATTR = "chosen"


def compile_result(
    run: Run,
    rows: Sequence[ParetoRow],
    decision: Decision,
    *,
    best: ParetoRow,
    interval: tuple[float, float],
    base: dict[str, BaselineResult] | None,
    test: HeldOut | None,
    trimmed: TrimReport | None,
    search_calls: int,
    search_spend: Spend,
    baseline_calls: int,
    trim_calls: int,
    calibration: Calibration | None,
    calibration_given: bool,
) -> CompileResult:
    """The :class:`CompileResult` of the compile ``run``: ``best`` (the returned row, after the trim)
    with its valset ``interval``, chosen by ``decision`` among ``rows``; ``test``: its held-out
    scores (whose baselines replace ``base``)."""
    cfg, ctx, study = run.ctx.config, run.ctx, run.study
    val = FullScore.read(study, best.key)  # the scores ``interval`` was computed from
    val_scores = {} if val is None else val.example_scores
    base = base if test is None else test.baselines
    return CompileResult(
        study=study,
        study_name=run.study_name,
        config=cfg,
        best=best,
        front=tuple(pareto(rows)),
        scorer_calls=search_calls,
        n_trials=searched_trials(study),
        baseline_calls=baseline_calls,
        baselines=base,
        candidates=tuple(rows),
        interval=interval,
        interval_n=len(val_scores) or None,
        interval_method=interval_method(val_scores) if val_scores else None,
        leader=decision.leader,
        p_leader_better=decision.p_leader_better,
        floor=decision.floor,
        confirmation=decision.confirmation,
        local_pick=decision.local_pick,
        test_score=None if test is None else test.score,
        test_interval=None if test is None else test.interval(cfg.seed),
        test_n=None if test is None else len(test.example_scores),
        test_interval_method=None if test is None else interval_method(test.example_scores),
        test_calls=0 if test is None else test.calls,
        trim_calls=trim_calls,
        spend=run.cap.report(
            search_spend,
            run.ctx.tokens(run.ctx.full()) - best.tokens,
            _below_full(best, base),
            None if test is None else test.spend,
        ),
        calibration=calibration,
        calibration_given=calibration_given,
        screening=None if run.screen is None else run.screen.report(study),
        trim=trimmed,
        _build=lambda params, origin=None: ctx.build(candidate_of(ctx, params, origin)),
    )


def publish(result: CompileResult, storage: object, run_dir: str | None) -> None:
    """Writes ``result`` to the run folder (when the storage has one), names the returned trial in the
    study attribute :data:`CHOSEN_ATTR` and logs the pick and the scorer calls."""
    _write(result, storage, run_dir)
    best = result.best
    # for Optuna's own tools: study.best_trial is the best minibatch score, not the returned program
    result.study.set_user_attr(
        CHOSEN_ATTR,
        {"trial": best.trial, "key": best.key, "origin": best.origin, "score": best.score, "tokens": best.tokens},
    )
    logger.info(
        "best: trial %d (%s), score %.4f, %d tokens; scorer calls: %d search + %d baselines + %d trim + %d test",
        best.trial,
        best.origin,
        best.score,
        best.tokens,
        result.scorer_calls,
        result.baseline_calls,
        result.trim_calls,
        result.test_calls,
    )


def _write(result: CompileResult, storage: object, run_dir: str | None) -> None:
    folder = result_folder(storage, run_dir)
    if folder is None:
        return
    folder.mkdir(parents=True, exist_ok=True)
    path = write_atomic(folder / f"{result.study_name}.result.json", result.to_json(indent=2))
    logger.info("wrote %s", path)


def _below_full(best: ParetoRow, base: Mapping[str, BaselineResult] | None) -> float | None:
    """How far ``best``'s valset score lies below the full-resolution baseline's (0 at or above it)."""
    full = (base or {}).get("full")
    if full is None or full.score is None or not best.full:
        return None
    return max(0.0, full.score - best.score)
