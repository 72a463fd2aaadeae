"""User code named on the command line: programs and metrics given as ``FILE.py:NAME``.

``FILE.py:NAME`` **runs the user's own file** (like ``python FILE.py`` would) and takes the object
``NAME`` from it: a ``dspy.Module`` instance, a ``dspy.Module`` class or a zero-argument factory
(for programs), or a function ``metric(example, pred, trace=None)`` (for metrics). Only pass files
you would run yourself. Datasets are read by :func:`specprompt.load_dataset`, which runs no code.
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import sys
import traceback
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dspy

from specprompt.errors import ConfigError

__all__ = ["UserCodeError", "exact_match", "load_metric", "load_object", "load_program_ref"]


class UserCodeError(ConfigError):
    """The user's own file failed while specprompt ran it (on import, or calling the factory).

    The message names the file, the exception type and its message. The CLI prints
    :attr:`user_traceback` before it: the frames of the user's file only (specprompt's and
    importlib's frames say nothing about the user's mistake).

    Attributes:
        user_traceback: ``Traceback ...`` lines of the user's frames, or ``""`` when there are none.
    """

    def __init__(self, message: str, user_traceback: str = "") -> None:
        super().__init__(message)
        self.user_traceback = user_traceback


def _user_frames(exc: BaseException, path: Path) -> str:
    """The traceback of ``exc`` cut down to the frames in ``path`` (``""`` when none is there)."""
    if isinstance(exc, SyntaxError):  # the offending line and its caret, as Python prints them
        return "".join(traceback.format_exception_only(type(exc), exc)[:-1])
    mine = str(path.resolve())
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == mine]
    if not frames:
        return ""
    return f"Traceback (most recent call last, frames of {path.name} only):\n" + "".join(traceback.format_list(frames))


def _failure(exc: BaseException, where: str, path: Path) -> UserCodeError:
    """The error for ``exc`` raised by the user's code ``where`` (``"program file 'p.py'"``)."""
    if isinstance(exc, SyntaxError) and exc.filename == str(path.resolve()):
        kind = "" if type(exc) is SyntaxError else f" ({type(exc).__name__})"
        return UserCodeError(
            f"{where} has a syntax error{kind} at line {exc.lineno}: {exc.msg}", _user_frames(exc, path)
        )
    if isinstance(exc, SystemExit):
        return UserCodeError(
            f"{where} called sys.exit({exc.code!r}) while specprompt ran it; it must not exit "
            '(put script code under if __name__ == "__main__":)',
            _user_frames(exc, path),
        )
    text = f"{where} raised {type(exc).__name__}: {exc}"
    if isinstance(exc, ModuleNotFoundError):
        text += f" (is it installed in the Python environment specprompt runs in, {sys.executable}?)"
    return UserCodeError(text, _user_frames(exc, path))


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
        UserCodeError: the file raised (a syntax error, an import that fails, ``sys.exit``, ...).

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
    try:
        with _on_path(path.resolve().parent):
            spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:  # the user's code: one error naming the file, not our traceback
        sys.modules.pop(module_name, None)
        raise _failure(exc, f"{what} file {path_text!r}", path) from None
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
        UserCodeError: the file, or calling ``NAME``, raised.
    """
    obj = load_object(ref, "program")
    if isinstance(obj, dspy.Module):
        return obj
    if not callable(obj):
        raise ConfigError(
            f"{ref!r} is a {type(obj).__name__}; expected a dspy.Module instance, class or zero-argument factory"
        )
    made = _call_factory(ref, obj)
    if not isinstance(made, dspy.Module):
        raise ConfigError(f"{ref!r}() returned a {type(made).__name__}, expected a dspy.Module")
    return made


def _signature(obj: Callable[..., Any]) -> inspect.Signature | None:
    """The signature ``obj()`` is called with: a class's ``__init__`` without ``self`` (a
    ``dspy.Module``'s metaclass hides it behind ``*args, **kwargs``); ``None`` when unreadable."""
    try:
        if isinstance(obj, type):
            init = obj.__init__  # type: ignore[misc]  # the class's own, which obj() runs
            return inspect.Signature(list(inspect.signature(init).parameters.values())[1:])
        return inspect.signature(obj)
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        return None


def _call_factory(ref: str, obj: Callable[..., Any]) -> Any:
    """``obj()``; an exception it raises becomes a :class:`UserCodeError` naming ``ref``."""
    signature = _signature(obj)
    try:
        if signature is not None:
            signature.bind()
    except TypeError:
        if isinstance(obj, type) and not issubclass(obj, dspy.Module):
            raise ConfigError(f"{ref!r} is the class {obj.__name__}, not a dspy.Module subclass") from None
        raise ConfigError(f"{ref!r} must be callable with no arguments; its signature is {signature}") from None
    try:
        return obj()
    except (Exception, SystemExit) as exc:
        kind = "class" if isinstance(obj, type) else "factory"
        raise _failure(exc, f"program {kind} {ref}", Path(ref.rpartition(":")[0])) from None


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

    The function is returned wrapped, so that a value it returns that is not a finite number
    (``None``, a string, NaN, inf) is an error naming ``--metric ref`` and the example (the
    wrapper keeps its ``__qualname__``, which names the study).

    Raises:
        ConfigError: a bad reference, an object that is not callable, or one that cannot take
            ``(example, pred)``.
    """
    if ref == "exact":
        return exact_match
    obj = load_object(ref, "metric")
    if not callable(obj):
        raise ConfigError(f"metric {ref!r} is a {type(obj).__name__}, expected metric(example, pred, trace=None)")
    from specprompt.search import check_metric_signature

    check_metric_signature(obj, f"--metric {ref}: ")  # before any scorer call, not at the first trial
    return _named_metric(obj, ref)


def _named_metric(metric: Callable[..., Any], ref: str) -> Callable[..., Any]:
    """``metric``, raising the search's :class:`ConfigError` for a value it cannot add up (not a
    number, NaN, infinite, too large: :func:`~specprompt.search._scoring.metric_value`) with
    ``--metric ref`` and the example named."""

    @functools.wraps(metric)
    def checked(*args: Any, **kwargs: Any) -> Any:
        from specprompt.search import metric_value

        value = metric(*args, **kwargs)
        metric_value(value, f"--metric {ref}", args[0] if args else kwargs.get("example"))
        return value

    checked.__qualname__ = getattr(metric, "__qualname__", type(metric).__qualname__)  # a callable object's
    return checked
