"""Fixtures of the cost-model tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from specprompt.cost import _registry


@pytest.fixture
def clean_registry() -> Iterator[None]:
    """Restores the cost-model registry after a test that registers names."""
    saved = dict(_registry._MODELS._entries)
    yield
    _registry._MODELS._entries.clear()
    _registry._MODELS._entries.update(saved)
