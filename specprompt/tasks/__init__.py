"""Built-in offline image-classification tasks, generated with numpy and PIL from a seed.

=================  =========================================  ==========================================
name               label                                      frequency content the label needs
=================  =========================================  ==========================================
colour-position    quadrant of a large coloured disc          coarsest bands only (noise on top is irrelevant)
fine-texture       direction of faint 3 px stripes            finest bands only (same background for all)
gauge              range the thin needle of a dial points to  middle bands, over photos from skimage.data
=================  =========================================  ==========================================
"""

from specprompt.tasks import _synthetic  # noqa: F401  (registers the built-in tasks)
from specprompt.tasks._base import ImageTaskGenerator, Task, available_tasks, get_task, register_task
from specprompt.tasks._synthetic import ColourPosition, FineTexture, Gauge

__all__ = [
    "ColourPosition",
    "FineTexture",
    "Gauge",
    "ImageTaskGenerator",
    "Task",
    "available_tasks",
    "get_task",
    "register_task",
]
