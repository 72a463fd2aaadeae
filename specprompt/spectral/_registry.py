"""Registry of band-decomposition schemes."""

from __future__ import annotations

from specprompt._registry import Registry
from specprompt.spectral._base import Scheme

__all__ = ["available_schemes", "get_scheme", "register_scheme"]

_SCHEMES: Registry[type[Scheme]] = Registry("scheme")


def register_scheme(cls: type[Scheme]) -> type[Scheme]:
    """Registers a :class:`Scheme` subclass under ``cls.name`` (usable as a class decorator).

    Raises:
        DuplicateNameError: a scheme of that name exists.
    """
    _SCHEMES.register(cls.name, cls)
    return cls


def get_scheme(name: str) -> type[Scheme]:
    """The scheme class registered as ``name``; :class:`UnknownNameError` lists the known ones."""
    return _SCHEMES.get(name)


def available_schemes() -> list[str]:
    """Names of the registered schemes, sorted."""
    return _SCHEMES.names()
