"""Adapting the band VLM to a user's labelled images with a FourierFT adapter: :func:`finetune`.

Training mirrors the base model's: every step draws ``episodes_per_step`` N-way K-shot episodes
from the user's labels (N = ``min(n_way, labels)``, K demos and Q queries per class, drawn without
replacement, so a query is never one of its own demos), corrupts the tokens with the same random
band/tile dropout as pre-training (band-limited demos are what a band search sends), and minimizes
the cross-entropy of the queries' answers. Only the FourierFT coefficients are trained; the base
weights stay frozen, and the adapter is saved on its own (:func:`specprompt.vlm.save_adapter`).

A checkpoint with fine levels (a working resolution above 64 px, ``band-vlm-v2``) is fine-tuned
on its fine tokens too: each image is prepared at the model's working resolution, its fine
tokens are those its size and energy create (as at prediction time), and the fine levels get the
same random band and tile dropout as in pre-training (``fine_keep_masks``).

The adapter is trained through the readout the base model was trained with: a checkpoint whose
config reads out at the episode's own scale or adds the unlearned fine readout (``band-vlm-v2``:
``readout_scale="episode"``, ``fine_readout``, set after its training) is trained with the learned
prior scale and no fine readout (:func:`training_readout`), whose logits keep the cross-entropy
in the range pre-training saw. The accuracies before and after are measured as the model answers,
with its own config.

Reproducible: the coefficient positions, the episodes and the dropout masks derive from ``seed``;
global RNG state is never touched.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from specprompt.errors import ConfigError
from specprompt.vlm import ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, check_int

if TYPE_CHECKING:
    from specprompt.training._episodes import EpisodeBatch
    from specprompt.vlm import BandVLM, ModelConfig, PreparedImage

__all__ = ["FinetuneConfig", "FinetuneData", "check_finetune_out", "finetune", "prepare_data", "training_readout"]

log = logging.getLogger("specprompt.training")


def _check_number(name: str, value: object, lo: float, hi: float, *, open_lo: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(float(value))
    if ok:
        v = float(value)  # type: ignore[arg-type]
        ok = (v > lo if open_lo else v >= lo) and v <= hi
    if not ok:
        bracket = "(" if open_lo else "["
        raise ConfigError(f"FinetuneConfig.{name} must be a number in {bracket}{lo}, {hi}], got {value!r}")


@dataclass(frozen=True)
class FinetuneConfig:
    """Everything that defines a fine-tuning run (stored in the adapter's ``adapter.json``).

    Example:
        >>> cfg = FinetuneConfig(steps=20, n_frequency=64)
        >>> FinetuneConfig.from_dict(cfg.to_dict()) == cfg
        True
    """

    steps: int = field(default=150, metadata={"help": "optimizer steps"})
    n_frequency: int = field(
        default=256, metadata={"help": "trained Fourier coefficients per adapted Linear layer (FourierFT)"}
    )
    scaling: float = field(default=150.0, metadata={"help": "FourierFT scaling of the weight update"})
    lr: float = field(default=2e-2, metadata={"help": "peak AdamW learning rate of the coefficients (cosine decay)"})
    warmup: int = field(default=10, metadata={"help": "linear warm-up steps"})
    n_way: int = field(default=5, metadata={"help": "classes per episode (capped at the number of labels)"})
    k_shot: int = field(default=1, metadata={"help": "demos per class in an episode"})
    n_query: int = field(default=1, metadata={"help": "queries per class in an episode"})
    episodes_per_step: int = field(default=4, metadata={"help": "episodes per optimizer step"})
    dropout_prob: float = field(default=0.5, metadata={"help": "probability an image's tokens are corrupted"})
    tile_dropout: float = field(default=0.75, metadata={"help": "max rate of random token dropout"})
    band_dropout: float = field(default=0.3, metadata={"help": "per-band drop probability in band dropout"})
    instruction: str = field(default="", metadata={"help": "task text the episodes carry (as the engine sends it)"})
    eval_episodes: int = field(default=16, metadata={"help": "episodes scored before and after training"})
    seed: int = field(default=0, metadata={"help": "seed of the coefficient positions, episodes and masks"})
    device: str = field(default="auto", metadata={"help": "'cpu', 'cuda', 'cuda:N' or 'auto' (CUDA if present)"})

    def __post_init__(self) -> None:
        for name, lo in (("steps", 1), ("n_frequency", 1), ("n_way", 2), ("k_shot", 1), ("n_query", 1)):
            check_int("FinetuneConfig", name, getattr(self, name), lo, 1_000_000)
        for name, lo in (("episodes_per_step", 1), ("eval_episodes", 1), ("warmup", 0)):
            check_int("FinetuneConfig", name, getattr(self, name), lo, 100_000)
        check_int("FinetuneConfig", "seed", self.seed, 0, 2**63 - 1)
        _check_number("scaling", self.scaling, 0.0, 1e6, open_lo=True)
        _check_number("lr", self.lr, 0.0, 10.0, open_lo=True)
        for name in ("dropout_prob", "tile_dropout", "band_dropout"):
            _check_number(name, getattr(self, name), 0.0, 1.0)
        if not isinstance(self.instruction, str):
            raise ConfigError(f"FinetuneConfig.instruction must be a str, got {type(self.instruction).__name__}")
        if not isinstance(self.device, str) or not (
            self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:")
        ):
            raise ConfigError(f"FinetuneConfig.device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready field values."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FinetuneConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`ConfigError`."""
        from specprompt.vlm import from_mapping

        out: FinetuneConfig = from_mapping(cls, data)
        return out


@dataclass(frozen=True)
class FinetuneData:
    """The user's images, prepared once.

    Attributes:
        canvases: ``(n, 64, 64, 3)`` working canvases.
        created: per working band, ``(n, T_l)`` bool: the tokens each image creates.
        labels: class index per image, into :attr:`answers`.
        answers: the distinct labels, sorted.
        detail: ``(n, C, C, 3)`` detail canvases of a model with fine levels (``C`` its working
            resolution), else ``None``.
        fine: per fine level, ``(n, G*G)`` bool: the fine tokens each image's size allows
            (empty without fine levels).
        sent: ``(n,)`` longest side of each image in px (with fine levels), else ``None``.
    """

    canvases: np.ndarray
    created: tuple[np.ndarray, ...]
    labels: np.ndarray
    answers: tuple[str, ...]
    detail: np.ndarray | None = None
    fine: tuple[np.ndarray, ...] = ()
    sent: np.ndarray | None = None

    def by_class(self) -> list[np.ndarray]:
        """Indices of the images of each class."""
        return [np.flatnonzero(self.labels == c) for c in range(len(self.answers))]


def _pairs(examples: Sequence[tuple[Any, str]]) -> tuple[list[Any], list[str]]:
    """The images and labels of ``(image, label)`` pairs, checked (at least 2 labels)."""
    if isinstance(examples, (str, bytes)) or not isinstance(examples, Sequence):
        raise ConfigError(f"finetune data must be a sequence of (image, label) pairs, got {type(examples).__name__}")
    images: list[Any] = []
    names: list[str] = []
    for i, item in enumerate(examples):
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise ConfigError(f"finetune example {i} must be an (image, label) pair, got {type(item).__name__}")
        image, label = item
        if not isinstance(label, str) or not label.strip():
            raise ConfigError(f"finetune example {i} has label {label!r}; labels must be non-empty strings")
        images.append(image)
        names.append(label)
    if len(set(names)) < 2:
        raise ConfigError(f"finetuning needs images of at least 2 labels, got {sorted(set(names))}")
    return images, names


def prepare_data(examples: Sequence[tuple[Any, str]], model: ModelConfig | None = None) -> FinetuneData:
    """Prepares ``(image, label)`` pairs (images as :func:`~specprompt.vlm.prepare_image` takes).

    Args:
        examples: the pairs.
        model: the config of the model to fine-tune (default: a 64 px model); with fine levels
            the images are prepared at its working resolution and :attr:`FinetuneData.detail`,
            :attr:`~FinetuneData.fine` and :attr:`~FinetuneData.sent` are filled.

    Raises:
        ConfigError: fewer than 2 labels, or a label that is not a non-empty string.
        ImageInputError: an unreadable image.
    """
    from specprompt.io import as_array
    from specprompt.vlm import PreparedImage as PreparedImageType
    from specprompt.vlm import prepare_image

    images, names = _pairs(examples)
    fine = model if model is not None and model.fine_levels else None  # a model with fine levels
    prepared: list[PreparedImage] = []
    sent: list[int] = []
    for image in images:
        if fine is None:
            prepared.append(prepare_image(image))
            continue
        prepared.append(
            prepare_image(image, canvas=fine.canvas, fine_threshold=fine.fine_threshold, fine_grid=fine.fine_grid)
        )
        # the side it is sent at (fine tokens are those its size allows); a PreparedImage carries none
        sent.append(fine.canvas if isinstance(image, PreparedImageType) else int(max(as_array(image).shape[:2])))
    answers = tuple(sorted(set(names)))
    index = {a: i for i, a in enumerate(answers)}
    created = tuple(
        np.stack([p.layout.created[lv].ravel() for p in prepared]) for lv in range(len(prepared[0].layout.created))
    )
    labels = np.array([index[n] for n in names], np.int64)
    canvases = np.stack([p.canvas for p in prepared])
    if fine is None:
        return FinetuneData(canvases, created, labels, answers)
    allowed = tuple(
        np.stack([p.layout.fine[lv].ravel() for p in prepared]) for lv in range(len(prepared[0].layout.fine))
    )
    detail = np.stack([p.detail for p in prepared])  # type: ignore[misc]
    return FinetuneData(canvases, created, labels, answers, detail, allowed, np.array(sent, np.int64))


def _check_counts(data: FinetuneData, config: FinetuneConfig) -> None:
    need = config.k_shot + config.n_query
    small = {data.answers[c]: len(ix) for c, ix in enumerate(data.by_class()) if len(ix) < need}
    if small:
        raise ConfigError(
            f"every label needs at least k_shot + n_query = {need} images; too few for {small} "
            "(add images or lower --k-shot)"
        )


def sample_user_episodes(
    rng: np.random.Generator, data: FinetuneData, config: FinetuneConfig, n_episodes: int
) -> tuple[EpisodeBatch, list[np.ndarray], list[np.ndarray]]:
    """Episodes from the user's data (layout of :class:`~specprompt.training.EpisodeBatch`), each
    image's created-token masks ``(E*M, T_l)`` and its allowed fine-token masks ``(E*M, G*G)``
    (empty without fine levels)."""
    from specprompt.training._episodes import EpisodeBatch
    from specprompt.vlm import episode_text

    classes = data.by_class()
    n_way = min(config.n_way, len(classes))
    k, q = config.k_shot, config.n_query
    m = n_way * (k + q)
    picks = np.empty((n_episodes, m), np.int64)
    labels = np.empty((n_episodes, m), np.int64)
    texts, answers = [], []
    for e in range(n_episodes):
        chosen = rng.choice(len(classes), size=n_way, replace=False)
        demos, queries = [], []
        for c, cls in enumerate(chosen):
            ix = rng.choice(classes[int(cls)], size=k + q, replace=False)
            demos += [(int(i), c) for i in ix[:k]]
            queries += [(int(i), c) for i in ix[k:]]
        for j, (i, c) in enumerate(demos + queries):
            picks[e, j], labels[e, j] = i, c
        ans = tuple(data.answers[int(c)] for c in chosen)
        texts.append(episode_text(config.instruction, ans))
        answers.append(ans)
    flat = picks.ravel()
    batch = EpisodeBatch(
        data.canvases[flat].reshape(n_episodes, m, *data.canvases.shape[1:]),
        labels,
        np.full((n_episodes, m, 0), -1, np.int64),
        tuple(texts),
        tuple(answers),
        ("user",) * n_episodes,
        n_way,
        k,
        q,
        detail=None if data.detail is None else data.detail[flat].reshape(n_episodes, m, *data.detail.shape[1:]),
        sent=None if data.sent is None else data.sent[flat].reshape(n_episodes, m),
    )
    return batch, [c[flat] for c in data.created], [f[flat] for f in data.fine]


@contextlib.contextmanager
def training_readout(model: BandVLM) -> Iterator[None]:
    """Within the block ``model`` reads out as in pre-training (learned prior scale, no fine readout).

    Example:
        >>> from specprompt.vlm._config import ModelConfig
        >>> from specprompt.vlm._model import BandVLM
        >>> m = BandVLM(ModelConfig(dim=16, depth=1, heads=2, readout_scale="episode"))
        >>> with training_readout(m):
        ...     m.config.readout_scale
        'prior'
        >>> m.config.readout_scale
        'episode'
    """
    config = model.config
    model.config = dataclasses.replace(config, readout_scale="prior", fine_readout=0.0)
    try:
        yield
    finally:
        model.config = config


def _accuracy(model: BandVLM, data: FinetuneData, config: FinetuneConfig, device: str) -> float:
    import torch

    from specprompt.training._train import episode_forward

    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 2]))
    batch, created, fine = sample_user_episodes(rng, data, config, config.eval_episodes)
    with torch.no_grad():
        _, logits, yq = episode_forward(model, batch, created, device, fine or None)
    return round(float((logits.argmax(-1) == yq).float().mean()), 4)


@contextlib.contextmanager
def _said_if_interrupted(losses: list[float], steps: int) -> Iterator[None]:
    """Logs, on Ctrl-C in the block, that the run saved nothing (``losses`` holds one loss a step)."""
    try:
        yield
    except KeyboardInterrupt:
        log.warning(
            "finetune interrupted after step %d of %d: nothing was saved (finetune keeps no snapshot); "
            "a new run starts from step 0",
            len(losses),
            steps,
        )
        raise


def finetune(
    examples: Sequence[tuple[Any, str]],
    out: str | Path,
    config: FinetuneConfig | None = None,
    *,
    checkpoint: str | Path | None = None,
    overwrite: bool = False,
    out_name: str = "out",
) -> Path:
    """Trains a FourierFT adapter of the band VLM on labelled images and saves it to ``out``.

    The run holds a lock on ``out`` (:func:`~specprompt._outputs.folder_lock`) until it ends, so a
    second run on the same folder fails at once. It keeps no snapshot: a run cut short saves
    nothing, and running it again starts from step 0.

    Args:
        examples: ``(image, label)`` pairs; images as :func:`~specprompt.vlm.prepare_image`
            takes (arrays, PIL images, paths, data URIs, ``dspy.Image``).
        out: the adapter directory (created; must be new or empty: an adapter already there, one
            with its ``adapter.json``, which is written last, is replaced only with ``overwrite``).
        config: the run (default :class:`FinetuneConfig`).
        checkpoint: base checkpoint directory (default: the shipped one).
        overwrite: replace an adapter already in ``out``.
        out_name: what names ``out`` in error messages (the command line passes ``"--out"``).

    Returns:
        ``out``; load it with ``local_lm(adapter_path=out)`` or ``specprompt serve --adapter out``.

    Raises:
        ConfigError: a bad config or checkpoint, an output directory holding other files (or an
            adapter, without ``overwrite``) or in use by another run, fewer than 2 labels, or a label
            with fewer than ``k_shot + n_query`` images. ImageInputError: an unreadable image.
        ImportError: peft is not installed.

    Example:
        >>> finetune([], "adapter")  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        ConfigError: finetuning needs images of at least 2 labels, got []
    """
    from specprompt._outputs import folder_lock, remove_temporaries
    from specprompt.vlm import require_peft, resolve_device

    cfg = config if config is not None else FinetuneConfig()
    if not isinstance(cfg, FinetuneConfig):
        raise ConfigError(f"config must be a FinetuneConfig, got {type(cfg).__name__}")
    if not isinstance(out_name, str) or not out_name:
        raise ConfigError(f"out_name must be a non-empty string, got {out_name!r}")
    _pairs(examples)  # bad pairs fail before the checkpoint loads
    target = check_finetune_out(out, out_name, overwrite)  # before the lock creates the folder
    require_peft()
    device = resolve_device(cfg.device)
    with folder_lock(out_name, target, "finetune"):
        check_finetune_out(out, out_name, overwrite)  # again: another run may have finished meanwhile
        remove_temporaries(target, (ADAPTER_WEIGHTS_FILE, ADAPTER_CONFIG_FILE))
        return _run(examples, target, cfg, checkpoint, device)


def check_finetune_out(out: str | Path, name: str, overwrite: bool, overwrite_flag: str = "overwrite=True") -> Path:
    """``out`` as a path, once :func:`finetune` may write its adapter there (named ``name``): new,
    empty, or holding an adapter cut short; a whole one is replaced only with ``overwrite`` (asked
    for as ``overwrite_flag``, e.g. ``"--overwrite"``).

    Raises:
        ConfigError: see :func:`~specprompt._outputs.check_output_folder`.
    """
    from specprompt._outputs import check_output_folder

    files = (ADAPTER_WEIGHTS_FILE, ADAPTER_CONFIG_FILE)
    return check_output_folder(
        name,
        out,
        files,
        what="FourierFT adapter",
        finished_by=ADAPTER_CONFIG_FILE,
        overwrite=overwrite,
        overwrite_flag=overwrite_flag,
    )


def _run(
    examples: Sequence[tuple[Any, str]], target: Path, cfg: FinetuneConfig, checkpoint: str | Path | None, device: str
) -> Path:
    """The fine-tuning run of :func:`finetune`, once ``target`` is checked and locked."""
    import torch
    import torch.nn.functional as F

    from specprompt.training._episodes import fine_keep_masks, keep_masks
    from specprompt.training._train import episode_forward
    from specprompt.vlm import attach_fourierft, load_checkpoint, model_id_of, save_adapter

    model, meta = load_checkpoint(checkpoint, device=device)
    data = prepare_data(examples, model.config)
    _check_counts(data, cfg)
    before = _accuracy(model, data, cfg, device)
    wrapped, spec = attach_fourierft(model, n_frequency=cfg.n_frequency, scaling=cfg.scaling, seed=cfg.seed)
    params = [p for p in wrapped.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0)
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 1]))
    start = time.perf_counter()
    losses: list[float] = []
    with training_readout(model), _said_if_interrupted(losses, cfg.steps):  # the readout of pre-training
        for step in range(cfg.steps):
            frac = step / cfg.steps
            lr = cfg.lr * min(1.0, (step + 1) / max(1, cfg.warmup)) * (0.1 + 0.45 * (1 + math.cos(math.pi * frac)))
            for group in opt.param_groups:
                group["lr"] = lr
            batch, created, fine = sample_user_episodes(rng, data, cfg, cfg.episodes_per_step)
            noise = keep_masks(
                rng,
                batch.labels.size,
                dropout_prob=cfg.dropout_prob,
                tile_dropout=cfg.tile_dropout,
                band_dropout=cfg.band_dropout,
            )
            masks = [c & k for c, k in zip(created, noise, strict=True)]
            fine_masks = fine_keep_masks(
                rng, fine, dropout_prob=cfg.dropout_prob, tile_dropout=cfg.tile_dropout, band_dropout=cfg.band_dropout
            )
            _, logits, yq = episode_forward(model, batch, masks, device, fine_masks or None)
            loss = F.cross_entropy(logits.reshape(-1, batch.n_way), yq.reshape(-1))
            opt.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            torch.nn.utils.clip_grad_norm_(params, 5.0)
            opt.step()
            losses.append(float(loss.detach()))
            if (step + 1) % 50 == 0:
                log.info("finetune step %d loss %.4f", step + 1, float(np.mean(losses[-50:])))
    after = _accuracy(model, data, cfg, device)
    window = max(1, min(10, len(losses)))
    metrics = {
        "steps": cfg.steps,
        "seconds": round(time.perf_counter() - start, 1),
        "device": device,
        "loss_first": round(float(np.mean(losses[:window])), 4),
        "loss_last": round(float(np.mean(losses[-window:])), 4),
        "train_episode_accuracy_before": before,
        "train_episode_accuracy_after": after,
        "trainable_parameters": int(sum(p.numel() for p in params)),
        "images": len(data.labels),
    }
    wrapped.to("cpu")
    return save_adapter(
        wrapped,
        target,
        base_sha256=str(meta["weights_sha256"]),
        base_model_id=model_id_of(str(meta["weights_sha256"]), model.config),
        fourierft=spec,
        info={"finetune": cfg.to_dict(), "labels": list(data.answers), "metrics": metrics},
        overwrite=True,  # checked under the lock before training: a run allowed to start may save
    )
