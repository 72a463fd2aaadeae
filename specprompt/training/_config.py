"""The training run's settings: :class:`TrainConfig` (validated once, JSON round trip) and the
presets of ``specprompt train --preset``."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from specprompt.errors import ConfigError, UnknownNameError
from specprompt.training._families import (
    FAMILIES,
    HELD_OUT_FAMILIES,
    TRAIN_FAMILIES,
    available_families,
    get_family,
)
from specprompt.training._photo_families import PHOTO_FAMILIES, get_photo_family, is_photo_family
from specprompt.vlm import ModelConfig, check_int

__all__ = ["TRAIN_PRESETS", "TrainConfig"]


def _family_values(name: str) -> tuple[str, ...]:
    return get_photo_family(name).values if is_photo_family(name) else get_family(name).values


def _check_rate(name: str, value: object, upper: float = 1.0) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 <= float(value) <= upper:
        raise ConfigError(f"TrainConfig.{name} must be a number in [0, {upper}], got {value!r}")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (stored in the checkpoint's ``config.json``).

    Example:
        >>> cfg = TrainConfig(steps=10, out="/tmp/x")
        >>> TrainConfig.from_dict(cfg.to_dict()) == cfg
        True
    """

    out: str = field(default="band-vlm", metadata={"help": "output checkpoint directory"})
    seed: int = field(default=0, metadata={"help": "seed of the init, the episodes and the dropout masks"})
    steps: int = field(default=4000, metadata={"help": "optimizer steps (the learning-rate schedule spans them)"})
    minutes: float | None = field(
        default=None,
        metadata={
            "help": "optional wall-clock cap; stops early, and the learning-rate schedule then follows "
            "whichever of steps and minutes runs out first"
        },
    )
    device: str = field(default="auto", metadata={"help": "'cpu', 'cuda', 'cuda:N' or 'auto' (CUDA if present)"})
    threads: int | None = field(default=None, metadata={"help": "torch CPU threads (None: torch's default)"})
    workers: int = field(
        default=0,
        metadata={
            "help": "processes that draw episodes ahead of the optimizer (0: drawn in the training loop, "
            "the stream the shipped recipes used; N > 0: each step's episodes and masks come from that "
            "step's own seed, so the run is the same for every N)"
        },
    )
    n_way: int = field(default=5, metadata={"help": "classes per training episode"})
    k_shot: int = field(default=2, metadata={"help": "demos per class"})
    n_query: int = field(default=1, metadata={"help": "queries per class"})
    episodes_per_step: int = field(default=8, metadata={"help": "episodes per optimizer step"})
    families: tuple[str, ...] = field(
        default=TRAIN_FAMILIES,
        metadata={"help": "training task families (procedural, and photo families such as photo-scene)"},
    )
    held_out: tuple[str, ...] = field(default=HELD_OUT_FAMILIES, metadata={"help": "families never trained on"})
    dropout_prob: float = field(default=0.75, metadata={"help": "probability an image's tokens are corrupted"})
    tile_dropout: float = field(default=0.8, metadata={"help": "max rate of random token dropout"})
    band_dropout: float = field(default=0.3, metadata={"help": "per-band drop probability in band dropout"})
    text_dropout: float = field(default=0.3, metadata={"help": "probability of a generic or empty instruction"})
    generic_answers: float = field(default=0.3, metadata={"help": "probability of letter/number answer strings"})
    lr: float = field(default=2e-3, metadata={"help": "peak AdamW learning rate (cosine decay to 10%)"})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay"})
    warmup: int = field(default=100, metadata={"help": "linear warm-up steps"})
    aux_weight: float = field(default=0.5, metadata={"help": "weight of the auxiliary attribute losses"})
    eval_every: int = field(default=500, metadata={"help": "steps between validation runs (0: only at the end)"})
    eval_episodes: int = field(default=20, metadata={"help": "validation episodes per family"})
    log_every: int = field(default=50, metadata={"help": "steps between log lines"})
    snapshot_every: int = field(
        default=100,
        metadata={
            "help": "steps between resumable snapshots in OUT/train-snapshot.safetensors (0: none); re-running "
            "the same config resumes from it"
        },
    )
    model: ModelConfig = field(default_factory=ModelConfig, metadata={"help": "architecture"})
    augment: float = field(
        default=0.0, metadata={"help": "probability a photo-family image is Lanczos-resampled or blurred"}
    )
    init_from: str | None = field(
        default=None,
        metadata={"help": "checkpoint (directory or shipped name) whose matching weights initialise the model"},
    )

    def __post_init__(self) -> None:
        for name, lo in (("steps", 1), ("n_way", 2), ("k_shot", 1), ("n_query", 1), ("episodes_per_step", 1)):
            check_int("TrainConfig", name, getattr(self, name), lo)
        counts = (("warmup", 0), ("eval_every", 0), ("eval_episodes", 1), ("log_every", 1), ("workers", 0))
        for name, lo in (*counts, ("snapshot_every", 0)):
            check_int("TrainConfig", name, getattr(self, name), lo)
        check_int("TrainConfig", "seed", self.seed, 0, 2**63 - 1)
        if self.threads is not None:
            check_int("TrainConfig", "threads", self.threads, 1, 1024)
        if self.minutes is not None and (
            not isinstance(self.minutes, (int, float)) or isinstance(self.minutes, bool) or not self.minutes > 0
        ):
            raise ConfigError(f"TrainConfig.minutes must be a number > 0 or None, got {self.minutes!r}")
        if not isinstance(self.out, str) or not self.out:
            raise ConfigError(f"TrainConfig.out must be a non-empty path string, got {self.out!r}")
        if not isinstance(self.device, str) or not (
            self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:")
        ):
            raise ConfigError(f"TrainConfig.device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")
        if self.init_from is not None and (not isinstance(self.init_from, str) or not self.init_from):
            raise ConfigError(f"TrainConfig.init_from must be a checkpoint path/name or None, got {self.init_from!r}")
        for name in ("dropout_prob", "tile_dropout", "band_dropout", "text_dropout", "generic_answers", "augment"):
            _check_rate(name, getattr(self, name))
        for name in ("lr", "weight_decay", "aux_weight"):
            _check_rate(name, getattr(self, name), 10.0)
        if not self.lr > 0:
            raise ConfigError(f"TrainConfig.lr must be > 0, got {self.lr!r}")
        for name in ("families", "held_out"):
            value = getattr(self, name)
            if isinstance(value, str) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"TrainConfig.{name} must be a sequence of family names, got {value!r}")
            object.__setattr__(self, name, tuple(value))
            for fam in value:
                if name == "held_out" and fam not in FAMILIES:  # evaluation holds out procedural families only
                    raise UnknownNameError("held-out task family (procedural)", fam, available_families())
                if fam not in FAMILIES and not is_photo_family(fam):
                    raise UnknownNameError("task family", fam, [*available_families(), *PHOTO_FAMILIES])
        if not self.families:
            raise ConfigError("TrainConfig.families must name at least one family")
        both = sorted(set(self.families) & set(self.held_out))
        if both:
            raise ConfigError(f"families {both} are both trained on and held out")
        small = [f for f in (*self.families, *self.held_out) if len(_family_values(f)) < self.n_way]
        if small:
            raise ConfigError(f"families {small} have fewer than n_way={self.n_way} answers")
        if isinstance(self.model, Mapping):
            object.__setattr__(self, "model", ModelConfig.from_dict(self.model))
        if not isinstance(self.model, ModelConfig):
            raise ConfigError(f"TrainConfig.model must be a ModelConfig, got {type(self.model).__name__}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready field values (the model config nested)."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["families"], d["held_out"] = list(self.families), list(self.held_out)
        d["model"] = self.model.to_dict()
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`ConfigError`."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"unknown option(s) {unknown} for TrainConfig; allowed: {sorted(names)}")
        conv: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**conv)


#: Families of the ``v2`` recipe (``large-gpu`` adds ``photo-mark``).
_V2_FAMILIES = (
    *TRAIN_FAMILIES,
    "photo-scene",
    "photo-grain",
    "photo-cast",
    "photo-cast",
    "photo-cast",
    "fine-texture",
)

#: Named recipes (``specprompt train --preset NAME``): TrainConfig fields over the defaults.
#: ``v1`` is the shipped ``band-vlm-v1`` recipe (the defaults); ``v2`` warm-starts from it at a
#: 256 px working resolution with fine levels, adds the photo families with resample/blur
#: augmentation, and runs 1200 steps (14 min 45 s on a 2-core machine) or 30 minutes, whichever
#: ends first (the schedule follows the cap: a loaded machine ends it early). A family named k
#: times is drawn k times as often: ``photo-cast`` is named three times, since with one share in
#: eleven the colour casts of real photos were ranked worst (``benchmarks/README.md``). The shipped
#: ``band-vlm-v2`` holds this recipe's weights; its config then sets ``readout_scale="episode"``
#: (measured better after training; the recipe itself trains with the default ``"prior"`` readout).
#: ``large-gpu`` is the larger model trained from scratch on an H200 (dim 128, depth 6: 1.4M
#: weights, 5.7 MB), v2's families plus ``photo-mark``, 16 episodes a step drawn by 14 processes,
#: 4.5 minutes (about 25,000 episodes at 92 episodes/s). It is recorded, not shipped: it ranks
#: real-photo band choices worse than v2 (``benchmarks/README.md``).
TRAIN_PRESETS: dict[str, dict[str, Any]] = {
    "v1": {},
    "v2": {
        "families": list(_V2_FAMILIES),
        "augment": 0.5,
        "init_from": "band-vlm-v1",
        "model": {"canvas": 256},
        "lr": 1e-3,
        "warmup": 20,
        "steps": 1200,
        "minutes": 30.0,
        "threads": 2,
        "eval_every": 0,
        "eval_episodes": 10,
        "log_every": 10,
    },
    "large-gpu": {
        "families": [*_V2_FAMILIES, "photo-mark"],
        "augment": 0.5,
        "model": {"canvas": 256, "dim": 128, "depth": 6, "heads": 8},
        "lr": 2e-3,
        "warmup": 200,
        "steps": 100000,
        "minutes": 4.5,
        "episodes_per_step": 16,
        "workers": 14,
        "threads": 2,
        "device": "cuda",
        "eval_every": 0,
        "eval_episodes": 20,
        "log_every": 50,
    },
}
