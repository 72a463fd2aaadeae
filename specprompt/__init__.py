"""specprompt: cheap few-shot image demos for DSPy programs, chosen band by band.

The package follows the data flow: ``io`` (image input) -> ``spectral`` (band decomposition,
selection, rendering) -> ``cost`` (image-token prices) -> ``types`` (DSPy types) -> ``search`` (the
band optimizer) -> ``scorers`` (local and remote) -> ``reports``.
"""

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
    ImageInputError,
    SelectionError,
    ShapeError,
    SpecPromptError,
    SpecPromptWarning,
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

__all__ = [
    "Band",
    "ConfigError",
    "CostModel",
    "DuplicateNameError",
    "ImageInputError",
    "Scheme",
    "SchemeConfig",
    "Selection",
    "SelectionError",
    "ShapeError",
    "SpecPromptError",
    "SpecPromptWarning",
    "Spectrum",
    "UnknownNameError",
    "__version__",
    "available_cost_models",
    "available_schemes",
    "decompose",
    "get_cost_model",
    "image_tokens",
    "load_image",
    "register_cost_model",
    "register_scheme",
    "selection_tokens",
]
