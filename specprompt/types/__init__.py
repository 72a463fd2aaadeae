"""DSPy types: :class:`SpectralImage` and saving/loading programs that hold them, without pickle."""

from specprompt.types._image import METADATA_KEY, SpectralImage, content_hash, png_bytes_metadata, read_metadata
from specprompt.types._persist import load_program, restore_image, restore_images

__all__ = [
    "METADATA_KEY",
    "SpectralImage",
    "content_hash",
    "load_program",
    "png_bytes_metadata",
    "read_metadata",
    "restore_image",
    "restore_images",
]
