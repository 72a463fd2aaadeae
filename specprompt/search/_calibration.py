"""The record of a calibration: the rank agreement of a local judge with a target, as JSON.

Measured by :func:`~specprompt.search.calibrate` (or inside a compile), stored in the study,
written by ``specprompt calibrate --json`` and given back to later compiles
(``BandOptimizer(calibration=...)``, ``specprompt compile --calibration FILE``).
"""

from __future__ import annotations

import json
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
        """Inverse of :meth:`to_dict` (``verdict`` is recomputed).

        Raises:
            ConfigError: not a mapping, or a missing key (named).
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"a calibration must be a JSON object, got {type(data).__name__}")
        try:
            interval = data["interval"]
            return cls(
                local=str(data["local"]),
                target=str(data["target"]),
                probes=tuple(dict(p) for p in data["probes"]),
                local_scores=tuple(float(s) for s in data["local_scores"]),
                target_scores=tuple(float(s) for s in data["target_scores"]),
                examples=tuple(int(i) for i in data["examples"]),
                spearman=None if data["spearman"] is None else float(data["spearman"]),
                interval=None if interval is None else (float(interval[0]), float(interval[1])),
                confidence=float(data["confidence"]),
                n_bootstrap=int(data["n_bootstrap"]),
                target_calls=int(data["target_calls"]),
                max_target_calls=int(data["max_target_calls"]),
                threshold=float(data["threshold"]),
                seed=int(data["seed"]),
            )
        except KeyError as exc:
            raise ConfigError(f"a calibration lacks the key {exc.args[0]!r}") from None

    @classmethod
    def from_json(cls, text: str) -> Calibration:
        """Inverse of :meth:`to_json`."""
        try:
            return cls.from_dict(json.loads(text))
        except ValueError as exc:
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError(f"a calibration must be JSON: {exc}") from None


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
