"""Telling examples apart: a stable hash of an example's fields, and whether an example is one of
some demos (by its input fields, so a ``BootstrapFewShot`` demo still counts as its example)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import dspy

from specprompt.errors import ConfigError

__all__ = ["ShownDemos", "example_fields", "example_hash", "has_inputs"]


def example_fields(demo: Any) -> dict[str, Any]:
    """The fields of a demo or example (a ``dspy.Example`` or a dict) as a dict."""
    if isinstance(demo, dspy.Example):
        return dict(demo.items())
    if isinstance(demo, Mapping):
        return dict(demo)
    raise ConfigError(f"a demo must be a dspy.Example or a dict, got {type(demo).__name__}")


def _canon(value: Any) -> Any:
    if isinstance(value, dspy.Image):
        return {"image": hashlib.sha256(value.url.encode()).hexdigest()}
    if isinstance(value, Mapping):
        return {str(k): _canon(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canon(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def example_hash(example: Any) -> str:
    """A stable hash of an example's fields (images by their url), for equality across copies."""
    text = json.dumps(_canon(example_fields(example)), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _input_keys(example: Any) -> frozenset[str]:
    """The input fields of ``example`` (``.with_inputs(...)``); empty when it has none set."""
    if not isinstance(example, dspy.Example):
        return frozenset()
    try:
        return frozenset(example.inputs().keys())
    except ValueError:  # no .with_inputs(...)
        return frozenset()


def has_inputs(example: Any) -> bool:
    """Whether ``example`` has inputs set (``.with_inputs(...)``)."""
    try:
        example.inputs()
    except (ValueError, AttributeError):  # no .with_inputs(...), or not an Example
        return False
    return True


def _part_hash(example: Any, keys: frozenset[str]) -> str | None:
    """:func:`example_hash` of the ``keys`` fields of ``example`` alone, or None when it lacks one."""
    fields = example_fields(example)
    if not keys <= fields.keys():
        return None
    return example_hash({k: fields[k] for k in keys})


class ShownDemos:
    """Demos to tell examples by: is an example one of them?

    An example with inputs (``.with_inputs(...)``) is a demo when some demo has the same values in
    those input fields; DSPy's bookkeeping (``augmented``) and a teacher's outputs that differ from
    the labels (``BootstrapFewShot``) do not count. An example without inputs must equal a demo in
    every field (:func:`example_hash`).

    Example:
        >>> ex = dspy.Example(question="2+2?", answer="4").with_inputs("question")
        >>> shown = ShownDemos([dspy.Example(question="2+2?", answer="four", augmented=True)])
        >>> ex in shown, dspy.Example(question="3+3?", answer="6").with_inputs("question") in shown
        (True, False)
    """

    def __init__(self, demos: Sequence[Any]) -> None:
        self._demos: list[Any] = []
        self._full: set[str] = set()
        self._by_keys: dict[frozenset[str], set[str]] = {}
        for demo in demos:
            self.add(demo)

    def add(self, demo: Any) -> None:
        """Counts ``demo`` among the demos."""
        self._demos.append(demo)
        self._full.add(example_hash(demo))
        for keys, hashes in self._by_keys.items():
            h = _part_hash(demo, keys)
            if h is not None:
                hashes.add(h)

    def __contains__(self, example: object) -> bool:
        if example_hash(example) in self._full:
            return True
        keys = _input_keys(example)
        if not keys:
            return False
        if keys not in self._by_keys:
            self._by_keys[keys] = {h for d in self._demos if (h := _part_hash(d, keys)) is not None}
        return _part_hash(example, keys) in self._by_keys[keys]
