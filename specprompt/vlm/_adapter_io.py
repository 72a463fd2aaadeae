"""FourierFT adapters of the band VLM on disk: ``adapter.safetensors`` + ``adapter.json``, never pickle.

Layout::

    <dir>/adapter.safetensors  per adapted Linear layer NAME: "spectrum/NAME" float32 (n,) (the
                               trained Fourier coefficients) and "indices/NAME" int64 (2, n) (their
                               (row, col) positions in the weight's 2-D spectrum)
    <dir>/adapter.json         {"format": "specprompt-fourierft-adapter", "version": 1,
                                "base_weights_sha256": ..., "base_model_id": "local-...",
                                "adapter_sha256": ..., "fourierft": {n_frequency, scaling,
                                random_loc_seed, target_modules, n_frequency_pattern},
                                "finetune": {...}, "labels": [...], "metrics": {...}}

Convention:
    PEFT's FourierFT (``peft.FourierFTConfig``) adds ``scaling * Re(ifft2(S))`` to a Linear weight,
    where the sparse spectrum ``S`` holds the ``n`` trained coefficients at positions drawn from
    ``random_loc_seed``. Only the coefficients are weights; the positions are stored too, and loading
    checks that PEFT regenerates the same ones (a torch upgrade that changed ``randperm`` would
    otherwise silently scramble the adapter). ``adapter_sha256`` hashes the tensors like
    :func:`~specprompt.vlm._checkpoint.weights_hash`; an adapter only loads onto the base weights
    whose hash it records. Loaded adapters are merged into the weights (no inference overhead).
    PEFT's own ``save_pretrained`` also writes safetensors by default; this module keeps its own
    file pair so the JSON can bind the adapter to its base checkpoint.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from specprompt.errors import ConfigError, MissingDependencyError

if TYPE_CHECKING:
    import peft
    import torch

    from specprompt.vlm._model import BandVLM

__all__ = [
    "ADAPTER_CONFIG_FILE",
    "ADAPTER_FORMAT",
    "ADAPTER_WEIGHTS_FILE",
    "MAX_ADAPTER_BYTES",
    "adapter_state",
    "adapter_targets",
    "apply_adapter",
    "attach_fourierft",
    "check_output_dir",
    "read_adapter",
    "require_peft",
    "save_adapter",
]

ADAPTER_FORMAT = "specprompt-fourierft-adapter"
ADAPTER_WEIGHTS_FILE = "adapter.safetensors"
ADAPTER_CONFIG_FILE = "adapter.json"
_ADAPTER_FILES = (ADAPTER_WEIGHTS_FILE, ADAPTER_CONFIG_FILE)
#: Upper bound on an adapter's weights file.
MAX_ADAPTER_BYTES = 8 * 1024 * 1024
_ADAPTER_NAME = "default"
_INSTALL = "pip install 'specprompt[finetune]'"


def require_peft() -> Any:
    """Imports ``peft`` or raises an ImportError that says how to install it."""
    try:
        import peft
    except ImportError as exc:
        raise MissingDependencyError(f"FourierFT adapters need peft, which is not installed: {_INSTALL}") from exc
    return peft


def adapter_targets(model: torch.nn.Module) -> list[str]:
    """Names of the Linear layers an adapter adapts: every Linear of the model except the auxiliary
    training heads (which inference never runs).

    Example:
        >>> from specprompt.vlm._model import BandVLM
        >>> from specprompt.vlm._config import ModelConfig
        >>> adapter_targets(BandVLM(ModelConfig(dim=16, depth=1, heads=2)))[:3]
        ['embed.0', 'embed.1', 'embed.2']
    """
    from torch import nn

    return [n for n, m in model.named_modules() if isinstance(m, nn.Linear) and not n.startswith("aux_heads.")]


def _fourierft_spec(model: torch.nn.Module, n_frequency: int, scaling: float, seed: int) -> dict[str, Any]:
    """JSON-ready FourierFT options for ``model``: ``n_frequency`` capped per layer at its weight size."""
    from torch import nn

    targets = adapter_targets(model)
    modules = dict(model.named_modules())
    pattern = {}
    for name in targets:
        layer = modules[name]
        assert isinstance(layer, nn.Linear)  # adapter_targets returns Linear layers only
        size = layer.in_features * layer.out_features
        if size < n_frequency:
            pattern[name] = size
    return {
        "n_frequency": n_frequency,
        "scaling": float(scaling),
        "random_loc_seed": seed,
        "target_modules": targets,
        "n_frequency_pattern": pattern,
    }


def attach_fourierft(
    model: BandVLM, *, n_frequency: int, scaling: float, seed: int, spec: Mapping[str, Any] | None = None
) -> tuple[peft.PeftModel, dict[str, Any]]:
    """Injects zero-initialised FourierFT layers into ``model`` (in place) and returns the PEFT wrapper
    and the JSON-ready options. Global torch RNG state is left untouched.

    Args:
        model: the base network; its Linear layers are replaced by FourierFT wrappers.
        n_frequency: trained coefficients per layer (capped at the layer's ``in * out``).
        scaling: the FourierFT scaling of the weight update.
        seed: ``random_loc_seed``, the seed of the coefficients' positions.
        spec: options read from an adapter file (then the other arguments are ignored).
    """
    import torch

    peft = require_peft()
    opts = dict(spec) if spec is not None else _fourierft_spec(model, n_frequency, scaling, seed)
    config = peft.FourierFTConfig(
        n_frequency=int(opts["n_frequency"]),
        scaling=float(opts["scaling"]),
        random_loc_seed=int(opts["random_loc_seed"]),
        target_modules=list(opts["target_modules"]),
        n_frequency_pattern={str(k): int(v) for k, v in dict(opts["n_frequency_pattern"]).items()},
        init_weights=True,  # zero spectrum: the adapted model starts as the base model
    )
    with torch.random.fork_rng(devices=[]):  # PEFT draws a random spectrum before zeroing it
        try:
            wrapped = peft.get_peft_model(model, config)
        except ValueError as exc:
            raise ConfigError(f"cannot attach the FourierFT adapter: {exc}") from None
    return wrapped, opts


def adapter_state(wrapped: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The adapter's tensors under this module's names (``spectrum/NAME``, ``indices/NAME``)."""
    from peft.tuners.fourierft.layer import FourierFTLayer

    out: dict[str, torch.Tensor] = {}
    get_base: Any = getattr(wrapped, "get_base_model", None)
    base: torch.nn.Module = get_base() if callable(get_base) else wrapped
    for name, module in base.named_modules():
        if isinstance(module, FourierFTLayer) and _ADAPTER_NAME in module.fourierft_spectrum:
            out[f"spectrum/{name}"] = module.fourierft_spectrum[_ADAPTER_NAME].detach().to("cpu").float().contiguous()
            out[f"indices/{name}"] = module.indices[_ADAPTER_NAME].detach().to("cpu").long().contiguous()
    return out


def check_output_dir(directory: str | Path) -> Path:
    """``directory`` as a path, if it can receive an adapter: new, empty, or holding only an adapter
    (whole or cut short, with the temporary files of a killed write).

    Raises:
        ConfigError: it is a file, or a directory with other files.
    """
    from specprompt._outputs import is_temporary

    out = Path(directory)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"adapter output {str(out)!r} is a file, not a directory")
    if out.is_dir():
        own = _ADAPTER_FILES
        others = sorted(p.name for p in out.iterdir() if p.name not in own and not is_temporary(p.name, own))
        if others:
            raise ConfigError(
                f"adapter output {str(out)!r} holds other files {others[:5]}; give an empty or new directory"
            )
    return out


def save_adapter(
    wrapped: torch.nn.Module,
    directory: str | Path,
    *,
    base_sha256: str,
    fourierft: Mapping[str, Any],
    info: Mapping[str, Any] | None = None,
    base_model_id: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Writes the adapter of ``wrapped`` (a model returned by :func:`attach_fourierft`) to ``directory``.

    Args:
        wrapped: the adapted model.
        directory: created if missing; must not hold other files than an earlier adapter's.
        base_sha256: weights hash of the base checkpoint the adapter was trained on.
        fourierft: the options returned by :func:`attach_fourierft`.
        info: extra JSON-ready entries (``finetune``, ``labels``, ``metrics``).
        base_model_id: the base model's id as it answers (:func:`~specprompt.vlm._checkpoint.model_id_of`
            with its config); default: the id of its weights alone.
        overwrite: replace a whole adapter already in ``directory`` (one cut short is replaced
            without it).

    Returns:
        the directory.

    Convention:
        Each file is written atomically (a temporary file, then a rename), the weights first and
        ``adapter.json`` last: a folder with an ``adapter.json`` holds a whole adapter.

    Raises:
        ConfigError: ``directory`` is a file or holds other files (or a whole adapter, without
            ``overwrite``), or the adapter is too large.
    """
    from safetensors.torch import save

    from specprompt._outputs import write_atomic
    from specprompt.vlm._checkpoint import model_id_of, weights_hash

    out = check_output_dir(directory)
    if (out / ADAPTER_CONFIG_FILE).exists() and not overwrite:
        raise ConfigError(
            f"adapter output {str(out)!r} already holds an adapter ({ADAPTER_CONFIG_FILE}); pass overwrite=True "
            "to replace it, or give another directory"
        )
    state = adapter_state(wrapped)
    if not state:
        raise ConfigError("the model carries no FourierFT adapter to save")
    digest = weights_hash(state)
    payload = save(state, metadata={"format": ADAPTER_FORMAT, "adapter_sha256": digest})
    if len(payload) > MAX_ADAPTER_BYTES:
        raise ConfigError(f"adapter weights are {len(payload)} bytes, over the {MAX_ADAPTER_BYTES}-byte limit")
    meta = {
        "format": ADAPTER_FORMAT,
        "version": 1,
        "base_weights_sha256": base_sha256,
        "base_model_id": base_model_id or model_id_of(base_sha256),
        "adapter_sha256": digest,
        "fourierft": dict(fourierft),
        **dict(info or {}),
    }
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / ADAPTER_WEIGHTS_FILE, payload)
    write_atomic(out / ADAPTER_CONFIG_FILE, json.dumps(meta, indent=2, sort_keys=True) + "\n")  # last: marks it whole
    return out


def _check_options(opts: object, where: str) -> dict[str, Any]:
    def bad(what: str) -> ConfigError:
        return ConfigError(f"adapter config {where!r}: {what}")

    if not isinstance(opts, dict):
        raise bad("'fourierft' must be an object")
    for key in ("n_frequency", "random_loc_seed"):
        value = opts.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < (1 if key == "n_frequency" else 0):
            raise bad(f"fourierft.{key} must be a non-negative int, got {value!r}")
    scaling = opts.get("scaling")
    if not isinstance(scaling, (int, float)) or isinstance(scaling, bool) or not math.isfinite(scaling):
        raise bad(f"fourierft.scaling must be a finite number, got {scaling!r}")
    targets = opts.get("target_modules")
    if not isinstance(targets, list) or not targets or not all(isinstance(t, str) and t for t in targets):
        raise bad(f"fourierft.target_modules must be a non-empty list of layer names, got {targets!r}")
    pattern = opts.get("n_frequency_pattern", {})
    if not isinstance(pattern, dict) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in pattern.values()
    ):
        raise bad(f"fourierft.n_frequency_pattern must map layer names to ints >= 1, got {pattern!r}")
    return {**opts, "n_frequency_pattern": pattern}


def read_adapter(directory: str | Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """The checked ``adapter.json`` contents and tensors of an adapter directory.

    Raises:
        ConfigError: a missing directory or file, a file that is not this format, a weights file too
            large or unreadable, or tensors whose hash differs from the config's ``adapter_sha256``.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from specprompt.vlm._checkpoint import weights_hash

    folder = Path(directory)
    if not folder.is_dir():
        raise ConfigError(f"no adapter at {str(folder)!r}: not a directory (give the folder specprompt finetune wrote)")
    cfg_path, weights = folder / ADAPTER_CONFIG_FILE, folder / ADAPTER_WEIGHTS_FILE
    for path in (cfg_path, weights):
        if not path.is_file():
            raise ConfigError(f"no adapter at {str(folder)!r}: {path.name} is missing")
    try:
        meta = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"adapter config {str(cfg_path)!r} is not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != ADAPTER_FORMAT:
        raise ConfigError(f"{str(cfg_path)!r} is not a {ADAPTER_FORMAT} config")
    if meta.get("version") != 1:
        raise ConfigError(f"adapter config {str(cfg_path)!r} has version {meta.get('version')!r}; supported: 1")
    for key in ("base_weights_sha256", "adapter_sha256"):
        if not isinstance(meta.get(key), str):
            raise ConfigError(f"adapter config {str(cfg_path)!r} lacks {key!r}")
    meta["fourierft"] = _check_options(meta.get("fourierft"), str(cfg_path))
    size = weights.stat().st_size
    if size > MAX_ADAPTER_BYTES:
        raise ConfigError(f"adapter weights {str(weights)!r} are {size} bytes, over the {MAX_ADAPTER_BYTES}-byte limit")
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ConfigError(f"cannot read adapter weights {str(weights)!r}: {exc}") from None
    digest = weights_hash(state)
    if digest != meta["adapter_sha256"]:
        raise ConfigError(
            f"adapter weights {str(weights)!r} hash to {digest[:12]}, but {ADAPTER_CONFIG_FILE} says "
            f"{meta['adapter_sha256'][:12]}"
        )
    return meta, state


def apply_adapter(model: BandVLM, directory: str | Path, base_sha256: str) -> tuple[BandVLM, dict[str, Any]]:
    """Loads the adapter in ``directory`` onto ``model`` (base weights hash ``base_sha256``), merges it
    into the weights and returns the plain network and the adapter config.

    Raises:
        ConfigError: see :func:`read_adapter`; also an adapter trained on other base weights, or
            tensors that do not fit the model (names, shapes, positions, non-finite values).
    """
    import torch

    meta, state = read_adapter(directory)
    where = str(directory)
    if meta["base_weights_sha256"] != base_sha256:
        raise ConfigError(
            f"adapter {where!r} was trained on base model local-{meta['base_weights_sha256'][:12]}, "
            f"not on the loaded local-{base_sha256[:12]}; load it with the checkpoint it was trained on"
        )
    for name, tensor in state.items():
        if not bool(torch.isfinite(tensor.float()).all()):
            raise ConfigError(f"adapter {where!r}: tensor {name!r} holds NaN or infinite values")
    try:
        wrapped, _ = attach_fourierft(model, n_frequency=1, scaling=0.0, seed=0, spec=meta["fourierft"])
    except ValueError as exc:  # PEFT's own checks: unknown layer names, n_frequency too large
        raise ConfigError(f"adapter {where!r} does not fit the model: {exc}") from None
    expected = adapter_state(wrapped)
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ConfigError(
            f"adapter {where!r} does not fit the model: missing tensors {missing[:4]}, unexpected {unexpected[:4]}"
        )
    for name, tensor in expected.items():
        got = state[name]
        if tuple(got.shape) != tuple(tensor.shape):
            raise ConfigError(
                f"adapter {where!r}: tensor {name!r} has shape {tuple(got.shape)}, expected {tuple(tensor.shape)}"
            )
        if name.startswith("indices/") and not torch.equal(got.long(), tensor):
            raise ConfigError(
                f"adapter {where!r}: the coefficient positions of {name[len('indices/') :]!r} differ from the ones "
                "PEFT draws from random_loc_seed here (another torch or peft version?); retrain the adapter"
            )
    peft = require_peft()
    spectra = {
        f"base_model.model.{name[len('spectrum/') :]}.fourierft_spectrum": tensor
        for name, tensor in state.items()
        if name.startswith("spectrum/")
    }
    result = peft.set_peft_model_state_dict(wrapped, spectra)
    if getattr(result, "unexpected_keys", None):
        raise ConfigError(f"adapter {where!r}: PEFT did not use tensors {sorted(result.unexpected_keys)[:4]}")
    merged: BandVLM = wrapped.merge_and_unload()
    merged.eval()
    return merged, meta
