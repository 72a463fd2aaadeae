"""Datasets of labelled images for DSPy programs: a JSONL file or a folder per label.

Datasets are **data and never execute code**: JSON lines are parsed with :func:`json.loads`,
images are decoded by :func:`specprompt.io.load_image` (allow-listed formats, pixel limit).

Layouts (field names come from the program, see :func:`dataset_fields`, or default to
``image`` and ``label``)::

    train.jsonl          one JSON object per line: every input field and the output field(s);
                         image fields hold paths relative to the JSONL file (or data URIs),
                         list[dspy.Image] fields hold lists of them
    train/<label>/*.png  a folder per label (png, jpg, jpeg, webp, gif, bmp, tif, tiff) for
                         programs with one image input and one output field

A folder name becomes a label of the output field's type when it spells one exactly, as a JSONL
label must have that JSON type: ``int`` folders ``0``, ``7``, ``-2`` (not ``07`` or ``7.0``),
``float`` folders JSON numbers (``0.5``, ``1``), ``bool`` folders ``true`` and ``false`` (any
case; never ``0``/``1`` or ``yes``/``no``), ``Literal`` folders one of its choices spelled so
(``Literal[1, 2]``: ``1`` and ``2``); other types keep the name as text.
"""

from __future__ import annotations

import json
import logging
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import dspy

from specprompt._progress import progress_bar
from specprompt.data._folders import IMAGE_SUFFIXES, is_hidden, list_folders, report_skipped
from specprompt.data._images import ImageReader, image_file
from specprompt.data._labels import folder_labels
from specprompt.errors import ConfigError
from specprompt.io import DEFAULT_MAX_PIXELS, check_max_pixels

__all__ = ["DatasetFields", "dataset_fields", "default_fields", "image_file", "load_dataset"]

log = logging.getLogger("specprompt.data")

#: Output types whose labels must have the matching JSON type, and how to write one.
_SCALARS: dict[type, str] = {str: "a JSON string", int: "a JSON integer", float: "a JSON number", bool: "true or false"}
#: Output fields that describe the model's reasoning, never a dataset label (``dspy.ChainOfThought``).
_NOT_LABELS = ("reasoning",)
#: From this many image files (or JSONL lines) on, reading a dataset shows a bar: a 12 MP photo takes
#: about 0.4 s to check, so a few hundred take minutes.
_BAR_FROM = 50


@dataclass(frozen=True)
class _Reading:
    """How one :func:`load_dataset` call reads: its fields, and its image reader (limit, counts)."""

    fields: DatasetFields
    images: ImageReader


# -- which fields a dataset must have ----------------------------------------------------------------


@dataclass(frozen=True)
class DatasetFields:
    """The fields examples need, read from a program's signatures.

    Attributes:
        inputs: input fields of the first predictor (the program's inputs).
        outputs: output fields of the last predictor, without ``reasoning`` (the labels).
        images: image input fields -> ``"single"`` (``dspy.Image``) or ``"list"`` (``list[dspy.Image]``).
        choices: fields typed ``Literal[...]`` -> their allowed values.
        scalars: output fields typed ``str``, ``int``, ``float`` or ``bool`` (or ``Optional`` of
            one) -> ``(type, optional)``: a label of another JSON type could never equal the
            model's parsed answer, so it is refused.
    """

    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    images: Mapping[str, Literal["single", "list"]]
    choices: Mapping[str, tuple[Any, ...]]
    scalars: Mapping[str, tuple[type, bool]] = field(default_factory=dict)

    def describe(self) -> str:
        """``inputs [image] and outputs [label]``, for error messages."""
        return f"inputs {list(self.inputs)} and outputs {list(self.outputs)}"


def _unwrap_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _image_kind(annotation: Any) -> Literal["single", "list"] | None:
    ann = _unwrap_optional(annotation)
    if isinstance(ann, type) and issubclass(ann, dspy.Image):
        return "single"
    if typing.get_origin(ann) in (list, tuple, typing.get_origin(typing.Sequence[int])):
        args = [a for a in typing.get_args(ann) if a is not Ellipsis]
        if args and all(isinstance(a, type) and issubclass(a, dspy.Image) for a in args):
            return "list"
    return None


def dataset_fields(program: dspy.Module) -> DatasetFields:
    """The dataset fields of ``program``: inputs of its first predictor, outputs of its last.

    For the usual one-predictor program (``dspy.Predict``, ``dspy.ChainOfThought``) these are
    exactly its signature's fields (``reasoning`` is produced by the model, never a label).

    Raises:
        ConfigError: the program has no predictor, or its last predictor has no output field.

    Example:
        >>> f = dataset_fields(dspy.Predict("image: dspy.Image, question -> answer"))
        >>> f.inputs, f.outputs, dict(f.images)
        (('image', 'question'), ('answer',), {'image': 'single'})
    """
    if not isinstance(program, dspy.Module):
        raise ConfigError(f"expected a dspy.Module, got {type(program).__name__}")
    preds = [p for _, p in program.named_predictors()]
    if not preds:
        raise ConfigError("the program has no predictors (dspy.Predict): nothing to read field names from")
    first, last = preds[0].signature, preds[-1].signature
    inputs = tuple(first.input_fields)
    outputs = tuple(n for n in last.output_fields if n not in _NOT_LABELS)
    if not outputs:
        raise ConfigError("the program's last predictor has no output field to use as a label")
    images: dict[str, Literal["single", "list"]] = {}
    choices: dict[str, tuple[Any, ...]] = {}
    scalars: dict[str, tuple[type, bool]] = {}
    for name, info in [*first.input_fields.items(), *last.output_fields.items()]:
        ann = _unwrap_optional(info.annotation)
        if name in inputs and (kind := _image_kind(ann)) is not None:
            images[name] = kind
        if typing.get_origin(ann) is Literal:
            choices[name] = typing.get_args(ann)
        elif name in outputs and ann in _SCALARS:
            scalars[name] = (ann, ann is not info.annotation)
    return DatasetFields(inputs, outputs, images, choices, scalars)


# -- reading datasets -------------------------------------------------------------------------------


def _check_choice(fields: DatasetFields, name: str, value: Any, where: str) -> None:
    allowed = fields.choices.get(name)
    if allowed is not None and value not in allowed:
        raise ConfigError(f"{where}: {name} {value!r} is not one of {', '.join(map(repr, allowed))}")
    typed = fields.scalars.get(name)
    if typed is None or (value is None and typed[1]):
        return
    kind, _ = typed
    ok = isinstance(value, kind) and (kind is bool or not isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        ok = True
    if not ok:
        raise ConfigError(
            f"{where}: {name} is {json.dumps(value, default=repr)}{_json_kind(value)}, but the program's {name!r} "
            f"output is typed {kind.__name__}: give {_SCALARS[kind]} (the model's answer is parsed as "
            f"{kind.__name__}, so an exact-match metric never matches this label)"
        )


def _json_kind(value: Any) -> str:
    """`` (a number)`` and the like, after a JSON value in a message; nothing after ``null``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        kind = "a boolean"
    elif isinstance(value, (int, float)):
        kind = "a number"
    elif isinstance(value, str):
        kind = "a string"
    else:
        kind = "a list" if isinstance(value, list) else "an object" if isinstance(value, dict) else type(value).__name__
    return f" ({kind})"


def _jsonl_example(obj: Any, reading: _Reading, base: Path, where: str) -> dspy.Example:
    fields, images = reading.fields, reading.images
    if not isinstance(obj, dict):
        raise ConfigError(f"{where}: each line must be a JSON object, got {type(obj).__name__}")
    missing = [n for n in (*fields.inputs, *fields.outputs) if n not in obj]
    if missing:
        raise ConfigError(f"{where}: missing field(s) {missing}; the program expects {fields.describe()}")
    values: dict[str, Any] = {}
    for name in (*fields.inputs, *fields.outputs):
        value = obj[name]
        kind = fields.images.get(name)
        if kind == "single":
            value = images.value(value, base, f"{where} field {name!r}")
        elif kind == "list":
            if not isinstance(value, list):
                raise ConfigError(f"{where}: field {name!r} is a list of images; give a JSON list of paths")
            value = [images.value(v, base, f"{where} field {name!r} item {i}") for i, v in enumerate(value)]
        else:
            _check_choice(fields, name, value, where)
        values[name] = value
    return dspy.Example(**values).with_inputs(*fields.inputs)


def _jsonl_lines(path: Path) -> list[tuple[int, str]]:
    """The non-blank lines of ``path`` with their numbers (read before any image, to count them)."""
    try:
        handle = path.open(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"cannot read dataset {str(path)!r}: {exc.strerror or exc}") from None
    with handle:
        try:
            return [(lineno, line) for lineno, line in enumerate(handle, 1) if line.strip()]
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _load_jsonl(path: Path, reading: _Reading, progress: bool) -> list[dspy.Example]:
    lines = _jsonl_lines(path)
    log.info("reading dataset file %s: %d line(s)", path, len(lines))
    out: list[dspy.Example] = []
    bar = progress_bar(
        f"reading {path.name}", total=len(lines), unit="line", enabled=progress and len(lines) >= _BAR_FROM
    )
    try:
        for lineno, line in lines:
            where = f"{path}:{lineno}"
            try:
                obj = json.loads(line)
            except ValueError as exc:
                msg = getattr(exc, "msg", str(exc))
                col = getattr(exc, "colno", None)
                raise ConfigError(f"{where}: not valid JSON ({msg}{f' at column {col}' if col else ''})") from None
            out.append(_jsonl_example(obj, reading, path.parent, where))
            bar.update(1)
    finally:
        bar.close()
    return out


def _load_folders(root: Path, reading: _Reading, progress: bool) -> list[dspy.Example]:
    fields = reading.fields
    image_fields = [n for n in fields.inputs if n in fields.images]
    others = [n for n in fields.inputs if n not in fields.images]
    if len(image_fields) != 1 or others or len(fields.outputs) != 1:
        raise ConfigError(
            f"a folder-per-label dataset ({root}/<label>/*.png) fits programs with one image input and one "
            f"output field; this program has {fields.describe()}: use a JSONL dataset"
        )
    image_field, label_field = image_fields[0], fields.outputs[0]
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not is_hidden(p))
    labels = folder_labels(root, [p.name for p in folders], fields, label_field)
    listing = list_folders(root, folders)
    n = listing.count
    log.info("reading dataset folder %s: %d image file(s) in %d label folder(s)", root, n, len(folders))
    out: list[dspy.Example] = []
    bar = progress_bar(f"reading {root.name}", total=n, unit="file", enabled=progress and n >= _BAR_FROM)
    try:
        for folder, files in listing.files:
            for f in files:
                image = reading.images.read_file(f)
                value: Any = [image] if fields.images[image_field] == "list" else image
                example = dspy.Example(**{image_field: value, label_field: labels[folder.name]})
                out.append(example.with_inputs(image_field))
                bar.update(1)
    finally:
        bar.close()
    report_skipped(root, listing.skipped)
    if not out:
        loose = [p.name for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
        hint = f" ({len(loose)} image(s) lie directly in it: move them into label folders)" if loose else ""
        raise ConfigError(f"dataset folder {str(root)!r} is empty: expected {root}/<label>/*.png{hint}")
    return out


def default_fields(image_field: str = "image", label_field: str = "label") -> DatasetFields:
    """The fields of a one-image classifier: ``image_field`` (a ``dspy.Image``) -> ``label_field``.

    Raises:
        ConfigError: a name that is not a Python identifier, or equal names.

    Example:
        >>> default_fields().describe()
        "inputs ['image'] and outputs ['label']"
    """
    for what, name in (("image_field", image_field), ("label_field", label_field)):
        if not isinstance(name, str) or not name.isidentifier():
            raise ConfigError(f"{what} must be a Python identifier, got {name!r}")
    if image_field == label_field:
        raise ConfigError(f"image_field and label_field must differ, both are {image_field!r}")
    return DatasetFields((image_field,), (label_field,), {image_field: "single"}, {})


def load_dataset(
    path: str | Path,
    program: dspy.Module | DatasetFields | None = None,
    *,
    image_field: str = "image",
    label_field: str = "label",
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    progress: bool = True,
) -> list[dspy.Example]:
    """Reads a JSONL file or a folder per label into ``dspy.Example`` s (inputs marked).

    The reader of ``specprompt compile --trainset``. Never executes code: lines are JSON, images
    are decoded with the limits of :func:`specprompt.io.load_image` and kept as data URIs, so
    equal files give equal examples.

    An example's image holds the pixels that :func:`~specprompt.load_image` gives, which are the
    pixels a demo made from it is sent with, so a query and a demo of one file look the same to the
    model. A PNG, JPEG, WebP or GIF file is kept byte for byte when it already holds them: 8-bit
    grey, RGB, RGBA, grey with alpha or palette, no EXIF orientation other than upright, no ICC
    profile other than sRGB, one frame. Every other file is re-encoded as PNG from the decoded
    image (EXIF rotation applied, colours converted to sRGB, the first frame, 16-bit values
    scaled to 8 bits; TIFF and BMP always), and one INFO line of the ``specprompt.data`` logger
    says how many were and why. Label folder names are read in Unicode NFC form.

    Args:
        path: a ``.jsonl`` (or ``.ndjson``) file, or a folder ``<label>/<image files>``.
        program: the ``dspy.Module`` the examples are for: field names, image fields and
            ``Literal`` choices are read from its signatures (:func:`dataset_fields`); or the
            :class:`DatasetFields` themselves. ``None``: one image field ``image_field`` and one
            label field ``label_field``.
        image_field: the image input field when ``program`` is ``None``.
        label_field: the label (output) field when ``program`` is ``None``.
        max_pixels: the largest ``width * height`` of an image, as in
            :func:`specprompt.io.load_image` (``None``: no limit); a larger photo is refused
            before it is decoded, with a message naming the file.
        progress: show a bar over the files (JSONL: lines) when there are many, on a terminal.
            Either way the folder (file) and its file (line) count are logged at INFO first.

    Returns:
        the examples, in file order (folders: labels and files sorted by name).

    Raises:
        ConfigError: a missing path, another suffix, bad JSON (names ``file:line``), a line
            that is not an object or lacks a field, a value outside a ``Literal`` or of
            another type than the output field's, a missing image file, a label folder that
            is not one of the ``Literal`` choices or does not spell a value of the output
            field's type (two folders spelling one value), no examples at all, field names
            given together with a ``program``, or a ``max_pixels`` that is not a positive int
            or ``None``.
        ImageInputError: an image that cannot be decoded or has more than ``max_pixels``
            pixels (names the file and line).

    Warns:
        SpecPromptWarning: an image with several frames (only the first is kept) or with an ICC
            profile that cannot be applied, naming the file.

    Example:
        >>> load_dataset("missing.jsonl")
        Traceback (most recent call last):
        ...
        specprompt.errors.ConfigError: dataset 'missing.jsonl' does not exist (give a .jsonl file or a folder per label)
    """
    if program is None:
        fields = default_fields(image_field, label_field)
    else:
        if (image_field, label_field) != ("image", "label"):
            raise ConfigError("give a program or image_field/label_field, not both (the program names the fields)")
        fields = program if isinstance(program, DatasetFields) else dataset_fields(program)
    reading = _Reading(fields, ImageReader(check_max_pixels(max_pixels)))
    p = Path(path)
    if p.is_dir():
        examples = _load_folders(p, reading, progress)
    else:
        if not p.exists():
            raise ConfigError(f"dataset {str(p)!r} does not exist (give a .jsonl file or a folder per label)")
        if p.suffix.lower() not in (".jsonl", ".ndjson"):
            raise ConfigError(
                f"dataset {str(p)!r} must be a .jsonl file or a folder per label, got suffix {p.suffix!r}"
            )
        examples = _load_jsonl(p, reading, progress)
        if not examples:
            raise ConfigError(f"dataset {str(p)!r} has no examples (it is empty or only blank lines)")
    reading.images.report(p)
    reading.images.warn(stacklevel=2)  # at the caller of load_dataset
    return examples
