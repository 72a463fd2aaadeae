"""Datasets of labelled images: :func:`load_dataset` reads a JSONL file or a folder per label.

The reader of ``specprompt compile --trainset`` and ``specprompt finetune --trainset``, for use in
Python::

    trainset = specprompt.load_dataset("train/")              # train/<label>/*.png -> image, label
    trainset = specprompt.load_dataset("train.jsonl", program)  # fields read from the program

Datasets are data: reading one never runs code. ``import specprompt.data`` imports dspy.
"""

from specprompt.data._datasets import DatasetFields, dataset_fields, default_fields, image_file, load_dataset
from specprompt.data._folders import IMAGE_SUFFIXES

__all__ = ["DatasetFields", "IMAGE_SUFFIXES", "dataset_fields", "default_fields", "image_file", "load_dataset"]
