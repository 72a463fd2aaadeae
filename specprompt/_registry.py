"""A small name -> object registry shared by schemes, cost models and scorers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Generic, TypeVar

from specprompt.errors import ConfigError, DuplicateNameError, UnknownNameError

__all__ = ["Registry"]

T = TypeVar("T")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.:/+-]*$")


class Registry(Generic[T]):
    """Maps lowercase names to entries; rejects duplicates and unknown names with clear errors.

    Args:
        kind: what the entries are, used in error messages (``"scheme"``, ``"cost model"``).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T, *, replace: bool = False) -> T:
        """Registers ``entry`` under ``name``.

        Raises:
            DuplicateNameError: the name is taken and ``replace`` is false.
            ConfigError: the name is not lowercase ``[a-z0-9_.:/+-]``.
        """
        if not isinstance(name, str) or not _NAME.match(name):
            raise ConfigError(f"{self.kind} name {name!r} is invalid: use lowercase letters, digits and _.:/+-")
        if name in self._entries and not replace:
            raise DuplicateNameError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = entry
        return entry

    def get(self, name: str) -> T:
        """Returns the entry named ``name``; raises :class:`UnknownNameError` listing known names."""
        key = name.lower() if isinstance(name, str) else name
        try:
            return self._entries[key]
        except (KeyError, TypeError):
            raise UnknownNameError(self.kind, name, sorted(self._entries)) from None

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
