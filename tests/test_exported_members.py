"""specprompt.__all__ is exactly the public surface (httpx's test_exported_members pattern)."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
import types

import specprompt


def test_all_is_exactly_the_public_names() -> None:
    eager = {
        name
        for name, value in vars(specprompt).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    lazy = set(specprompt._LAZY)
    assert eager | lazy == set(specprompt.__all__) - {"__version__"}
    assert sorted(specprompt.__all__) == list(specprompt.__all__)
    for name in specprompt.__all__:
        assert getattr(specprompt, name) is not None
    assert set(dir(specprompt)) >= set(specprompt.__all__)


def test_unknown_attribute_is_an_attribute_error() -> None:
    import pytest

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        specprompt.nope  # noqa: B018


def test_every_subpackage_has_a_sorted_all_of_existing_names() -> None:
    for info in pkgutil.walk_packages(specprompt.__path__, "specprompt."):
        if not info.ispkg:
            continue
        mod = importlib.import_module(info.name)
        names = getattr(mod, "__all__", None)
        assert names is not None, f"{info.name} has no __all__"
        assert sorted(names) == list(names), f"{info.name}.__all__ is not sorted"
        missing = [n for n in names if not hasattr(mod, n)]
        assert not missing, f"{info.name}.__all__ lists missing names {missing}"


def test_import_is_light() -> None:
    """`import specprompt` must not import torch, dspy or optuna (they are imported lazily)."""
    code = "import sys, specprompt; print(','.join(m for m in ('torch', 'dspy', 'optuna') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
