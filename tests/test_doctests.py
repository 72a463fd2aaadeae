"""Runs the doctest examples of every specprompt module (imported once, so registries stay intact)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import specprompt

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(specprompt.__path__, "specprompt.")
    if info.name != "specprompt.__main__"
)


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} doctest(s) failed in {name}"
