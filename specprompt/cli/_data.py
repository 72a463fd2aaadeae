"""Inputs of the CLI: user programs and metrics (``FILE.py:NAME``) and datasets (JSONL or folders).

Two kinds of input, two levels of trust:

- ``FILE.py:NAME`` **runs the user's own file** (like ``python FILE.py`` would) and takes the
  object ``NAME`` from it: a ``dspy.Module`` instance, a ``dspy.Module`` class or a zero-argument
  factory (for programs), or a function ``metric(example, pred, trace=None)`` (for metrics).
  Only pass files you would run yourself.
- Datasets are **data and never execute code**: JSON lines are parsed with :func:`json.loads`,
  images are decoded by :func:`specprompt.io.load_image` (allow-listed formats, pixel limit).

Dataset layouts (field names come from the program, see :func:`dataset_fields`)::

    train.jsonl          one JSON object per line: every input field and the output field(s);
                         image fields hold paths relative to the JSONL file (or data URIs),
                         list[dspy.Image] fields hold lists of them
    train/<label>/*.png  a folder per label (png, jpg, jpeg, webp, gif, bmp, tif, tiff) for
                         programs with one image input and one output field
"""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import logging
import sys
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import dspy

from specprompt.errors import ConfigError, ImageInputError

__all__ = [
    "IMAGE_SUFFIXES",
    "DatasetFields",
    "dataset_fields",
    "exact_match",
    "load_dataset",
    "load_metric",
    "load_object",
    "load_program_ref",
]

log = logging.getLogger("specprompt.cli.data")

#: File suffixes read from label folders (case-insensitive); other files are skipped.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff")
#: Output fields that describe the model's reasoning, never a dataset label (``dspy.ChainOfThought``).
_NOT_LABELS = ("reasoning",)
#: Image formats kept byte for byte in the data URI (the ones chat APIs accept); others become PNG.
_KEEP_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}


# -- user code: programs and metrics ---------------------------------------------------------------


@contextmanager
def _on_path(folder: Path) -> Iterator[None]:
    """The user's folder first on ``sys.path`` while their file runs (so sibling imports work)."""
    entry = str(folder)
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        try:
            sys.path.remove(entry)
        except ValueError:  # pragma: no cover - the user's code removed it
            pass


def load_object(ref: str, what: str = "object") -> Any:
    """Runs the Python file of ``ref`` = ``"FILE.py:NAME"`` and returns its attribute ``NAME``.

    This executes the file, exactly as ``python FILE.py`` would (minus ``__main__``): only use it
    on your own code. The module is registered as ``specprompt_user_<stem>`` and the file's
    folder is on ``sys.path`` while it runs.

    Args:
        ref: ``path/to/file.py:name`` (the last ``:`` splits, so Windows drive letters work).
        what: what the object is, for error messages (``"program"``, ``"metric"``).

    Raises:
        ConfigError: a malformed reference, a missing ``.py`` file or a missing attribute.

    Example:
        >>> load_object("no_colon", "program")
        Traceback (most recent call last):
        ...
        specprompt.errors.ConfigError: program must be given as FILE.py:NAME, got 'no_colon'
    """
    if not isinstance(ref, str):
        raise ConfigError(f"{what} must be given as FILE.py:NAME, got {ref!r}")
    path_text, sep, name = ref.rpartition(":")
    if not sep or not path_text or not name:
        raise ConfigError(f"{what} must be given as FILE.py:NAME, got {ref!r}")
    path = Path(path_text)
    if path.suffix != ".py":
        raise ConfigError(f"{what} file must be a .py file, got {path_text!r} (in {ref!r})")
    if not path.is_file():
        raise ConfigError(f"{what} file {path_text!r} does not exist")
    if not name.isidentifier():
        raise ConfigError(f"{what} name must be a Python identifier, got {name!r} (in {ref!r})")
    module_name = f"specprompt_user_{path.stem}" if path.stem.isidentifier() else "specprompt_user_module"
    spec = importlib.util.spec_from_file_location(module_name, path.resolve())
    if spec is None or spec.loader is None:  # pragma: no cover - a .py file always has a loader
        raise ConfigError(f"cannot load {what} file {path_text!r}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickling look the module up by name
    with _on_path(path.resolve().parent):
        spec.loader.exec_module(module)
    if not hasattr(module, name):
        public = sorted(n for n, v in vars(module).items() if not n.startswith("_") and _looks_like(v, what))
        raise ConfigError(
            f"{path_text!r} has no {what} named {name!r}; candidates there: {', '.join(public) or '(none)'}"
        )
    return getattr(module, name)


def _looks_like(value: object, what: str) -> bool:
    if what == "program":
        return isinstance(value, dspy.Module) or (isinstance(value, type) and issubclass(value, dspy.Module))
    return isinstance(value, types.FunctionType)


def load_program_ref(ref: str) -> dspy.Module:
    """The program named by ``"FILE.py:NAME"``: a ``dspy.Module`` instance, class or zero-arg factory.

    Runs the user's file (see :func:`load_object`). A class or factory is called with no
    arguments; an instance is used as it is (the optimizer never modifies it).

    Raises:
        ConfigError: a bad reference, or ``NAME`` is not (and does not make) a ``dspy.Module``.
    """
    obj = load_object(ref, "program")
    if isinstance(obj, dspy.Module):
        return obj
    if not callable(obj):
        raise ConfigError(
            f"{ref!r} is a {type(obj).__name__}; expected a dspy.Module instance, class or zero-argument factory"
        )
    try:
        made = obj()
    except TypeError as exc:
        if isinstance(obj, type) and not issubclass(obj, dspy.Module):
            raise ConfigError(f"{ref!r} is the class {obj.__name__}, not a dspy.Module subclass") from None
        raise ConfigError(f"{ref!r} must be callable with no arguments: {exc}") from None
    if not isinstance(made, dspy.Module):
        raise ConfigError(f"{ref!r}() returned a {type(made).__name__}, expected a dspy.Module")
    return made


def exact_match(example: Any, pred: Any, trace: Any = None) -> float:
    """1.0 when every label field of ``example`` equals the prediction's (as stripped strings).

    The ``--metric exact`` of ``specprompt compile``.

    Raises:
        ConfigError: the example has no label (non-input) field.

    Example:
        >>> ex = dspy.Example(image=None, label="top-left").with_inputs("image")
        >>> exact_match(ex, dspy.Prediction(label=" top-left")), exact_match(ex, dspy.Prediction(label="x"))
        (1.0, 0.0)
    """
    labels = example.labels()
    if not len(labels):
        raise ConfigError("the exact metric needs examples with at least one output (non-input) field")
    return float(all(_norm(getattr(pred, k, None)) == _norm(v) for k, v in labels.items()))


def _norm(value: object) -> str | None:
    return None if value is None else str(value).strip()


def load_metric(ref: str) -> Callable[..., Any]:
    """``"exact"`` (:func:`exact_match`) or a function from ``"FILE.py:FN"`` (runs that file).

    Raises:
        ConfigError: a bad reference or an object that is not callable.
    """
    if ref == "exact":
        return exact_match
    obj = load_object(ref, "metric")
    if not callable(obj):
        raise ConfigError(f"metric {ref!r} is a {type(obj).__name__}, expected metric(example, pred, trace=None)")
    metric: Callable[..., Any] = obj
    return metric


# -- which fields a dataset must have ----------------------------------------------------------------


@dataclass(frozen=True)
class DatasetFields:
    """The fields examples need, read from a program's signatures.

    Attributes:
        inputs: input fields of the first predictor (the program's inputs).
        outputs: output fields of the last predictor, without ``reasoning`` (the labels).
        images: image input fields -> ``"single"`` (``dspy.Image``) or ``"list"`` (``list[dspy.Image]``).
        choices: fields typed ``Literal[...]`` -> their allowed values.
    """

    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    images: Mapping[str, Literal["single", "list"]]
    choices: Mapping[str, tuple[Any, ...]]

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
    for name, info in [*first.input_fields.items(), *last.output_fields.items()]:
        ann = _unwrap_optional(info.annotation)
        if name in inputs and (kind := _image_kind(ann)) is not None:
            images[name] = kind
        if typing.get_origin(ann) is Literal:
            choices[name] = typing.get_args(ann)
    return DatasetFields(inputs, outputs, images, choices)


# -- reading datasets -------------------------------------------------------------------------------


def _image_data_uri(data: bytes, where: str) -> str:
    """Checks ``data`` decodes as an allowed image and returns a data URI (original bytes when possible)."""
    from PIL import Image

    from specprompt.io import load_image

    try:
        pil = load_image(data)
    except ImageInputError as exc:
        raise ImageInputError(where, exc.reason) from None
    with Image.open(io.BytesIO(data)) as im:
        fmt = im.format or ""
    mime = _KEEP_FORMATS.get(fmt)
    if mime is None:
        buf = io.BytesIO()
        pil.save(buf, format="PNG")
        data, mime = buf.getvalue(), "image/png"
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _read_image_file(path: Path, where: str) -> dspy.Image:
    if not path.is_file():
        raise ConfigError(f"{where}: image file {str(path)!r} does not exist")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageInputError(where, f"cannot read {str(path)!r} ({exc.strerror or exc})") from None
    return dspy.Image(_image_data_uri(data, f"{where} ({path.name})"))


def _image_value(value: Any, base: Path, where: str) -> dspy.Image:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: an image must be a path (a string) relative to the JSONL file, got {value!r:.60}")
    if value.startswith("data:"):
        try:
            head, _, payload = value.partition(",")
            if not head.startswith("data:image/") or not head.endswith(";base64"):
                raise ValueError("not a base64 image data URI")
            data = base64.b64decode(payload, validate=True)
        except ValueError as exc:
            raise ImageInputError(where, f"bad data URI ({exc})") from None
        return dspy.Image(_image_data_uri(data, where))
    if "://" in value:
        raise ConfigError(f"{where}: remote image {value!r:.80} is not fetched; download it and give its path")
    path = Path(value)
    return _read_image_file(path if path.is_absolute() else base / path, where)


def _check_choice(fields: DatasetFields, name: str, value: Any, where: str) -> None:
    allowed = fields.choices.get(name)
    if allowed is not None and value not in allowed:
        raise ConfigError(f"{where}: {name} {value!r} is not one of {', '.join(map(repr, allowed))}")


def _jsonl_example(obj: Any, fields: DatasetFields, base: Path, where: str) -> dspy.Example:
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
            value = _image_value(value, base, f"{where} field {name!r}")
        elif kind == "list":
            if not isinstance(value, list):
                raise ConfigError(f"{where}: field {name!r} is a list of images; give a JSON list of paths")
            value = [_image_value(v, base, f"{where} field {name!r} item {i}") for i, v in enumerate(value)]
        else:
            _check_choice(fields, name, value, where)
        values[name] = value
    return dspy.Example(**values).with_inputs(*fields.inputs)


def _load_jsonl(path: Path, fields: DatasetFields) -> list[dspy.Example]:
    out: list[dspy.Example] = []
    try:
        handle = path.open(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"cannot read dataset {str(path)!r}: {exc.strerror or exc}") from None
    with handle:
        try:
            for lineno, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                where = f"{path}:{lineno}"
                try:
                    obj = json.loads(line)
                except ValueError as exc:
                    msg = getattr(exc, "msg", str(exc))
                    col = getattr(exc, "colno", None)
                    raise ConfigError(f"{where}: not valid JSON ({msg}{f' at column {col}' if col else ''})") from None
                out.append(_jsonl_example(obj, fields, path.parent, where))
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return out


def _load_folders(root: Path, fields: DatasetFields) -> list[dspy.Example]:
    image_fields = [n for n in fields.inputs if n in fields.images]
    others = [n for n in fields.inputs if n not in fields.images]
    if len(image_fields) != 1 or others or len(fields.outputs) != 1:
        raise ConfigError(
            f"a folder-per-label dataset ({root}/<label>/*.png) fits programs with one image input and one "
            f"output field; this program has {fields.describe()}: use a JSONL dataset"
        )
    image_field, label_field = image_fields[0], fields.outputs[0]
    allowed = fields.choices.get(label_field)
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if allowed is not None:
        unknown = [p.name for p in folders if p.name not in allowed]
        if unknown:
            raise ConfigError(
                f"{root}: label folder(s) {unknown} are not labels of the program's {label_field!r} field; "
                f"allowed: {', '.join(map(str, allowed))}"
            )
    out: list[dspy.Example] = []
    for folder in folders:
        files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
        for f in files:
            if f.suffix.lower() not in IMAGE_SUFFIXES:
                log.info("skipping %s (not an image suffix: %s)", f, ", ".join(IMAGE_SUFFIXES))
                continue
            image = _read_image_file(f, str(f))
            value: Any = [image] if fields.images[image_field] == "list" else image
            out.append(dspy.Example(**{image_field: value, label_field: folder.name}).with_inputs(image_field))
    if not out:
        loose = [p.name for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
        hint = f" ({len(loose)} image(s) lie directly in it: move them into label folders)" if loose else ""
        raise ConfigError(f"dataset folder {str(root)!r} is empty: expected {root}/<label>/*.png{hint}")
    return out


def load_dataset(path: str | Path, fields: DatasetFields) -> list[dspy.Example]:
    """Reads a JSONL file or a folder per label into ``dspy.Example`` s (inputs marked).

    Never executes code: lines are JSON, images are decoded with the limits of
    :func:`specprompt.io.load_image` and kept as data URIs (PNG, JPEG, WebP and GIF byte for
    byte, other formats re-encoded as PNG), so equal files give equal examples.

    Args:
        path: a ``.jsonl`` (or ``.ndjson``) file, or a folder ``<label>/<image files>``.
        fields: what the program needs (:func:`dataset_fields`).

    Returns:
        the examples, in file order (folders: labels and files sorted by name).

    Raises:
        ConfigError: a missing path, another suffix, bad JSON (names ``file:line``), a line
            that is not an object or lacks a field, a value outside a ``Literal``, a missing
            image file, an unknown label folder, or no examples at all.
        ImageInputError: an image that cannot be decoded (names the file and line).
    """
    p = Path(path)
    if p.is_dir():
        return _load_folders(p, fields)
    if not p.exists():
        raise ConfigError(f"dataset {str(p)!r} does not exist (give a .jsonl file or a folder per label)")
    if p.suffix.lower() not in (".jsonl", ".ndjson"):
        raise ConfigError(f"dataset {str(p)!r} must be a .jsonl file or a folder per label, got suffix {p.suffix!r}")
    examples = _load_jsonl(p, fields)
    if not examples:
        raise ConfigError(f"dataset {str(p)!r} has no examples (it is empty or only blank lines)")
    return examples
