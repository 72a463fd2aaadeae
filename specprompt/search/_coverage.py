"""Every class keeps a voice: the classes of a program's demos and whether the budget holds one image each.

The rule itself (:meth:`SearchContext.covers_labels`) lives on the context; here are the pure parts
it is built from, and the warnings about budgets and demos that make a chance-level program.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING

from specprompt.errors import SpecPromptWarning
from specprompt.search._budget import fits

if TYPE_CHECKING:
    from specprompt.search._config import SearchConfig
    from specprompt.search._demos import DemoPlan

__all__ = ["budget_covers_classes", "class_demos"]


def class_demos(plan: DemoPlan) -> dict[str, tuple[str, ...]]:
    """Class id (``"<predictor>:<answer>"``) -> ids of the demos that hold images and show it.

    The classes are those of the program's own demos: a pooled demo (:attr:`DemoPlan.pooled`)
    counts for a class they show, and a class only pooled demos show is no class of the rule.
    """
    out: dict[str, list[str]] = {}
    for slot in sorted(plan.slots, key=lambda s: s.demo_id in plan.pooled):
        per = plan.classes[slot.predictor] if slot.predictor < len(plan.classes) else ()
        key = per[slot.demo] if slot.demo < len(per) else None
        name = f"{slot.predictor_name}:{key}"
        if key is not None and (slot.demo_id not in plan.pooled or name in out):
            ids = out.setdefault(name, [])
            if slot.demo_id not in ids:
                ids.append(slot.demo_id)
    return {c: tuple(ids) for c, ids in out.items()}


def budget_covers_classes(
    config: SearchConfig, plan: DemoPlan, classes: Mapping[str, tuple[str, ...]], cheapest: Mapping[str, int]
) -> bool:
    """Whether the budget holds one image per class; warns about budgets and demos that make a chance-level program.

    Args:
        config: the search options (budget and cost model).
        plan: the demos and their image slots.
        classes: class id -> ids of the image demos showing it (:func:`class_demos`).
        cheapest: slot id -> tokens of the cheapest way to still show its image.

    Returns:
        True when the budget holds the cheapest image of one demo per class.
    """
    budget = config.token_budget
    by_demo: dict[str, list[int]] = {}
    for s in plan.slots:
        by_demo.setdefault(s.demo_id, []).append(cheapest[s.id])
    per_class = {c: min(min(by_demo[d]) for d in demos) for c, demos in classes.items()}
    for name, per in zip(plan.names, plan.classes, strict=False):
        shown = {c for c in per if c is not None}
        n_demos = sum(1 for c in per if c is not None)
        if len(shown) == 1 and n_demos >= 2:
            _warn(
                f"all {n_demos} demos of predictor {name!r} have the same answer ({shown.pop()}): a program "
                "shown one class learns to give that answer; give a trainset (or demos) with several classes"
            )
    lowest = min(cheapest.values(), default=0)
    if budget is not None and budget < lowest:
        _warn(
            f"token_budget {budget} is below the price of the cheapest demo image ({lowest} tokens under "
            f"{config.cost_model!r}): every demo image is dropped and the program sees text only, "
            "so expect chance-level answers on image questions"
        )
        return False
    need = sum(per_class.values())
    if len(per_class) > 1 and not fits(need, budget):
        _warn(
            f"token_budget {budget} cannot hold one image per label: the cheapest image of each of the "
            f"{len(per_class)} labels costs {need} tokens together under {config.cost_model!r}, so the "
            "search may drop every image of some labels (answers for those are guesses); raise the budget "
            f"to at least {need}"
        )
        return False
    return True


def _warn(message: str) -> None:
    from specprompt.search._invisible import _caller_level

    warnings.warn(message, SpecPromptWarning, stacklevel=_caller_level())
