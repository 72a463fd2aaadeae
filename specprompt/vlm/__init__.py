"""The local frequency-domain VLM at run time: a small PyTorch model that answers few-shot image
questions from band tokens, its tokenizer (the ``local`` cost model), checkpoint and adapter files,
and prediction.

Training (procedural task families, episodes, :func:`~specprompt.training.train`,
:func:`~specprompt.training.finetune`) lives in :mod:`specprompt.training`, which this package never
imports; the DSPy engine over this model is :class:`specprompt.scorers.LocalVLMEngine`.

``import specprompt.vlm`` does not import torch; :class:`BandVLM` (the ``nn.Module``) and the torch
feature functions are loaded on first access. Typical use::

    from specprompt.vlm import LocalVLM, image_token_count
    vlm = LocalVLM.load()                         # the shipped checkpoint
    answer, scores = vlm.answer([(img_a, "cat"), (img_b, "dog")], query_img, "Which animal?")
    vlm.model_id                                  # "local-<12 hex of the weights hash>"
    image_token_count(640, 480, selection, spectrum.bands)

See :mod:`specprompt.vlm._tokenizer` for the working resolution and token grid and
:mod:`specprompt.vlm._predict` for what the model can and cannot answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from specprompt.vlm._adapter_io import (
    ADAPTER_CONFIG_FILE,
    ADAPTER_WEIGHTS_FILE,
    apply_adapter,
    attach_fourierft,
    check_output_dir,
    read_adapter,
    require_peft,
    save_adapter,
)
from specprompt.vlm._checkpoint import (
    CONFIG_FILE,
    DEFAULT_CHECKPOINT,
    WEIGHTS_FILE,
    load_checkpoint,
    model_id_of,
    read_config,
    resolve_checkpoint,
    resolve_device,
    save_checkpoint,
    shipped_checkpoints,
    weights_hash,
)
from specprompt.vlm._config import ModelConfig, check_int, from_mapping
from specprompt.vlm._layout import MAX_LAYOUT_PIXELS, metadata_layout, png_metadata
from specprompt.vlm._predict import LocalAnswer, LocalVLM
from specprompt.vlm._prepare import PreparedImage, prepare_decoded, prepare_image, to_canvas
from specprompt.vlm._text import episode_text, text_ids
from specprompt.vlm._tokenizer import (
    BAND_NAMES,
    FINE_CELLS,
    FINE_FEATS,
    FINE_GRID,
    FINE_GRIDS,
    MAX_TOKENS,
    PATCHES,
    WORKING_SIZE,
    TokenLayout,
    fine_feature_dim,
    fine_names,
    image_token_count,
    invisible_bands,
    token_layout,
    working_shape,
)

if TYPE_CHECKING:
    from specprompt.vlm._model import BandVLM
    from specprompt.vlm._pyramid import band_features, fine_bands, fine_energy, fine_features, working_bands

# torch-backed names, imported on first use
_LAZY = {
    "BandVLM": "specprompt.vlm._model",
    "band_features": "specprompt.vlm._pyramid",
    "fine_bands": "specprompt.vlm._pyramid",
    "fine_energy": "specprompt.vlm._pyramid",
    "fine_features": "specprompt.vlm._pyramid",
    "working_bands": "specprompt.vlm._pyramid",
}
# Names that moved out of this package; kept so ``from specprompt.vlm import NAME`` still works, but
# not in ``__all__``. They are resolved on first access only, so this package never imports
# training, scorers or serve.
_MOVED = {
    "Family": "specprompt.training",
    "FinetuneConfig": "specprompt.training",
    "LOCAL_MODEL": "specprompt.serve",
    "LocalVLMEngine": "specprompt.scorers",
    "TrainConfig": "specprompt.training",
    "available_families": "specprompt.training",
    "finetune": "specprompt.training",
    "get_family": "specprompt.training",
    "local_lm": "specprompt.scorers",
    "train": "specprompt.training",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name) or _MOVED.get(name)
    if module is None:
        raise AttributeError(f"module 'specprompt.vlm' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | set(_MOVED))


__all__ = [
    "ADAPTER_CONFIG_FILE",
    "ADAPTER_WEIGHTS_FILE",
    "BAND_NAMES",
    "BandVLM",
    "CONFIG_FILE",
    "DEFAULT_CHECKPOINT",
    "FINE_CELLS",
    "FINE_FEATS",
    "FINE_GRID",
    "FINE_GRIDS",
    "LocalAnswer",
    "LocalVLM",
    "MAX_LAYOUT_PIXELS",
    "MAX_TOKENS",
    "ModelConfig",
    "PATCHES",
    "PreparedImage",
    "TokenLayout",
    "WEIGHTS_FILE",
    "WORKING_SIZE",
    "apply_adapter",
    "attach_fourierft",
    "band_features",
    "check_int",
    "check_output_dir",
    "episode_text",
    "fine_bands",
    "fine_energy",
    "fine_feature_dim",
    "fine_features",
    "fine_names",
    "from_mapping",
    "image_token_count",
    "invisible_bands",
    "load_checkpoint",
    "metadata_layout",
    "model_id_of",
    "png_metadata",
    "prepare_decoded",
    "prepare_image",
    "read_adapter",
    "read_config",
    "require_peft",
    "resolve_checkpoint",
    "resolve_device",
    "save_adapter",
    "save_checkpoint",
    "shipped_checkpoints",
    "text_ids",
    "to_canvas",
    "token_layout",
    "weights_hash",
    "working_bands",
    "working_shape",
]
