"""DSPy types: :class:`SpectralImage` and saving/loading programs that hold them, without pickle."""

from specprompt.types._image import (
    DROPPED_IMAGE,
    METADATA_KEY,
    SpectralImage,
    content_hash,
    png_bytes_metadata,
    read_metadata,
)
from specprompt.types._persist import load_program, restore_image, restore_images
from specprompt.types._state import read_program_state

__all__ = [
    "DROPPED_IMAGE",
    "METADATA_KEY",
    "SpectralImage",
    "content_hash",
    "load_program",
    "png_bytes_metadata",
    "read_metadata",
    "read_program_state",
    "restore_image",
    "restore_images",
]
