"""A candidate's program: a copy of the student whose demos show the candidate's images."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import dspy

from specprompt.search._demos import ImageSlot, replace_field
from specprompt.types import DROPPED_IMAGE

if TYPE_CHECKING:
    from specprompt.search._context import Candidate, SearchContext

__all__ = ["build_program"]


def build_program(ctx: SearchContext, cand: Candidate) -> dspy.Module:
    """A deep copy of ``ctx.student`` whose demos show ``cand``'s images (:meth:`SearchContext.build`),
    marked compiled.

    Convention:
        Every program built here is an optimizer's output (the compiled program,
        ``CompileResult.program_for_budget``, the baselines' programs), so it carries
        ``_compiled = True`` as DSPy's own optimizers set it: an optimizer later run on a module
        that holds it (``LabeledFewShot``, ``BootstrapFewShot``) leaves its compressed demos alone
        instead of replacing them with full-size trainset demos (DSPy's ``named_parameters``
        skips compiled sub-modules). The flag changes nothing when the program itself is called.
    """
    program = ctx.student.deepcopy()
    program._compiled = True
    by_demo: dict[tuple[int, int], list[ImageSlot]] = {}
    for slot in ctx.plan.slots:
        by_demo.setdefault((slot.predictor, slot.demo), []).append(slot)
    for pi, (_, pred) in enumerate(program.named_predictors()):
        new_demos = []
        for di, demo in enumerate(ctx.plan.demos[pi]):
            slots = by_demo.get((pi, di), [])
            if slots and slots[0].demo_id in cand.excluded:
                continue
            new_demos.append(_render_demo(ctx, cand, demo, slots))
        pred.demos = new_demos
    return program


def _image_for(ctx: SearchContext, cand: Candidate, slot: ImageSlot) -> dspy.Image | None:
    if slot.id in cand.overrides:
        return cand.overrides[slot.id]
    space = ctx.spaces[slot.id]
    sel = space.selection(cand.values[slot.id])
    return (
        None
        if sel.bands == frozenset()
        else ctx.render(slot.id, sel, space.sent_size(cand.values[slot.id]), cand.sharpen)
    )


def _render_demo(ctx: SearchContext, cand: Candidate, demo: Any, slots: list[ImageSlot]) -> Any:
    out = demo
    fields: dict[str, list[ImageSlot]] = {}
    for s in slots:
        fields.setdefault(s.field, []).append(s)
    for fname, fslots in fields.items():
        if fslots[0].item is None:
            img = _image_for(ctx, cand, fslots[0])
            out = replace_field(out, fname, DROPPED_IMAGE if img is None else img)
            continue
        by_item = {s.item: s for s in fslots}
        original = demo[fname]
        items: list[Any] = []
        for j, value in enumerate(original):
            slot = by_item.get(j)
            if slot is None:
                items.append(value)
                continue
            img = _image_for(ctx, cand, slot)
            if img is not None:
                items.append(img)
            if slot.id in cand.crops:
                items.append(ctx.crop(slot.id)[0])
        shows_image = any(isinstance(v, dspy.Image) for v in items)
        out = replace_field(out, fname, items if shows_image else DROPPED_IMAGE)
    return out
