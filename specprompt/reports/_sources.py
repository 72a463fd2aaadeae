"""The source pixels of a report's demo images, found among the user's images by content hash."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["find_sources", "recorded_sources"]


def _images_in(item: Any) -> Iterable[Any]:
    import dspy

    if isinstance(item, dspy.Example):
        item = dict(item.items())
    if isinstance(item, Mapping):
        for v in item.values():
            if isinstance(v, dspy.Image):
                yield v
            elif isinstance(v, (list, tuple)):
                yield from (x for x in v if isinstance(x, dspy.Image))
        return
    yield item


def find_sources(sources: Iterable[Any], wanted: set[str]) -> dict[str, np.ndarray]:
    """Content hash -> pixels of the ``sources`` whose hash (or 16-char prefix) is wanted."""
    from specprompt.io import as_array
    from specprompt.types import content_hash

    found: dict[str, np.ndarray] = {}
    if not wanted:
        return found
    seen: set[str] = set()
    for item in sources:
        for img in _images_in(item):
            key = getattr(img, "url", None)
            if isinstance(key, str):
                if key in seen:
                    continue
                seen.add(key)
            arr = as_array(img)
            h = content_hash(arr)
            if h in wanted or h[:16] in wanted:
                found[h] = arr
                wanted = {w for w in wanted if w != h and w != h[:16]}
                if not wanted:
                    return found
    return found


def recorded_sources(trainset: Any, folder: str | Path) -> Iterator[np.ndarray]:
    """The images of the trainset a compile recorded (``run.trainset`` of its ``pareto.json``), lazily.

    A folder per label gives its image files (sorted; hidden entries skipped); a JSONL file gives the
    string values of its lines that are data URIs or image files (relative to the JSONL's folder).
    Each is decoded as :func:`specprompt.load_image` decodes it, so its content hash is that of the
    demos made from it; an unreadable one is skipped. When ``trainset`` names nothing there, one
    :class:`~specprompt.errors.SpecPromptWarning` says the report of ``folder`` shows no originals.
    """
    from specprompt.errors import SpecPromptWarning

    path = Path(trainset) if isinstance(trainset, str) and trainset else None
    if path is None or not path.exists():
        warnings.warn(
            f"report of {str(folder)!r}: the trainset it recorded ({trainset!r}) is not there, so the report "
            "shows no original images and no band energies; pass sources= (the trainset's examples or images)",
            SpecPromptWarning,
            stacklevel=3,
        )
        return iter(())
    return _decoded(_folder_images(path) if path.is_dir() else _jsonl_images(path))


def _decoded(items: Iterable[Any]) -> Iterator[np.ndarray]:
    from specprompt.errors import SpecPromptError
    from specprompt.io import as_array

    for item in items:
        try:
            yield as_array(item)
        except (SpecPromptError, OSError):
            continue  # not an image the compile could have read: no demo came from it


def _folder_images(root: Path) -> Iterator[Path]:
    from specprompt.data import IMAGE_SUFFIXES

    for f in sorted(root.rglob("*")):
        hidden = any(part.startswith(".") or part == "__MACOSX" for part in f.relative_to(root).parts)
        if not hidden and f.suffix.lower() in IMAGE_SUFFIXES and f.is_file():
            yield f


def _jsonl_images(path: Path) -> Iterator[Any]:
    from specprompt.data import IMAGE_SUFFIXES

    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return
    for line in lines:
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if not isinstance(obj, dict):
            continue
        for value in obj.values():
            for v in value if isinstance(value, list) else [value]:
                if not isinstance(v, str) or not v:
                    continue
                if v.startswith("data:image/"):
                    yield v
                elif Path(v).suffix.lower() in IMAGE_SUFFIXES and "://" not in v:
                    file = Path(v) if Path(v).is_absolute() else path.parent / v
                    if file.is_file():
                        yield file
