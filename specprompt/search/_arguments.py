"""The checks of :class:`~specprompt.search.BandOptimizer`'s arguments, made once, in its constructor.

:func:`check_arguments` validates what the constructor is given and returns the config and
calibration it works with; :func:`check_config` and :func:`check_examples` are shared with
:func:`~specprompt.search.calibrate`, which takes the same kind of arguments.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import dspy
import optuna

from specprompt.errors import ConfigError
from specprompt.search._calibrate import check_lm
from specprompt.search._calibration import Calibration, load_calibration
from specprompt.search._config import SearchConfig, check_options
from specprompt.search._screen import check_screen
from specprompt.search._study import check_storage
from specprompt.search._workers import check_shared

__all__ = [
    "check_arguments",
    "check_config",
    "check_examples",
    "check_metric_signature",
    "check_names",
    "check_trainset",
]


def check_examples(examples: Sequence[Any] | None, what: str) -> list[Any]:
    """``examples`` as a list, after checking it is a non-empty list of ``dspy.Example`` with inputs.

    Args:
        examples: the user's examples.
        what: their name in the error (``"valset"``, ``"testset"``).

    Raises:
        ConfigError: not a non-empty sequence, an item that is not a ``dspy.Example``, or an
            example without ``.with_inputs(...)``.
    """
    if isinstance(examples, (str, bytes)) or not isinstance(examples, Sequence) or not examples:
        raise ConfigError(f"{what} must be a non-empty list of dspy.Example or None, got {examples!r:.80}")
    out = list(examples)
    kind = "validation" if what == "valset" else what
    for ex in out:
        if not isinstance(ex, dspy.Example):
            raise ConfigError(f"{kind} examples must be dspy.Example, got {type(ex).__name__}")
        try:
            ex.inputs()
        except ValueError:
            raise ConfigError(
                f"{kind} examples have no inputs: call .with_inputs(...) on them (got {ex!r:.80})"
            ) from None
    return out


def check_trainset(trainset: Sequence[Any], where: str = "") -> None:
    """Checks that ``trainset`` is a list of ``dspy.Example`` (demos and the default valset come from it).

    Args:
        trainset: the user's labelled examples.
        where: the function named at the start of each error (``"calibrate"``), or nothing.

    Raises:
        ConfigError: not a sequence (a string is not one), or an item that is not a
            ``dspy.Example`` (its index and type named).
    """
    prefix = f"{where}: " if where else ""
    if isinstance(trainset, (str, bytes)) or not isinstance(trainset, Sequence):
        raise ConfigError(f"{prefix}trainset must be a list of dspy.Example, got {type(trainset).__name__}")
    for i, ex in enumerate(trainset):
        if not isinstance(ex, dspy.Example):
            raise ConfigError(
                f"{prefix}trainset[{i}] must be a dspy.Example (e.g. dspy.Example(image=..., label=...)"
                f".with_inputs('image')), got {type(ex).__name__} {ex!r:.60}"
            )


def check_config(
    metric: Callable[..., Any], config: SearchConfig | None, options: Mapping[str, Any], *, where: str = ""
) -> SearchConfig:
    """The search config that ``config`` and ``options`` make, after checking them and ``metric``.

    Args:
        metric: the user's metric (must be callable).
        config: a :class:`SearchConfig` or ``None`` (the defaults).
        options: :class:`SearchConfig` fields overriding ``config``'s.
        where: the function named at the start of each error (``"calibrate"``), or nothing.

    Raises:
        ConfigError: a metric that is not callable, a config that is not a ``SearchConfig``,
            unknown or bad options, bad scheme options, or no search space for the scheme.
        UnknownNameError: an unknown scheme or cost model.
    """
    prefix = f"{where}: " if where else ""
    if not callable(metric):
        raise ConfigError(f"{prefix}metric must be callable as metric(example, pred, trace=None), got {metric!r}")
    check_metric_signature(metric, prefix)
    if config is not None and not isinstance(config, SearchConfig):
        raise ConfigError(f"{prefix}config must be a SearchConfig or None, got {type(config).__name__}")
    base = config or SearchConfig()
    cfg = base.replace(**check_options(dict(options))) if options else base
    check_names(cfg)
    return cfg


def check_metric_signature(metric: Callable[..., Any], prefix: str = "") -> None:
    """Fails before any call on a metric that cannot take ``(example, pred)``, the way the search calls it.

    A metric whose signature cannot be read (some builtins) passes unchecked.

    Example:
        >>> check_metric_signature(lambda example, pred, trace=None: 1.0)
        >>> check_metric_signature(lambda example: 1.0)
        Traceback (most recent call last):
        ...
        specprompt.errors.ConfigError: metric must be callable as metric(example, pred, trace=None); <lambda> takes ...
    """
    try:
        signature = inspect.signature(metric)
    except (TypeError, ValueError):  # no signature to read: the first call tells
        return
    try:
        signature.bind(None, None)
    except TypeError:
        name = getattr(metric, "__name__", type(metric).__name__)
        raise ConfigError(
            f"{prefix}metric must be callable as metric(example, pred, trace=None); {name} takes {signature}"
        ) from None


def check_names(config: SearchConfig) -> None:
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


def check_arguments(
    metric: Callable[..., Any],
    config: SearchConfig | None,
    options: Mapping[str, Any],
    *,
    sampler: optuna.samplers.BaseSampler | None,
    pruner: optuna.pruners.BasePruner | None,
    storage: str | optuna.storages.BaseStorage | None,
    target: dspy.LM | None,
    screen: dspy.LM | str | None,
    calibration: Calibration | str | os.PathLike[str] | None,
) -> tuple[SearchConfig, Calibration | None]:
    """Checks the constructor's arguments of :class:`~specprompt.search.BandOptimizer`.

    Returns:
        ``(config, calibration)``: ``config`` with ``options`` applied, and the calibration
        loaded (``None`` when none was given).

    Raises:
        ConfigError: a bad value or a combination the optimizer cannot run, named.
        UnknownNameError: an unknown scheme or cost model, or a scheme without a search space.
    """
    cfg = check_config(metric, config, options)
    if sampler is not None and not isinstance(sampler, optuna.samplers.BaseSampler):
        raise ConfigError(f"sampler must be an optuna sampler, got {type(sampler).__name__}")
    if pruner is not None and not isinstance(pruner, optuna.pruners.BasePruner):
        raise ConfigError(f"pruner must be an optuna pruner, got {type(pruner).__name__}")
    check_storage(storage)
    if target is not None:
        check_lm("target", target)
    if cfg.worker > 0:
        check_shared(storage, f"worker={cfg.worker}")
    check_screen(screen)
    if screen is not None and target is not None:
        raise ConfigError(
            "give target= or screen=, not both: with screen= the scoring LM (dspy.settings.lm) is the target "
            "and the screen is the local judge; target= is for a search scored by a local judge"
        )
    if cfg.calibrate and target is None and screen is None:
        raise ConfigError(
            "calibrate=True needs target=<the dspy.LM to calibrate the scoring LM against> "
            "or screen=<the judge to calibrate against the scoring LM>"
        )
    loaded = None if calibration is None else load_calibration(calibration)
    if loaded is not None:
        if target is None and screen is None:
            raise ConfigError("calibration= needs screen= (or target=): the judges it was measured with")
        if cfg.calibrate and cfg.calibration_mode == "trials":
            raise ConfigError(
                "give calibration= or calibration_mode='trials', not both: a given calibration decides "
                "before the search"
            )
    return cfg, loaded
