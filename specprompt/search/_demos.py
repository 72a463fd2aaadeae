"""Where the demo images of a DSPy program are: predictors, demos, fields and list items."""

from __future__ import annotations

import hashlib
import json
import logging
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import dspy

from specprompt.errors import ConfigError
from specprompt.search._labels import class_keys, stratified_pick

__all__ = [
    "DemoPlan",
    "ImageSlot",
    "default_valset",
    "example_hash",
    "plan_demos",
    "replace_field",
]

logger = logging.getLogger("specprompt.search")

#: Demos taken from the trainset for a predictor that has none, when ``k_demos`` is None.
DEFAULT_K_DEMOS = 4


@dataclass(frozen=True)
class ImageSlot:
    """One image value inside one demo of one predictor.

    Attributes:
        predictor: index in ``program.named_predictors()``.
        predictor_name: the predictor's name there (``"classify.predict"``).
        demo: index in that predictor's ``demos``.
        field: the demo field holding the image.
        item: position in a ``list[dspy.Image]`` value, or ``None`` for a single ``dspy.Image``.

    Convention:
        ``id`` (``"name/demo0/image"``, ``"name/demo1/images[2]"``) names the slot in Optuna
        parameter names and result JSON.
    """

    predictor: int
    predictor_name: str
    demo: int
    field: str
    item: int | None

    @property
    def id(self) -> str:
        suffix = "" if self.item is None else f"[{self.item}]"
        return f"{self.predictor_name}/demo{self.demo}/{self.field}{suffix}"

    @property
    def demo_id(self) -> str:
        """Identifier of the demo holding the slot (``"name/demo0"``)."""
        return f"{self.predictor_name}/demo{self.demo}"


@dataclass(frozen=True)
class DemoPlan:
    """The demos the search works on and the image slots inside them.

    Attributes:
        names: predictor names, in ``named_predictors()`` order.
        demos: per predictor, the base demos (``dspy.Example`` or dicts) with source images.
        slots: every image slot, in predictor, demo, field, item order.
        images: slot id -> the source ``dspy.Image``.
        seeded: names of predictors whose demos were taken from the trainset.
        classes: per predictor, per demo, its class (the text of its answer), or ``None`` when the
            predictor's answers are not classes (:func:`specprompt.search._labels.class_keys`);
            empty when unknown.
    """

    names: tuple[str, ...]
    demos: tuple[tuple[Any, ...], ...]
    slots: tuple[ImageSlot, ...]
    images: Mapping[str, dspy.Image]
    seeded: tuple[str, ...]
    classes: tuple[tuple[str | None, ...], ...] = ()

    @property
    def demo_ids(self) -> tuple[str, ...]:
        """Ids of the demos holding at least one image slot, in slot order."""
        return tuple(dict.fromkeys(s.demo_id for s in self.slots))

    def all_demos(self) -> list[Any]:
        return [d for per in self.demos for d in per]


def _fields(demo: Any) -> dict[str, Any]:
    if isinstance(demo, dspy.Example):
        return dict(demo.items())
    if isinstance(demo, Mapping):
        return dict(demo)
    raise ConfigError(f"a demo must be a dspy.Example or a dict, got {type(demo).__name__}")


def _is_image(value: object) -> bool:
    return isinstance(value, dspy.Image)


def _slots_of(pi: int, name: str, di: int, demo: Any) -> list[tuple[ImageSlot, dspy.Image]]:
    out: list[tuple[ImageSlot, dspy.Image]] = []
    for fname, value in _fields(demo).items():
        if _is_image(value):
            out.append((ImageSlot(pi, name, di, fname, None), value))
        elif isinstance(value, (list, tuple)) and any(_is_image(v) for v in value):
            for j, v in enumerate(value):
                if _is_image(v):
                    out.append((ImageSlot(pi, name, di, fname, j), v))
    return out


def plan_demos(student: dspy.Module, trainset: Sequence[Any], k_demos: int | None, seed: int) -> DemoPlan:
    """Collects the demos of every predictor of ``student`` and the image slots in them.

    A predictor that has demos keeps them (so the search composes after LabeledFewShot,
    BootstrapFewShot or MIPROv2); one without demos gets ``k_demos`` examples of ``trainset``
    stratified over their answers and drawn with ``random.Random(seed)`` (one generator,
    predictors in order; :func:`specprompt.search._labels.stratified_pick`): with ``k_demos``
    at least the number of answers, every answer (label) gets a demo.

    Raises:
        ConfigError: the program has no predictor, or no demo holds a ``dspy.Image``.
    """
    named = list(student.named_predictors())
    if not named:
        raise ConfigError("the program has no predictors (dspy.Predict) whose demos could be optimized")
    k = DEFAULT_K_DEMOS if k_demos is None else k_demos
    rng = random.Random(seed)
    demos: list[tuple[Any, ...]] = []
    seeded: list[str] = []
    for name, pred in named:
        existing = list(getattr(pred, "demos", None) or [])
        if not existing and k > 0 and trainset:
            existing = stratified_pick(pred, trainset, k, rng)
            seeded.append(name)
        demos.append(tuple(existing))
    slots: list[ImageSlot] = []
    images: dict[str, dspy.Image] = {}
    for pi, ((name, _), per) in enumerate(zip(named, demos, strict=True)):
        for di, demo in enumerate(per):
            for slot, img in _slots_of(pi, name, di, demo):
                slots.append(slot)
                images[slot.id] = img
    if not slots:
        raise ConfigError(
            "no demo holds a dspy.Image (or list of them): give the predictors demos with images, "
            "or a trainset with dspy.Image fields and k_demos > 0"
        )
    classes = []
    for (_, pred), per in zip(named, demos, strict=True):
        used = {example_hash(d) for d in per}
        classes.append(class_keys(pred, per, [ex for ex in trainset if example_hash(ex) not in used]))
    if seeded:
        logger.info("took %d trainset demos for predictor(s) without demos: %s", k, ", ".join(seeded))
    return DemoPlan(tuple(n for n, _ in named), tuple(demos), tuple(slots), images, tuple(seeded), tuple(classes))


def _canon(value: Any) -> Any:
    if isinstance(value, dspy.Image):
        return {"image": hashlib.sha256(value.url.encode()).hexdigest()}
    if isinstance(value, Mapping):
        return {str(k): _canon(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canon(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def example_hash(example: Any) -> str:
    """A stable hash of an example's fields (images by their url), for equality across copies."""
    text = json.dumps(_canon(_fields(example)), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def default_valset(trainset: Sequence[Any], plan: DemoPlan) -> list[Any]:
    """``trainset`` minus the examples used as demos (compared by :func:`example_hash`).

    Raises:
        ConfigError: nothing is left to validate on.
    """
    used = {example_hash(d) for d in plan.all_demos()}
    rest = [ex for ex in trainset if example_hash(ex) not in used]
    if not rest:
        raise ConfigError(
            f"no validation examples: all {len(trainset)} trainset examples are demos; pass valset= "
            "or a larger trainset"
        )
    return rest


def replace_field(demo: Any, field: str, value: Any) -> Any:
    """A copy of ``demo`` with ``field`` set to ``value`` (Examples stay Examples)."""
    if isinstance(demo, dspy.Example):
        return demo.copy(**{field: value})
    return {**_fields(demo), field: value}
