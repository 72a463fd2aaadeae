"""A hashed byte n-gram tokenizer for instructions and answers (no vocabulary file).

Convention:
    Text is NFKC-normalized, lower-cased and UTF-8 encoded; every byte 1-, 2- and 3-gram of
    ``" " + text + " "`` is hashed with CRC-32 (stable across runs and platforms, unlike
    ``hash``) into :data:`VOCAB` buckets. Order beyond 3 bytes is lost: the model only uses text as
    a bag of n-grams that hints at the attribute asked about.

Example:
    >>> text_ids("Colour?") == text_ids("colour?")
    True
    >>> len(text_ids("ab"))   # " ab " has 4 + 3 + 2 n-grams
    9
"""

from __future__ import annotations

import unicodedata
import zlib
from collections.abc import Sequence

from specprompt.errors import ConfigError

__all__ = ["MAX_TEXT_BYTES", "VOCAB", "episode_text", "text_ids"]

#: Number of hash buckets.
VOCAB = 4096
#: Longer texts are cut to this many bytes before hashing.
MAX_TEXT_BYTES = 512


def text_ids(text: str) -> list[int]:
    """Bucket ids of the byte 1-3 grams of ``text`` (empty text gives an empty list).

    Raises:
        ConfigError: ``text`` is not a string.
    """
    if not isinstance(text, str):
        raise ConfigError(f"text must be a str, got {type(text).__name__}")
    if not text.strip():
        return []
    data = (" " + unicodedata.normalize("NFKC", text).lower().strip() + " ").encode("utf-8")[:MAX_TEXT_BYTES]
    out = []
    for n in (1, 2, 3):
        for i in range(len(data) - n + 1):
            out.append(zlib.crc32(bytes([n]) + data[i : i + n]) % VOCAB)
    return out


def episode_text(instruction: str, answers: Sequence[str]) -> str:
    """The text the model reads: the instruction, then the distinct answers in sorted order."""
    return f"{instruction} || {' | '.join(sorted(set(answers)))}"
