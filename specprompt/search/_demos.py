"""Where the demo images of a DSPy program are: predictors, demos, fields and list items.

Only what DSPy's adapters send counts: the input fields of a predictor's signature. A
``dspy.Image`` in any other field of a demo (an output, or an extra field such as ``raw_scan``)
never reaches the LM, so it is no slot: it is neither searched nor priced, and it stays as it is.

Default demos (``k_demos``) go only to a predictor that has none and whose signature has an input
field holding a ``dspy.Image`` (or a list of them) in the trainset: a text-only predictor would
never send their images, and its outputs are rarely trainset fields. Every other predictor keeps
what it had (its own demos, or none).

Demos are matched to trainset and validation examples by the example's input fields
(:class:`~specprompt.search._examples.ShownDemos`): a ``BootstrapFewShot`` demo carries
``augmented=True`` and possibly the teacher's outputs, yet it shows the same inputs as its
trainset example. :func:`~specprompt.search._examples.example_hash` itself hashes every field; it
names studies and stays as it is.
"""

from __future__ import annotations

import json
import logging
import random
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import dspy
from dspy.adapters.types.base_type import CUSTOM_TYPE_END_IDENTIFIER, CUSTOM_TYPE_START_IDENTIFIER

from specprompt.errors import ConfigError, SpecPromptWarning
from specprompt.search._examples import ShownDemos, example_fields, example_hash, has_inputs
from specprompt.search._labels import answers, class_keys, group, stratified_pick
from specprompt.types import DROPPED_IMAGE, SpectralImage

__all__ = [
    "DemoPlan",
    "ImageSlot",
    "add_pool",
    "default_valset",
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
        compressed: how many demos hold an image an earlier compile compressed (a
            :class:`~specprompt.types.SpectralImage`, or the dropped-image text) in an input field:
            their images are taken as originals, though they are not.
    """

    names: tuple[str, ...]
    demos: tuple[tuple[Any, ...], ...]
    slots: tuple[ImageSlot, ...]
    images: Mapping[str, dspy.Image]
    seeded: tuple[str, ...]
    classes: tuple[tuple[str | None, ...], ...] = ()
    pooled: frozenset[str] = frozenset()
    compressed: int = 0

    @property
    def demo_ids(self) -> tuple[str, ...]:
        """Ids of the demos holding at least one image slot, in slot order."""
        return tuple(dict.fromkeys(s.demo_id for s in self.slots))

    def all_demos(self) -> list[Any]:
        return [d for per in self.demos for d in per]


def _is_image(value: object) -> bool:
    return isinstance(value, dspy.Image)


def _inputs_of(pred: Any) -> frozenset[str] | None:
    """The input fields of ``pred``'s signature (the demo fields DSPy's adapters send), or None
    (every field) for a predictor without a signature."""
    fields = getattr(getattr(pred, "signature", None), "input_fields", None)
    return None if fields is None else frozenset(fields)


def _sent(demo: Any, inputs: frozenset[str] | None) -> dict[str, Any]:
    return {k: v for k, v in example_fields(demo).items() if inputs is None or k in inputs}


def _slots_of(
    pi: int, name: str, di: int, demo: Any, inputs: frozenset[str] | None
) -> list[tuple[ImageSlot, dspy.Image]]:
    out: list[tuple[ImageSlot, dspy.Image]] = []
    for fname, value in _sent(demo, inputs).items():
        if _is_image(value):
            out.append((ImageSlot(pi, name, di, fname, None), value))
        elif isinstance(value, (list, tuple)) and any(_is_image(v) for v in value):
            for j, v in enumerate(value):
                if _is_image(v):
                    out.append((ImageSlot(pi, name, di, fname, j), v))
    return out


def _items(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _is_compressed(demo: Any, inputs: frozenset[str] | None) -> bool:
    """Whether an input field of ``demo`` holds what a compile made of an image (not an original)."""
    return any(
        isinstance(v, SpectralImage) or (isinstance(v, str) and v == DROPPED_IMAGE)
        for value in _sent(demo, inputs).values()
        for v in _items(value)
    )


def _is_marker(value: object) -> bool:
    """Whether ``value`` is a ``dspy.Image`` as ``program.save`` writes it (and plain ``load`` leaves it)."""
    if not isinstance(value, str):
        return False
    text = value.strip()
    if not (text.startswith(CUSTOM_TYPE_START_IDENTIFIER) and text.endswith(CUSTOM_TYPE_END_IDENTIFIER)):
        return False
    try:
        parts = json.loads(text[len(CUSTOM_TYPE_START_IDENTIFIER) : -len(CUSTOM_TYPE_END_IDENTIFIER)])
    except ValueError:
        return False
    return isinstance(parts, list) and any(isinstance(p, Mapping) and p.get("type") == "image_url" for p in parts)


def _is_pil(value: object) -> bool:
    from PIL import Image

    return isinstance(value, Image.Image)


def _bad_image(value: Any) -> str | None:
    """Why an input-field value that is meant as an image is not one DSPy sends, or None."""
    items = _items(value)
    if any(_is_marker(v) for v in items):
        return (
            "a saved image as text (the marker string that plain program.load leaves): load the program with "
            "specprompt.load_program(program, path), or call specprompt.restore_images(program) after program.load"
        )
    if any(_is_pil(v) for v in items):
        return "a PIL image, which DSPy does not send as an image: wrap it as dspy.Image(...)"
    return None


def _check_demo_images(named: Sequence[tuple[str, Any]], demos: Sequence[tuple[Any, ...]]) -> None:
    """Refuses demo images the search could neither see nor price, though DSPy would send them.

    Raises:
        ConfigError: an input field of a demo holds a saved-image marker or a PIL image (the
            predictor, demo and field named).
    """
    for (name, pred), per in zip(named, demos, strict=True):
        inputs = _inputs_of(pred)
        for di, demo in enumerate(per):
            for fname, value in _sent(demo, inputs).items():
                why = _bad_image(value)
                if why is not None:
                    raise ConfigError(f"demo {di} of predictor {name!r}: field {fname!r} holds {why}")


def _why_no_image(named: Sequence[tuple[str, Any]], demos: Sequence[tuple[Any, ...]], trainset: Sequence[Any]) -> str:
    """The likeliest reason no demo holds an image: a raw PIL image in the trainset, images only in
    fields the signature does not send, or demos an earlier compile dropped every image of."""
    examples = [ex for ex in trainset if isinstance(ex, (dspy.Example, Mapping))]
    for (name, pred), per in zip(named, demos, strict=True):
        inputs = _inputs_of(pred)
        if not per:
            for i, ex in enumerate(examples):
                for fname, value in _sent(ex, inputs).items():
                    if any(_is_pil(v) for v in _items(value)):
                        return (
                            f"trainset[{i}] field {fname!r} (an input of predictor {name!r}) holds a PIL image, "
                            "not a dspy.Image: wrap it as dspy.Image(...)"
                        )
        for di, demo in enumerate(per or examples[:1]):
            unsent = sorted(set(example_fields(demo)) - (inputs or set()))
            if inputs is not None and _slots_of(0, name, di, {k: example_fields(demo)[k] for k in unsent}, None):
                where = f"demo {di} of predictor {name!r}" if per else "trainset[0]"
                return (
                    f"{where} holds images only in fields that are no input of predictor {name!r} "
                    f"({', '.join(sorted(inputs))}), and DSPy sends only the input fields: name the image field "
                    "in the signature"
                )
        if per and all(_is_compressed(d, inputs) for d in per):
            return (
                f"the demos of predictor {name!r} hold only images an earlier compile dropped: compile the "
                "original program, or give the trainset with its images and a student without demos"
            )
    return (
        "give the predictors demos with dspy.Image input fields, or a trainset with dspy.Image input fields "
        "and k_demos > 0"
    )


def _seedable(pred: Any, trainset: Sequence[Any]) -> bool:
    """Whether trainset examples hold a ``dspy.Image`` in an input field of ``pred`` (it may get default demos)."""
    inputs = _inputs_of(pred)
    return any(_slots_of(0, "", 0, ex, inputs) for ex in trainset if isinstance(ex, (dspy.Example, Mapping)))


def plan_demos(student: dspy.Module, trainset: Sequence[Any], k_demos: int | None, seed: int) -> DemoPlan:
    """Collects the demos of every predictor of ``student`` and the image slots in them.

    A predictor that has demos keeps them (so the search composes after LabeledFewShot,
    BootstrapFewShot or MIPROv2); one without demos whose input fields hold images in the
    trainset (see the module docstring) gets ``k_demos`` examples of ``trainset`` stratified over
    their answers and drawn with ``random.Random(seed)`` (one generator, those predictors in
    order; :func:`specprompt.search._labels.stratified_pick`): with ``k_demos`` at least the
    number of answers, every answer (label) gets a demo. Any other predictor keeps no demos.
    Demos whose images an earlier compile compressed get a :class:`SpecPromptWarning`.

    Raises:
        ConfigError: the program has no predictor, a demo's input field holds a saved-image
            marker string or a PIL image, or no demo holds a ``dspy.Image`` in an input field
            (the likeliest reason named).
    """
    named = list(student.named_predictors())
    if not named:
        raise ConfigError("the program has no predictors (dspy.Predict) whose demos could be optimized")
    k = DEFAULT_K_DEMOS if k_demos is None else k_demos
    rng = random.Random(seed)
    demos: list[tuple[Any, ...]] = []
    seeded: list[str] = []
    text_only: list[str] = []
    for name, pred in named:
        existing = list(getattr(pred, "demos", None) or [])
        if not existing and k > 0 and trainset:
            if _seedable(pred, trainset):
                existing = stratified_pick(pred, trainset, k, rng)
                seeded.append(name)
            else:
                text_only.append(name)
        demos.append(tuple(existing))
    if text_only:
        logger.info(
            "no trainset demos for predictor(s) whose input fields hold no trainset image: %s", ", ".join(text_only)
        )
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
    plan = _assemble(named, demos, trainset, tuple(seeded), frozenset())
    if plan.compressed:
        _warn_compressed(plan.compressed, len(plan.all_demos()))
    return plan


def _warn_compressed(n: int, total: int) -> None:
    from specprompt.search._invisible import _caller_level

    warnings.warn(
        f"{n} of the {total} demos hold images an earlier compile compressed (specprompt.SpectralImage or "
        f"{DROPPED_IMAGE!r}): the search takes them as the original images and cannot restore what was cut; "
        "compile the original program, or pass the original images (a student without demos and the trainset)",
        SpecPromptWarning,
        stacklevel=_caller_level(),
    )


def _assemble(
    named: list[tuple[str, Any]],
    demos: Sequence[tuple[Any, ...]],
    trainset: Sequence[Any],
    seeded: tuple[str, ...],
    pooled: frozenset[str],
) -> DemoPlan:
    """The :class:`DemoPlan` of ``demos`` (per predictor): image slots in input fields, images and classes.

    Raises:
        ConfigError: a demo image DSPy would send but the search cannot read
            (:func:`_check_demo_images`), or no demo holds a ``dspy.Image`` in an input field.
    """
    _check_demo_images(named, demos)
    slots: list[ImageSlot] = []
    images: dict[str, dspy.Image] = {}
    compressed = 0
    for pi, ((name, pred), per) in enumerate(zip(named, demos, strict=True)):
        inputs = _inputs_of(pred)
        for di, demo in enumerate(per):
            compressed += _is_compressed(demo, inputs)
            for slot, img in _slots_of(pi, name, di, demo, inputs):
                slots.append(slot)
                images[slot.id] = img
    if not slots:
        raise ConfigError(
            "no demo holds a dspy.Image (or list of them) in an input field of its predictor: "
            + _why_no_image(named, demos, trainset)
        )
    classes = []
    for (_, pred), per in zip(named, demos, strict=True):
        shown = ShownDemos(per)
        classes.append(class_keys(pred, per, [ex for ex in trainset if ex not in shown]))
    return DemoPlan(
        tuple(n for n, _ in named),
        tuple(tuple(per) for per in demos),
        tuple(slots),
        images,
        seeded,
        tuple(classes),
        pooled,
        compressed,
    )


def _image_fields(example: Any, inputs: frozenset[str] | None) -> frozenset[str]:
    return frozenset(s.field for s, _ in _slots_of(0, "", 0, example, inputs))


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
    in the same input fields. Examples that are demos already, or one of ``exclude`` (the valset
    and testset; both matched by :class:`~specprompt.search._examples.ShownDemos`), are never
    pooled: a pooled demo is never a validation or test example. The added demos' ids are :attr:`DemoPlan.pooled`.

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
    taken = ShownDemos([*plan.all_demos(), *exclude])
    rng = random.Random(f"{seed}:pool")
    demos = [list(per) for per in plan.demos]
    pooled: set[str] = set(plan.pooled)
    for pi, (name, pred) in enumerate(named):
        fields = frozenset(s.field for s in plan.slots if s.predictor == pi)
        if not fields:
            continue
        found: dict[str, Any] = {}
        inputs = _inputs_of(pred)
        for ex in trainset:
            if not isinstance(ex, (dspy.Example, Mapping)) or ex in taken:
                continue
            h = example_hash(ex)
            if h not in found and _image_fields(ex, inputs) == fields:
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
            taken.add(pool[i])
    if len(pooled) == len(plan.pooled):
        return plan
    logger.info("search_demos: %d trainset examples added as candidate demos", len(pooled) - len(plan.pooled))
    return _assemble(
        [(n, p) for n, p in named], [tuple(per) for per in demos], trainset, plan.seeded, frozenset(pooled)
    )


def default_valset(trainset: Sequence[Any], plan: DemoPlan) -> list[Any]:
    """``trainset`` minus the examples used as demos (matched by :class:`~specprompt.search._examples.ShownDemos`).

    Its examples are what the program is called with, so each must have inputs: the same check a
    given valset gets (:func:`~specprompt.search._arguments.check_examples`), made before any call.

    Raises:
        ConfigError: nothing is left to validate on, or an example left has no inputs (its
            trainset index named).
    """
    shown = ShownDemos(plan.all_demos())
    rest = [(i, ex) for i, ex in enumerate(trainset) if ex not in shown]
    if not rest:
        raise ConfigError(
            f"no validation examples: all {len(trainset)} trainset examples are demos; pass valset= "
            "or a larger trainset"
        )
    for i, ex in rest:
        if not has_inputs(ex):
            raise ConfigError(
                f"trainset[{i}] has no inputs, and with valset=None the trainset examples that are no demos are "
                "the valset: call .with_inputs(...) on the trainset examples (e.g. dspy.Example(image=..., "
                "label=...).with_inputs('image')), or pass valset="
            )
    return [ex for _, ex in rest]


def replace_field(demo: Any, field: str, value: Any) -> Any:
    """A copy of ``demo`` with ``field`` set to ``value`` (Examples stay Examples)."""
    if isinstance(demo, dspy.Example):
        return demo.copy(**{field: value})
    return {**example_fields(demo), field: value}
