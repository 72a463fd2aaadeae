"""Saving and loading programs whose demos hold images, with DSPy's JSON format and no pickle.

``program.save("p.json")`` already writes every ``dspy.Image`` in the demos as a marker string
holding its ``image_url`` part (see ``dspy.adapters.types.base_type.Type.serialize_model``), and
``program.load`` gives those strings back as they are. A :class:`SpectralImage` keeps its
metadata in a PNG text chunk of its data URI, so :func:`restore_images` can rebuild every image
exactly from those strings: no extra file, no pickle, and DSPy's file format stays unchanged.

DSPy 3.4 offers no hook to run on load, so restoring is one explicit call. A program loaded
without it still sends the very same image parts (with their ``detail``): the adapters turn the
marker strings back into image parts. Restoring gives back the objects (selections, source
hashes, render sizes) for reports, re-optimization and ``isinstance`` checks.
"""

from __future__ import annotations

import json
import logging
import os
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import dspy
from dspy.adapters.types.base_type import CUSTOM_TYPE_END_IDENTIFIER, CUSTOM_TYPE_START_IDENTIFIER

from specprompt.errors import ConfigError, ImageInputError, SpecPromptError, SpecPromptWarning
from specprompt.types._image import METADATA_KEY, SpectralImage, read_metadata
from specprompt.types._state import check_state_fits, read_program_json

__all__ = ["load_program", "restore_image", "restore_images"]

P = TypeVar("P", bound=dspy.Module)

_MARKER = re.compile(
    re.escape(CUSTOM_TYPE_START_IDENTIFIER) + r"(.*)" + re.escape(CUSTOM_TYPE_END_IDENTIFIER), re.DOTALL
)


#: Data URI types that are not raster images (``dspy.Image`` sends them as they are).

logger = logging.getLogger("specprompt.types")


def _short(value: str) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "...'"


def _decoded(url: str, source: str) -> None:
    """Decodes a data URI image fully (truncated or corrupt pixels raise here, not in an LM call).

    Raster images only: a vector or document part that ``dspy.Image`` also sends (SVG, PDF) is
    left for the provider to read.
    """
    from specprompt.io import NOT_RASTER_MEDIA_TYPES, data_uri_media_type, load_image, parse_data_uri

    if data_uri_media_type(url) in NOT_RASTER_MEDIA_TYPES:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SpecPromptWarning)  # an animation: its first frame is what DSPy sends
        load_image(parse_data_uri(url, source))


def _image_from_url(url: str, detail: Any, source: str) -> dspy.Image:
    """A SpectralImage when the PNG carries specprompt metadata of a registered scheme, else a ``dspy.Image``."""
    from specprompt.spectral import available_schemes

    if not url.startswith("data:"):
        return dspy.Image(url)  # a remote URL is never fetched, so there is nothing to check
    _decoded(url, source)
    if not url.startswith("data:image/png;base64,"):
        return dspy.Image(url)
    meta = read_metadata(url)
    if meta is None:
        return dspy.Image(url)
    known = available_schemes()
    if meta["scheme"] not in known:  # a plugin's scheme not imported here: the sent PNG is all a call needs
        logger.warning(
            "%s: its %r metadata names scheme %r, which is not registered here (known: %s); the image loads, "
            "but re-rendering it needs that scheme's plugin imported",
            source,
            METADATA_KEY,
            meta["scheme"],
            ", ".join(known),
        )
    return SpectralImage.from_data_uri(url, detail=detail)


def restore_image(value: Any) -> Any:
    """Turns one saved image marker string back into an image; anything else is returned unchanged.

    The image is decoded fully, so a truncated or corrupt one is refused here rather than in a
    later LM call.

    Args:
        value: a demo field value as ``program.load`` leaves it.

    Returns:
        a :class:`SpectralImage` when the string holds one image part whose PNG carries
        specprompt metadata (with its saved ``detail``), a ``dspy.Image`` for any other single
        image part, otherwise ``value`` itself (text, or the marker of another DSPy type such as
        an audio or file part). Lists, tuples and dicts are walked recursively.

    Raises:
        ImageInputError: a marker whose content is not a JSON list of content parts, an
            ``image_url`` part without a URL string, an image that does not decode, or
            specprompt metadata that names an unknown scheme.
        ConfigError: specprompt metadata that disagrees with its image.

    Example:
        >>> restore_image("just text")
        'just text'
    """
    if isinstance(value, list):
        return [restore_image(v) for v in value]
    if isinstance(value, tuple):
        return tuple(restore_image(v) for v in value)
    if isinstance(value, dict):
        return {k: restore_image(v) for k, v in value.items()}
    if not isinstance(value, str):
        return value
    match = _MARKER.fullmatch(value.strip())
    if match is None:
        return value
    try:
        parts = json.loads(match.group(1))
    except ValueError:
        parts = None
    if not (isinstance(parts, list) and parts and all(isinstance(p, dict) for p in parts)):
        raise ImageInputError(
            _short(value), "a DSPy custom-type marker whose content is not a JSON list of content parts"
        )
    if len(parts) != 1 or parts[0].get("type") != "image_url":
        return value
    image_url = parts[0].get("image_url")
    if not isinstance(image_url, dict) or not isinstance(image_url.get("url"), str):
        raise ImageInputError(_short(value), "an 'image_url' part without a 'url' string")
    url: str = image_url["url"]
    return _image_from_url(url, image_url.get("detail"), _short(url))


def _restore_field(value: Any, at: str) -> Any:
    """:func:`restore_image` of one demo field; an error names ``at`` (``of predictor 'self', demo 0, ...``)."""
    if isinstance(value, (list, tuple)):
        items = [_restore_field(v, f"{at} item {j}") for j, v in enumerate(value)]
        return items if isinstance(value, list) else tuple(items)
    try:
        return restore_image(value)
    except SpecPromptError as exc:
        raise ImageInputError(at, exc.reason if isinstance(exc, ImageInputError) else str(exc)) from None


def _restore_demos(demos: Any, pname: str, where: str) -> list[Any]:
    """The demos of predictor ``pname`` with their images restored; ``where`` ends error messages."""
    out: list[Any] = []
    for di, demo in enumerate(demos):

        def at(field: str, di: int = di) -> str:
            return f"of predictor {pname!r}, demo {di}, field {field!r}{where}"

        if isinstance(demo, dspy.Example):
            out.append(demo.copy(**{k: _restore_field(v, at(k)) for k, v in demo.items(include_dspy=True)}))
        elif isinstance(demo, Mapping):
            out.append({k: _restore_field(v, at(k)) for k, v in demo.items()})
        else:
            out.append(demo)
    return out


def restore_images(program: P) -> P:
    """Rebuilds, in place, every image in the demos of ``program`` after ``program.load("x.json")``.

    Walks ``program.named_predictors()``; each demo (a dict after loading, or a ``dspy.Example``)
    gets its marker strings replaced by :class:`SpectralImage` / ``dspy.Image`` objects, also
    inside lists such as ``list[dspy.Image]`` fields. Images already restored are left alone,
    so calling it twice is harmless. Nothing is changed when an image is refused.

    Returns:
        ``program`` itself, for chaining.

    Raises:
        ConfigError: ``program`` is not a ``dspy.Module``.
        ImageInputError: a corrupt image (see :func:`restore_image`), naming its predictor,
            demo and field.

    Example:
        >>> p = dspy.Predict("question -> answer")
        >>> restore_images(p) is p
        True
    """
    if not isinstance(program, dspy.Module):
        raise ConfigError(f"restore_images expects a dspy.Module, got {type(program).__name__}")
    restored = {name: _restore_demos(pred.demos, name, "") for name, pred in program.named_predictors()}
    for name, predictor in program.named_predictors():
        predictor.demos = restored[name]
    return program


def load_program(program: P, path: str | os.PathLike[str]) -> P:
    """Loads a program saved with ``program.save(path)`` (JSON only) and restores its images.

    Equivalent to ``program.load(path)`` followed by :func:`restore_images`, after checking the
    file first: its shape, that it fits ``program`` (the same predictors, signature fields and
    demo fields; DSPy alone would match fields by position) and that every demo image decodes.
    ``program`` is left untouched when one of these checks fails. Pickle files are refused: a
    ``.pkl`` can run arbitrary code when loaded.

    The program's ``_compiled`` flag is left as ``program`` had it, as DSPy's ``load`` leaves it:
    the file does not record it, and a loaded program marked compiled could no longer be a
    student of DSPy's optimizers (``BootstrapFewShot`` refuses a compiled student). To freeze a
    loaded program inside a module that another optimizer compiles, as the program that
    ``BandOptimizer.compile`` returned was, set ``program._compiled = True``.

    Args:
        program: a fresh instance of the saved program's class.
        path: a ``.json`` file written by ``program.save``.

    Returns:
        ``program``, loaded, with :class:`SpectralImage` objects back in its demos.

    Raises:
        ConfigError: ``program`` is not a ``dspy.Module``; ``path`` is not a path, does not end
            in ``.json`` or does not exist; the file is not JSON or not a DSPy program state, or
            does not fit ``program`` (the message names the predictor and the fields).
        ImageInputError: a corrupt demo image, naming the file, predictor, demo and field.
    """
    if not isinstance(program, dspy.Module):
        raise ConfigError(f"load_program expects a dspy.Module, got {type(program).__name__}")
    if not isinstance(path, (str, os.PathLike)):
        raise ConfigError(f"load_program expects the path of a .json file (str or pathlib.Path), got {path!r:.60}")
    path = Path(path)
    if path.suffix != ".json":
        raise ConfigError(f"load_program reads DSPy JSON state files only, got {str(path)!r} (pickle is never loaded)")
    if not path.is_file():
        raise ConfigError(f"no such program file: {str(path)!r}")
    data, name = read_program_json(path)
    states = check_state_fits(data, name, program)
    restored = {pname: _restore_demos(state["demos"], pname, f" in {name}") for pname, state in states.items()}
    try:
        program.load(str(path))
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:  # a shape not checked above
        raise ConfigError(f"DSPy cannot load {name!r} into the program: {type(exc).__name__}: {exc}") from None
    for pname, predictor in program.named_predictors():
        predictor.demos = restored[pname]
    return program
