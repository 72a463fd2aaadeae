"""specprompt: cheap few-shot image demos for DSPy programs, chosen band by band.

The package follows the data flow: ``io`` (image input; ``data``: datasets of labelled images) ->
``spectral`` (band decomposition, selection, rendering) -> ``cost`` (image-token prices) -> ``types``
(DSPy types) -> ``search`` (the band optimizer) -> ``scorers`` (offline engines; ``vlm`` is the local
model they run, ``training`` trains it) -> ``reports``, with ``serve`` and ``cli`` on top (see the
README's "How the code is laid out").
"""

import os as _os

# DSPy reads its model-price table from the internet on first use unless this is set: specprompt
# contacts nothing but the endpoint the user configured (set it to "False" beforehand to opt out).
_os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from specprompt.cost import (
    CostModel,
    available_cost_models,
    get_cost_model,
    image_tokens,
    register_cost_model,
    selection_tokens,
)
from specprompt.errors import (
    ConfigError,
    DuplicateNameError,
    EndpointError,
    ImageInputError,
    MissingDependencyError,
    ScoringError,
    SelectionError,
    ShapeError,
    SpecPromptError,
    SpecPromptWarning,
    TransportError,
    UnknownNameError,
)
from specprompt.io import load_image
from specprompt.spectral import (
    Band,
    Scheme,
    SchemeConfig,
    Selection,
    Spectrum,
    available_schemes,
    decompose,
    register_scheme,
)

__version__ = "0.1.0"

# Names whose modules import dspy or optuna: resolved on first use so `import specprompt` stays light.
_LAZY = {
    "BandOptimizer": "specprompt.search",
    "CompileResult": "specprompt.search",
    "SearchConfig": "specprompt.search",
    "SpectralImage": "specprompt.types",
    "Task": "specprompt.tasks",
    "available_tasks": "specprompt.tasks",
    "content_hash": "specprompt.types",
    "get_task": "specprompt.tasks",
    "load_dataset": "specprompt.data",
    "load_program": "specprompt.types",
    "local_lm": "specprompt.scorers",
    "nearest_lm": "specprompt.scorers",
    "restore_images": "specprompt.types",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'specprompt' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "Band",
    "BandOptimizer",
    "CompileResult",
    "ConfigError",
    "CostModel",
    "DuplicateNameError",
    "EndpointError",
    "ImageInputError",
    "MissingDependencyError",
    "Scheme",
    "SchemeConfig",
    "ScoringError",
    "SearchConfig",
    "Selection",
    "SelectionError",
    "ShapeError",
    "SpecPromptError",
    "SpecPromptWarning",
    "SpectralImage",
    "Spectrum",
    "Task",
    "TransportError",
    "UnknownNameError",
    "__version__",
    "available_cost_models",
    "available_schemes",
    "available_tasks",
    "content_hash",
    "decompose",
    "get_cost_model",
    "get_task",
    "image_tokens",
    "load_dataset",
    "load_image",
    "load_program",
    "local_lm",
    "nearest_lm",
    "register_cost_model",
    "register_scheme",
    "restore_images",
    "selection_tokens",
]
