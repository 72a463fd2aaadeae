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
    ├── MissingDependencyError (ImportError)  an optional extra is not installed (names the pip command)
    └── ScoringError (RuntimeError)       scoring a candidate failed (every example raised: a broken setup)
        ├── TransportError                a scorer call still failed after its retries: the trial fails,
        │                                 the compile goes on and tries the candidate again later
        └── EndpointError                 the endpoint is down or refuses the calls: the compile stops
                                          (run the same command again to resume)

Warnings derive from :class:`SpecPromptWarning` (a ``UserWarning``), so they can be filtered as one.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "ConfigError",
    "DuplicateNameError",
    "EndpointError",
    "ImageInputError",
    "MissingDependencyError",
    "ScoringError",
    "SelectionError",
    "ShapeError",
    "SpecPromptError",
    "SpecPromptWarning",
    "TransportError",
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


class ScoringError(SpecPromptError, RuntimeError):
    """Scoring a candidate failed for a reason that is not the model's answer.

    Raised as such when every example of a batch (of a trial, over all its pruning chunks) failed
    with an error of the program or the metric (a broken setup must not look like a bad
    candidate); its subclasses are the transport failures of remote scoring.
    """


class TransportError(ScoringError):
    """A scorer call still failed after its retries (timeout, 429, 5xx, reset, malformed reply).

    Never scored: the trial fails (Optuna ``FAIL``, reason in its ``transport_error`` user
    attribute) and its candidate is tried again later.

    Attributes:
        endpoint: the API base URL or model the call went to.
        attempts: how many times the call was tried.
        last: the last error, as ``"<type>: <message>"``.
    """

    def __init__(self, endpoint: str, attempts: int, last: str) -> None:
        self.endpoint = endpoint
        self.attempts = attempts
        self.last = last
        super().__init__(f"a call to {endpoint} failed {attempts} time(s); last error: {last}")


class EndpointError(ScoringError):
    """The endpoint is down (many consecutive failed calls) or refuses the calls (authentication).

    The run stops; what finished is kept (a compile's trials in its study, every answer in DSPy's
    cache, so a calibration's probe calls are not paid twice), so the same command goes on.

    Attributes:
        endpoint: the API base URL or model.
        failures: consecutive failed calls seen (1 for a refusal).
        last: the last error, as ``"<type>: <message>"``.
    """

    def __init__(self, endpoint: str, failures: int, last: str) -> None:
        self.endpoint = endpoint
        self.failures = failures
        self.last = last
        if "no API key found" in last:  # DSPy's own message says where the key goes; no call was made
            super().__init__(f"the endpoint {endpoint} needs an API key and none was found; {last}")
            return
        what = f"{failures} calls in a row failed" if failures > 1 else "it refused the call"
        super().__init__(
            f"the endpoint {endpoint} is not usable: {what}; last error: {last}. "
            "What finished is kept (a compile's trials in its study, answers in DSPy's cache): run the same "
            "command again to go on"
        )


class SpecPromptWarning(UserWarning):
    """Root of every warning issued by specprompt (e.g. only the first frame of an animation was used)."""
