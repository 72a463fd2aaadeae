"""Sample photographs that scikit-image installs with itself (``skimage.data``; nothing is fetched).

The real-photo tasks (:mod:`specprompt.tasks`) and the photo training families
(:mod:`specprompt.training`) both read them through :func:`sample_photo`, which needs neither dspy
nor optuna, so a training machine needs only the array stack.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = ["sample_photo"]


@lru_cache(maxsize=16)
def sample_photo(name: str) -> np.ndarray:
    """Float32 RGB pixels in [0, 1] of ``skimage.data.<name>()`` (grey repeated to 3 channels); read-only.

    Example:
        >>> sample_photo("camera").shape
        (512, 512, 3)
    """
    import skimage.data

    arr = np.asarray(getattr(skimage.data, name)(), np.float32)
    if arr.max() > 1.0:
        arr = arr / np.float32(255.0)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    arr = np.ascontiguousarray(arr[:, :, :3])
    arr.flags.writeable = False
    return arr
