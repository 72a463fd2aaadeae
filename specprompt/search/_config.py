"""The frozen, JSON-round-trippable options of :class:`~specprompt.search.BandOptimizer`."""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from specprompt.errors import ConfigError
from specprompt.search._transport import RetryPolicy

__all__ = ["BASELINE_TRIMS", "CALIBRATION_MODES", "DETAILS", "LOCAL_DEPARTURES", "SCREEN_RULES", "SearchConfig"]

#: Allowed values of ``SearchConfig.detail`` besides ``None``.
DETAILS: tuple[str, ...] = ("auto", "low", "high")

Detail = Literal["auto", "low", "high"]

#: Allowed values of ``SearchConfig.calibration_mode``.
CALIBRATION_MODES: tuple[str, ...] = ("probe", "trials")

CalibrationMode = Literal["probe", "trials"]

#: Allowed values of ``SearchConfig.screen_rule``.
SCREEN_RULES: tuple[str, ...] = ("rank", "top")

ScreenRule = Literal["rank", "top"]
#: Allowed values of ``SearchConfig.trim_baselines``: how a chosen baseline is trimmed.
BASELINE_TRIMS: tuple[str, ...] = ("gain", "scale", "tie", "off")

BaselineTrim = Literal["gain", "scale", "tie", "off"]

#: Allowed values of ``SearchConfig.local_departures``.
LOCAL_DEPARTURES: tuple[str, ...] = ("confirmed", "always")

LocalDepartures = Literal["confirmed", "always"]


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _int_at_least(name: str, value: object, minimum: int, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if not _is_int(value) or int(value) < minimum:  # type: ignore[call-overload]
        none = " or None" if allow_none else ""
        raise ConfigError(f"SearchConfig.{name} must be an int >= {minimum}{none}, got {value!r}")


def _number_above(name: str, value: object, *, allow_none: bool = False, allow_zero: bool = False) -> None:
    if value is None and allow_none:
        return
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(float(value))
    if not ok or float(value) < 0 or (float(value) == 0 and not allow_zero):  # type: ignore[arg-type]
        bound = ">= 0" if allow_zero else "> 0"
        none = " or None" if allow_none else ""
        raise ConfigError(f"SearchConfig.{name} must be a finite number {bound}{none}, got {value!r}")


def _bool(name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise ConfigError(f"SearchConfig.{name} must be True or False, got {value!r}")


@dataclass(frozen=True)
class SearchConfig:
    """Options of a band search. Every field is JSON data; objects (metric, sampler, pruner,
    storage) are arguments of :class:`~specprompt.search.BandOptimizer` instead.

    Example:
        >>> cfg = SearchConfig(token_budget=300, scheme_options={"levels": 3})
        >>> cfg.scheme_options
        (('levels', 3),)
        >>> SearchConfig.from_dict(cfg.to_dict()) == cfg
        True
    """

    token_budget: int | None = field(
        default=None,
        metadata={"help": "max image tokens of all demo images of one prompt under cost_model; None = no limit"},
    )
    cost_model: str = field(
        default="local",
        metadata={
            "help": "a specprompt.cost model name pricing the images ('local': the tokenizer of the local band "
            "VLM checkpoint that scores, e.g. 'local:band-vlm-v2' when that one does, band-vlm-v1's otherwise)"
        },
    )
    scheme: str = field(default="laplacian", metadata={"help": "band decomposition scheme of the demo images"})
    scheme_options: tuple[tuple[str, Any], ...] = field(
        default=(), metadata={"help": "options of the scheme's config (a mapping or None is accepted; stored sorted)"}
    )
    detail: Detail | None = field(
        default=None,
        metadata={"help": "OpenAI detail emitted with every demo image and used for pricing; None = provider default"},
    )
    n_trials: int = field(
        default=50,
        metadata={
            "help": "finished trials (complete or pruned) the search runs to, its baselines and warm starts "
            "included; the trim's, the fallback and baselines added after the search are not counted"
        },
    )
    local_search: float = field(
        default=0.5,
        metadata={
            "help": "share of the trials after the warm starts that try a neighbour of the best trial so far "
            "(one or two images at another level) instead of a sampler proposal; 0 = sampler only"
        },
    )
    multi_objective: bool = field(
        default=False, metadata={"help": "optimize (score up, tokens down) jointly and keep a Pareto front"}
    )
    minibatch_size: int = field(
        default=16, metadata={"help": "validation examples a trial is scored on (a fixed seeded subset)"}
    )
    full_eval_every: int = field(
        default=10,
        metadata={
            "help": "every this many trials the scorer scored (screened-out trials do not count), the best "
            "candidate is scored on the full valset"
        },
    )
    finalists: int = field(
        default=3,
        metadata={
            "help": "candidates with the best minibatch scores re-scored on the full valset at the end "
            "(every baseline that fits is re-scored besides them)"
        },
    )
    tie_confidence: float = field(
        default=0.8,
        metadata={
            "help": "a cheaper finalist is returned unless a paired bootstrap finds the best one better with "
            "at least this probability (0.8: a one-example edge on a 20-example valset is a tie, two are not)"
        },
    )
    confirm_splits: int = field(
        default=200,
        metadata={
            "help": "when the rule picks a search candidate over the baselines, choose again on this many random "
            "halves of the valset and compare each pick with the best baseline on the other half; unless the mean "
            "held-out gain is above 0 the best baseline is returned (0: no check)"
        },
    )
    confirm_min_examples: float = field(
        default=0.0,
        metadata={
            "help": "with confirm_splits: the search's pick is kept only when its mean held-out gain over the best "
            "baseline amounts to at least this many examples of a held-out half (0: any gain above 0)"
        },
    )
    trim: bool = field(
        default=True,
        metadata={
            "help": "after the program is chosen, try cheaper variants of it (drop extra images of a label, then "
            "smaller images), each scored on the valset until it loses an example, and return the cheapest that "
            "loses no validation example the chosen program got (the budget is a cap; image tokens are paid on "
            "every call)"
        },
    )
    trim_baselines: BaselineTrim = field(
        default="scale",
        metadata={
            "help": "how a chosen baseline (e.g. every demo Lanczos-resized to the budget) is trimmed: 'scale' returns "
            "its cheapest variant at a smaller common size that loses no validation example and scores above it (or "
            "any such variant once two smaller sizes in a row lost none), else the baseline; 'gain' a gain only, "
            "with the extra images of a label also dropped; 'tie' the cheapest "
            "variant that loses no example, as for a search candidate; 'off' never trims it"
        },
    )
    local_departures: LocalDepartures = field(
        default="confirmed",
        metadata={
            "help": "when a local judge (band VLM or nearest-band engine) scores the search and the images are priced "
            "for another model: 'confirmed' returns its pick over the baselines only when the target (target=) "
            "scores that pick better than the best baseline on the valset, else (and always without a target) the "
            "best baseline; with a target, a trim of the returned program (trim=True) is also returned only when it "
            "loses no validation example under the target; 'always' returns its pick and its trim unconfirmed"
        },
    )
    expected_scores: bool = field(
        default=False,
        metadata={
            "help": "when the local band VLM scores the search (no target LM): an example scores the metric's "
            "expectation over the model's answer probabilities, not the metric of its most probable answer "
            "(less noise on small minibatches; trim then rejects any drop in that expectation)"
        },
    )
    trim_steps: int = field(default=8, metadata={"help": "with trim: at most this many cheaper variants are scored"})
    num_threads: int | None = field(
        default=None, metadata={"help": "threads scoring examples in parallel; None = dspy.settings.num_threads"}
    )
    study_name: str | None = field(
        default=None, metadata={"help": "Optuna study name; None = derived from a hash of program, data and config"}
    )
    load_if_exists: bool = field(default=True, metadata={"help": "resume a study of the same name in storage"})
    run_dir: str | None = field(
        default=None, metadata={"help": "folder of the default SQLite storage and result JSON; None = ./.specprompt"}
    )
    k_demos: int | None = field(
        default=None,
        metadata={
            "help": "labeled demos taken from trainset for a predictor that has none and whose input fields hold "
            "trainset images; None = 4"
        },
    )
    search_demos: bool = field(
        default=False,
        metadata={
            "help": "also search which demos the prompt shows and how many: each image demo and, from the "
            "trainset, demo_pool more examples per label can be included or left out (the baselines keep the "
            "program's demos)"
        },
    )
    demo_pool: int = field(
        default=4,
        metadata={
            "help": "with search_demos: trainset examples per label added as candidate demos (never valset or "
            "testset examples; 0 = only include or leave out the program's own demos)"
        },
    )
    detail_crops: bool = field(
        default=False,
        metadata={"help": "list[dspy.Image] fields may get an extra sharp crop where fine bands have most energy"},
    )
    crop_fraction: float = field(default=0.5, metadata={"help": "side of a detail crop as a fraction of the image"})
    sharpen: bool = field(
        default=True,
        metadata={
            "help": "when the cost model prices pixels, also search an unsharp mask (0, 50, 100 or 200% at "
            "radius 1 pixel of the sent image) applied to every demo image after its resize: it costs no "
            "tokens and restores the contrast of the finest detail a resize softens"
        },
    )
    calibrate: bool = field(
        default=False,
        metadata={
            "help": "before the search, measure the rank agreement of the scoring LM with the optimizer's target "
            "LM on a probe of calibration_probes prompts x calibration_examples examples (needs target=)"
        },
    )
    calibration_probes: int = field(default=24, metadata={"help": "prompts in the calibration probe (>= 3)"})
    calibration_examples: int = field(
        default=8, metadata={"help": "validation examples each calibration prompt is scored on"}
    )
    calibration_mode: CalibrationMode = field(
        default="probe",
        metadata={
            "help": "with screen= and calibrate=True: where the rank agreement of the screening judge with the "
            "target is measured; 'probe': on a probe before the search (calibration_probes x calibration_examples "
            "extra target calls); 'trials': on the search's own first calibration_probes candidates, which both "
            "judges score (no extra target call; up to three such rounds while the verdict is open), and only "
            "the later ones are screened"
        },
    )
    screen_keep: float = field(
        default=0.25,
        metadata={
            "help": "with a screening judge (BandOptimizer(screen=...)): a candidate goes on to the target LM when "
            "its screen score is in this best share of the candidates screened so far and the target has scored "
            "at most this share of them (successive halving)"
        },
    )
    screen_min_agreement: float = field(
        default=0.5,
        metadata={
            "help": "with screen= and calibrate=True: the least Spearman rank agreement of the screening judge "
            "with the target (and a confidence interval above 0) under which the search falls back to "
            "target-only scoring"
        },
    )
    screen_rule: ScreenRule = field(
        default="rank",
        metadata={
            "help": "with screen= and calibrate=True: what the calibration pairs must show to screen; 'rank': "
            "Spearman's rho >= screen_min_agreement with a confidence interval above 0; 'top': the screen's best "
            "screen_keep share of the pairs holds the target's best pair in at least 80% of bootstrap resamples "
            "(what screening must not lose), or, in calibration_mode='trials', the target scored every pair of "
            "the last round alike"
        },
    )
    screen_tolerance: float = field(
        default=0.0,
        metadata={
            "help": "with screen_rule='top': a calibration pair whose target score is within this much of the "
            "target's best counts as one of its best (0: only the best; 1/minibatch_size: one example of a 0/1 "
            "metric, which the minibatch cannot tell apart)"
        },
    )
    screen_keep_min: float | None = field(
        default=None,
        metadata={
            "help": "with screen_rule='top': when the verdict screens, smaller shares than screen_keep (0.05 less "
            "at a time, down to this one) are read from the same calibration pairs, and the search screens with "
            "the smallest whose best share still holds the target's best (within screen_tolerance) in at least "
            "80% of bootstrap resamples; a screen that proves reliable sends fewer candidates to the target "
            "(None: screen_keep only)"
        },
    )
    seed: int = field(default=0, metadata={"help": "seed of the sampler, demo sampling and the minibatch"})
    worker: int = field(
        default=0,
        metadata={
            "help": "index of this process among the processes sharing one study on PostgreSQL: worker w > 0 "
            "samples with a seed derived from (seed, w), worker 0 with seed itself (needs a shared storage)"
        },
    )
    progress: bool = field(
        default=True,
        metadata={
            "help": "show tqdm bars (only on a terminal): the trials, and the examples of the baselines, "
            "finalists, trim and test-set scoring"
        },
    )
    timeout: float | None = field(
        default=None,
        metadata={
            "help": "seconds after which a study starts no new trial (as Optuna's optimize(timeout=...)); "
            "re-running resumes it; None: no limit"
        },
    )
    call_timeout: float | None = field(
        default=60.0,
        metadata={"help": "seconds one remote scorer call may take before it is retried; None = the LM's own"},
    )
    retries: int = field(
        default=4,
        metadata={"help": "retries of a scorer call that failed in transport (timeout, 429, 5xx, malformed reply)"},
    )
    retry_backoff: float = field(
        default=1.0,
        metadata={
            "help": "first retry delay in seconds; doubles per retry (full jitter, at most 60 s); "
            "a Retry-After header wins"
        },
    )
    endpoint_failures: int = field(
        default=20, metadata={"help": "consecutive failed calls after which the endpoint counts as down"}
    )
    max_calls: int | None = field(
        default=None, metadata={"help": "stop the search once this many billed scorer calls were made; None = no cap"}
    )
    max_tokens: int | None = field(
        default=None, metadata={"help": "stop the search once this many tokens were billed; None = no cap"}
    )
    price_per_million_tokens: float | None = field(
        default=None, metadata={"help": "price of a million billed tokens, for the cost in the report and max_cost"}
    )
    max_cost: float | None = field(
        default=None, metadata={"help": "stop the search once the billed tokens cost this much (needs the price)"}
    )

    def __post_init__(self) -> None:
        if self.token_budget is not None:
            if not isinstance(self.token_budget, numbers.Real) or isinstance(self.token_budget, bool):
                raise ConfigError(f"SearchConfig.token_budget must be a number >= 0 or None, got {self.token_budget!r}")
            if not math.isfinite(float(self.token_budget)) or self.token_budget < 0:
                raise ConfigError(f"SearchConfig.token_budget must be a number >= 0 or None, got {self.token_budget!r}")
        for name in ("cost_model", "scheme"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ConfigError(f"SearchConfig.{name} must be a non-empty string, got {value!r}")
        opts = self.scheme_options
        if opts is None:
            items: list[tuple[Any, Any]] = []
        elif isinstance(opts, Mapping):
            items = list(opts.items())
        elif isinstance(opts, (tuple, list)) and all(isinstance(p, (tuple, list)) and len(p) == 2 for p in opts):
            items = [(p[0], p[1]) for p in opts]
        else:
            raise ConfigError(f"SearchConfig.scheme_options must be a mapping of option -> value, got {opts!r}")
        if not all(isinstance(k, str) for k, _ in items):
            raise ConfigError(f"SearchConfig.scheme_options keys must be strings, got {opts!r}")
        frozen = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in items))
        object.__setattr__(self, "scheme_options", frozen)
        if self.detail is not None and self.detail not in DETAILS:
            raise ConfigError(f"SearchConfig.detail must be None or one of {', '.join(DETAILS)}, got {self.detail!r}")
        _int_at_least("n_trials", self.n_trials, 1)
        _int_at_least("minibatch_size", self.minibatch_size, 1)
        _int_at_least("full_eval_every", self.full_eval_every, 1)
        _int_at_least("finalists", self.finalists, 1)
        _int_at_least("trim_steps", self.trim_steps, 1)
        _int_at_least("num_threads", self.num_threads, 1, allow_none=True)
        _int_at_least("k_demos", self.k_demos, 0, allow_none=True)
        _int_at_least("demo_pool", self.demo_pool, 0)
        _int_at_least("seed", self.seed, 0)
        _int_at_least("worker", self.worker, 0)
        _int_at_least("calibration_probes", self.calibration_probes, 3)
        _int_at_least("calibration_examples", self.calibration_examples, 1)
        bools = (
            "multi_objective",
            "load_if_exists",
            "search_demos",
            "detail_crops",
            "sharpen",
            "progress",
            "calibrate",
            "trim",
            "expected_scores",
        )
        for name in bools:
            _bool(name, getattr(self, name))
        if self.study_name is not None and (not isinstance(self.study_name, str) or not self.study_name):
            raise ConfigError(f"SearchConfig.study_name must be a non-empty string or None, got {self.study_name!r}")
        if self.run_dir is not None and not isinstance(self.run_dir, str):
            object.__setattr__(self, "run_dir", _as_path_str(self.run_dir))
        ls = self.local_search
        if not isinstance(ls, numbers.Real) or isinstance(ls, bool) or not 0.0 <= float(ls) <= 1.0:
            raise ConfigError(f"SearchConfig.local_search must be a number in [0, 1], got {ls!r}")
        t = self.timeout
        if t is not None and (not isinstance(t, numbers.Real) or isinstance(t, bool) or not 0 < float(t) < math.inf):
            raise ConfigError(f"SearchConfig.timeout must be a number of seconds > 0 or None, got {t!r}")
        tc = self.tie_confidence
        if not isinstance(tc, numbers.Real) or isinstance(tc, bool) or not 0.5 <= float(tc) < 1.0:
            raise ConfigError(f"SearchConfig.tie_confidence must be a number in [0.5, 1), got {tc!r}")
        _int_at_least("confirm_splits", self.confirm_splits, 0)
        _number_above("confirm_min_examples", self.confirm_min_examples, allow_zero=True)
        _int_at_least("retries", self.retries, 0)
        _int_at_least("endpoint_failures", self.endpoint_failures, 1)
        _int_at_least("max_calls", self.max_calls, 1, allow_none=True)
        _int_at_least("max_tokens", self.max_tokens, 1, allow_none=True)
        _number_above("call_timeout", self.call_timeout, allow_none=True)
        _number_above("retry_backoff", self.retry_backoff, allow_zero=True)
        _number_above("price_per_million_tokens", self.price_per_million_tokens, allow_none=True, allow_zero=True)
        _number_above("max_cost", self.max_cost, allow_none=True)
        if self.max_cost is not None and self.price_per_million_tokens is None:
            raise ConfigError("SearchConfig.max_cost needs price_per_million_tokens (the price of a million tokens)")
        sk = self.screen_keep
        if not isinstance(sk, numbers.Real) or isinstance(sk, bool) or not 0.0 < float(sk) <= 1.0:
            raise ConfigError(f"SearchConfig.screen_keep must be a number in (0, 1], got {sk!r}")
        sa = self.screen_min_agreement
        if not isinstance(sa, numbers.Real) or isinstance(sa, bool) or not -1.0 <= float(sa) <= 1.0:
            raise ConfigError(f"SearchConfig.screen_min_agreement must be a number in [-1, 1], got {sa!r}")
        st = self.screen_tolerance
        if not isinstance(st, numbers.Real) or isinstance(st, bool) or not 0.0 <= float(st) < 1.0:
            raise ConfigError(f"SearchConfig.screen_tolerance must be a number in [0, 1), got {st!r}")
        km = self.screen_keep_min
        if km is not None and (
            not isinstance(km, numbers.Real) or isinstance(km, bool) or not 0.0 < float(km) <= float(sk)
        ):
            raise ConfigError(
                f"SearchConfig.screen_keep_min must be None or a number in (0, screen_keep={sk!r}], got {km!r}"
            )
        if self.calibration_mode not in CALIBRATION_MODES:
            raise ConfigError(
                f"SearchConfig.calibration_mode must be one of {', '.join(CALIBRATION_MODES)}, "
                f"got {self.calibration_mode!r}"
            )
        if self.screen_rule not in SCREEN_RULES:
            raise ConfigError(
                f"SearchConfig.screen_rule must be one of {', '.join(SCREEN_RULES)}, got {self.screen_rule!r}"
            )
        if km is not None and self.screen_rule != "top":
            raise ConfigError(
                "SearchConfig.screen_keep_min needs screen_rule='top' (the rank rule does not read the screen's "
                f"best share), got screen_rule={self.screen_rule!r}"
            )
        if not isinstance(self.trim_baselines, str) or self.trim_baselines not in BASELINE_TRIMS:
            raise ConfigError(
                f"SearchConfig.trim_baselines must be one of {', '.join(BASELINE_TRIMS)}, got {self.trim_baselines!r}"
            )
        if not isinstance(self.local_departures, str) or self.local_departures not in LOCAL_DEPARTURES:
            raise ConfigError(
                f"SearchConfig.local_departures must be one of {', '.join(LOCAL_DEPARTURES)}, "
                f"got {self.local_departures!r}"
            )
        cf = self.crop_fraction
        if not isinstance(cf, numbers.Real) or isinstance(cf, bool) or not 0.0 < float(cf) < 1.0:
            raise ConfigError(f"SearchConfig.crop_fraction must be a number in (0, 1), got {cf!r}")

    @property
    def options(self) -> dict[str, Any]:
        """``scheme_options`` as a dict, ready for ``decompose(img, scheme, **options)``."""
        return dict(self.scheme_options)

    def retry_policy(self) -> RetryPolicy:
        """How remote scorer calls are retried: ``retries``, ``retry_backoff`` and ``endpoint_failures``."""
        return RetryPolicy(self.retries, self.retry_backoff, 60.0, self.endpoint_failures)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready field values (``scheme_options`` as a mapping)."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["scheme_options"] = {k: list(v) if isinstance(v, tuple) else v for k, v in self.scheme_options}
        return data

    def to_json(self) -> str:
        """Compact, key-sorted JSON of :meth:`to_dict`."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SearchConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`ConfigError` listing the allowed ones."""
        return cls(**check_options(data))

    def replace(self, **options: Any) -> SearchConfig:
        """A copy with some fields changed (validated like the constructor)."""
        return dataclasses.replace(self, **check_options(options))


def check_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Returns ``options`` as a dict after checking every key is a :class:`SearchConfig` field."""
    if not isinstance(options, Mapping):
        raise ConfigError(f"search options must be a mapping, got {type(options).__name__}")
    names = {f.name for f in dataclasses.fields(SearchConfig)}
    unknown = sorted(set(options) - names)
    if unknown:
        raise ConfigError(f"unknown search option(s) {unknown}; allowed: {', '.join(sorted(names))}")
    return dict(options)


def _as_path_str(value: object) -> str:
    import os

    try:
        return os.fspath(value)  # type: ignore[call-overload, no-any-return]
    except TypeError:
        raise ConfigError(f"SearchConfig.run_dir must be a path or None, got {value!r}") from None
