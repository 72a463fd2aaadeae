"""Sample photographs that scikit-image installs with itself (``skimage.data``; nothing is fetched).

The real-photo tasks (:mod:`specprompt.tasks`) and the photo training families
(:mod:`specprompt.training`) both read them through :func:`sample_photo`, which needs neither dspy
nor optuna, so a training machine needs only the array stack.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from specprompt.errors import UnknownNameError

__all__ = ["SAMPLE_PHOTOS", "sample_photo"]

#: The ``skimage.data`` images :func:`sample_photo` reads: those whose files ship inside scikit-image
#: (its other images are downloaded on first use) and that are one picture, ``(H, W)`` grey or
#: ``(H, W, 3 or 4)`` colour. Left out: ``brain``, ``cells3d``, ``eagle``, ``kidney``, ``lily``,
#: ``skin``, ``vortex`` and the other downloads; ``lfw_subset`` (a stack of 200 faces),
#: ``stereo_motorcycle`` (a tuple), ``lbp_frontal_face_cascade_filename``, ``download_all`` and
#: ``file_hash`` (not images).
SAMPLE_PHOTOS: tuple[str, ...] = (
    "astronaut",
    "binary_blobs",
    "brick",
    "camera",
    "cat",
    "cell",
    "checkerboard",
    "chelsea",
    "clock",
    "coffee",
    "coins",
    "colorwheel",
    "grass",
    "gravel",
    "horse",
    "hubble_deep_field",
    "immunohistochemistry",
    "logo",
    "microaneurysms",
    "moon",
    "page",
    "retina",
    "rocket",
    "shepp_logan_phantom",
    "text",
)
#: Arguments of the generated images: ``binary_blobs`` is random unless seeded.
_ARGUMENTS: dict[str, dict[str, Any]] = {"binary_blobs": {"rng": 0}}


@lru_cache(maxsize=16)
def sample_photo(name: str) -> np.ndarray:
    """Float32 RGB pixels in [0, 1] of ``skimage.data.<name>()``; read-only.

    Grey images keep every pixel, their grey repeated to 3 channels; an alpha channel (``logo``)
    is dropped.

    Args:
        name: one of :data:`SAMPLE_PHOTOS`.

    Shape:
        ``(H, W, 3)``.

    Raises:
        UnknownNameError: ``name`` is not in :data:`SAMPLE_PHOTOS` (lists them).

    Example:
        >>> sample_photo("camera").shape
        (512, 512, 3)
    """
    if name not in SAMPLE_PHOTOS:
        raise UnknownNameError("sample photo", name, SAMPLE_PHOTOS)
    import skimage.data

    arr = np.asarray(getattr(skimage.data, name)(**_ARGUMENTS.get(name, {})), np.float32)
    if arr.max() > 1.0:
        arr = arr / np.float32(255.0)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    arr = np.ascontiguousarray(arr[:, :, :3])
    arr.flags.writeable = False
    return arr
