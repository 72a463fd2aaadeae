"""Training of the band VLM on procedural N-way K-shot episodes: :class:`TrainConfig` and :func:`train`.

Every step draws ``episodes_per_step`` episodes from the training families, corrupts the demos'
and queries' tokens with random band/tile dropout, and minimizes the cross-entropy of the
queries' answers plus ``aux_weight`` times the auxiliary attribute losses. Runs are reproducible:
the model init, the episodes and the dropout masks all derive from ``seed`` (on CPU with a fixed
thread count; CUDA kernels may add float noise), and a run stops after ``steps`` steps unless the
optional wall-clock cap ``minutes`` ends it first (recorded in the checkpoint's config).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from specprompt.errors import ConfigError, UnknownNameError
from specprompt.training._draws import Draws
from specprompt.training._episodes import EpisodeBatch, fine_allowed, sample_episodes
from specprompt.training._families import (
    AUX_ATTRIBUTES,
    FAMILIES,
    HELD_OUT_FAMILIES,
    TRAIN_FAMILIES,
    available_families,
    get_family,
)
from specprompt.training._photo_families import PHOTO_FAMILIES, get_photo_family, is_photo_family
from specprompt.training._snapshot import (
    OLD_TEMPORARY,
    SNAPSHOT_FILE,
    Snapshot,
    load_snapshot,
    save_snapshot,
    snapshot_path,
)
from specprompt.vlm import ModelConfig, check_int, resolve_device

if TYPE_CHECKING:
    import torch

    from specprompt.vlm import BandVLM

__all__ = ["TRAIN_PRESETS", "TrainConfig", "episode_forward", "train"]

log = logging.getLogger("specprompt.training")


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


def _family_values(name: str) -> tuple[str, ...]:
    return get_photo_family(name).values if is_photo_family(name) else get_family(name).values


def _model_config(config: TrainConfig) -> ModelConfig:
    aux = tuple((a, n) for a, n in AUX_ATTRIBUTES.items())
    slices = max(config.model.slices, len(aux))
    return dataclasses.replace(config.model, aux=aux, slices=slices)


def _fine_inputs(
    model: BandVLM, batch: EpisodeBatch, fine_masks: list[np.ndarray] | None, device: str
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Fine-level features and keep masks (allowed by the sent size and ``fine_masks``, and energy-gated)."""
    import torch

    from specprompt.vlm import fine_bands, fine_energy, fine_feature_dim, fine_features

    cfg = model.config
    levels = cfg.fine_levels
    n = batch.labels.size
    if not levels:
        return [], []
    tokens, dims = cfg.fine_grid * cfg.fine_grid, fine_feature_dim(cfg.fine_cells)
    if batch.detail is None or batch.sent is None:  # 64 px material only: no fine token is ever created
        zeros = torch.zeros(n, tokens, dims, device=device)
        off = torch.zeros(n, tokens, dtype=torch.bool, device=device)
        return [zeros] * levels, [off] * levels
    allowed = fine_masks if fine_masks is not None else fine_allowed(batch.sent, cfg.canvas, cfg.fine_grid)
    rows = np.flatnonzero(np.any(np.stack([a.any(1) for a in allowed]), axis=0))
    feats = [torch.zeros(n, tokens, dims, device=device) for _ in range(levels)]
    keep = [torch.from_numpy(a).to(device) for a in allowed]
    if rows.size:  # only images that may create a fine token (photo material) are analysed
        sub = batch.detail.reshape(n, cfg.canvas, cfg.canvas, 3)[rows]
        det = torch.from_numpy(sub).to(device).permute(0, 3, 1, 2)
        bands = fine_bands(det, levels)
        idx = torch.from_numpy(rows).to(device)
        pooled = fine_features(bands, cfg.fine_grid, cfg.fine_cells)
        for j, (f, en) in enumerate(zip(pooled, fine_energy(bands, cfg.fine_grid), strict=True)):
            feats[j] = feats[j].index_copy(0, idx, f)
            gate = torch.zeros_like(keep[j])
            gate[idx] = en.flatten(1) > cfg.fine_threshold
            keep[j] = keep[j] & gate
    else:
        keep = [k & False for k in keep]
    return feats, keep


def episode_forward(
    model: BandVLM,
    batch: EpisodeBatch,
    masks: list[np.ndarray] | None,
    device: str,
    fine_masks: list[np.ndarray] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Runs a batch of episodes: returns image embeddings ``(E*M, D)``, query logits ``(E, N*Q, N)``
    and query labels ``(E, N*Q)``. For a model with fine levels, ``fine_masks`` (default: every
    token the sent size allows) are further gated by the patches' energy, as at prediction time."""
    import torch

    from specprompt.vlm import band_features, text_ids, working_bands

    e, m = batch.labels.shape
    s = batch.n_way * batch.k_shot
    x = torch.from_numpy(batch.images.reshape(e * m, *batch.images.shape[2:])).to(device).permute(0, 3, 1, 2)
    feats = band_features(working_bands(x))
    if masks is None:
        keep = [torch.ones(f.shape[:2], dtype=torch.bool, device=device) for f in feats]
    else:
        keep = [torch.from_numpy(k).to(device) for k in masks]
    fine_feats, fine_keep = _fine_inputs(model, batch, fine_masks, device)
    z = model.encode(feats, keep, fine_feats, fine_keep)
    zz = z.view(e, m, -1)
    gate = model.text_gate_of([text_ids(t) for t in batch.texts])
    y = torch.from_numpy(batch.labels).to(device)
    logits = model.episode_logits(zz[:, :s], y[:, :s], batch.n_way, zz[:, s:], gate)
    return z, logits, y[:, s:]


def _evaluate(model: BandVLM, config: TrainConfig, device: str) -> dict[str, float]:
    import torch

    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 2]))
    out: dict[str, float] = {}
    model.eval()
    with torch.no_grad():
        for fam in (*config.families, *config.held_out):
            b = sample_episodes(
                rng,
                (fam,),
                config.eval_episodes,
                n_way=config.n_way,
                k_shot=config.k_shot,
                n_query=config.n_query,
                canvas=config.model.canvas,
            )
            _, logits, yq = episode_forward(model, b, None, device)
            out[fam] = round(float((logits.argmax(-1) == yq).float().mean()), 4)
    model.train()
    return out


def _init_from(model: BandVLM, checkpoint: str) -> None:
    """Copies every weight of ``checkpoint`` whose name and shape match into ``model`` (warm start).

    Raises:
        ConfigError: an unreadable checkpoint, or one sharing no weight with the model.
    """
    from specprompt.vlm import load_checkpoint

    source, _ = load_checkpoint(checkpoint)
    own = model.state_dict()
    shared = {k: v for k, v in source.state_dict().items() if k in own and own[k].shape == v.shape}
    if not shared:
        raise ConfigError(f"TrainConfig.init_from {checkpoint!r} shares no weight with the model")
    model.load_state_dict(shared, strict=False)
    log.info("init_from %s: %d of %d tensors copied", checkpoint, len(shared), len(own))


def train(
    config: TrainConfig, *, progress: bool = True, overwrite: bool = False, out_name: str = "TrainConfig.out"
) -> Path:
    """Trains a band VLM and writes a checkpoint to ``config.out``; returns that directory.

    ``config.out`` must be new or empty, or hold the snapshot of a killed run with the same config
    (the run resumes from it); a finished checkpoint there (one with its ``config.json``, which is
    written last) is replaced only with ``overwrite``. Weights without a ``config.json`` are a save
    cut short: the run replaces them (resuming from its snapshot when there is one). The run holds
    a lock on ``config.out`` (:func:`~specprompt._outputs.folder_lock`) until it ends, so a second
    run on the same folder fails at once.

    ``progress`` shows a tqdm bar of steps (only on a terminal), with the last log line's loss,
    accuracy and episodes/s. ``out_name`` names ``config.out`` in error messages (the command
    line passes ``"--out"``).

    Raises:
        ConfigError: bad config, an unavailable device, or a ``config.out`` that holds other files
            (or a finished checkpoint, without ``overwrite``) or is in use by another run.
    """
    from specprompt._outputs import folder_lock, remove_temporaries
    from specprompt.vlm import CONFIG_FILE, WEIGHTS_FILE

    if not isinstance(config, TrainConfig):
        raise ConfigError(f"train() expects a TrainConfig, got {type(config).__name__}")
    if not isinstance(out_name, str) or not out_name:
        raise ConfigError(f"out_name must be a non-empty string, got {out_name!r}")
    _check_out(config, out_name, overwrite)  # before the lock creates the folder
    device = resolve_device(config.device)
    with folder_lock(out_name, config.out, "train"):
        _check_out(config, out_name, overwrite)  # again: another run may have finished meanwhile
        remove_temporaries(config.out, (WEIGHTS_FILE, CONFIG_FILE, SNAPSHOT_FILE))
        (Path(config.out) / OLD_TEMPORARY).unlink(missing_ok=True)
        return _run(config, device, progress=progress, overwrite=overwrite)


def _check_out(config: TrainConfig, name: str, overwrite: bool) -> None:
    from specprompt._outputs import check_output_folder
    from specprompt.vlm import CONFIG_FILE, WEIGHTS_FILE

    check_output_folder(
        name,
        config.out,
        (WEIGHTS_FILE, CONFIG_FILE),
        what="checkpoint",
        resumable=(SNAPSHOT_FILE, OLD_TEMPORARY),
        finished_by=CONFIG_FILE,
        overwrite=overwrite,
    )


def _run(config: TrainConfig, device: str, *, progress: bool, overwrite: bool) -> Path:
    """The training run of :func:`train`, once ``config.out`` is checked and locked."""
    import torch
    import torch.nn.functional as F

    from specprompt.vlm import BandVLM, save_checkpoint

    if config.threads is not None:
        torch.set_num_threads(config.threads)
    mcfg = _model_config(config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = BandVLM(mcfg).to(device)
    if config.init_from is not None:
        _init_from(model, config.init_from)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    snap = load_snapshot(config, model, opt, device) or Snapshot(done=0, seconds=0.0, running=[0.0, 0.0, 0.0])
    if snap.done:
        log.info("resuming from step %d of %s (%.0f s spent)", snap.done, snapshot_path(config), snap.seconds)
    draws = Draws(dataclasses.replace(config, model=mcfg), snap.done, snap.rng_state)
    n_aux = len(mcfg.aux)
    history = snap.history
    start = time.perf_counter() - snap.seconds
    done, stop_reason = snap.done, "steps"
    run_loss, run_acc, run_aux = snap.running
    from tqdm.auto import tqdm

    bar = tqdm(total=config.steps, initial=snap.done, desc="train", unit="step", disable=None if progress else True)
    try:
        for step in range(snap.done, config.steps):
            if config.minutes is not None and time.perf_counter() - start > 60 * config.minutes:
                stop_reason = "minutes"
                break
            frac = step / config.steps
            if config.minutes is not None:  # a capped run on a busy machine still ends its cosine decay
                frac = max(frac, (time.perf_counter() - start) / (60 * config.minutes))
            warm = min(1.0, (step + 1) / max(1, config.warmup))
            lr = config.lr * warm * (0.1 + 0.45 * (1 + math.cos(math.pi * frac)))
            for group in opt.param_groups:
                group["lr"] = lr
            batch, masks, fine_masks = draws.next()
            z, logits, yq = episode_forward(model, batch, masks, device, fine_masks)
            loss = F.cross_entropy(logits.reshape(-1, config.n_way), yq.reshape(-1))
            aux = torch.from_numpy(batch.aux.reshape(-1, n_aux)).to(device)
            aux_loss = z.new_zeros(())
            for j, lg in enumerate(model.aux_logits(z)):
                if bool((aux[:, j] >= 0).any()):
                    aux_loss = aux_loss + F.cross_entropy(lg, aux[:, j], ignore_index=-1)
            total: torch.Tensor = loss + config.aux_weight * aux_loss
            opt.zero_grad(set_to_none=True)
            total.backward()  # type: ignore[no-untyped-call]
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            done = step + 1
            bar.update(1)
            run_loss += float(loss.detach())
            run_acc += float((logits.argmax(-1) == yq).float().mean())
            run_aux += float(aux_loss.detach())
            if done % config.log_every == 0:
                elapsed = time.perf_counter() - start
                row: dict[str, Any] = {
                    "step": done,
                    "loss": round(run_loss / config.log_every, 4),
                    "acc": round(run_acc / config.log_every, 4),
                    "aux": round(run_aux / config.log_every, 4),
                    "lr": lr,
                    "seconds": round(elapsed, 1),
                    "episodes_per_s": round(done * config.episodes_per_step / elapsed, 2),
                }
                run_loss = run_acc = run_aux = 0.0
                if config.eval_every and done % config.eval_every == 0:
                    row["val"] = _evaluate(model, config, device)
                history.append(row)
                log.info("train %s", json.dumps(row))
                bar.set_postfix(loss=row["loss"], acc=row["acc"], eps=row["episodes_per_s"], refresh=False)
            if config.snapshot_every and done % config.snapshot_every == 0 and done < config.steps:
                seconds = time.perf_counter() - start
                state = Snapshot(done, seconds, [run_loss, run_acc, run_aux], history, draws.rng_state())
                save_snapshot(config, model, opt, state)
    except KeyboardInterrupt:
        kept = max(snap.done, done - done % config.snapshot_every) if config.snapshot_every else 0
        if kept:
            log.warning("interrupted after step %d: run the same command again to resume from step %d", done, kept)
        else:
            log.warning("interrupted after step %d, before any snapshot: a new run starts from step 0", done)
        raise
    finally:
        bar.close()
        draws.close()
    elapsed = time.perf_counter() - start
    val = _evaluate(model, config, device)
    metrics = {
        "steps_done": done,
        "stop_reason": stop_reason,
        "seconds": round(elapsed, 1),
        "episodes": done * config.episodes_per_step,
        "episodes_per_s": round(done * config.episodes_per_step / max(elapsed, 1e-9), 2),
        "device": device,
        "threads": torch.get_num_threads(),
        "val": val,
        "history": history,
    }
    model.to("cpu")
    out = save_checkpoint(
        model,
        config.out,
        train=config.to_dict(),
        metrics=metrics,
        overwrite=overwrite,  # checked at the start: a run that was allowed to start may save
        keep=(SNAPSHOT_FILE,),
    )
    snapshot_path(config).unlink(missing_ok=True)
    return out
