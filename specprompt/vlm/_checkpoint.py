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
from pathlib import Path
from typing import TYPE_CHECKING, Any

from specprompt.errors import ConfigError
from specprompt.vlm._config import ModelConfig

if TYPE_CHECKING:
    import torch

    from specprompt.vlm._model import BandVLM

__all__ = [
    "CHECKPOINT_FORMAT",
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

CHECKPOINT_FORMAT = "specprompt-band-vlm"
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

    Example:
        >>> resolve_checkpoint("band-vlm-v1") == DEFAULT_CHECKPOINT
        True
    """
    if checkpoint is None:
        return DEFAULT_CHECKPOINT
    path = Path(checkpoint)
    if not path.exists() and isinstance(checkpoint, str) and checkpoint in shipped_checkpoints():
        return CHECKPOINTS_DIR / checkpoint
    return path


def resolve_device(device: str) -> str:
    """``"auto"`` -> ``"cuda"`` when available else ``"cpu"``; a CUDA device without CUDA raises."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} asked for, but torch sees no CUDA device; use --device cpu")
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
    model: BandVLM, directory: str | Path, *, train: dict[str, Any] | None = None, metrics: dict[str, Any] | None = None
) -> Path:
    """Writes ``model`` to ``directory`` (created if missing) and returns the directory.

    Raises:
        ConfigError: the weights exceed :data:`MAX_CHECKPOINT_BYTES`.
    """
    from safetensors.torch import save_file

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    digest = weights_hash(state)
    save_file(state, str(out / WEIGHTS_FILE), metadata={"format": CHECKPOINT_FORMAT, "weights_sha256": digest})
    (out / WEIGHTS_FILE).chmod(0o644)  # the writer creates it owner-only; checkpoints are shared data
    size = (out / WEIGHTS_FILE).stat().st_size
    if size > MAX_CHECKPOINT_BYTES:
        raise ConfigError(f"checkpoint weights are {size} bytes, over the {MAX_CHECKPOINT_BYTES}-byte limit")
    meta = {
        "format": CHECKPOINT_FORMAT,
        "version": 1,
        "model": model.config.to_dict(),
        "weights_sha256": digest,
        "model_id": model_id_of(digest),
        "train": train or {},
        "metrics": metrics or {},
    }
    (out / CONFIG_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return out


def read_config(directory: str | Path) -> dict[str, Any]:
    """The parsed ``config.json`` of a checkpoint directory, checked for format and keys."""
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise ConfigError(f"no checkpoint at {str(directory)!r}: {CONFIG_FILE} is missing")
    try:
        meta = json.loads(path.read_text())
    except ValueError as exc:
        raise ConfigError(f"checkpoint config {str(path)!r} is not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
        raise ConfigError(f"{str(path)!r} is not a {CHECKPOINT_FORMAT} checkpoint config")
    for key in ("model", "weights_sha256"):
        if key not in meta:
            raise ConfigError(f"checkpoint config {str(path)!r} lacks {key!r}")
    return meta


def load_checkpoint(directory: str | Path | None = None, *, device: str = "cpu") -> tuple[BandVLM, dict[str, Any]]:
    """Loads a checkpoint directory or shipped checkpoint name (default: ``band-vlm-v1``) in eval
    mode, with its config dict.

    Raises:
        ConfigError: missing or malformed files, or weights whose hash differs from the config's.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from specprompt.vlm._model import BandVLM

    folder = resolve_checkpoint(directory)
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
