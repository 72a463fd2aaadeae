"""Trim: after the returned program is chosen, cheaper variants of it that lose no validation example.

The selection rule (:mod:`specprompt.search._select`) returns the resizing baseline when it ties,
and that baseline spends as much of the budget as fits. The budget is a cap: a user who pays per
image token wants the cheapest program that loses nothing. So the chosen program ``P`` is trimmed
by a short chain of cheaper variants, each scored on the valset by the same scorer (a rejected one
only up to its first lost example, see below; counted in the spend, kept as a trial of origin
``trim:<n>``, so a resumed compile reuses its scores):

1. ``drop``: one demo's images dropped (its text and label stay), the last shown demo of a label
   that still shows another first: every label keeps at least one image ("every class keeps a
   voice", :mod:`specprompt.search._labels`). One demo per step, while steps are accepted.
2. ``scale``: every shown image of the last accepted variant made smaller by one common step: its
   longest side times :data:`SCALE_FACTOR` (repeated until the cost model charges fewer tokens)
   under a cost model that prices pixels, else one rung down its band ladder; never below the
   space's smallest side, never dropped. While steps are accepted.

A variant is scored in chunks, the examples ``P`` scored highest first (:func:`scoring_order`),
and its scoring stops at the first chunk where it loses an example: a rejected variant costs only
the calls up to its first loss. It is then kept as a ``PRUNED`` trial holding the examples it was
scored on (no full-valset score, never a candidate), so a resumed compile rejects it again
without scoring it. An accepted variant is scored on every example.

The acceptance rule is paired and strict: a variant is accepted only when its score on *every*
valset example is at least ``P``'s score on that example (it loses no example ``P`` got). Equal
means are not enough: a variant that gains one example and loses another has the same mean but is
a different program, and accepting it would pick the luckier of two noisy measurements (the
winner's curse). Comparing every step with ``P`` (not with the previous variant) keeps the
returned program at least as good as ``P`` on every example. A branch stops at its first
rejected step; at most ``trim_steps`` variants are scored. The cheapest accepted variant is
returned (``P`` when none is). Variants only ever cost fewer tokens than ``P``, so they fit the
budget ``P`` fits. When a local judge scored the chain for a program that will answer with another
model and that model is given (``BandOptimizer(target=...)``), the returned variant is kept only
when the target finds that it loses no example ``P`` got (:func:`~specprompt.search._departures.trim_check`,
:attr:`TrimReport.check`).

Why trim is on by default (``SearchConfig.trim``): the scoring it costs is paid once per compile
(at most ``trim_steps`` full-valset scorings), while demo image tokens are paid on every call of
the compiled program. A program that keeps only one image per label, or smaller images, and loses
no validation example is what a user paying per token asked for when they gave a cap.

A chosen baseline (``SearchConfig.trim_baselines``, default ``"scale"``): the chain has no
``drop`` steps (every shown image stays; only a smaller common size is tried), and only an
accepted variant that also scores above the baseline on the valset is returned (the cheapest such
one), else the baseline, unless :data:`TIE_RUN` (2) steps in a row lost no example: then the
cheapest accepted variant is returned, gain or not. ``"gain"`` runs the whole chain, drops
included, and always requires a gain; ``"tie"`` returns the cheapest accepted variant, as for a
search candidate; ``"off"`` never trims a baseline.

Why: the rule returns a baseline when no search candidate was shown better on examples it was not
chosen on, and "loses no example" is checked only on the examples the baseline got, one small set
for a whole chain of variants. On the real-photo benchmark (``benchmarks/bench_realphoto.py``,
seeds 5-9) variants that only tied with the baseline lost held-out accuracy (photo-texture judged
by hist-hog at 50%: 65.0% against 73.3% for one seed), and never trimming lost photo-tint's gains
and its coarse-only token cut: hence a gain is required. With a gain required, variants that
dropped demos still lost: with 48 validation examples (seeds 5-9), 13 of the 38 trimmed baselines
of ``"gain"`` scored below plain resizing on the test split (photo-identity with hist-hog;
photo-texture with hist-hog at 50% and photo-detail at 5/6 and 3/4 of the baseline's tokens, one
and two demos' images dropped), 9 of 48 rows below it. A baseline with a demo's images dropped is
a different prompt, which the selection's held-out check (``confirm_splits``) never saw; a smaller
common size of every image is still plain resizing. With ``"scale"`` the same run returned the
same program in 218 of 240 compiles; of the other 22 it scored higher on the test split in 10
(+1.7 to +5.0 points), equal in 11 (with more tokens in 10: a drop cuts more) and lower in 1
(-1.7), and 3 of 48 rows were below resizing (``benchmarks/README.md``). A chosen search
candidate has already shown a gain, and its trim keeps every example it got.

Why two ties in a row are enough: one smaller size that ties with the baseline may be luck on a
small valset, and on photo-texture such single ties lost on the test split; a baseline that ties
at two smaller sizes in a row (each at most half its tokens) shows a task that resolution does not
decide. Replayed on the compiles of the real-photo benchmark (``benchmarks/probe_baseline_trims.py``,
photo-tint and photo-texture, seeds 5-9, n-val 24), "a tie is enough" put two more photo-texture
rows below plain resizing, "two ties in a row" none, and it cut photo-tint's demo tokens at 10%
from 93.3-94.7% to 94.7-97.0% of full resolution (25 of 120 compiles changed: 11 higher on the
test split, 7 lower, 7 equal). On all four tasks it changed 17 of 48 rows, each to fewer tokens
(10 higher, 4 lower); the lower ones include photo-identity judged by hist-hog, where one test
example of 60 was lost in a few seeds at a third or less of the tokens (``benchmarks/README.md``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from specprompt.search._context import Candidate, SearchContext
from specprompt.search._record import TRIM_ORIGIN
from specprompt.search._space import SIZE_DIM

if TYPE_CHECKING:
    from specprompt.search._departures import TrimCheck

__all__ = [
    "CHUNK",
    "SCALE_FACTOR",
    "OUTCOME_TEXT",
    "TIE_RUN",
    "TRIM_ORIGIN",
    "TrimOutcome",
    "TrimReport",
    "TrimStep",
    "loses_nothing",
    "scoring_order",
    "trim",
]

#: Examples per chunk of a variant's scoring (at least the scorer's threads, see :func:`scoring_order`).
CHUNK = 4

#: Factor a ``scale`` step multiplies the longest side of every shown image by.
SCALE_FACTOR = 0.7
#: Accepted ``scale`` steps in a row that return a trimmed baseline without a gain
#: (``trim_baselines="scale"``, see the module text).
TIE_RUN = 2
#: What became of a trim step: ``"returned"`` (the returned program), ``"superseded"`` (accepted, then a
#: cheaper accepted step replaced it), ``"no gain"`` (accepted, not returned: a chosen baseline's
#: variant must also score above it), ``"refused by the target"`` (accepted by the local judge, then
#: found by the target to lose an example) or ``"rejected"`` (it lost an example).
TrimOutcome = Literal["returned", "superseded", "no gain", "refused by the target", "rejected"]
#: Each outcome of an accepted step in words.
OUTCOME_TEXT: dict[str, str] = {
    "returned": "accepted: returned",
    "superseded": "accepted, then superseded by a cheaper accepted step",
    "no gain": "accepted (loses no example), not returned: no gain over the chosen baseline",
    "refused by the target": "accepted by the local judge, not returned: the target found it loses an example",
}
#: Tolerance of the per-example comparison (scores are floats).
_EPS = 1e-9

Values = dict[str, dict[str, int]]
#: Scores a variant: ``(candidate, origin, chunks) -> (valset index -> score, trial)``; the chunks
#: (:func:`scoring_order`) are scored in order until one loses an example of the chosen program
#: (then the scores are partial), or all are.
ScoreFn = Callable[[Candidate, str, Sequence[Sequence[int]]], tuple[Mapping[int, float], int | None]]


@dataclass(frozen=True)
class TrimStep:
    """One scored variant of the chain.

    Attributes:
        step: its number (from 1; the trial origin is ``trim:<step>``).
        move: ``"drop <demo id>"`` or ``"scale"``.
        tokens: image tokens of the variant.
        score: its mean score over the valset examples it was scored on (all of them unless its
            scoring stopped at a loss: see ``examples``).
        accepted: it lost no example of the chosen program.
        lost: valset indices where it scored below the chosen program.
        trial: the trial that holds it (``None`` when none does).
        examples: valset examples it was scored on (fewer than the valset when its scoring
            stopped at a loss).
    """

    step: int
    move: str
    tokens: int
    score: float
    accepted: bool
    lost: tuple[int, ...]
    trial: int | None
    examples: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "move": self.move,
            "tokens": self.tokens,
            "score": self.score,
            "accepted": self.accepted,
            "lost": list(self.lost),
            "trial": self.trial,
            "examples": self.examples,
        }


@dataclass(frozen=True)
class TrimReport:
    """What the trim did.

    Attributes:
        chosen: the trial of the program the selection rule chose (the chain starts there).
        tokens_before: image tokens of the program the selection rule chose.
        tokens_after: image tokens of the returned program.
        steps: the scored variants, in order.
        note: why nothing was tried, or ``""``.
        check: the target's verdict on the trimmed program when a local judge scored the chain
            (:func:`~specprompt.search._departures.trim_check`); when it is not confirmed, the
            program before the trim is returned (``tokens_after == tokens_before``).
    """

    chosen: int
    tokens_before: int
    tokens_after: int
    steps: tuple[TrimStep, ...] = ()
    note: str = ""
    check: TrimCheck | None = None

    def outcomes(self) -> tuple[TrimOutcome, ...]:
        """What became of each step, in order (see :data:`TrimOutcome`).

        The returned variant is the accepted step with :attr:`tokens_after` tokens (accepted steps
        cost strictly fewer tokens one after another, so at most one has them); the one the target
        refused is the accepted step with ``check.tokens`` tokens. An accepted step before that
        one is superseded; an accepted step after it was not returned for want of a gain over a
        chosen baseline (``trim_baselines``).

        Example:
            >>> steps = [TrimStep(1, "drop d3", 30, 1.0, True, (), 7), TrimStep(2, "drop d2", 20, 1.0, True, (), 8),
            ...          TrimStep(3, "scale", 12, 0.5, False, (4,), 9, 4)]
            >>> TrimReport(0, 40, 20, tuple(steps)).outcomes()
            ('superseded', 'returned', 'rejected')
            >>> TrimReport(0, 40, 40, tuple(steps[:2])).outcomes()  # a baseline's variants, neither above it
            ('no gain', 'no gain')
        """
        accepted = [s for s in self.steps if s.accepted]
        returned = checked = None
        if self.tokens_after < self.tokens_before:
            returned = next((s.step for s in reversed(accepted) if s.tokens == self.tokens_after), None)
        if self.check is not None and not self.check.confirmed:
            checked = next((s.step for s in reversed(accepted) if s.tokens == self.check.tokens), None)
        last = returned if returned is not None else checked
        out: list[TrimOutcome] = []
        for s in self.steps:
            if not s.accepted:
                out.append("rejected")
            elif s.step == returned:
                out.append("returned")
            elif s.step == checked:
                out.append("refused by the target")
            elif last is not None and s.step < last:
                out.append("superseded")
            else:
                out.append("no gain")
        return tuple(out)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields; each step also holds its ``outcome`` (:meth:`outcomes`)."""
        return {
            "chosen": self.chosen,
            "tokens_before": self.tokens_before,
            "tokens_after": self.tokens_after,
            "steps": [{**s.to_dict(), "outcome": o} for s, o in zip(self.steps, self.outcomes(), strict=True)],
            "note": self.note,
            "check": None if self.check is None else self.check.to_dict(),
        }

    def summary(self) -> str:
        """A few lines: tokens before and after, then one line per step and what became of it."""
        head = f"trim of trial {self.chosen}: {self.tokens_before} -> {self.tokens_after} image tokens"
        if self.note:
            head += f" ({self.note})"
        lines = [head]
        for s, outcome in zip(self.steps, self.outcomes(), strict=True):
            score = f"valset {s.score:.4f}"
            if s.accepted:
                verdict = OUTCOME_TEXT[outcome]
            else:
                # a partial mean (the examples scored before the loss), not comparable with a full one
                score += f" over {s.examples} examples" if s.examples else ""
                verdict = f"rejected (loses valset example(s) {list(s.lost)}"
                verdict += f"; stopped after {s.examples} examples)" if s.examples else ")"
            lines.append(f"  trim:{s.step} {s.move:<14} {s.tokens:>6} tokens  {score}  {verdict}")
        if self.check is not None:
            returned = "the trimmed program" if self.check.confirmed else "the program before the trim"
            lines.append(f"  {self.check.summary()}; {returned} is returned")
        return "\n".join(lines)


def loses_nothing(variant: Mapping[int, float], reference: Mapping[int, float]) -> tuple[int, ...]:
    """Valset indices where ``variant`` scores below ``reference`` (an index it lacks counts as lost).

    Example:
        >>> loses_nothing({0: 1.0, 1: 1.0}, {0: 1.0, 1: 0.0}), loses_nothing({0: 1.0, 1: 0.0}, {0: 0.0, 1: 1.0})
        ((), (1,))
    """
    return tuple(i for i in sorted(reference) if variant.get(i, float("-inf")) < reference[i] - _EPS)


def scoring_order(reference: Mapping[int, float], chunk: int = CHUNK) -> list[list[int]]:
    """The valset indices in chunks of ``chunk``, those ``reference`` scored highest first (then by
    index): a variant that loses an example most likely loses one of those.

    Example:
        >>> scoring_order({0: 0.0, 1: 1.0, 2: 1.0, 3: 0.0, 4: 1.0}, 2)
        [[1, 2], [4, 0], [3]]
    """
    order = sorted(reference, key=lambda i: (-reference[i], i))
    size = max(1, int(chunk))
    return [order[k : k + size] for k in range(0, len(order), size)]


def _shown_slots(ctx: SearchContext, cand: Candidate) -> list[str]:
    return [
        s.id
        for s in ctx.plan.slots
        if s.demo_id not in cand.excluded and ctx.spaces[s.id].selection(cand.values[s.id]).bands != frozenset()
    ]


def _droppable(ctx: SearchContext, cand: Candidate) -> str | None:
    """The demo whose images the next ``drop`` step removes: the last shown demo of a label that
    shows another demo; ``None`` when every label shows one demo (or none)."""
    shown = ctx.shown_demos(cand)
    for demos in reversed(list(ctx.class_demos.values())):
        mine = [d for d in demos if d in shown]
        if len(mine) > 1:
            return mine[-1]
    return None


def _dropped(ctx: SearchContext, cand: Candidate, demo: str) -> Candidate:
    values: Values = {sid: dict(v) for sid, v in cand.values.items()}
    for s in ctx.plan.slots:
        if s.demo_id == demo:
            values[s.id] = ctx.spaces[s.id].ladder()[-1]
    return cand.moved(values, crops=cand.crops - {s.id for s in ctx.plan.slots if s.demo_id == demo})


def _scaled(ctx: SearchContext, cand: Candidate) -> Candidate | None:
    """Every shown image one common step smaller (fewer tokens), or ``None`` when none can shrink."""
    tokens = ctx.tokens(cand)
    shown = _shown_slots(ctx, cand)
    if ctx.sized:
        factor = SCALE_FACTOR
        last: Values = {sid: dict(v) for sid, v in cand.values.items()}
        while True:  # ends: every side reaches its space's smallest, where nothing moves any more
            values: Values = {sid: dict(v) for sid, v in cand.values.items()}
            for sid in shown:
                dim = ctx.spaces[sid].size_dim
                if dim is not None:
                    values[sid][SIZE_DIM] = max(dim.low, round(cand.values[sid][SIZE_DIM] * factor))
            if values == last:
                return None
            out = cand.moved(values)
            if ctx.tokens(out) < tokens:
                return out
            last, factor = values, factor * SCALE_FACTOR
    values = {sid: dict(v) for sid, v in cand.values.items()}
    slots = {s.id: s for s in ctx.plan.slots}
    for sid in shown:
        now = ctx.slot_tokens(cand, slots[sid])
        for rung in ctx.spaces[sid].ladder()[:-1]:  # the last rung drops the image
            if ctx.slot_tokens(cand.moved({**cand.values, sid: rung}), slots[sid]) < now:  # crop priced as in now
                values[sid] = dict(rung)
                break
    out = cand.moved(values)
    return out if ctx.tokens(out) < tokens else None


def trim(
    ctx: SearchContext,
    chosen: Candidate,
    reference: Mapping[int, float],
    max_steps: int,
    score: ScoreFn,
    trial: int,
    chunk: int = CHUNK,
    *,
    require_gain: bool = False,
    drops: bool = True,
    tie_run: int = 0,
) -> tuple[Candidate, TrimReport]:
    """Runs the chain of this module from ``chosen`` (scores ``reference``); returns the cheapest
    accepted variant (``chosen`` when none is) and the report.

    With ``require_gain`` (a chosen baseline, ``trim_baselines="gain"`` or ``"scale"``) the chain runs the same,
    but only an accepted variant whose valset score is above ``chosen``'s can be returned: the
    cheapest such one, else ``chosen``. Without ``drops`` (a chosen baseline,
    ``trim_baselines="scale"``) the chain has no ``drop`` steps: every shown image stays, and
    only a smaller common size is tried. With ``tie_run`` (``trim_baselines="scale"``: 2), once
    that many steps in a row lost no example, the cheapest accepted variant is returned without a
    gain: ties at two smaller sizes in a row show that resolution does not decide this task.

    Args:
        ctx: the search context.
        chosen: the program the selection rule chose; a point of the band space (no overrides).
        reference: its full-valset per-example scores.
        max_steps: at most this many variants are scored.
        score: scores a variant on the full valset (see :data:`ScoreFn`).
        trial: the trial of ``chosen`` (for the report).
        chunk: examples per chunk of a variant's scoring (:func:`scoring_order`).
        require_gain: return only a variant that scores above ``chosen`` on the valset.
        drops: try ``drop`` steps before the ``scale`` steps.
        tie_run: with ``require_gain``, this many accepted steps in a row are enough without a
            gain (0: never).
    """
    before = ctx.tokens(chosen)
    if chosen.overrides:
        note = (
            "skipped: the chosen baseline's images are sent as it made them (detail='low', or one common resize "
            "outside the searched sizes), and the trim only steps through the searched band and size choices"
        )
        return chosen, TrimReport(trial, before, before, note=note)
    steps: list[TrimStep] = []
    best = returned = chosen
    floor = sum(reference.values()) / len(reference) if reference else 0.0

    chunks = scoring_order(reference, chunk)
    streak = 0  # accepted steps in a row, up to the last one

    def accepted(cand: Candidate, returned: Candidate) -> Candidate:
        """What is returned once ``cand`` (the last step) was accepted: it, unless a gain is required
        (and fewer than ``tie_run`` steps in a row were accepted)."""
        if not require_gain or steps[-1].score > floor + _EPS or (tie_run and streak >= tie_run):
            return cand
        return returned

    def attempt(cand: Candidate, move: str) -> bool:
        nonlocal streak
        n = len(steps) + 1
        scores, trial = score(cand, f"{TRIM_ORIGIN}{n}", chunks)
        # the losses among the scored examples; partial scores without one (never expected) lose the rest
        scored = {i: v for i, v in reference.items() if i in scores}
        lost = loses_nothing(scores, scored) or loses_nothing(scores, reference)
        mean = sum(scores.values()) / len(scores) if scores else float("nan")
        steps.append(TrimStep(n, move, ctx.tokens(cand), mean, not lost, lost, trial, len(scores)))
        streak = 0 if lost else streak + 1
        return not lost

    while drops and len(steps) < max_steps and (demo := _droppable(ctx, best)) is not None:
        cand = _dropped(ctx, best, demo)
        if not attempt(cand, f"drop {demo}"):
            break
        best = cand
        returned = accepted(best, returned)
    while len(steps) < max_steps and (cand_or_none := _scaled(ctx, best)) is not None:
        if not attempt(cand_or_none, "scale"):
            break
        best = cand_or_none
        returned = accepted(best, returned)
    note = "" if steps else "nothing cheaper to try (one image per label, each at its smallest size)"
    if not steps and not drops:
        note = "nothing cheaper to try (every image at its smallest size)"
    if require_gain and steps and returned is chosen:
        mode = "gain" if drops else "scale"
        ties = f" or lost none at {tie_run} sizes in a row" if tie_run else ""
        note = (
            f"a baseline was chosen: no variant that loses no example also scored above it{ties} "
            f"(trim_baselines='{mode}')"
        )
    return returned, TrimReport(trial, before, ctx.tokens(returned), tuple(steps), note)
