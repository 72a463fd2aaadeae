"""Training of the band VLM on procedural N-way K-shot episodes: :func:`train` (settings: :class:`TrainConfig`).

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
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from specprompt.errors import ConfigError
from specprompt.training._config import TrainConfig
from specprompt.training._draws import Draws
from specprompt.training._episodes import EpisodeBatch, fine_allowed, sample_episodes
from specprompt.training._families import (
    AUX_ATTRIBUTES,
)
from specprompt.training._snapshot import (
    OLD_TEMPORARY,
    SNAPSHOT_FILE,
    Snapshot,
    load_snapshot,
    save_snapshot,
    snapshot_path,
)
from specprompt.vlm import ModelConfig, resolve_device

if TYPE_CHECKING:
    import torch

    from specprompt.vlm import BandVLM

__all__ = ["check_train_out", "episode_forward", "train"]

log = logging.getLogger("specprompt.training")


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
    check_train_out(config, out_name, overwrite)  # before the lock creates the folder
    device = resolve_device(config.device)
    with folder_lock(out_name, config.out, "train"):
        check_train_out(config, out_name, overwrite)  # again: another run may have finished meanwhile
        remove_temporaries(config.out, (WEIGHTS_FILE, CONFIG_FILE, SNAPSHOT_FILE))
        (Path(config.out) / OLD_TEMPORARY).unlink(missing_ok=True)
        return _run(config, device, progress=progress, overwrite=overwrite)


def check_train_out(config: TrainConfig, name: str, overwrite: bool, overwrite_flag: str = "overwrite=True") -> None:
    """Refuses a ``config.out`` that :func:`train` must not write into (named ``name``).

    Allowed: a new or empty folder, one holding the snapshot of a killed run (the run resumes from
    it), or weights without a ``config.json`` (a save cut short). A finished checkpoint is replaced
    only with ``overwrite`` (asked for as ``overwrite_flag``, e.g. ``"--overwrite"``).

    Raises:
        ConfigError: see :func:`~specprompt._outputs.check_output_folder`.
    """
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
        overwrite_flag=overwrite_flag,
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
