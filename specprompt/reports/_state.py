"""A program's demos as data: the saved JSON state (or a live program's demos) and their texts.

Reading a saved program needs no code and runs none: the JSON file written by ``program.save`` is
parsed and never unpickled, by :func:`specprompt.types.read_program_state` (the one reader, which
:func:`specprompt.types.load_program` shares), called here lazily so that importing the reports
does not import DSPy.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import dspy

__all__ = ["demo_labels", "demo_texts", "demos_of", "read_program_state"]


def read_program_state(source: str | Path | Mapping[str, Any]) -> dict[str, list[Mapping[str, Any]]]:
    """Predictor name -> its saved demos: :func:`specprompt.types.read_program_state`.

    Raises:
        ConfigError: a missing or non-JSON file, or JSON that is not a DSPy program state.

    Example:
        >>> list(read_program_state({"demos": [{"label": "a"}], "signature": {}, "lm": None}))
        ['self']
    """
    from specprompt.types import read_program_state as read

    return read(source)


def demos_of(program: dspy.Module) -> dict[str, list[Mapping[str, Any]]]:
    """Predictor name -> its demos as mappings (:func:`read_program_state` of a live program)."""
    import dspy

    out: dict[str, list[Mapping[str, Any]]] = {}
    for name, pred in program.named_predictors():
        demos: list[Mapping[str, Any]] = []
        for d in pred.demos:
            demos.append(dict(d.items(include_dspy=True)) if isinstance(d, dspy.Example) else dict(d))
        out[name] = demos
    return out


def demo_labels(program: dspy.Module | Mapping[str, Any] | str | Path) -> dict[tuple[str, int], str]:
    """``(predictor, demo)`` -> what the demo answers, for captions (see :attr:`DemoImage.label`).

    For a ``dspy.Module`` the text of its predictors' output fields (``reasoning`` left out); for a
    saved JSON, which does not say which fields are outputs, its text fields. One field gives its
    value alone, several give ``"field=value; ..."``; at most 60 characters.

    Example:
        >>> import dspy
        >>> p = dspy.Predict("image: dspy.Image, question -> answer")
        >>> p.demos = [dspy.Example(image=None, question="which?", answer="cat")]
        >>> demo_labels(p)
        {('self', 0): 'cat'}
    """
    import dspy

    outputs: dict[str, set[str]] | None = None
    if isinstance(program, dspy.Module):
        outputs = {
            name: {f for f in pred.signature.output_fields if f != "reasoning"}
            for name, pred in program.named_predictors()
        }
    out: dict[tuple[str, int], str] = {}
    for (pname, di), texts in demo_texts(program).items():
        keep = {k: v for k, v in texts.items() if outputs is None or k in outputs.get(pname, ())}
        if not keep:
            continue
        text = next(iter(keep.values())) if len(keep) == 1 else "; ".join(f"{k}={v}" for k, v in keep.items())
        text = " ".join(text.split())
        out[(pname, di)] = text if len(text) <= 60 else text[:57] + "..."
    return out


def demo_texts(program: dspy.Module | Mapping[str, Any] | str | Path) -> dict[tuple[str, int], dict[str, str]]:
    """``(predictor, demo)`` -> its non-image fields as short strings (for captions)."""
    import dspy

    from specprompt.types import DROPPED_IMAGE, restore_image

    states = demos_of(program) if isinstance(program, dspy.Module) else read_program_state(program)
    out: dict[tuple[str, int], dict[str, str]] = {}
    for pname, demos in states.items():
        for di, demo in enumerate(demos):
            texts: dict[str, str] = {}
            for k, v in demo.items():
                if k.startswith("dspy_") or k == "augmented":
                    continue
                v = restore_image(v)
                if v is None or v == DROPPED_IMAGE or isinstance(v, dspy.Image):
                    continue
                if isinstance(v, Sequence) and not isinstance(v, str) and any(isinstance(x, dspy.Image) for x in v):
                    continue
                text = v if isinstance(v, str) else json.dumps(v, default=str)
                texts[k] = text if len(text) <= 200 else text[:197] + "..."
            out[(pname, di)] = texts
    return out
