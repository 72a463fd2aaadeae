"""Optuna plumbing: storage, study names, default sampler and pruner, final rows.

:func:`fail_stale_trials` lives in :mod:`specprompt.search._stale` and is re-exported here.
"""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path
from typing import Any

import optuna

from specprompt._outputs import check_writable_dir
from specprompt.errors import ConfigError
from specprompt.search._budget import fits
from specprompt.search._config import SearchConfig
from specprompt.search._context import Candidate, SearchContext
from specprompt.search._journal import journal_file, open_journal
from specprompt.search._objective import constraints, finished_trials, full_score, optuna_constraints, worker_tag
from specprompt.search._pruning import SearchedStartupPruner, reports_examples
from specprompt.search._record import FALLBACK_ORIGIN, FullScore, TrialRecord
from specprompt.search._reference import candidate_of
from specprompt.search._result import ParetoRow, pareto, rank
from specprompt.search._scoring import Scorer
from specprompt.search._spend import Spend
from specprompt.search._stale import fail_stale_trials, heartbeat_storage

__all__ = [
    "DEFAULT_RUN_DIR",
    "FALLBACK_ORIGIN",
    "add_trial",
    "check_run_dir",
    "check_storage",
    "collect_rows",
    "default_pruner",
    "default_sampler",
    "fail_stale_trials",
    "finalize",
    "make_storage",
    "result_folder",
    "row_candidate",
]

logger = logging.getLogger("specprompt.search")

#: Folder of the default SQLite storage when ``run_dir`` is None (relative to the working dir).
DEFAULT_RUN_DIR = ".specprompt"


def result_folder(storage: object, run_dir: str | None) -> Path | None:
    """The folder ``compile`` writes ``<study name>.result.json`` into: ``run_dir``, else
    :data:`DEFAULT_RUN_DIR` beside the default SQLite storage; ``None`` when it writes none (a
    storage given and no ``run_dir``)."""
    if storage is not None and run_dir is None:
        return None
    return Path(run_dir or DEFAULT_RUN_DIR)


def check_run_dir(storage: object, run_dir: str | None, study_name: str) -> None:
    """Fails before any scoring when ``compile`` could not write its files into the run folder.

    Args:
        storage: the optimizer's storage (``None``: the default SQLite file ``study.db`` there).
        run_dir: ``SearchConfig.run_dir``.
        study_name: the study's name (the result is ``<study_name>.result.json``).

    Raises:
        ConfigError: naming ``run_dir`` and the reason (:func:`~specprompt._outputs.check_writable_dir`):
            a file on the path, a folder that cannot be written, or a folder where a file goes.
    """
    folder = result_folder(storage, run_dir)
    if folder is not None:
        files = [f"{study_name}.result.json", *(["study.db"] if storage is None else [])]
        check_writable_dir("run_dir", folder, files)


def make_storage(storage: str | optuna.storages.BaseStorage | None, run_dir: str | None) -> Any:
    """The Optuna storage: an object as given, ``"memory"``, an RDB URL, a journal file, or the
    default SQLite file.

    An RDB URL (and the default SQLite file) becomes an ``RDBStorage`` with Optuna's heartbeat
    (:func:`~specprompt.search._stale.heartbeat_storage`), so a trial of a killed worker is
    failed and its candidate run again (:mod:`specprompt.search._stale`); a journal file a
    ``JournalStorage`` (:mod:`specprompt.search._journal`).

    Args:
        storage: ``None`` (``sqlite:///<run_dir>/study.db``), ``"memory"``, an RDB URL
            (``sqlite:///...``, ``postgresql+psycopg2://...``), the path of an Optuna journal file
            (an existing one, or a new one ending in ``.log``) or an Optuna storage object.
        run_dir: folder of the default SQLite file (created if missing).

    Raises:
        ConfigError: a storage that is neither of these, a run folder that cannot be made, or a
            database or journal file that cannot be opened (unreachable, not a database, no
            driver; the URL named without its password).
    """
    check_storage(storage)
    if isinstance(storage, optuna.storages.BaseStorage):
        return storage
    if isinstance(storage, str) and storage == "memory":
        return optuna.storages.InMemoryStorage()
    if isinstance(storage, str) and "://" not in storage:
        return open_journal(storage)
    if storage is None:
        folder = Path(run_dir or DEFAULT_RUN_DIR).resolve()
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"cannot make the run folder {str(folder)!r} for the study: {exc.strerror or exc}"
            ) from None
        storage = f"sqlite:///{folder / 'study.db'}"
    return _open_rdb(str(storage))


def _open_rdb(url: str) -> optuna.storages.RDBStorage:
    """:func:`~specprompt.search._stale.heartbeat_storage` of ``url``, its failures as :class:`ConfigError`."""
    import sqlalchemy.exc

    _check_sqlite_file(url)
    try:
        return heartbeat_storage(url)
    except (sqlalchemy.exc.SQLAlchemyError, ValueError, ImportError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        raise ConfigError(
            f"cannot open the Optuna storage {_shown_url(url)!r}: {reason[0] if reason else type(exc).__name__}"
        ) from None


def _check_sqlite_file(url: str) -> None:
    """Raises :class:`ConfigError` when a SQLite database file of ``url`` cannot be written (a
    read-only file or folder fails only at the first trial otherwise, as an Optuna traceback)."""
    import sqlalchemy.engine

    try:
        parsed = sqlalchemy.engine.make_url(url)
    except Exception:  # the opening names an unparsable URL
        return
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return
    file = Path(parsed.database)
    if file.exists() and not os.access(file, os.W_OK):
        raise ConfigError(f"cannot open the Optuna storage {_shown_url(url)!r}: {str(file)!r} is read-only")
    folder = file.parent if str(file.parent) else Path(".")
    if folder.is_dir() and not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(
            f"cannot open the Optuna storage {_shown_url(url)!r}: its folder {str(folder)!r} is read-only "
            "(SQLite writes a journal beside the database)"
        )


def _shown_url(url: str) -> str:
    """``url`` with its password hidden."""
    import sqlalchemy.engine

    try:
        return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is shown up to its scheme only
        return url.split("://", 1)[0] + "://..."


def check_storage(storage: object) -> None:
    """Raises :class:`ConfigError` unless ``storage`` is ``None``, ``"memory"``, an RDB URL, a
    journal file (:func:`~specprompt.search._journal.journal_file`) or a storage."""
    if storage is None or isinstance(storage, optuna.storages.BaseStorage):
        return
    if isinstance(storage, str) and (storage == "memory" or "://" in storage):
        return
    if isinstance(storage, str) and storage.strip():
        journal_file(storage)
        return
    raise ConfigError(
        f"storage must be None, 'memory', an RDB URL, an Optuna journal file or an optuna storage, got {storage!r}"
    )


def default_sampler(config: SearchConfig, *, random: bool = False) -> optuna.samplers.BaseSampler:
    """Seeded multivariate TPE (single- and multi-objective), or a seeded random sampler.

    Convention:
        The budget and the label rule reach the sampler through ``trial.set_constraint``
        (Optuna 5 reads ``trial.constraints``; ``constraints_func`` is deprecated there):
        ``tokens`` (over budget) and ``labels`` (labels left without an image,
        :func:`~specprompt.search._objective.constraints`), so feasible trials are preferred and
        infeasible ones are ranked by how far they miss.
    """
    if random:
        return optuna.samplers.RandomSampler(seed=config.seed)
    return optuna.samplers.TPESampler(seed=config.seed, multivariate=True)


def default_pruner(config: SearchConfig) -> optuna.pruners.BasePruner:
    """Prunes a trial whose running minibatch score falls in the bottom quarter, once it has
    scored half its minibatch and five trials of the search were scored (baselines and unscored
    infeasible trials do not count: :class:`~specprompt.search._pruning.SearchedStartupPruner`);
    no pruning in multi-objective mode."""
    if config.multi_objective:
        return optuna.pruners.NopPruner()
    percentile = optuna.pruners.PercentilePruner(
        25.0, n_startup_trials=0, n_warmup_steps=math.ceil(config.minibatch_size / 2)
    )
    return SearchedStartupPruner(percentile, 5)


def collect_rows(study: optuna.Study, ctx: SearchContext, budget: float | None) -> list[ParetoRow]:
    """One row per distinct feasible, complete prompt (its first trial), best score known.

    Keys and tokens are recomputed from each trial's parameters (and, for a baseline trial, its
    origin) with the current context, so a trial of a study resumed under an explicit
    ``study_name`` with another budget, cost model or scheme never yields a program that breaks
    the current budget or shows another prompt. Feasible means what the objective checks: within
    ``budget`` and, unless the trial is a baseline or a fallback (:attr:`TrialRecord.label_rule_binds`),
    every label keeps an image (:meth:`SearchContext.covers_labels`), so a resumed trial scored
    before the rule, or under a budget too small for it, is no candidate now.
    """
    rows: dict[str, ParetoRow] = {}
    for t in sorted(finished_trials(study), key=lambda t: t.number):
        rec = TrialRecord.from_trial(t)
        if t.state != optuna.trial.TrialState.COMPLETE or rec.score is None or rec.key is None:
            continue
        try:
            cand = candidate_of(ctx, t.params, rec.origin)
        except ConfigError:
            continue
        key, tokens = ctx.key(cand), ctx.tokens(cand)
        if key != rec.key or key in rows or not fits(tokens, budget):
            continue
        if rec.label_rule_binds and not ctx.covers_labels(cand):
            continue
        full = FullScore.read(study, key)
        if full is not None and not full.example_scores:  # stored by an older version: score it again
            full = None
        rows[key] = ParetoRow(
            trial=t.number,
            score=rec.score if full is None else full.score,
            tokens=tokens,
            full=full is not None,
            minibatch_score=rec.score,
            selections=json.dumps(ctx.describe(cand), sort_keys=True),
            params=json.dumps(t.params, sort_keys=True),
            key=key,
            origin=rec.origin or "sampler",
        )
    return list(rows.values())


def row_candidate(ctx: SearchContext, row: ParetoRow) -> Candidate:
    """The candidate a row shows."""
    return candidate_of(ctx, json.loads(row.params), row.origin)


def finalize(
    study: optuna.Study, ctx: SearchContext, scorer: Scorer, budget: float | None, finalists: int
) -> list[ParetoRow]:
    """Scores the finalists on the full valset and returns every candidate row.

    Finalists: the ``finalists`` best rows by minibatch score, every baseline row, and in
    multi-objective mode every row of the Pareto front (until the front holds still). Each
    candidate is fully scored at most once per study. Returns ``[]`` when no feasible trial
    completed.
    """
    multi = len(study.directions) > 1
    rows = collect_rows(study, ctx, budget)
    ranked = sorted(rows, key=lambda r: rank(r, minibatch=True), reverse=True)
    targets = ranked[:finalists] + [r for r in rows if TrialRecord(origin=r.origin).is_baseline]
    for _ in range(len(rows) + 1):
        for r in targets:
            if not r.full:
                full_score(study, ctx, scorer, r.key, row_candidate(ctx, r), r.trial)
        rows = collect_rows(study, ctx, budget)
        targets = [r for r in pareto(rows) if not r.full] if multi else []
        if not targets:
            break
    return rows


def add_trial(
    study: optuna.Study,
    ctx: SearchContext,
    scorer: Scorer,
    cand: Candidate,
    origin: str,
    *,
    partial: dict[int, float] | None = None,
    since: Spend | None = None,
) -> None:
    """Adds ``cand``, scored on the full valset by ``scorer``, as a complete trial of ``study``; with
    ``partial`` (a trim variant whose scoring stopped at a loss), as a ``PRUNED`` trial holding
    those scores and no full-valset score. Its record keeps what its scoring cost, as a search
    trial's does: the scorer's spend since ``since`` (its spend when the caller began scoring
    ``cand``; default: now, so only the full-valset scoring done here counts)."""
    since = scorer.spend if since is None else since
    cfg = ctx.config
    key, tokens = ctx.key(cand), ctx.tokens(cand)
    limits = constraints(ctx, cand, cfg.token_budget, bound=TrialRecord(origin=origin).label_rule_binds, tokens=tokens)
    full = None if partial is not None else full_score(study, ctx, scorer, key, cand, None)
    record = TrialRecord(
        origin=origin,
        worker=worker_tag(),
        key=key,
        tokens=tokens,
        feasible=all(v <= 0 for v in limits.values()),
        constraint=limits or None,
        selections=ctx.describe(cand),
        example_scores=partial if full is None else full.example_scores,
        score=None if full is None else full.score,
        spend=(scorer.spend - since).to_dict(),
    )
    values = None if full is None else [full.score, float(tokens)] if cfg.multi_objective else [full.score]
    # per-example reports (WilcoxonPruner): a search that goes on may pair its trials with this one
    steps = dict(record.example_scores or {}) if not cfg.multi_objective and reports_examples(study.pruner) else None
    study.add_trial(
        optuna.trial.create_trial(
            state=optuna.trial.TrialState.PRUNED if full is None else optuna.trial.TrialState.COMPLETE,
            params=ctx.to_params(cand),
            distributions=dict(ctx.distributions()),
            values=values,
            intermediate_values=steps,
            user_attrs=record.to_attrs(),
            system_attrs={f"constraints:{name}": v for name, v in optuna_constraints(study, limits).items()},
        )
    )
