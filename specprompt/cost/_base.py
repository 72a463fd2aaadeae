"""The contract every image-token cost model implements, and shared input checks."""

from __future__ import annotations

import dataclasses
import numbers
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Self

from specprompt.errors import ConfigError, UnknownNameError

__all__ = [
    "DETAILS",
    "CostModel",
    "Detail",
    "check_detail",
    "check_size",
    "cost_model_from_dict",
    "positive_int",
    "positive_number",
]

Detail = Literal["auto", "low", "high"]
#: The allowed values of ``detail``.
DETAILS: tuple[str, ...] = ("auto", "low", "high")

# family name -> class, filled by CostModel.__init_subclass__ (used by cost_model_from_dict)
_FAMILIES: dict[str, type[CostModel]] = {}


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_size(width: object, height: object) -> tuple[int, int]:
    """Validates an image size and returns it as plain ``int`` s.

    Raises:
        ConfigError: ``width`` or ``height`` is not a positive integer (bools are refused).
    """
    for what, value in (("width", width), ("height", height)):
        if not _is_int(value) or int(value) < 1:  # type: ignore[call-overload]
            raise ConfigError(f"image {what} must be a positive int, got {value!r}")
    return int(width), int(height)  # type: ignore[call-overload]


def check_detail(detail: object) -> Detail:
    """Validates ``detail``; :class:`ConfigError` names the value and the allowed ones."""
    if not isinstance(detail, str) or detail not in DETAILS:
        raise ConfigError(f"detail must be one of {', '.join(map(repr, DETAILS))}, got {detail!r}")
    return detail  # type: ignore[return-value]


def positive_int(owner: str, name: str, value: object, *, minimum: int = 1) -> None:
    """Raises :class:`ConfigError` unless ``value`` is an int ``>= minimum`` (for ``__post_init__``)."""
    if not _is_int(value) or int(value) < minimum:  # type: ignore[call-overload]
        raise ConfigError(f"{owner}.{name} must be an int >= {minimum}, got {value!r}")


def positive_number(owner: str, name: str, value: object) -> None:
    """Raises :class:`ConfigError` unless ``value`` is a finite real number ``> 0``."""
    if (
        not isinstance(value, numbers.Real)
        or isinstance(value, bool)
        or not float(value) > 0
        or float(value) == float("inf")
    ):
        raise ConfigError(f"{owner}.{name} must be a finite number > 0, got {value!r}")


@dataclass(frozen=True)
class CostModel(ABC):
    """How a provider turns an image of a given size into prompt tokens.

    Subclasses are frozen dataclasses whose fields are the provider's published numbers, so a
    model is a value: compare it, hash it, change it with :meth:`with_overrides`, save it with
    :meth:`to_dict`. They implement :meth:`_resized` and :meth:`_tokens`; the public methods
    validate their inputs first.

    Convention:
        sizes are ``(width, height)`` in pixels (PIL order), the size of the image you send.
    """

    #: stable identifier of the formula, the ``"family"`` key of :meth:`to_dict`.
    family: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        family = cls.__dict__.get("family")
        if isinstance(family, str):
            _FAMILIES[family] = cls

    # -- the formula ---------------------------------------------------------------------------
    @abstractmethod
    def _resized(self, width: int, height: int, detail: Detail) -> tuple[int, int]:
        """The processed size, for valid inputs."""

    @abstractmethod
    def _tokens(self, width: int, height: int, detail: Detail) -> int:
        """The token count, for valid inputs."""

    def resized(self, width: int, height: int, detail: Detail = "auto") -> tuple[int, int]:
        """``(width, height)`` of the image the provider actually processes.

        Raises:
            ConfigError: a size that is not a positive int, or an unknown ``detail``.
        """
        w, h = check_size(width, height)
        return self._resized(w, h, check_detail(detail))

    def tokens(self, width: int, height: int, detail: Detail = "auto") -> int:
        """Prompt tokens billed for one ``width`` x ``height`` image.

        Raises:
            ConfigError: a size that is not a positive int, or an unknown ``detail``.
        """
        w, h = check_size(width, height)
        return self._tokens(w, h, check_detail(detail))

    # -- values --------------------------------------------------------------------------------
    def with_overrides(self, **changes: Any) -> Self:
        """A copy with some numbers replaced, e.g. ``model.with_overrides(base=85, tile=170)``.

        Raises:
            ConfigError: an unknown field (the message lists the fields) or a bad value.
        """
        names = [f.name for f in dataclasses.fields(self)]
        unknown = sorted(set(changes) - set(names))
        if unknown:
            raise ConfigError(
                f"unknown field(s) {unknown} for {type(self).__name__}; fields: {', '.join(names) or '(none)'}"
            )
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready ``{"family": ..., <field>: <value>, ...}``; inverse of :func:`cost_model_from_dict`."""
        return {"family": self.family, **dataclasses.asdict(self)}

    @classmethod
    def fields_help(cls) -> dict[str, str]:
        """Field name -> help text, for CLIs and docs."""
        return {f.name: str(f.metadata.get("help", "")) for f in dataclasses.fields(cls)}


def cost_model_from_dict(data: Mapping[str, Any]) -> CostModel:
    """Rebuilds a cost model from :meth:`CostModel.to_dict` output.

    Raises:
        UnknownNameError: unknown ``"family"``. ConfigError: not a mapping, or bad fields.
    """
    if not isinstance(data, Mapping) or "family" not in data:
        raise ConfigError(f"a cost model dict needs a 'family' key, got {data!r}")
    family = data["family"]
    if family not in _FAMILIES:
        raise UnknownNameError("cost model family", family, sorted(_FAMILIES))
    cls = _FAMILIES[family]
    fields = {k: v for k, v in data.items() if k != "family"}
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(fields) - names)
    if unknown:
        raise ConfigError(f"unknown field(s) {unknown} for {cls.__name__}; fields: {sorted(names)}")
    return cls(**fields)
