"""What a study's scores are scores of: the name a compile derives for its study, and the identity
it records in it.

A compile resumes the study of its name and reuses every score stored there, so anything that
changes a score must change the name (a new study) or, under an explicit ``study_name``, be
refused on resume. That is the program (each predictor's signature with its fields' types and
descriptions, the LM set on a predictor, the code of a custom module), its demos, the valset, the
metric (its code, not only its name: notebooks re-run an edited ``metric`` under the same name),
the scoring LM and the adapter that formats the prompts.

Code is known by its source text (:func:`code_digest`), else by its bytecode: editing a function
changes its digest, editing the file around it does not. Values a function closes over or reads
from globals are not part of it.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import dspy

from specprompt.search._config import SearchConfig
from specprompt.search._context import SearchContext
from specprompt.search._examples import example_hash
from specprompt.search._scoring import metric_name

__all__ = [
    "LATER_ENTRIES",
    "NAMING_FIELDS",
    "code_digest",
    "derive_study_name",
    "image_lm",
    "own_image_lm",
    "predictor_lms",
    "scoring_identity",
]

# Config fields that change what a trial measures: they name the study. n_trials, local_search,
# full_eval_every, num_threads, progress, run_dir and load_if_exists do not, so a study can be
# resumed with more trials or threads.
NAMING_FIELDS = (
    "token_budget",
    "cost_model",
    "scheme",
    "scheme_options",
    "detail",
    "multi_objective",
    "minibatch_size",
    "k_demos",
    "search_demos",
    "detail_crops",
    "crop_fraction",
    "seed",
)

#: Modules whose classes are known by name alone (their code changes with the package's version).
_LIBRARY_MODULES = ("dspy", "specprompt")


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _bytecode(code: types.CodeType) -> list[Any]:
    """The parts of ``code`` that say what it does, without line numbers or addresses."""
    consts = [_bytecode(c) if isinstance(c, types.CodeType) else repr(c) for c in code.co_consts]
    return [code.co_code.hex(), consts, list(code.co_names), list(code.co_varnames)]


def code_digest(obj: Any) -> str:
    """A short digest of the code of a function, method, class or callable object.

    The source text where Python can find it (a file, a notebook cell), else the bytecode; a
    ``functools.partial`` adds its arguments; a callable object is known by its class's code.

    Example:
        >>> code_digest(lambda x: x) == code_digest(lambda x: x)
        True
        >>> code_digest(lambda x: x) == code_digest(lambda x: -x)
        False
    """
    if isinstance(obj, functools.partial):
        return _digest([code_digest(obj.func), repr(obj.args), repr(sorted(obj.keywords.items()))])
    target = obj if inspect.isroutine(obj) or inspect.isclass(obj) else type(obj)
    target = inspect.unwrap(target) if inspect.isroutine(target) else target
    try:
        source = inspect.getsource(target)
        if isinstance(target, types.FunctionType) and target.__name__ == "<lambda>":
            return _digest([source, _bytecode(target.__code__)])  # its source is the whole line, other lambdas too
        return _digest(source)
    except (OSError, TypeError):
        if inspect.isclass(target):  # defined where no file holds it (python -c, a notebook): its methods
            methods = sorted((k, v.__code__) for k, v in vars(target).items() if inspect.isfunction(v))
            return _digest([target.__qualname__, [[k, _bytecode(c)] for k, c in methods]])
        code = getattr(getattr(target, "__func__", target), "__code__", None)
        if isinstance(code, types.CodeType):
            return _digest(_bytecode(code))
        return _digest(f"{getattr(target, '__module__', '')}.{getattr(target, '__qualname__', repr(target))}")


def _metric_identity(metric: Callable[..., Any]) -> str:
    """``"exact_match (code 1a2b...)"``: the metric's name and the digest of its code."""
    return f"{metric_name(metric)} (code {code_digest(metric)})"


def _field_text(name: str, field: Any) -> list[Any]:
    extra = getattr(field, "json_schema_extra", None) or {}
    return [name, str(getattr(field, "annotation", None)), str(extra.get("desc", "")), str(extra.get("prefix", ""))]


def _signature_text(pred: Any) -> str:
    """A predictor's signature as it was named before fields were part of it (``"in -> out|instructions"``)."""
    sig = getattr(pred, "signature", None)
    if sig is None:
        return type(pred).__name__
    return f"{getattr(sig, 'signature', sig)!s}|{getattr(sig, 'instructions', '')}"


def _signature_fields(pred: Any) -> list[Any]:
    """Every field of ``pred``'s signature with its type, description and prefix."""
    sig = getattr(pred, "signature", None)
    fields: Mapping[str, Any] = getattr(sig, "fields", None) or {}
    return [_field_text(name, field) for name, field in fields.items()]


def _module_code(student: dspy.Module) -> str | None:
    """The digest of a custom module's code (its ``forward``), ``None`` for DSPy's and specprompt's own modules."""
    module = getattr(type(student), "__module__", "") or ""
    if module.split(".")[0] in _LIBRARY_MODULES:
        return None
    return code_digest(type(student))


def predictor_lms(student: dspy.Module) -> dict[str, str]:
    """The model of each predictor of ``student`` that has an LM of its own (``predictor.set_lm``)."""
    out: dict[str, str] = {}
    for name, pred in student.named_predictors():
        lm = getattr(pred, "lm", None)
        if lm is not None:
            out[name] = str(getattr(lm, "model", type(lm).__name__))
    return out


def _is_image_type(annotation: Any) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, dspy.Image):
        return True
    return any(_is_image_type(a) for a in typing.get_args(annotation))


def _takes_images(pred: Any) -> bool:
    """Whether ``pred``'s signature has an input field of images (``dspy.Image``, a list or optional of them)."""
    fields: Mapping[str, Any] = getattr(getattr(pred, "signature", None), "input_fields", None) or {}
    return any(_is_image_type(getattr(f, "annotation", None)) for f in fields.values())


def own_image_lm(student: dspy.Module) -> tuple[str, Any] | None:
    """The first predictor of ``student`` that takes images and has an LM of its own, with that LM."""
    for name, pred in student.named_predictors():
        if _takes_images(pred) and getattr(pred, "lm", None) is not None:
            return name, pred.lm
    return None


def image_lm(ctx: SearchContext) -> Any:
    """The LM that answers the predictors whose demo images the search chooses: the LM of the first
    such predictor that has one of its own, else ``dspy.settings.lm``."""
    searched = {s.predictor for s in ctx.plan.slots}
    for i, (_, pred) in enumerate(ctx.student.named_predictors()):
        if i in searched and getattr(pred, "lm", None) is not None:
            return pred.lm
    return dspy.settings.lm


def _adapter_name() -> str:
    adapter = dspy.settings.adapter
    return "ChatAdapter (default)" if adapter is None else type(adapter).__qualname__


def _program_parts(ctx: SearchContext) -> dict[str, Any]:
    """The program's predictors (names and signatures) and its demos, as data that names a study."""
    return {
        "predictors": [[n, _signature_text(p)] for n, p in ctx.student.named_predictors()],
        "demos": [[example_hash(d) for d in per] for per in ctx.plan.demos],
    }


def _program_code(ctx: SearchContext) -> dict[str, Any]:
    """What else of the program decides its answers: field types and descriptions, a custom
    module's code, LMs set on predictors."""
    return {
        "fields": [[n, _signature_fields(p)] for n, p in ctx.student.named_predictors()],
        "module": _module_code(ctx.student),
        "predictor_lms": predictor_lms(ctx.student),
    }


def derive_study_name(
    ctx: SearchContext, config: SearchConfig, valset_hashes: Sequence[str], metric: Callable[..., Any]
) -> str:
    """A name that is equal for equal program, demos, data, metric, LM, adapter and search options.

    Re-running the same command therefore finds and resumes the same study, and a run with an
    edited metric, signature or module starts a new one. ``valset_hashes``:
    :func:`~specprompt.search._examples.example_hash` of each validation example.
    """
    full = config.to_dict()
    payload = {
        "v": 3,
        "config": {k: full[k] for k in NAMING_FIELDS}  # options added later join only off their default,
        | ({"expected_scores": True} if config.expected_scores else {})  # so the earlier names stay valid
        | ({"calibration_mode": config.calibration_mode} if config.calibration_mode != "probe" else {})
        | ({"sharpen": False} if not config.sharpen else {}),  # a study begun before it reads its trials as 0
        **_program_parts(ctx),
        **_program_code(ctx),
        "slots": [[s.id, ctx.sources[s.id]] for s in ctx.plan.slots],
        "valset": list(valset_hashes),
        "metric": _metric_identity(metric),
        "lm": getattr(dspy.settings.lm, "model", None),
        "adapter": _adapter_name(),
    }
    return f"specprompt-{_digest(payload)}"


def scoring_identity(
    ctx: SearchContext, valset_hashes: Sequence[str], metric: Callable[..., Any], screen: str | None = None
) -> dict[str, str]:
    """What a study's stored scores are scores of: the program and its demos, the valset (by the
    :func:`~specprompt.search._examples.example_hash` of each example), the metric, the scoring LM,
    the screen (``None``: none), and since this version the metric's code, the program's fields,
    module code and predictor LMs, and the adapter.

    A study resumed under an explicit ``study_name`` must match it: its trials' scores and
    full-valset scores were measured with these, and reusing them for other data, another metric
    or another LM would return a program by scores it never got. (Budget, cost model and scheme
    may change: trials whose prompt changed with them are left out by
    :func:`~specprompt.search._study.collect_rows`.) Entries a study recorded by an earlier version
    lacks are not compared (:data:`LATER_ENTRIES`).
    """
    return {
        "program": _digest(_program_parts(ctx)),
        "valset": f"{len(valset_hashes)} examples, {_digest(list(valset_hashes))}",
        "metric": metric_name(metric),
        "lm": str(getattr(dspy.settings.lm, "model", None)),
        "screen": str(screen),
        "metric_code": code_digest(metric),
        "program_code": _digest(_program_code(ctx)),
        "adapter": _adapter_name(),
    }


#: Entries of :func:`scoring_identity` that studies recorded before this version lack.
LATER_ENTRIES = ("metric_code", "program_code", "adapter")
