"""Saving and loading programs whose demos hold images, with DSPy's JSON format and no pickle.

``program.save("p.json")`` already writes every ``dspy.Image`` in the demos as a marker string
holding its ``image_url`` part (see ``dspy.adapters.types.base_type.Type.serialize_model``), and
``program.load`` gives those strings back as they are. A :class:`SpectralImage` keeps its
metadata in a PNG text chunk of its data URI, so :func:`restore_images` can rebuild every image
exactly from those strings: no extra file, no pickle, and DSPy's file format stays unchanged.

DSPy 3.4 offers no hook to run on load, so restoring is one explicit call. A program loaded
without it still sends the very same image parts (with their ``detail``): the adapters turn the
marker strings back into image parts. Restoring gives back the objects (selections, source
hashes, render sizes) for reports, re-optimization and ``isinstance`` checks.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, TypeVar

import dspy
from dspy.adapters.types.base_type import CUSTOM_TYPE_END_IDENTIFIER, CUSTOM_TYPE_START_IDENTIFIER

from specprompt.errors import ConfigError
from specprompt.types._image import SpectralImage, read_metadata

__all__ = ["load_program", "restore_image", "restore_images"]

P = TypeVar("P", bound=dspy.Module)

_MARKER = re.compile(
    re.escape(CUSTOM_TYPE_START_IDENTIFIER) + r"(.*)" + re.escape(CUSTOM_TYPE_END_IDENTIFIER), re.DOTALL
)


def restore_image(value: Any) -> Any:
    """Turns one saved image marker string back into an image; anything else is returned unchanged.

    Args:
        value: a demo field value as ``program.load`` leaves it.

    Returns:
        a :class:`SpectralImage` when the string holds one image part whose PNG carries
        specprompt metadata (with its saved ``detail``), a ``dspy.Image`` for any other single
        image part, otherwise ``value`` itself. Lists, tuples and dicts are walked recursively.

    Example:
        >>> restore_image("just text")
        'just text'
    """
    if isinstance(value, list):
        return [restore_image(v) for v in value]
    if isinstance(value, tuple):
        return tuple(restore_image(v) for v in value)
    if isinstance(value, dict):
        return {k: restore_image(v) for k, v in value.items()}
    if not isinstance(value, str):
        return value
    match = _MARKER.fullmatch(value.strip())
    if match is None:
        return value
    try:
        parts = json.loads(match.group(1))
    except ValueError:
        return value
    if not (isinstance(parts, list) and len(parts) == 1 and isinstance(parts[0], dict)):
        return value
    part = parts[0]
    image_url = part.get("image_url")
    if part.get("type") != "image_url" or not isinstance(image_url, dict) or not isinstance(image_url.get("url"), str):
        return value
    url: str = image_url["url"]
    detail = image_url.get("detail")
    if url.startswith("data:image/png;base64,") and read_metadata(url) is not None:
        return SpectralImage.from_data_uri(url, detail=detail)
    return dspy.Image(url)


def restore_images(program: P) -> P:
    """Rebuilds, in place, every image in the demos of ``program`` after ``program.load("x.json")``.

    Walks ``program.named_predictors()``; each demo (a dict after loading, or a ``dspy.Example``)
    gets its marker strings replaced by :class:`SpectralImage` / ``dspy.Image`` objects, also
    inside lists such as ``list[dspy.Image]`` fields. Images already restored are left alone,
    so calling it twice is harmless.

    Returns:
        ``program`` itself, for chaining.

    Raises:
        ConfigError: ``program`` is not a ``dspy.Module``.
        ImageInputError: an image's data URI is corrupt.

    Example:
        >>> p = dspy.Predict("question -> answer")
        >>> restore_images(p) is p
        True
    """
    if not isinstance(program, dspy.Module):
        raise ConfigError(f"restore_images expects a dspy.Module, got {type(program).__name__}")
    for _, predictor in program.named_predictors():
        demos = []
        for demo in predictor.demos:
            if isinstance(demo, dspy.Example):
                fields = {k: restore_image(v) for k, v in demo.items(include_dspy=True)}
                new = demo.copy(**fields)
                demos.append(new)
            elif isinstance(demo, dict):
                demos.append({k: restore_image(v) for k, v in demo.items()})
            else:
                demos.append(demo)
        predictor.demos = demos
    return program


def load_program(program: P, path: str | Path) -> P:
    """Loads a program saved with ``program.save(path)`` (JSON only) and restores its images.

    Equivalent to ``program.load(path)`` followed by :func:`restore_images`. Pickle files are
    refused: a ``.pkl`` can run arbitrary code when loaded.

    Args:
        program: a fresh instance of the saved program's class.
        path: a ``.json`` file written by ``program.save``.

    Returns:
        ``program``, loaded, with :class:`SpectralImage` objects back in its demos.

    Raises:
        ConfigError: the path does not end in ``.json`` or does not exist.
    """
    path = Path(path)
    if path.suffix != ".json":
        raise ConfigError(f"load_program reads DSPy JSON state files only, got {str(path)!r} (pickle is never loaded)")
    if not path.is_file():
        raise ConfigError(f"no such program file: {str(path)!r}")
    program.load(str(path))
    return restore_images(program)
