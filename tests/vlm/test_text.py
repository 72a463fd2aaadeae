"""The hashed byte n-gram text tokenizer."""

from __future__ import annotations

import pytest

from specprompt import ConfigError
from specprompt.vlm._text import VOCAB, text_ids


def test_text_ids_are_stable_and_case_insensitive() -> None:
    ids = text_ids("What colour?")
    assert ids == text_ids("  what COLOUR?")
    assert all(0 <= i < VOCAB for i in ids)
    assert ids != text_ids("What shape?")
    assert text_ids("") == [] and text_ids("   ") == []
    # CRC-32 buckets, not the per-process salted hash(): a golden value
    assert text_ids("a") == [886, 624, 886, 2064, 1874, 3132]


def test_text_ids_refuse_non_strings() -> None:
    with pytest.raises(ConfigError, match="must be a str"):
        text_ids(b"bytes")  # type: ignore[arg-type]
