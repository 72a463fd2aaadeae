"""Labels of folder-per-label datasets: a folder name becomes a value of the output field's type.

A folder name is a label only when it spells one exactly, as a JSONL label must have the JSON
type of its output field: an exact-match metric compares the label with the model's parsed
answer, so ``"1"`` for an ``int`` output would never match (see :func:`folder_labels`).

Folder names are read in Unicode NFC form: macOS (and zips made there) write ``café`` as ``e`` plus a
combining accent (NFD), which would otherwise never equal the ``café`` of a JSONL label, a
``Literal`` choice or a model's answer.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from specprompt.errors import ConfigError

if TYPE_CHECKING:
    from specprompt.data._datasets import DatasetFields

__all__ = ["folder_labels"]


#: How a folder name spells a label of each output type, for messages (see :func:`_folder_value`).
_FOLDER_SPELLING = {str: "text", int: "an integer", float: "a number", bool: "true or false"}
_FOLDER_EXAMPLES = {str: "by their labels", int: "0, 1, -2, ...", float: "0.5, 1, 2e-3, ...", bool: "true and false"}


def folder_labels(root: Path, names: list[str], fields: DatasetFields, label_field: str) -> dict[str, Any]:
    """Folder name -> its label, of the type of the program's output field ``label_field``.

    Names are NFC-normalised before they are read (an NFD ``café`` folder gives the label ``café``
    in NFC form); the keys of the result are the names as given.

    Raises:
        ConfigError: a name that is not one of the field's ``Literal`` choices, that does not
            spell a value of its type exactly, or two names that spell the same value.
    """
    nfc = {n: unicodedata.normalize("NFC", n) for n in names}
    allowed = fields.choices.get(label_field)
    if allowed is not None:
        unknown = [n for n in names if not any(_spells(nfc[n], c) for c in allowed)]
        if unknown:
            raise ConfigError(
                f"{root}: label folder(s) {unknown} are not labels of the program's {label_field!r} field; "
                f"allowed: {', '.join(map(_folder_name, allowed))}"
            )
        return {n: next(c for c in allowed if _spells(nfc[n], c)) for n in names}
    kind = fields.scalars.get(label_field, (str, False))[0]
    labels: dict[str, Any] = {}
    seen: dict[Any, str] = {}
    for name in names:
        value = _folder_value(nfc[name], kind)
        if value is None:
            raise ConfigError(
                f"{root}: label folder {name!r} is not {_FOLDER_SPELLING[kind]}, but the program's {label_field!r} "
                f"output is typed {kind.__name__}: name the label folders {_FOLDER_EXAMPLES[kind]} (the model's "
                f"answer is parsed as {kind.__name__}, so an exact-match metric never matches this label)"
            )
        if value in seen:
            raise ConfigError(
                f"{root}: label folders {seen[value]!r} and {name!r} both give the label {value!r} "
                f"of the program's {label_field!r} output ({kind.__name__}): merge them"
            )
        seen[value] = name
        labels[name] = value
    return labels


def _folder_value(name: str, kind: type) -> Any:
    """The label that the folder ``name`` spells for an output of type ``kind``, or ``None``.

    Exact spellings only: an ``int`` is written as ``str(int)`` (``7``, ``-2``; not ``07``,
    ``+7`` or ``7.0``), a finite ``float`` as a JSON number (``0.5``, ``1``, ``2e-3``), a
    ``bool`` as ``true`` or ``false`` (any case; not ``1``, ``yes``), a ``str`` as itself.
    """
    if kind is str:
        return name
    if kind is bool:
        return {"true": True, "false": False}.get(name.lower())
    if kind is int:
        return int(name) if re.fullmatch(r"-?(0|[1-9][0-9]*)", name) else None
    if kind is float and re.fullmatch(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?", name):
        value = float(name)
        return value if math.isfinite(value) else None
    return None


def _spells(name: str, choice: Any) -> bool:
    """Whether the folder ``name`` spells the ``Literal`` choice ``choice`` (see :func:`_folder_value`)."""
    value = _folder_value(name, type(choice)) if type(choice) in _FOLDER_SPELLING else None
    return value is not None and type(value) is type(choice) and value == choice


def _folder_name(choice: Any) -> str:
    """The folder name of a ``Literal`` choice: ``a``, ``3``, ``true``."""
    return json.dumps(choice) if isinstance(choice, bool) else str(choice)
