"""Band decompositions with an exact inverse, selections and minimal lossless rendering."""

from specprompt.spectral import _dct, _fft, _laplacian, _wavelet  # noqa: F401  (register the schemes)
from specprompt.spectral._base import Analysis, Scheme, SchemeConfig
from specprompt.spectral._dct import DctConfig
from specprompt.spectral._fft import FftConfig
from specprompt.spectral._laplacian import LaplacianConfig, pyr_down, pyr_up
from specprompt.spectral._registry import available_schemes, get_scheme, register_scheme
from specprompt.spectral._resample import removed_by_resize, resize_cutoff, resize_lanczos
from specprompt.spectral._spectrum import Spectrum, band_layout, decompose, scheme_for, to_pil
from specprompt.spectral._tiles import tile_slices
from specprompt.spectral._torch import block_dct, block_idct, laplacian_pyramid, laplacian_reconstruct
from specprompt.spectral._types import Band, Selection
from specprompt.spectral._wavelet import WaveletConfig

__all__ = [
    "Analysis",
    "Band",
    "DctConfig",
    "FftConfig",
    "LaplacianConfig",
    "Scheme",
    "SchemeConfig",
    "Selection",
    "Spectrum",
    "WaveletConfig",
    "available_schemes",
    "band_layout",
    "block_dct",
    "block_idct",
    "decompose",
    "get_scheme",
    "laplacian_pyramid",
    "laplacian_reconstruct",
    "pyr_down",
    "pyr_up",
    "register_scheme",
    "removed_by_resize",
    "resize_cutoff",
    "resize_lanczos",
    "scheme_for",
    "tile_slices",
    "to_pil",
]
