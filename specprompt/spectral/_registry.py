"""Registry of band-decomposition schemes."""

from __future__ import annotations

from specprompt._registry import Registry
from specprompt.errors import ConfigError
from specprompt.spectral._base import Scheme

__all__ = ["available_schemes", "get_scheme", "register_scheme"]

_SCHEMES: Registry[type[Scheme]] = Registry("scheme")


def register_scheme(cls: type[Scheme]) -> type[Scheme]:
    """Registers a :class:`Scheme` subclass under ``cls.name`` (usable as a class decorator).

    Raises:
        ConfigError: ``cls`` is not a subclass of :class:`Scheme`, or its ``name`` is not a
            lowercase ``[a-z0-9_.:/+-]`` string.
        DuplicateNameError: a scheme of that name exists.
    """
    if not isinstance(cls, type) or not issubclass(cls, Scheme):
        raise ConfigError(f"register_scheme expects a Scheme subclass (the class, not an instance), got {cls!r}")
    _SCHEMES.register(getattr(cls, "name", None), cls)  # type: ignore[arg-type]  # checked there
    return cls


def get_scheme(name: str) -> type[Scheme]:
    """The scheme class registered as ``name``; :class:`UnknownNameError` lists the known ones."""
    return _SCHEMES.get(name)


def available_schemes() -> list[str]:
    """Names of the registered schemes, sorted."""
    return _SCHEMES.names()
