"""Built-in offline image-classification tasks, generated with numpy and PIL from a seed.

=================  =========================================  ==========================================
name               label                                      frequency content the label needs
=================  =========================================  ==========================================
colour-position    quadrant of a large coloured disc          coarsest bands only (noise on top is irrelevant)
fine-texture       direction of faint 3 px stripes            finest bands only (same background for all)
gauge              range the thin needle of a dial points to  middle bands, over photos from skimage.data
photo-tint         colour cast of a crop of a colour photo    coarsest bands only (mean colour)
photo-texture      brick, grass or gravel (contrast-matched)  fine bands: texture grain at native scale
photo-identity     which photo a rotated, blurred crop is of  middle bands (shapes and layout)
photo-detail       the digit on a small tag in a 512 px photo finest bands of a small region
=================  =========================================  ==========================================

The ``photo-*`` tasks are made of real photos that scikit-image ships (:mod:`specprompt.tasks._photos`).
"""

from specprompt.tasks import _photos, _synthetic  # noqa: F401  (registers the built-in tasks)
from specprompt.tasks._base import MAX_TASK_SIZE, ImageTaskGenerator, Task, available_tasks, get_task, register_task
from specprompt.tasks._photos import PhotoDetail, PhotoIdentity, PhotoTexture, PhotoTint, photo
from specprompt.tasks._synthetic import ColourPosition, FineTexture, Gauge

__all__ = [
    "ColourPosition",
    "FineTexture",
    "Gauge",
    "ImageTaskGenerator",
    "MAX_TASK_SIZE",
    "PhotoDetail",
    "PhotoIdentity",
    "PhotoTexture",
    "PhotoTint",
    "Task",
    "available_tasks",
    "get_task",
    "photo",
    "register_task",
]
