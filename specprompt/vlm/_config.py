"""Frozen, JSON-round-trippable configuration of the local band VLM's architecture."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from specprompt.errors import ConfigError
from specprompt.vlm._tokenizer import FINE_GRIDS, SPECTRAL_BINS

#: Spreads the readout can measure distances in (``scale`` of :func:`specprompt.vlm._readout.fisher_logits`).
READOUT_SCALES: tuple[str, ...] = ("prior", "episode")

#: Raw colour dims: mean colour of the residual band, globally and in each of its 4 tokens.
RAW_DIMS = 15
#: Allowed working resolutions (longer side, pixels); 64 is the v1 model (no fine levels).
CANVASES: tuple[int, ...] = (64, 128, 256, 512)

__all__ = ["CANVASES", "RAW_DIMS", "READOUT_SCALES", "ModelConfig", "check_int", "from_mapping"]


def check_int(owner: str, name: str, value: object, minimum: int, maximum: int | None = None) -> None:
    """Raises :class:`ConfigError` unless ``value`` is an int in ``[minimum, maximum]``."""
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= minimum
    if ok and maximum is not None:
        ok = value <= maximum  # type: ignore[operator]
    if not ok:
        upper = f" and <= {maximum}" if maximum is not None else ""
        raise ConfigError(f"{owner}.{name} must be an int >= {minimum}{upper}, got {value!r}")


def from_mapping(cls: type[Any], data: Mapping[str, Any]) -> Any:
    """Builds dataclass ``cls`` from a mapping; unknown keys raise :class:`ConfigError`."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{cls.__name__} data must be a mapping, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"unknown option(s) {unknown} for {cls.__name__}; allowed: {sorted(names)}")
    conv = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    return cls(**conv)


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of :class:`~specprompt.vlm.BandVLM` (stored next to the weights).

    Example:
        >>> ModelConfig().embedding_dim
        271
        >>> ModelConfig.from_dict(ModelConfig(dim=32).to_dict()).dim
        32
    """

    dim: int = field(default=64, metadata={"help": "width of the token transformer"})
    depth: int = field(default=3, metadata={"help": "transformer blocks over one image's tokens"})
    heads: int = field(default=4, metadata={"help": "attention heads (must divide dim)"})
    mlp_ratio: int = field(default=2, metadata={"help": "hidden width of the MLPs, as a multiple of dim"})
    readout_tokens: int = field(default=4, metadata={"help": "learned summary tokens per image"})
    slices: int = field(default=8, metadata={"help": "slices of the image embedding (one per aux attribute + free)"})
    slice_dim: int = field(default=32, metadata={"help": "width of one slice of the image embedding"})
    text_dim: int = field(default=32, metadata={"help": "width of the hashed n-gram text embedding"})
    pos_freqs: int = field(default=6, metadata={"help": "sine/cosine frequencies of the 2-D position code"})
    conv_stem: bool = field(
        default=True,
        metadata={"help": "add a two-layer strided conv embedding (within the patch) for patches of 8+ samples"},
    )
    raw_colour: bool = field(
        default=True,
        metadata={"help": "append the residual band's mean colour (global and per residual token) to the embedding"},
    )
    aux: tuple[tuple[str, int], ...] = field(
        default=(),
        metadata={"help": "auxiliary heads as (attribute, classes); head i reads embedding slice i"},
    )
    canvas: int = field(
        default=64,
        metadata={
            "help": "working resolution (longer side, px): 64 (v1, five bands) or 128/256/512, which add one "
            "fine level per octave above 64 px, as pooled tokens created only where the level carries energy"
        },
    )
    fine_threshold: float = field(
        default=0.012,
        metadata={"help": "mean |coefficient| a fine-level patch needs for its token to be created"},
    )
    fine_grid: int = field(
        default=4,
        metadata={"help": "tokens per side of each fine level (4, 8 or 16): finer grids see smaller details"},
    )
    fine_cells: int = field(
        default=4,
        metadata={"help": "cells per side of a fine token's energy map (2, 4 or 8)"},
    )
    readout_scale: str = field(
        default="prior",
        metadata={
            "help": "spread the readout measures distances in: 'prior' (the within-class variance shrunk "
            "towards a learned prior, as v1 and v2 were trained) or 'episode' (the demos' own spread: demos "
            "that differ only in a small region still separate)"
        },
    )

    fine_readout: float = field(
        default=0.0,
        metadata={
            "help": "temperature of a second readout over the kept fine tokens' spectral signatures "
            "(episode-scaled, no learned weights), added to the learned readout's logits; 0 turns it off. "
            "It counts only where the demos differ clearly and in a small region (a digit on a tag), "
            "which the learned embedding pools away"
        },
    )

    def __post_init__(self) -> None:
        for name, lo in (
            ("dim", 8),
            ("depth", 1),
            ("heads", 1),
            ("mlp_ratio", 1),
            ("readout_tokens", 1),
            ("slices", 1),
            ("slice_dim", 1),
            ("text_dim", 1),
            ("pos_freqs", 1),
        ):
            check_int("ModelConfig", name, getattr(self, name), lo, 4096)
        for name in ("raw_colour", "conv_stem"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"ModelConfig.{name} must be a bool, got {getattr(self, name)!r}")
        if self.canvas not in CANVASES or isinstance(self.canvas, bool):
            raise ConfigError(f"ModelConfig.canvas must be one of {CANVASES}, got {self.canvas!r}")
        thr = self.fine_threshold
        if isinstance(thr, bool) or not isinstance(thr, (int, float)) or not 0.0 <= float(thr) < 1.0:
            raise ConfigError(f"ModelConfig.fine_threshold must be a number in [0, 1), got {thr!r}")
        object.__setattr__(self, "fine_threshold", float(thr))
        if self.fine_grid not in FINE_GRIDS or isinstance(self.fine_grid, bool):
            raise ConfigError(f"ModelConfig.fine_grid must be one of {FINE_GRIDS}, got {self.fine_grid!r}")
        if self.fine_cells not in (2, 4, 8) or isinstance(self.fine_cells, bool):
            raise ConfigError(f"ModelConfig.fine_cells must be one of (2, 4, 8), got {self.fine_cells!r}")
        fr = self.fine_readout
        if isinstance(fr, bool) or not isinstance(fr, (int, float)) or not 0.0 <= float(fr) <= 1000.0:
            raise ConfigError(f"ModelConfig.fine_readout must be a number in [0, 1000], got {fr!r}")
        object.__setattr__(self, "fine_readout", float(fr))
        if self.readout_scale not in READOUT_SCALES:
            raise ConfigError(f"ModelConfig.readout_scale must be one of {READOUT_SCALES}, got {self.readout_scale!r}")
        if (128 // self.fine_grid) % self.fine_cells:  # the coarsest fine level has 128 samples per side
            raise ConfigError(
                f"ModelConfig.fine_cells ({self.fine_cells}) must divide the {128 // self.fine_grid} samples "
                f"of a fine_grid={self.fine_grid} patch"
            )
        if self.dim % self.heads:
            raise ConfigError(f"ModelConfig.heads ({self.heads}) must divide dim ({self.dim})")
        aux = tuple((str(a), int(n)) for a, n in self.aux)
        if len(aux) > self.slices:
            raise ConfigError(f"ModelConfig has {len(aux)} aux heads but only {self.slices} slices")
        if any(n < 2 for _, n in aux):
            raise ConfigError(f"every aux head needs >= 2 classes, got {aux}")
        object.__setattr__(self, "aux", aux)

    @property
    def fine_levels(self) -> int:
        """Fine levels above the 64 px bands: ``log2(canvas / 64)`` (0 for v1)."""
        return (self.canvas // 64).bit_length() - 1

    @property
    def embedding_dim(self) -> int:
        """Length of an image embedding (``slices * slice_dim``, plus 15 raw colour dims)."""
        return self.slices * self.slice_dim + (RAW_DIMS if self.raw_colour else 0)

    @property
    def fine_readout_dim(self) -> int:
        """Columns after :attr:`embedding_dim` in an embedding: the fine tokens' spectra read by
        ``fine_readout`` (0 when it is off or there are no fine levels)."""
        return self.fine_levels * self.fine_grid**2 * SPECTRAL_BINS if self.fine_readout else 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready field values."""
        d = dataclasses.asdict(self)
        d["aux"] = [list(a) for a in self.aux]
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`ConfigError`."""
        out: ModelConfig = from_mapping(cls, data)
        return out
