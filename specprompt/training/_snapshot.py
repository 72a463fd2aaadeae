"""Resumable training: a snapshot of a run in progress, written every ``snapshot_every`` steps.

The snapshot is one safetensors file, ``<out>/train-snapshot.safetensors``, replaced atomically
(a ``train-snapshot.safetensors.tmp`` that earlier versions left beside it is ignored and deleted):
the model's weights (``model.*``), the optimizer's tensors (``opt.<param>.<name>``) and, in its
metadata, a JSON record of everything else the loop carries (the step, the seconds spent, the
running sums of the log line, the history, the episode generator's state). Re-running the same
``specprompt train`` command (the same config and ``out``) resumes from it and writes the weights
the uninterrupted run would have written (on CPU with a fixed thread count; with ``minutes`` set
the schedule follows the clock, so only approximately). The snapshot is deleted once the
checkpoint is written. Nothing in it executes code: tensors and JSON only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from specprompt.errors import ConfigError

if TYPE_CHECKING:
    import torch

    from specprompt.training._config import TrainConfig

__all__ = ["OLD_TEMPORARY", "SNAPSHOT_FILE", "Snapshot", "load_snapshot", "save_snapshot", "snapshot_path"]

#: File name of the snapshot inside the run's ``out`` directory.
SNAPSHOT_FILE = "train-snapshot.safetensors"
#: The fixed-name temporary snapshot of earlier versions (now one of its own per write).
OLD_TEMPORARY = SNAPSHOT_FILE + ".tmp"
_FORMAT = "specprompt-train-snapshot"
#: Config fields a resumed run may change: where and how fast it runs, not what it computes.
_FREE_FIELDS = ("out", "device", "threads", "minutes", "snapshot_every", "log_every")


@dataclass
class Snapshot:
    """The loop's state after ``done`` steps (the tensors travel separately)."""

    done: int
    seconds: float
    running: list[float]
    history: list[dict[str, Any]] = field(default_factory=list)
    rng_state: dict[str, Any] | None = None


def snapshot_path(config: TrainConfig) -> Path:
    """Where the run of ``config`` keeps its snapshot."""
    return Path(config.out) / SNAPSHOT_FILE


def _fingerprint(config: TrainConfig) -> dict[str, Any]:
    d = {k: v for k, v in config.to_dict().items() if k not in _FREE_FIELDS}
    d["workers"] = bool(d["workers"])  # every pool size draws the same run; the loop another
    return d


def save_snapshot(config: TrainConfig, model: torch.nn.Module, opt: torch.optim.Optimizer, snap: Snapshot) -> Path:
    """Writes the snapshot of ``config``'s run atomically, through a temporary file of its own
    (:func:`~specprompt._outputs.write_atomic`), then a rename."""
    import torch
    from safetensors.torch import save

    from specprompt._outputs import write_atomic

    tensors = {f"model.{k}": v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    state = opt.state_dict()
    for pid, slots in state["state"].items():
        for name, value in slots.items():
            t = value if isinstance(value, torch.Tensor) else torch.tensor(value)
            tensors[f"opt.{pid}.{name}"] = t.detach().to("cpu").contiguous()
    meta = {
        "format": _FORMAT,
        "config": _fingerprint(config),
        "param_groups": state["param_groups"],
        "done": snap.done,
        "seconds": snap.seconds,
        "running": snap.running,
        "history": snap.history,
        "rng_state": snap.rng_state,
    }
    path = snapshot_path(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_atomic(path, save(tensors, metadata={_FORMAT: json.dumps(meta)}))


def load_snapshot(
    config: TrainConfig, model: torch.nn.Module, opt: torch.optim.Optimizer, device: str
) -> Snapshot | None:
    """Restores ``model`` and ``opt`` from the snapshot of ``config``'s run and returns the loop's
    state; ``None`` when there is no snapshot.

    Raises:
        ConfigError: an unreadable snapshot, or one of a run with another config (the fields that
            differ are named).
    """
    from safetensors import safe_open

    path = snapshot_path(config)
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = json.loads((fh.metadata() or {})[_FORMAT])
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    except Exception as exc:
        raise ConfigError(
            f"training snapshot {str(path)!r} is unreadable ({type(exc).__name__}: {exc}); delete it to start over"
        ) from None
    if meta.get("format") != _FORMAT:
        raise ConfigError(f"training snapshot {str(path)!r} is not a {_FORMAT} file; delete it to start over")
    ours = _fingerprint(config)
    differ = sorted(k for k in set(ours) | set(meta["config"]) if ours.get(k) != meta["config"].get(k))
    if differ:
        raise ConfigError(
            f"{str(path)!r} is the snapshot of a run with other {', '.join(differ)}: resume with that run's "
            "config, or give another --out (or delete the snapshot) to start a new run"
        )
    weights = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    model.load_state_dict(weights)
    slots: dict[int, dict[str, torch.Tensor]] = {}
    for k, v in tensors.items():
        if k.startswith("opt."):
            _, pid, name = k.split(".", 2)
            slots.setdefault(int(pid), {})[name] = v.to(device) if name != "step" else v
    opt.load_state_dict({"state": slots, "param_groups": meta["param_groups"]})
    return Snapshot(
        done=int(meta["done"]),
        seconds=float(meta["seconds"]),
        running=[float(x) for x in meta["running"]],
        history=list(meta["history"]),
        rng_state=meta["rng_state"],
    )
