"""Agreement measured before it is trusted: rank agreement of a local judge with a target LM.

A *probe* is a few dozen band selections built from the search's own
:class:`~specprompt.search._context.SearchContext` (so they are prompts the search would send):

==================  ==========================================================================
name                what the demo images are
==================  ==========================================================================
``full``            every band of every image
``coarse-<k>``      every image coarsened by ``k`` steps of its space (finest levels dropped,
                    or, where the space has a ``size`` dimension, sent ``k`` steps smaller)
``stratified-one``  one demo per answer as fine as it gets, every other demo dropped
``stratified-coarse``  one demo per answer sharp, the others at their coarsest kept level
``random-<i>``      seeded random points of the search space (random mixes)
==================  ==========================================================================

Each probe is scored on the same seeded subset of ``n_examples`` validation examples by both
judges (mean metric; the local band VLM's is the metric's expectation over its answer
probabilities, ``Scorer(expected=True)``, as when it screens). The target LM is called at most
``n_probes * n_examples`` times (:attr:`Calibration.max_target_calls`; the count actually used is
:attr:`Calibration.target_calls`). The agreement is Spearman's rank correlation of the two
score vectors (average ranks for ties), with a seeded percentile-bootstrap confidence interval
over probes. Its verdict trusts the local judge when the interval's lower end is at least
``threshold``.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import dspy

from specprompt.errors import ConfigError
from specprompt.search._budget import fits
from specprompt.search._calibration import Calibration
from specprompt.search._config import SearchConfig
from specprompt.search._context import Candidate, SearchContext
from specprompt.search._rank import bootstrap_interval, spearman
from specprompt.search._scoring import Scorer
from specprompt.search._transport import model_name, remote_lm

if TYPE_CHECKING:
    import optuna

__all__ = [
    "CALIBRATION_ATTR",
    "calibrate",
    "calibrate_context",
    "calibrate_study",
    "check_lm",
    "probe_candidates",
    "use_calibration",
]

logger = logging.getLogger("specprompt.search")

#: Study user attribute holding the :meth:`Calibration.to_dict` of a compile's calibration.
CALIBRATION_ATTR = "specprompt:calibration"


def _coarsened(ctx: SearchContext, step: int) -> Candidate | None:
    """Every image ``step`` rungs down its ladder (never its last rung, which drops it)."""
    values: dict[str, Mapping[str, int]] = {}
    for s in ctx.plan.slots:
        ladder = ctx.spaces[s.id].ladder()
        if len(ladder) < 2:
            return None
        values[s.id] = ladder[min(step, len(ladder) - 2)]
    return Candidate(values, excluded=ctx.pool)


def probe_candidates(ctx: SearchContext, n_probes: int, seed: int = 0) -> list[tuple[str, Candidate]]:
    """Up to ``n_probes`` distinct prompts within ``ctx``'s budget that show at least one image.

    Named probes first (``full``, ``coarse-<k>``, ``stratified-one``, ``stratified-coarse``),
    then seeded random points of the space (``random-<i>``) until ``n_probes`` or a bounded
    number of draws.
    """
    from specprompt.search._warm import stratified_fit

    budget = ctx.config.token_budget
    text_only = ctx.key(ctx.dropped())
    out: dict[str, tuple[str, Candidate]] = {}

    def add(name: str, cand: Candidate | None) -> None:
        if cand is None or len(out) >= n_probes:
            return
        key = ctx.key(cand)
        if key != text_only and key not in out and fits(ctx.tokens(cand), budget):
            out[key] = (name, cand)

    add("full", ctx.full())
    steps = max(len(ctx.spaces[s.id].ladder()) for s in ctx.plan.slots)
    for k in range(1, steps - 1):
        add(f"coarse-{k}", _coarsened(ctx, k))
    add("stratified-one", stratified_fit(ctx, budget, "drop"))
    add("stratified-coarse", stratified_fit(ctx, budget, "coarse"))
    rng = random.Random(seed)
    dists = ctx.distributions()
    for i in range(50 * n_probes):
        if len(out) >= n_probes:
            break
        params = {name: rng.randint(d.low, d.high) for name, d in dists.items()}
        add(f"random-{i}", ctx.from_params(params))
    return list(out.values())


def _check_int(name: str, value: object, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigError(f"calibrate: {name} must be an int >= {minimum}, got {value!r}")
    return value


def _check_unit(name: str, value: object, low: float, high: float) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not low <= float(value) <= high:
        raise ConfigError(f"calibrate: {name} must be a number in [{low:g}, {high:g}], got {value!r}")
    return float(value)


def check_lm(name: str, lm: object) -> dspy.LM:
    """``lm`` if it is a ``dspy.LM``, else :class:`ConfigError` naming the argument."""
    if not isinstance(lm, dspy.BaseLM):
        raise ConfigError(f"calibrate: {name} must be a dspy.LM, got {lm!r:.80}")
    return lm


def _builder(ctx: SearchContext, cand: Candidate) -> Callable[[], dspy.Module]:
    return lambda: ctx.build(cand)


def calibrate_context(
    ctx: SearchContext,
    metric: Callable[..., Any],
    valset: Sequence[Any],
    *,
    local: dspy.LM,
    target: dspy.LM,
    n_probes: int = 24,
    n_examples: int = 8,
    seed: int = 0,
    confidence: float = 0.95,
    n_bootstrap: int = 2000,
    threshold: float = 0.5,
    num_threads: int | None = None,
) -> Calibration:
    """Scores the probe of ``ctx`` with both judges and measures their rank agreement.

    The public entry point is :func:`specprompt.search.calibrate`; ``BandOptimizer`` calls this
    with its own context when ``calibrate=True``. Both judges are called as a compile's scoring
    LM is: a remote LM with ``ctx.config.call_timeout`` and no retries of DSPy's own
    (:func:`~specprompt.search._transport.remote_lm`), its calls that fail in transport (timeout,
    429, 5xx, malformed reply) retried by ``ctx.config``'s ``retries``, ``retry_backoff`` and
    ``endpoint_failures`` (:meth:`SearchConfig.retry_policy`) and never scored.

    Raises:
        ConfigError: a bad number, a judge that is not a ``dspy.LM``, an empty valset, or a
            probe of fewer than 3 prompts (the budget leaves too few to rank).
        TransportError: a call still failed after its retries. EndpointError: the endpoint is
            down or refuses.
    """
    _check_int("n_probes", n_probes, 3)
    _check_int("n_examples", n_examples, 1)
    _check_int("seed", seed, 0)
    _check_int("n_bootstrap", n_bootstrap, 100)
    _check_unit("confidence", confidence, 0.5, 0.999)
    _check_unit("threshold", threshold, -1.0, 1.0)
    check_lm("local", local)
    check_lm("target", target)
    if not valset:
        raise ConfigError("calibrate: the valset is empty")
    probes = probe_candidates(ctx, n_probes, seed)
    if len(probes) < 3:
        raise ConfigError(
            f"calibrate: only {len(probes)} prompt(s) fit token_budget {ctx.config.token_budget}; "
            "at least 3 are needed to rank"
        )
    order = list(range(len(valset)))
    random.Random(seed).shuffle(order)
    examples = sorted(order[:n_examples])
    scores: dict[str, list[float]] = {}
    calls: dict[str, int] = {}
    for who, lm in (("local", local), ("target", target)):
        scorer = Scorer(metric, valset, num_threads, ctx.config.retry_policy(), seed=seed, expected=who == "local")
        with dspy.context(lm=remote_lm(lm, ctx.config.call_timeout)):
            per = [scorer.score(ctx.key(cand), _builder(ctx, cand), examples) for _, cand in probes]
        scores[who] = [sum(p.values()) / len(p) for p in per]
        calls[who] = scorer.calls
    rho = spearman(scores["local"], scores["target"])
    interval = bootstrap_interval(
        scores["local"], scores["target"], confidence=confidence, n_bootstrap=n_bootstrap, seed=seed
    )
    return Calibration(
        local=model_name(local),
        target=model_name(target),
        probes=tuple(
            {"name": name, "key": ctx.key(c), "tokens": ctx.tokens(c), "selections": ctx.describe(c)}
            for name, c in probes
        ),
        local_scores=tuple(scores["local"]),
        target_scores=tuple(scores["target"]),
        examples=tuple(examples),
        spearman=rho,
        interval=interval,
        confidence=float(confidence),
        n_bootstrap=n_bootstrap,
        target_calls=calls["target"],
        max_target_calls=n_probes * n_examples,
        threshold=float(threshold),
        seed=seed,
    )


def calibrate_study(
    study: optuna.Study, ctx: SearchContext, metric: Callable[..., Any], valset: Sequence[Any], local: Any, target: Any
) -> Calibration:
    """The calibration step of ``compile`` (``calibrate=True``): read from ``study``, or measured now.

    A calibration stored under :data:`CALIBRATION_ATTR` is reused, with no target call, when it
    was made by the same judges (model strings) with the same seed and probe sizes; otherwise
    :func:`calibrate_context` runs with ``ctx.config``'s ``calibration_probes``,
    ``calibration_examples`` and ``seed``, and its result is stored there.
    """
    cfg = ctx.config
    stored = study.user_attrs.get(CALIBRATION_ATTR)
    names = (model_name(local), model_name(target))
    if stored is not None:
        old = Calibration.from_dict(stored)
        if (old.local, old.target, old.seed, old.max_target_calls) == (
            *names,
            cfg.seed,
            cfg.calibration_probes * cfg.calibration_examples,
        ):
            logger.info("calibration read from study %s (no target call)", study.study_name)
            return old
    cal = calibrate_context(
        ctx,
        metric,
        valset,
        local=local,
        target=target,
        n_probes=cfg.calibration_probes,
        n_examples=cfg.calibration_examples,
        seed=cfg.seed,
        num_threads=cfg.num_threads,
    )
    study.set_user_attr(CALIBRATION_ATTR, cal.to_dict())
    for line in cal.summary().splitlines():
        logger.info("calibration: %s", line)
    return cal


def use_calibration(study: optuna.Study, calibration: Calibration, local: Any, target: Any) -> Calibration:
    """A calibration measured before this compile (``BandOptimizer(calibration=...)``), checked and
    stored in ``study`` (:data:`CALIBRATION_ATTR`); it costs no target call.

    Raises:
        ConfigError: it was measured with other judges (model strings; both named).
    """
    names = (model_name(local), model_name(target))
    if (calibration.local, calibration.target) != names:
        pairs = zip((calibration.local, calibration.target), names, strict=True)
        options = any(a != b and a.split("+")[0] == b.split("+")[0] for a, b in pairs)
        hint = (
            " (the same judge with other options: a suffix '+<digest>' names options off the defaults, for the "
            "nearest engine the cost model it reports usage with, so measure it with this compile's cost_model, "
            "--cost-model)"
            if options
            else ""
        )
        raise ConfigError(
            f"the calibration was measured with local judge {calibration.local!r} and target {calibration.target!r}, "
            f"but this compile uses {names[0]!r} and {names[1]!r}{hint}: measure it again with these judges"
        )
    study.set_user_attr(CALIBRATION_ATTR, calibration.to_dict())
    logger.info(
        "calibration given (%d target calls when it was measured; none now): rank agreement %s",
        calibration.target_calls,
        "undefined" if calibration.spearman is None else f"{calibration.spearman:.2f}",
    )
    return calibration


def calibrate(
    program: dspy.Module,
    metric: Callable[..., Any],
    *,
    trainset: Sequence[Any],
    target: dspy.LM,
    valset: Sequence[Any] | None = None,
    local: dspy.LM | None = None,
    n_probes: int = 24,
    n_examples: int = 8,
    seed: int = 0,
    confidence: float = 0.95,
    n_bootstrap: int = 2000,
    threshold: float = 0.5,
    config: SearchConfig | None = None,
    **options: Any,
) -> Calibration:
    """How well a local judge ranks band selections like ``target``, measured on a small probe.

    Builds the search context of ``program`` exactly as :class:`~specprompt.search.BandOptimizer`
    does (same demos, scheme, cost model and budget from ``config`` / ``options``; the bare
    ``"local"`` cost model prices ``local``'s checkpoint, as in a search it scores), makes up to
    ``n_probes`` prompts the search would send (see :mod:`specprompt.search._calibrate`) and
    scores each on the same ``n_examples`` validation examples with ``local`` and ``target``.

    Args:
        program: the DSPy program whose demos are searched (not modified).
        metric: ``metric(example, prediction, trace=None)``.
        trainset: labelled examples (demos, and the default valset).
        target: the LM the search would answer to (e.g. a remote VLM).
        valset: validation examples; default: trainset minus the demo examples.
        local: the local judge; default :func:`specprompt.scorers.local_lm`.
        n_probes: prompts in the probe (at least 3).
        n_examples: validation examples per prompt.
        seed: seed of the random probes, the example subset and the bootstrap.
        confidence: level of the bootstrap interval.
        n_bootstrap: bootstrap resamples (at least 100).
        threshold: the interval's lower end needed to trust the local judge.
        config: a :class:`SearchConfig`; ``options`` override its fields.

    Returns:
        a :class:`Calibration`. The target is called at most ``n_probes * n_examples`` times
        (:attr:`Calibration.max_target_calls`).

    Raises:
        ConfigError: bad arguments (named), or a budget that leaves fewer than 3 prompts.
    """
    from specprompt.search._arguments import check_config, check_examples, check_trainset
    from specprompt.search._demos import default_valset, plan_demos
    from specprompt.search._invisible import resolve_local_cost

    if not isinstance(program, dspy.Module):
        raise ConfigError(f"calibrate: program must be a dspy.Module, got {type(program).__name__}")
    cfg = check_config(metric, config, options, where="calibrate")
    check_lm("target", target)
    check_trainset(trainset, "calibrate")
    if local is None:
        from specprompt.scorers import local_lm

        local = local_lm()
    cfg = resolve_local_cost(cfg, local)  # the bare "local" prices the local judge, as in a search it scores
    plan = plan_demos(program, trainset, cfg.k_demos, cfg.seed)
    val = default_valset(trainset, plan) if valset is None else check_examples(valset, "valset")
    ctx = SearchContext(program, plan, cfg)
    return calibrate_context(
        ctx,
        metric,
        val,
        local=local,
        target=target,
        n_probes=n_probes,
        n_examples=n_examples,
        seed=seed,
        confidence=confidence,
        n_bootstrap=n_bootstrap,
        threshold=threshold,
        num_threads=cfg.num_threads,
    )
