"""specprompt: cheap few-shot image demos for DSPy programs, chosen band by band."""

from specprompt.errors import (
    ConfigError,
    DuplicateNameError,
    ImageInputError,
    SelectionError,
    ShapeError,
    SpecPromptError,
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
    "DuplicateNameError",
    "ImageInputError",
    "Scheme",
    "SchemeConfig",
    "Selection",
    "SelectionError",
    "ShapeError",
    "SpecPromptError",
    "Spectrum",
    "UnknownNameError",
    "__version__",
    "available_schemes",
    "decompose",
    "load_image",
    "register_scheme",
]
