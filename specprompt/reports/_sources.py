"""The source pixels of a report's demo images, found among the user's images by content hash."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

__all__ = ["find_sources"]


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
