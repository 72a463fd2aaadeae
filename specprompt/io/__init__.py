"""Image input: every accepted source becomes float32 pixels in [0, 1]."""

from specprompt.io._load import as_array, load_image

__all__ = ["as_array", "load_image"]
