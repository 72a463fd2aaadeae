"""Exceptions raised by specprompt.

Every error that specprompt raises on purpose derives from :class:`SpecPromptError`.
Subclasses also inherit the matching builtin, so ``except ValueError`` keeps working::

    SpecPromptError
    ├── ConfigError (ValueError)          a config field or keyword has a bad value
    ├── UnknownNameError (KeyError)       a registry has no entry of that name
    ├── DuplicateNameError (ValueError)   a registry already has an entry of that name
    ├── ShapeError (ValueError)           an array has the wrong shape (carries both shapes)
    ├── SelectionError (ValueError)       a Selection names bands or tiles a Spectrum lacks
    ├── ImageInputError (ValueError)      an image could not be read (names source and reason)
    └── MissingDependencyError (ImportError)  an optional extra is not installed (names the pip command)

Warnings derive from :class:`SpecPromptWarning` (a ``UserWarning``), so they can be filtered as one.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "ConfigError",
    "DuplicateNameError",
    "ImageInputError",
    "MissingDependencyError",
    "SelectionError",
    "ShapeError",
    "SpecPromptError",
    "SpecPromptWarning",
    "UnknownNameError",
]


class SpecPromptError(Exception):
    """Root of every error raised on purpose by specprompt."""


class ConfigError(SpecPromptError, ValueError):
    """A configuration field or keyword argument has a value outside the allowed ones."""


class UnknownNameError(SpecPromptError, KeyError):
    """A registry lookup failed; the message lists the registered names."""

    def __init__(self, kind: str, name: object, known: Sequence[str]) -> None:
        self.kind = kind
        self.name = name
        self.known = tuple(known)
        super().__init__(f"unknown {kind} {name!r}; known: {', '.join(self.known) or '(none)'}")

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class DuplicateNameError(SpecPromptError, ValueError):
    """A registry already holds an entry under this name."""


class ShapeError(SpecPromptError, ValueError):
    """An array has an unexpected shape.

    Attributes:
        actual: the shape that was given.
        expected: a description of the allowed shapes, e.g. ``"(H, W) or (H, W, C)"``.
    """

    def __init__(self, what: str, actual: tuple[int, ...], expected: str) -> None:
        self.actual = tuple(actual)
        self.expected = expected
        super().__init__(f"{what} has shape {self.actual}, expected {expected}")


class SelectionError(SpecPromptError, ValueError):
    """A :class:`~specprompt.Selection` does not fit the :class:`~specprompt.Spectrum` it is used on."""


class ImageInputError(SpecPromptError, ValueError):
    """An image source could not be turned into pixels.

    Attributes:
        source: a short description of the input (a path, ``"<bytes: 12 B>"``, ...).
        reason: why it was refused.
    """

    def __init__(self, source: str, reason: str) -> None:
        self.source = source
        self.reason = reason
        super().__init__(f"cannot read image {source}: {reason}")


class MissingDependencyError(SpecPromptError, ImportError):
    """An optional dependency is not installed; the message names it and the install command."""


class SpecPromptWarning(UserWarning):
    """Root of every warning issued by specprompt (e.g. only the first frame of an animation was used)."""
