"""A saved program's JSON state, parsed and shape-checked without running code (no pickle).

The one reader of the files ``program.save`` writes: :func:`read_program_state` gives each
predictor's demos (reports use it, and never run code), and :func:`check_state_fits` checks,
before DSPy loads a file into a program, that the file has the shape DSPy's ``load_state``
indexes into and that its predictors, signature fields and demo fields are the program's:
DSPy itself matches signature fields by position and takes any demos silently.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from specprompt.errors import ConfigError

if TYPE_CHECKING:
    import dspy

__all__ = ["check_state_fits", "read_program_json", "read_program_state"]

#: The description DSPy saves for a field that was given none: ``${name}``, so the name is known.
_DEFAULT_DESCRIPTION = re.compile(r"\$\{(\w+)\}")


def read_program_json(source: str | os.PathLike[str] | Mapping[str, Any]) -> tuple[Mapping[str, Any], str]:
    """The JSON object of a ``program.save`` file (or the mapping itself) and its name for messages.

    Raises:
        ConfigError: not a path, a missing or non-``.json`` file, text that is not JSON, or JSON
            that is not an object.
    """
    if isinstance(source, Mapping):
        return source, "program state"
    if not isinstance(source, (str, os.PathLike)):
        raise ConfigError(f"a program file must be a path (str or pathlib.Path), got {type(source).__name__}")
    path = Path(source)
    name = str(path)
    if not path.is_file():
        raise ConfigError(f"no such program file: {name!r}")
    if path.suffix != ".json":
        raise ConfigError(f"{name!r} is not a .json file (pickled programs are never read)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{name!r} is not JSON: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read program file {name!r}: {exc.strerror or exc}") from None
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"{name!r} is not a DSPy program state (expected a JSON object, got a JSON {type(data).__name__})"
        )
    return data, name


def _predictor_states(data: Mapping[str, Any], name: str) -> dict[str, Mapping[str, Any]]:
    """Predictor name -> its saved state (``"self"`` for a bare ``dspy.Predict``), demos checked."""
    if isinstance(data.get("demos"), list):  # a module's state never holds a list under "demos"
        states: dict[str, Mapping[str, Any]] = {"self": data}
    else:
        states = {k: v for k, v in data.items() if isinstance(v, Mapping) and isinstance(v.get("demos"), list)}
    if not states:
        raise ConfigError(f"{name!r} is not a DSPy program state: no predictor with 'demos' in it")
    for pname, state in states.items():
        bad = [i for i, d in enumerate(state["demos"]) if not isinstance(d, Mapping)]
        if bad:
            raise ConfigError(f"{name!r}: demo {bad[0]} of predictor {pname!r} is not a JSON object")
    return states


def read_program_state(
    source: str | os.PathLike[str] | Mapping[str, Any],
) -> dict[str, list[Mapping[str, Any]]]:
    """Predictor name -> its saved demos, from a ``program.save`` JSON file (or its parsed dict).

    A bare ``dspy.Predict`` saves its state at the top level (named ``"self"`` here, as
    ``named_predictors`` does); a module saves one entry per predictor.

    Raises:
        ConfigError: a missing or non-JSON file, or JSON that is not a DSPy program state.

    Example:
        >>> list(read_program_state({"demos": [{"label": "a"}], "signature": {}, "lm": None}))
        ['self']
    """
    data, name = read_program_json(source)
    return {pname: list(state["demos"]) for pname, state in _predictor_states(data, name).items()}


def _saved_fields(signature: Any, pname: str, name: str) -> list[str | None]:
    """The field names of a saved signature (``None`` where its description is not DSPy's default)."""
    fields = signature.get("fields") if isinstance(signature, Mapping) else None
    if not isinstance(fields, list) or not isinstance(signature.get("instructions"), str):
        raise ConfigError(
            f"{name!r}: the 'signature' of predictor {pname!r} is not a saved DSPy signature "
            "(expected an object with an 'instructions' string and a 'fields' list)"
        )
    out: list[str | None] = []
    for i, f in enumerate(fields):
        description = f.get("description") if isinstance(f, Mapping) else None
        shaped = isinstance(f, Mapping) and isinstance(f.get("prefix"), str)
        if not (shaped and (description is None or isinstance(description, str))):
            raise ConfigError(
                f"{name!r}: field {i} of the signature of predictor {pname!r} is not an object with a "
                "'prefix' string and a 'description' string or null"
            )
        match = _DEFAULT_DESCRIPTION.fullmatch(description) if description is not None else None
        out.append(match.group(1) if match else None)  # desc=None saves null: unnamed, as a desc of its own
    return out


def _check_predictor(state: Mapping[str, Any], pname: str, predictor: dspy.Predict, name: str) -> None:
    """Raises :class:`ConfigError` unless one saved predictor state loads into ``predictor`` as it is."""
    saved = _saved_fields(state.get("signature"), pname, name)
    if "lm" not in state or not (state["lm"] is None or isinstance(state["lm"], Mapping)):
        raise ConfigError(f"{name!r}: predictor {pname!r} has no 'lm' entry (null or an object)")
    ours = list(predictor.signature.fields)
    if len(saved) != len(ours) or any(s is not None and s != o for s, o in zip(saved, ours, strict=False)):
        shown = [s if s is not None else "?" for s in saved]
        note = " ('?': a field saved with a description of its own)" if None in saved else ""
        raise ConfigError(
            f"{name!r} does not fit the program: predictor {pname!r} was saved with fields {shown}{note}, "
            f"the program's has {ours}"
        )
    # A field saved with a description of its own has no name in the file: its demos tell. Demos
    # with a field the program lacks (an ``id`` of the user's data) and without a field the program
    # has at an unnamed position are another program's; either alone is harmless (DSPy sends only the
    # signature's fields, and an optional input need not be in any demo).
    keys = {k for d in state["demos"] for k in d if not k.startswith("dspy_") and k != "augmented"}
    unnamed = [o for s, o in zip(saved, ours, strict=True) if s is None]
    missing = [o for o in unnamed if keys and o not in keys]
    extra = sorted(keys - set(ours))
    if missing and extra:
        raise ConfigError(
            f"{name!r} does not fit the program: the demos of predictor {pname!r} have field(s) {extra} that "
            f"its signature lacks and none of {missing} (demo fields: {sorted(keys)}; signature: {ours})"
        )


def check_state_fits(data: Mapping[str, Any], name: str, program: dspy.Module) -> dict[str, Mapping[str, Any]]:
    """Checks that the saved state ``data`` (from the file ``name``) fits ``program`` before DSPy loads it.

    The same predictor names; per predictor a signature with the program's number of fields
    and, where the file names them (DSPy's default descriptions ``${name}``), the same names in
    the same order, else fields its demos hold; and the ``metadata`` and
    ``lm`` entries that DSPy's ``load`` reads.

    Returns:
        predictor name -> its saved state.

    Raises:
        ConfigError: the first mismatch, naming the predictor and the fields on each side.
    """

    saved = _predictor_states(data, name)
    preds: dict[str, dspy.Predict] = dict(program.named_predictors())
    if set(saved) != set(preds):
        raise ConfigError(
            f"{name!r} does not fit the program: it holds predictor(s) {sorted(saved)}, the program has {sorted(preds)}"
        )
    meta = data.get("metadata")
    if not isinstance(meta, Mapping) or not isinstance(meta.get("dependency_versions"), Mapping):
        raise ConfigError(
            f"{name!r} has no 'metadata' object with 'dependency_versions' (program.save writes them): "
            "not a file written by program.save"
        )
    for pname, state in saved.items():
        _check_predictor(state, pname, preds[pname], name)
    return saved
