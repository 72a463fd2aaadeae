"""Training of the local band VLM (:mod:`specprompt.vlm`): procedural task families, N-way K-shot
episodes, the training loop (:func:`train`, ``specprompt train``) and FourierFT fine-tuning on a
user's labelled images (:func:`finetune`, ``specprompt finetune``).

Training writes checkpoints and adapters that :mod:`specprompt.vlm` loads; nothing at run time
(pricing, scoring, serving) imports this package. ``import specprompt.training`` does not import
torch. Typical use::

    from specprompt.training import TrainConfig, train
    checkpoint_dir = train(TrainConfig(out="runs/vlm", steps=4000, device="auto"))
"""

from __future__ import annotations

from specprompt.training._baseline import band_vectors, nearest_neighbour_scores
from specprompt.training._config import TRAIN_PRESETS, TrainConfig
from specprompt.training._episodes import EpisodeBatch, fine_allowed, fine_keep_masks, keep_masks, sample_episodes
from specprompt.training._families import (
    AUX_ATTRIBUTES,
    HELD_OUT_FAMILIES,
    TRAIN_FAMILIES,
    Family,
    available_families,
    get_family,
)
from specprompt.training._finetune import FinetuneConfig, check_finetune_out, finetune
from specprompt.training._photo_families import PHOTO_FAMILIES, TRAIN_PHOTOS, augment, get_photo_family
from specprompt.training._snapshot import SNAPSHOT_FILE
from specprompt.training._train import check_train_out, episode_forward, train

__all__ = [
    "AUX_ATTRIBUTES",
    "EpisodeBatch",
    "Family",
    "FinetuneConfig",
    "HELD_OUT_FAMILIES",
    "PHOTO_FAMILIES",
    "SNAPSHOT_FILE",
    "TRAIN_FAMILIES",
    "TRAIN_PHOTOS",
    "TRAIN_PRESETS",
    "TrainConfig",
    "augment",
    "available_families",
    "band_vectors",
    "check_finetune_out",
    "check_train_out",
    "episode_forward",
    "fine_allowed",
    "fine_keep_masks",
    "finetune",
    "get_family",
    "get_photo_family",
    "keep_masks",
    "nearest_neighbour_scores",
    "sample_episodes",
    "train",
]
