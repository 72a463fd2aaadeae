"""Checkpoints: ``model.safetensors`` (no pickle) + ``config.json`` in one directory, with a weights hash.

Layout::

    <dir>/model.safetensors   float32 tensors, names as in BandVLM.state_dict()
    <dir>/config.json         {"format": "specprompt-band-vlm", "version": 1, "model": {...},
                               "weights_sha256": "...", "train": {...}, "metrics": {...}}

Convention:
    ``weights_sha256`` hashes the tensors, not the file: for every tensor in sorted name order,
    its name, dtype, shape and little-endian bytes. Loading recomputes it and refuses a mismatch, so
    the model id ``local-<first 12 hex digits>`` always names the weights actually loaded.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from specprompt.errors import ConfigError
from specprompt.vlm._config import ModelConfig

if TYPE_CHECKING:
    import torch

    from specprompt.vlm._model import BandVLM

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSIONS",
    "CONFIG_FILE",
    "DEFAULT_CHECKPOINT",
    "MAX_CHECKPOINT_BYTES",
    "WEIGHTS_FILE",
    "load_checkpoint",
    "model_id_of",
    "read_config",
    "resolve_checkpoint",
    "resolve_device",
    "shipped_checkpoints",
    "save_checkpoint",
    "weights_hash",
]

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "specprompt-band-vlm"
#: The ``config.json`` versions this code reads; :func:`save_checkpoint` writes the last one.
CHECKPOINT_VERSIONS = (1,)
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
#: Upper bound on a checkpoint's weights file.
MAX_CHECKPOINT_BYTES = 25 * 1024 * 1024
#: Folder of the checkpoints shipped inside the package.
CHECKPOINTS_DIR = Path(__file__).parent / "checkpoints"
#: The default checkpoint (shipped inside the package).
DEFAULT_CHECKPOINT = CHECKPOINTS_DIR / "band-vlm-v1"


def shipped_checkpoints() -> tuple[str, ...]:
    """Names of the checkpoints shipped inside the package (``band-vlm-v1``, ``band-vlm-v2``, ...).

    Example:
        >>> "band-vlm-v1" in shipped_checkpoints()
        True
    """
    return tuple(sorted(d.name for d in CHECKPOINTS_DIR.iterdir() if (d / CONFIG_FILE).is_file()))


def resolve_checkpoint(checkpoint: str | Path | None) -> Path:
    """The directory of ``checkpoint``: ``None`` -> the default, an existing path as it is, else the
    shipped checkpoint of that name (:func:`shipped_checkpoints`).

    Raises:
        ConfigError: ``checkpoint`` is neither ``None``, a ``str`` nor a path.

    Example:
        >>> resolve_checkpoint("band-vlm-v1") == DEFAULT_CHECKPOINT
        True
    """
    if checkpoint is None:
        return DEFAULT_CHECKPOINT
    if not isinstance(checkpoint, (str, os.PathLike)):
        raise ConfigError(
            "checkpoint must be a checkpoint folder, a shipped checkpoint name "
            f"({', '.join(shipped_checkpoints())}) or None (the default), got {checkpoint!r}"
        )
    path = Path(checkpoint)
    if not path.exists() and isinstance(checkpoint, str) and checkpoint in shipped_checkpoints():
        return CHECKPOINTS_DIR / checkpoint
    return path


def resolve_device(device: str) -> str:
    """``"auto"`` -> ``"cuda"`` when available else ``"cpu"``; other allowed devices as they are.

    Raises:
        ConfigError: ``device`` is not ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``, or names a
            CUDA device that torch does not see.

    Example:
        >>> resolve_device("cpu")
        'cpu'
    """
    if not isinstance(device, str) or not (device in ("auto", "cpu", "cuda") or re.fullmatch(r"cuda:\d+", device)):
        raise ConfigError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} asked for, but torch sees no CUDA device; use --device cpu")
    if device.startswith("cuda:") and int(device[5:]) >= torch.cuda.device_count():
        raise ConfigError(f"device {device!r} asked for, but torch sees {torch.cuda.device_count()} CUDA device(s)")
    return device


def weights_hash(state: dict[str, torch.Tensor]) -> str:
    """Hex SHA-256 of the tensors (name, dtype, shape, bytes, in sorted name order)."""
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().to("cpu").contiguous()
        h.update(name.encode())
        h.update(str(t.dtype).encode())
        h.update(json.dumps(list(t.shape)).encode())
        h.update(t.view(-1).view(dtype=__import__("torch").uint8).numpy().tobytes())
    return h.hexdigest()


def model_id_of(sha256: str, config: ModelConfig | None = None) -> str:
    """The model string ``local-<12 hex>`` (goes into DSPy's cache key).

    With ``config``, the id of the model as it answers: a readout other than the ``"prior"`` one
    it was trained with adds ``-<readout_scale>``, a fine readout ``-fine<tau>`` (the same weights
    answer differently, so DSPy's cache keeps them apart).

    Example:
        >>> model_id_of("ab" * 32), model_id_of("ab" * 32, ModelConfig(readout_scale="episode", fine_readout=64))
        ('local-abababababab', 'local-abababababab-episode-fine64')
    """
    suffix = ""
    if config is not None:
        suffix = "" if config.readout_scale == "prior" else f"-{config.readout_scale}"
        if config.fine_readout:
            suffix += f"-fine{config.fine_readout:g}"
    return f"local-{sha256[:12]}{suffix}"


def save_checkpoint(
    model: BandVLM,
    directory: str | Path,
    *,
    train: Mapping[str, Any] | None = None,
    metrics: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    keep: Sequence[str] = (),
) -> Path:
    """Writes ``model`` to ``directory`` (created with its parents if missing) and returns the directory.

    ``directory`` must be new or empty, or hold a checkpoint, which is replaced only with
    ``overwrite`` (a folder with other files is refused, so nothing of the user's is mixed in or
    replaced). Everything is checked before anything is written. Each file is written atomically
    (a temporary file, then a rename), the weights first and ``config.json`` last, so a save cut
    short leaves whole files: the earlier checkpoint, or weights without a ``config.json``, which
    are no finished checkpoint and are replaced without ``overwrite``. (Only a kill between the two
    renames pairs new weights with an earlier ``config.json``; loading refuses that by its hash.)

    Args:
        model: the :class:`~specprompt.vlm.BandVLM` to save (its weights go to the CPU).
        directory: the checkpoint folder.
        train: the training config, stored under ``"train"`` (JSON values).
        metrics: measurements, stored under ``"metrics"`` (JSON values).
        overwrite: replace a checkpoint already in ``directory``.
        keep: names of other files the caller owns in ``directory`` (``train()`` passes its
            resumable snapshot); they are left alone.

    Convention:
        ``config.json`` is strict JSON: a non-finite float in ``train`` or ``metrics`` (a NaN loss
        of a diverged run) is written as ``null`` and logged as a warning naming its key, since
        JSON has no NaN and the checkpoint is worth keeping. numpy scalars are written as numbers.

    Raises:
        ConfigError: ``model`` is not a ``BandVLM``; ``directory`` is a file, cannot be written,
            holds files that are not a checkpoint's, or holds a checkpoint without ``overwrite``;
            ``train`` or ``metrics`` is not a mapping of JSON values (the message names the key);
            the weights exceed :data:`MAX_CHECKPOINT_BYTES`.
    """
    from safetensors.torch import save

    from specprompt._outputs import check_output_folder, write_atomic
    from specprompt.vlm._model import BandVLM

    if not isinstance(model, BandVLM):
        raise ConfigError(f"save_checkpoint expects a BandVLM model, got {type(model).__name__}")
    if not isinstance(directory, (str, os.PathLike)):
        raise ConfigError(f"directory must be a folder path, got {directory!r}")
    if isinstance(keep, str) or not all(isinstance(k, str) for k in keep):
        raise ConfigError(f"keep must be a sequence of file names, got {keep!r}")
    nulled: list[str] = []
    records = {name: _json_record(name, value, nulled) for name, value in (("train", train), ("metrics", metrics))}
    if nulled:
        log.warning("checkpoint %s: non-finite values written as null: %s", directory, ", ".join(nulled))
    out = check_output_folder(
        "directory",
        directory,
        (WEIGHTS_FILE, CONFIG_FILE),
        what="checkpoint",
        resumable=tuple(keep),
        finished_by=CONFIG_FILE,
        overwrite=overwrite,
    )
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    size = sum(t.numel() * t.element_size() for t in state.values())
    if size > MAX_CHECKPOINT_BYTES:  # checked again on the file's bytes, whose header adds a little
        raise ConfigError(f"checkpoint weights are {size} bytes, over the {MAX_CHECKPOINT_BYTES}-byte limit")
    digest = weights_hash(state)
    meta = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSIONS[-1],
        "model": model.config.to_dict(),
        "weights_sha256": digest,
        "model_id": model_id_of(digest),
        **records,
    }
    text = json.dumps(meta, indent=2, sort_keys=True, allow_nan=False) + "\n"
    payload = save(state, metadata={"format": CHECKPOINT_FORMAT, "weights_sha256": digest})
    if len(payload) > MAX_CHECKPOINT_BYTES:
        raise ConfigError(f"checkpoint weights are {len(payload)} bytes, over the {MAX_CHECKPOINT_BYTES}-byte limit")
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / WEIGHTS_FILE, payload).chmod(0o644)  # checkpoints are shared data
    write_atomic(out / CONFIG_FILE, text)  # last: it marks the checkpoint finished
    return out


def _json_record(name: str, value: object, nulled: list[str]) -> dict[str, Any]:
    """``value`` (a mapping or ``None``) as a JSON-ready dict; non-finite floats become ``None``
    and their keys are added to ``nulled``.

    Raises:
        ConfigError: ``value`` is not a mapping, or holds a value JSON cannot store (key named).
    """
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{name} must be a dict of JSON values or None, got {type(value).__name__}")
    return dict(_json_value(name, value, nulled))


def _json_value(where: str, value: Any, nulled: list[str]) -> Any:
    import numpy as np

    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        nulled.append(where)
        return None
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ConfigError(f"{where} has the key {key!r}; JSON keys are strings")
            out[key] = _json_value(f"{where}[{key!r}]", item, nulled)
        return out
    if isinstance(value, (list, tuple)):
        return [_json_value(f"{where}[{i}]", item, nulled) for i, item in enumerate(value)]
    raise ConfigError(f"{where} is a {type(value).__name__}, which JSON cannot store")


def read_config(directory: str | Path) -> dict[str, Any]:
    """The parsed ``config.json`` of a checkpoint directory, checked for format, version and keys.

    Raises:
        ConfigError: no ``config.json``, not JSON, another format, a version not in
            :data:`CHECKPOINT_VERSIONS`, or a missing key.
    """
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise ConfigError(f"no checkpoint at {str(directory)!r}: {CONFIG_FILE} is missing")
    try:
        meta = json.loads(path.read_text())
    except ValueError as exc:
        raise ConfigError(f"checkpoint config {str(path)!r} is not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
        raise ConfigError(f"{str(path)!r} is not a {CHECKPOINT_FORMAT} checkpoint config")
    version = meta.get("version")
    if isinstance(version, bool) or version not in CHECKPOINT_VERSIONS:
        raise ConfigError(
            f"checkpoint config {str(path)!r} has version {version!r}; this specprompt reads version "
            f"{', '.join(map(str, CHECKPOINT_VERSIONS))} (a newer specprompt may read it)"
        )
    for key in ("model", "weights_sha256"):
        if key not in meta:
            raise ConfigError(f"checkpoint config {str(path)!r} lacks {key!r}")
    return meta


def load_checkpoint(directory: str | Path | None = None, *, device: str = "cpu") -> tuple[BandVLM, dict[str, Any]]:
    """Loads a checkpoint directory or shipped checkpoint name (default: ``band-vlm-v1``) in eval
    mode, with its config dict.

    Args:
        directory: a checkpoint folder, a shipped checkpoint name, or ``None`` (the default).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"`` (see :func:`resolve_device`).

    Raises:
        ConfigError: a ``directory`` that is not a path or name, a bad or unavailable ``device``,
            missing or malformed files, an unknown config version, or weights whose hash differs
            from the config's.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from specprompt.vlm._model import BandVLM

    folder = resolve_checkpoint(directory)
    device = resolve_device(device)
    meta = read_config(folder)
    weights = folder / WEIGHTS_FILE
    if not weights.is_file():
        raise ConfigError(f"no weights at {str(weights)!r}")
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ConfigError(f"cannot read weights {str(weights)!r}: {exc}") from None
    digest = weights_hash(state)
    if digest != meta["weights_sha256"]:
        raise ConfigError(
            f"weights {str(weights)!r} hash to {digest[:12]}, but {CONFIG_FILE} says {str(meta['weights_sha256'])[:12]}"
        )
    model = BandVLM(ModelConfig.from_dict(meta["model"]))
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ConfigError(f"weights {str(weights)!r} do not fit the model config: {exc}") from None
    model.to(device).eval()
    return model, meta
