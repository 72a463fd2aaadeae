"""The local frequency-domain VLM: a small PyTorch model that answers few-shot image questions from
band tokens, its tokenizer (the ``local`` cost model), procedural task families and training.

``import specprompt.vlm`` does not import torch; :class:`BandVLM` (the ``nn.Module``) is loaded
on first access. Typical use::

    from specprompt.vlm import LocalVLM, image_token_count
    vlm = LocalVLM.load()                         # the shipped checkpoint
    answer, scores = vlm.answer([(img_a, "cat"), (img_b, "dog")], query_img, "Which animal?")
    vlm.model_id                                  # "local-<12 hex of the weights hash>"
    image_token_count(640, 480, selection, spectrum.bands)

See :mod:`specprompt.vlm._tokenizer` for the working resolution and token grid and
:mod:`specprompt.vlm._predict` for what the model can and cannot answer.
"""

from __future__ import annotations

from specprompt.vlm._checkpoint import DEFAULT_CHECKPOINT, load_checkpoint, save_checkpoint, weights_hash
from specprompt.vlm._config import ModelConfig
from specprompt.vlm._families import Family, available_families, get_family
from specprompt.vlm._predict import LocalAnswer, LocalVLM
from specprompt.vlm._tokenizer import (
    BAND_NAMES,
    MAX_TOKENS,
    WORKING_SIZE,
    TokenLayout,
    image_token_count,
    invisible_bands,
    token_layout,
    working_shape,
)
from specprompt.vlm._train import TrainConfig, train

# torch / dspy / peft-backed names, imported on first use
_LAZY = {
    "BandVLM": "specprompt.vlm._model",
    "FinetuneConfig": "specprompt.vlm._finetune",
    "LOCAL_MODEL": "specprompt.vlm._engine",
    "LocalVLMEngine": "specprompt.vlm._engine",
    "finetune": "specprompt.vlm._finetune",
    "local_lm": "specprompt.vlm._engine",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'specprompt.vlm' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "BAND_NAMES",
    "BandVLM",
    "DEFAULT_CHECKPOINT",
    "Family",
    "FinetuneConfig",
    "LOCAL_MODEL",
    "LocalAnswer",
    "LocalVLM",
    "LocalVLMEngine",
    "MAX_TOKENS",
    "ModelConfig",
    "TokenLayout",
    "TrainConfig",
    "WORKING_SIZE",
    "available_families",
    "finetune",
    "get_family",
    "image_token_count",
    "invisible_bands",
    "load_checkpoint",
    "local_lm",
    "save_checkpoint",
    "token_layout",
    "train",
    "weights_hash",
    "working_shape",
]
