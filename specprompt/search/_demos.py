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
from specprompt.search._labels import answers, class_keys, group, stratified_pick

__all__ = [
    "DemoPlan",
    "ImageSlot",
    "add_pool",
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
        pooled: ids of the demos :func:`add_pool` added from the trainset (candidate demos that
            the default prompt and the baselines leave out; only ``search_demos`` includes them).
    """

    names: tuple[str, ...]
    demos: tuple[tuple[Any, ...], ...]
    slots: tuple[ImageSlot, ...]
    images: Mapping[str, dspy.Image]
    seeded: tuple[str, ...]
    classes: tuple[tuple[str | None, ...], ...] = ()
    pooled: frozenset[str] = frozenset()

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
    if seeded:
        took = sorted({len(d) for d, (name, _) in zip(demos, named, strict=True) if name in seeded})
        logger.info(
            "took %s trainset demo(s) for predictor(s) without demos: %s",
            "/".join(map(str, took)),
            ", ".join(seeded),
        )
        if k > len(trainset):
            logger.warning(
                "k_demos %d is more than the %d trainset examples: every one of them is a demo", k, len(trainset)
            )
    return _assemble(named, demos, trainset, tuple(seeded), frozenset())


def _assemble(
    named: list[tuple[str, Any]],
    demos: Sequence[tuple[Any, ...]],
    trainset: Sequence[Any],
    seeded: tuple[str, ...],
    pooled: frozenset[str],
) -> DemoPlan:
    """The :class:`DemoPlan` of ``demos`` (per predictor): image slots, images and classes.

    Raises:
        ConfigError: no demo holds a ``dspy.Image``.
    """
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
    return DemoPlan(
        tuple(n for n, _ in named),
        tuple(tuple(per) for per in demos),
        tuple(slots),
        images,
        seeded,
        tuple(classes),
        pooled,
    )


def _image_fields(example: Any) -> frozenset[str]:
    return frozenset(s.field for s, _ in _slots_of(0, "", 0, example))


def add_pool(
    plan: DemoPlan,
    student: dspy.Module,
    trainset: Sequence[Any],
    per_label: int,
    seed: int,
    exclude: Sequence[Any] = (),
) -> DemoPlan:
    """``plan`` with up to ``per_label`` more trainset examples per answer (label) appended as candidate demos.

    Only predictors whose demos hold images get a pool, and only of trainset examples with images
    in the same fields. Examples that are demos already, or equal (:func:`example_hash`) to one of
    ``exclude`` (the valset and testset), are never pooled: a pooled demo is never a validation or
    test example. The added demos' ids are :attr:`DemoPlan.pooled`.

    Convention:
        Examples are grouped by answer (:func:`specprompt.search._labels.answers`; answers that
        never repeat, free text, form one group), each group is shuffled with
        ``random.Random(f"{seed}:pool")``, and the pool takes the first example of every answer,
        then the second, ... up to ``per_label`` of each. Pooled demos follow the program's own demos.

    Example:
        >>> from PIL import Image
        >>> img = lambda i: dspy.Image(Image.new("RGB", (8, 8), (i, 0, 0)))
        >>> train = [dspy.Example(image=img(i), label="ab"[i % 2]).with_inputs("image") for i in range(8)]
        >>> p = dspy.Predict("image: dspy.Image -> label")
        >>> plan = add_pool(plan_demos(p, train, 2, 0), p, train, 2, 0, exclude=train[6:])
        >>> [len(per) for per in plan.demos], sorted(plan.pooled)
        ([6], ['self/demo2', 'self/demo3', 'self/demo4', 'self/demo5'])
    """
    if per_label <= 0:
        return plan
    named = list(student.named_predictors())
    used = {example_hash(d) for d in plan.all_demos()} | {example_hash(ex) for ex in exclude}
    rng = random.Random(f"{seed}:pool")
    demos = [list(per) for per in plan.demos]
    pooled: set[str] = set(plan.pooled)
    for pi, (name, pred) in enumerate(named):
        fields = frozenset(s.field for s in plan.slots if s.predictor == pi)
        if not fields:
            continue
        found: dict[str, Any] = {}
        for ex in trainset:
            h = example_hash(ex)
            if h not in used and h not in found and isinstance(ex, (dspy.Example, Mapping)):
                if _image_fields(ex) == fields:
                    found[h] = ex
        pool = list(found.values())
        if not pool:
            continue
        keys = answers(pred, pool)
        groups = list(group(keys).values()) if len(group(keys)) < len(pool) else [list(range(len(pool)))]
        for g in groups:
            rng.shuffle(g)
        picked = [g[r] for r in range(per_label) for g in groups if r < len(g)]
        for i in picked:
            pooled.add(f"{name}/demo{len(demos[pi])}")
            demos[pi].append(pool[i])
            used.add(example_hash(pool[i]))
    if len(pooled) == len(plan.pooled):
        return plan
    logger.info("search_demos: %d trainset examples added as candidate demos", len(pooled) - len(plan.pooled))
    return _assemble(
        [(n, p) for n, p in named], [tuple(per) for per in demos], trainset, plan.seeded, frozenset(pooled)
    )


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
