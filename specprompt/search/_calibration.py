"""The record of a calibration: the rank agreement of a local judge with a target, as JSON.

Measured by :func:`~specprompt.search.calibrate` (or inside a compile), stored in the study,
written by ``specprompt calibrate --json`` and given back to later compiles
(``BandOptimizer(calibration=...)``, ``specprompt compile --calibration FILE``).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from specprompt.errors import ConfigError

__all__ = ["DISTRUST", "TRUST", "Calibration", "load_calibration"]

#: Verdicts of :attr:`Calibration.verdict`.
TRUST = "trust the local judge"
DISTRUST = "score with the target"


@dataclass(frozen=True)
class Calibration:
    """The rank agreement of a local judge with a target LM on a probe of band selections.

    Attributes:
        local: model string of the local judge.
        target: model string of the target LM.
        probes: per probe ``{"name", "key", "tokens", "selections"}`` (JSON data).
        local_scores: the local judge's mean metric per probe.
        target_scores: the target's mean metric per probe.
        examples: validation indices every probe was scored on.
        spearman: Spearman rank correlation, ``None`` when undefined (a judge gave one score to all).
        interval: the bootstrap confidence interval of ``spearman`` (``None`` when undefined).
        confidence: level of ``interval``.
        n_bootstrap: bootstrap resamples.
        target_calls: target LM calls made (program runs on one example).
        max_target_calls: the stated maximum, ``n_probes * n_examples``.
        threshold: the interval's lower end needed to trust the local judge.
        seed: seed of the probes, the example subset and the bootstrap.
    """

    local: str
    target: str
    probes: tuple[Mapping[str, Any], ...]
    local_scores: tuple[float, ...]
    target_scores: tuple[float, ...]
    examples: tuple[int, ...]
    spearman: float | None
    interval: tuple[float, float] | None
    confidence: float
    n_bootstrap: int
    target_calls: int
    max_target_calls: int
    threshold: float
    seed: int

    @property
    def trusted(self) -> bool:
        """True when the interval's lower end is at least :attr:`threshold`."""
        return self.interval is not None and self.interval[0] >= self.threshold

    @property
    def verdict(self) -> str:
        """``"trust the local judge"`` or ``"score with the target"``."""
        return TRUST if self.trusted else DISTRUST

    def summary(self) -> str:
        """Three lines: the agreement with its interval, the calls, the verdict."""
        if self.spearman is None:
            agree = "undefined (a judge gave every probe the same score)"
        else:
            ci = "n/a" if self.interval is None else f"[{self.interval[0]:.2f}, {self.interval[1]:.2f}]"
            agree = f"{self.spearman:.2f}, {100 * self.confidence:g}% CI {ci}"
        return "\n".join(
            [
                f"rank agreement (Spearman) of {self.local} with {self.target} over {len(self.probes)} probes "
                f"x {len(self.examples)} examples: {agree}",
                f"target calls: {self.target_calls} (stated maximum: {self.max_target_calls} = n_probes x n_examples)",
                f"verdict: {self.verdict} (needs the CI's lower end >= {self.threshold:g})",
            ]
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields plus ``verdict``; inverse of :meth:`from_dict`."""
        return {
            "local": self.local,
            "target": self.target,
            "probes": [dict(p) for p in self.probes],
            "local_scores": list(self.local_scores),
            "target_scores": list(self.target_scores),
            "examples": list(self.examples),
            "spearman": self.spearman,
            "interval": None if self.interval is None else list(self.interval),
            "confidence": self.confidence,
            "n_bootstrap": self.n_bootstrap,
            "target_calls": self.target_calls,
            "max_target_calls": self.max_target_calls,
            "threshold": self.threshold,
            "seed": self.seed,
            "verdict": self.verdict,
        }

    def to_json(self, indent: int | None = None) -> str:
        """:meth:`to_dict` as JSON."""
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True, allow_nan=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibration:
        """Inverse of :meth:`to_dict` (``verdict`` is recomputed), after checking every field.

        Raises:
            ConfigError: not a mapping, a missing key, or a field of the wrong type or with an
                impossible value (named, with the reason): a rank correlation or an interval end
                outside [-1, 1] or not finite, an unordered interval, score lists of other lengths
                than ``probes``, a negative count.
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"a calibration must be a JSON object, got {type(data).__name__}")
        missing = [k for k in _FIELDS if k not in data]
        if missing:
            more = f" (and {', '.join(map(repr, missing[1:]))})" if len(missing) > 1 else ""
            raise ConfigError(f"a calibration lacks the key {missing[0]!r}{more}")
        probes = _items(data, "probes")
        for i, p in enumerate(probes):
            if not isinstance(p, Mapping):
                raise ConfigError(f"a calibration's 'probes'[{i}] must be a JSON object, got {type(p).__name__}")
        local_scores = tuple(_number("local_scores", v, at) for at, v in enumerate(_items(data, "local_scores")))
        target_scores = tuple(_number("target_scores", v, at) for at, v in enumerate(_items(data, "target_scores")))
        for name, scores in (("local_scores", local_scores), ("target_scores", target_scores)):
            if len(scores) != len(probes):
                raise ConfigError(
                    f"a calibration's {name!r} holds {len(scores)} score(s) but 'probes' holds {len(probes)}: "
                    "one score per probe"
                )
        spearman = None if data["spearman"] is None else _number("spearman", data["spearman"], None, -1.0, 1.0)
        return cls(
            local=_text(data, "local"),
            target=_text(data, "target"),
            probes=tuple(dict(p) for p in probes),
            local_scores=local_scores,
            target_scores=target_scores,
            examples=tuple(_count("examples", v, at) for at, v in enumerate(_items(data, "examples"))),
            spearman=spearman,
            interval=_interval(data["interval"], spearman),
            confidence=_number("confidence", data["confidence"], None, 0.0, 1.0),
            n_bootstrap=_count("n_bootstrap", data["n_bootstrap"]),
            target_calls=_count("target_calls", data["target_calls"]),
            max_target_calls=_count("max_target_calls", data["max_target_calls"]),
            threshold=_number("threshold", data["threshold"], None, -1.0, 1.0),
            seed=_count("seed", data["seed"]),
        )

    @classmethod
    def from_json(cls, text: str) -> Calibration:
        """Inverse of :meth:`to_json`.

        Raises:
            ConfigError: not JSON, or not a calibration (:meth:`from_dict`).
        """
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"a calibration must be JSON: {exc}") from None
        return cls.from_dict(data)


#: The keys of :meth:`Calibration.to_dict` that :meth:`Calibration.from_dict` reads.
_FIELDS = (
    "local",
    "target",
    "probes",
    "local_scores",
    "target_scores",
    "examples",
    "spearman",
    "interval",
    "confidence",
    "n_bootstrap",
    "target_calls",
    "max_target_calls",
    "threshold",
    "seed",
)


def _where(name: str, at: int | None) -> str:
    return f"a calibration's {name!r}" + ("" if at is None else f"[{at}]")


def _text(data: Mapping[str, Any], name: str) -> str:
    value = data[name]
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{_where(name, None)} must be a non-empty string (a model string), got {value!r:.60}")
    return value


def _items(data: Mapping[str, Any], name: str) -> list[Any]:
    value = data[name]
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{_where(name, None)} must be a list, got {type(value).__name__} {value!r:.60}")
    return list(value)


def _number(name: str, value: Any, at: int | None = None, low: float = -math.inf, high: float = math.inf) -> float:
    """``value`` (the field ``name``, or its item ``at``) as a float: a finite number in [low, high]."""
    rule = "a finite number" if math.isinf(low) and math.isinf(high) else f"a number in [{low:g}, {high:g}]"
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise ConfigError(f"{_where(name, at)} must be {rule}, got {value!r:.60}")
    if not low <= value <= high:
        raise ConfigError(f"{_where(name, at)} must be {rule}, got {value!r:.60}")
    return float(value)


def _count(name: str, value: Any, at: int | None = None) -> int:
    """``value`` (the field ``name``, or its item ``at``): an int >= 0."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ConfigError(f"{_where(name, at)} must be an int >= 0, got {value!r:.60}")
    return value


def _interval(value: Any, spearman: float | None) -> tuple[float, float] | None:
    """The field ``interval``: ``null``, or two ordered numbers in [-1, 1] (only with a ``spearman``)."""
    if value is None:
        return None
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ConfigError(f"{_where('interval', None)} must be null or a list [low, high], got {value!r:.60}")
    low, high = (_number("interval", v, at, -1.0, 1.0) for at, v in enumerate(value))
    if low > high:
        raise ConfigError(f"{_where('interval', None)} must be ordered [low, high], got [{low:g}, {high:g}]")
    if spearman is None:
        raise ConfigError(
            f"{_where('interval', None)} is [{low:g}, {high:g}] but 'spearman' is null: an undefined rank "
            "correlation has no interval"
        )
    return low, high


def load_calibration(value: object) -> Calibration:
    """A :class:`Calibration`, or one read from a JSON file (``specprompt calibrate --json FILE``).

    Raises:
        ConfigError: neither, an unreadable file, or not a calibration (the reason named).
    """
    if isinstance(value, Calibration):
        return value
    if not isinstance(value, (str, os.PathLike)):
        raise ConfigError(
            f"calibration must be a Calibration or the path of a JSON file from specprompt calibrate --json, "
            f"got {type(value).__name__}"
        )
    path = Path(value)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the calibration file {str(path)!r}: {exc}") from None
    try:
        return Calibration.from_json(text)
    except ConfigError as exc:
        raise ConfigError(f"the calibration file {str(path)!r} is not a calibration: {exc}") from None
