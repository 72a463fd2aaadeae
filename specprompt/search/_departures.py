"""Whether the returned program may leave the baselines when a local judge scores the search.

A local judge (the band VLM of :func:`~specprompt.scorers.local_lm`, or the nearest-band engine
of :func:`~specprompt.scorers.nearest_lm`) is not the model the compiled program will answer
with when its images are priced for another one (``cost_model`` other than ``local``). Its pick
of a band selection over plain resizing is then a guess about that model, and on real photos the
guess lost more often than it won: in ``benchmarks/bench_multifidelity.py --screens local-only``
(6 seeds, 4 photo tasks, both shipped checkpoints, commit ad46e61) the programs that left the
resizing baseline for a local judge's pick were below uniform Lanczos resizing on the held-out
split in 9 of 12 (program, pixel judge) pairs, where the same search scored by the pixel judge
itself left it 8 times, 6 of them above Lanczos and 1 below. Trims of a baseline (smaller images
that lose no validation example) fared better (14 above, 6 below). A good rank agreement over a
probe did not make a judge right about this one decision either (``band-vlm-v2``, 0.76 against
the pixel judges, made 8 of those 12 departures).

So with ``local_departures="confirmed"`` (the default) such a search decides by
:func:`departure_policy`:

- with the target given (``BandOptimizer(target=...)``, CLI ``--target``), the local judge's pick
  and the best baseline that sends images are scored by the target on the valset (at most
  ``2 x len(valset)`` target calls, only when the judge picked anything else), and the pick is
  returned only when a paired bootstrap finds it better with probability >= ``tie_confidence``
  (:class:`TargetCheck`), the rule that lets any search leave plain resizing;
- without a target, the best baseline that sends images is returned.

The text-only demos count as a pick here, not as a safe baseline: a judge that cannot read the
images may score a prompt without them as high as one with them (``band-vlm-v1`` on
``photo-detail``, seed 10 of ``bench_multifidelity.py``, returned text-only demos, 25% on the test
split against 52.5% for plain resizing). The returned baseline is then trimmed as usual, and
:class:`LocalPick` reports what became of the pick; the Pareto front and
``CompileResult.program_for_budget`` still offer every candidate.

A trim (:mod:`specprompt.search._trim`: the returned program made cheaper while it loses no
validation example) is the local judge's decision too. With the target given it is returned only
when the target agrees (:func:`trim_check`, :class:`TrimCheck`): the target scores the returned
program before the trim on the valset (no call when the pick's check already did) and the trimmed
one in chunks, stopping at the first example it loses; the trimmed program is returned when it
loses none, else the program before the trim is (at most ``2 x len(valset)`` target calls). Why:
in ``bench_multifidelity.py`` (seeds 0-11, ``band-vlm-v1``, commits 409a01b and 1082189) every
``local-only`` group still below plain resizing was below it by the judge's trims of the
resizing baseline (photo-texture: 156 -> 42 and 90 tokens, -2.5 to -17.5 points on the test split of
single compiles), while other trims gained (photo-tint: 328 -> 16 tokens, up to +15.0). Without a
target the trims stay: over those runs the 22 trimmed compiles were above plain resizing on the
test split in 12 and below it in 6 (+1.4 points on average), and they are most of what a
local-only compile saves. With the check (``mf-local-confirmed``, same seeds, commit 78f265e) the
target refused 8 of 20 trims (5 of them had been below resizing, 2 above), the 12 it kept were
above resizing in 9 compiles and below in none, and the one group still below resizing is below
by a pick the target confirmed (``benchmarks/README.md``).
``"always"`` returns the local judge's pick as any other scorer's. Nothing changes for a search
scored by a remote LM or a pixel judge (they see what the target sees), for a multi-fidelity search
(``screen=``: the target scores the finalists), or for ``cost_model="local"`` (the local model is
the target).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import dspy

from specprompt.errors import ScoringError
from specprompt.search._scoring import Failures, Scorer
from specprompt.search._study import row_candidate
from specprompt.search._transport import model_name, remote_lm
from specprompt.search._trim import CHUNK, loses_nothing, scoring_order

if TYPE_CHECKING:
    import optuna

    from specprompt.search._config import LocalDepartures
    from specprompt.search._context import SearchContext
    from specprompt.search._result import ParetoRow

__all__ = [
    "TARGET_SCORES_ATTR",
    "DeparturePolicy",
    "LocalPick",
    "TargetCheck",
    "TrimCheck",
    "departure_policy",
    "local_judge",
    "target_check",
    "trim_check",
]

#: Study user attribute prefix (+ candidate key) of the target's per-example valset scores of a
#: :class:`TargetCheck`: a resumed compile reads them instead of calling the target again.
TARGET_SCORES_ATTR = "specprompt:target-scores:"

#: What :func:`departure_policy` decides: ``"free"`` (the selection rule alone), ``"confirm"`` (the
#: target confirms a pick over the baselines), ``"hold"`` (the best baseline is returned).
DeparturePolicy = Literal["free", "confirm", "hold"]


def local_judge(lm: Any) -> str | None:
    """The model string of ``lm`` when it runs a local band judge in this process, else ``None``.

    Example:
        >>> from specprompt.scorers import nearest_lm, pixel_lm
        >>> local_judge(nearest_lm()), local_judge(pixel_lm("hist-hog"))
        ('specprompt/nearest-v1', None)
    """
    engine = getattr(lm, "engine", None)
    if engine is None:
        return None
    from specprompt.scorers import LocalVLMEngine, NearestBandEngine

    if isinstance(engine, LocalVLMEngine | NearestBandEngine):
        return str(getattr(lm, "model", engine))
    return None


def departure_policy(
    mode: LocalDepartures, judge: str | None, priced_locally: bool, screened: bool, target: str | None
) -> tuple[DeparturePolicy, str]:
    """How the selection may return a candidate that is not a baseline, and why.

    Args:
        mode: ``SearchConfig.local_departures``.
        judge: :func:`local_judge` of the scoring LM.
        priced_locally: the cost model prices the local band VLM (``cost_model="local..."``).
        screened: a multi-fidelity search (``screen=``), whose scoring LM is the target.
        target: the model string of ``BandOptimizer(target=...)``, if given.

    Returns:
        ``("free", "")``, or ``("confirm" | "hold", reason)`` with a reason that names the judge.

    Example:
        >>> departure_policy("confirmed", "specprompt/nearest-v1", False, False, None)[0]
        'hold'
        >>> departure_policy("confirmed", "specprompt/nearest-v1", False, False, "openai/gpt-4.1-mini")[0]
        'confirm'
        >>> departure_policy("always", "specprompt/nearest-v1", False, False, None)
        ('free', '')
    """
    if mode == "always" or judge is None or priced_locally or screened:
        return "free", ""
    if target is not None:
        return "confirm", (
            f"the search was scored by the local judge {judge}; its pick over the baselines is returned only "
            f"when the target {target} scores it better than the best baseline on the valset"
        )
    return "hold", (
        f"the search was scored by the local judge {judge} alone, and there is no target to confirm its pick over "
        "the baselines (target=, CLI --target; local_departures='always' returns the pick unconfirmed)"
    )


@dataclass(frozen=True)
class TargetCheck:
    """The target's verdict on a local judge's pick against the best baseline (full valset).

    Attributes:
        target: model string of the target LM.
        pick: the pick's mean metric under the target.
        fallback: the best baseline's mean metric under the target.
        p_better: paired-bootstrap probability that the pick is better (seeded).
        confidence: the probability needed (``tie_confidence``).
        examples: validation examples both were scored on.
        calls: target calls this check made (0 when its scores were stored by an earlier run).
    """

    target: str
    pick: float
    fallback: float
    p_better: float
    confidence: float
    examples: int
    calls: int

    @property
    def confirmed(self) -> bool:
        """True when the target finds the pick better with at least :attr:`confidence`."""
        return self.p_better >= self.confidence

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "pick": self.pick,
            "fallback": self.fallback,
            "p_better": self.p_better,
            "confidence": self.confidence,
            "examples": self.examples,
            "calls": self.calls,
            "confirmed": self.confirmed,
        }

    def summary(self) -> str:
        sign = ">=" if self.confirmed else "<"
        return (
            f"the target {self.target} scored it {self.pick:.4f} against the baseline's {self.fallback:.4f} on "
            f"{self.examples} validation examples (P(better) {self.p_better:.2f} {sign} {self.confidence:g}; "
            f"{self.calls} target calls)"
        )


@dataclass(frozen=True)
class TrimCheck:
    """The target's verdict on a local judge's trim of the returned program (:func:`trim_check`).

    Attributes:
        target: model string of the target LM.
        tokens: image tokens of the trimmed program.
        trimmed: the trimmed program's mean metric under the target, over :attr:`examples`.
        chosen: the program before the trim: its mean metric under the target (whole valset).
        lost: validation examples the program before the trim got and the trimmed one did not.
        examples: validation examples the trimmed program was scored on (fewer than the valset
            when its scoring stopped at a loss).
        calls: target calls this check made (0 when its scores were stored by an earlier run).
    """

    target: str
    tokens: int
    trimmed: float
    chosen: float
    lost: tuple[int, ...]
    examples: int
    calls: int

    @property
    def confirmed(self) -> bool:
        """True when the trimmed program loses no validation example under the target."""
        return not self.lost

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "tokens": self.tokens,
            "trimmed": self.trimmed,
            "chosen": self.chosen,
            "lost": list(self.lost),
            "examples": self.examples,
            "calls": self.calls,
            "confirmed": self.confirmed,
        }

    def summary(self) -> str:
        verdict = "loses no example" if self.confirmed else f"loses validation example(s) {list(self.lost)}"
        return (
            f"the target {self.target} scored the trimmed program ({self.tokens} tokens) {self.trimmed:.4f} on "
            f"{self.examples} validation examples against {self.chosen:.4f} before the trim: it {verdict} "
            f"({self.calls} target calls)"
        )


@dataclass(frozen=True)
class LocalPick:
    """What became of a local judge's pick over the baselines (see the module docstring).

    Attributes:
        pick: the candidate the selection rule picked (not a baseline).
        fallback: the best baseline, returned instead unless :attr:`returned`.
        reason: the policy, naming the local judge.
        check: the target's verdict (policy ``"confirm"``), else ``None`` (policy ``"hold"``).
    """

    pick: ParetoRow
    fallback: ParetoRow
    reason: str
    check: TargetCheck | None = None

    @property
    def returned(self) -> bool:
        """True when the pick is the returned program (the target confirmed it)."""
        return self.check is not None and self.check.confirmed

    def to_dict(self) -> dict[str, Any]:
        return {
            "pick": self.pick.trial,
            "pick_origin": self.pick.origin,
            "pick_score": self.pick.score,
            "pick_tokens": self.pick.tokens,
            "fallback": self.fallback.trial,
            "reason": self.reason,
            "check": None if self.check is None else self.check.to_dict(),
            "returned": self.returned,
        }

    def summary(self) -> str:
        p = self.pick
        head = f"trial {p.trial} ({p.origin}, {p.tokens} tokens, valset {p.score:.4f}), the local judge's pick"
        c = self.check
        if c is not None and c.confirmed:
            return f"confirmed: {head}, is returned: {c.summary()}"
        verdict = f"the baseline trial {self.fallback.trial} is returned"
        why = self.reason if c is None else c.summary()
        return f"held back: {head}, is not returned: {why}; {verdict}"


def target_check(
    study: optuna.Study,
    ctx: SearchContext,
    metric: Callable[..., Any],
    valset: Sequence[Any],
    target: Any,
    pick: ParetoRow,
    fallback: ParetoRow,
) -> TargetCheck:
    """``pick`` and ``fallback`` scored by ``target`` on the whole ``valset`` and compared by a
    seeded paired bootstrap (``ctx.config``: threads, retries, timeout, seed, ``tie_confidence``).

    The per-example scores are stored in ``study`` (:data:`TARGET_SCORES_ATTR` + the candidate
    key), so a resumed compile reads them instead of calling the target again.
    """
    from specprompt.search._select import p_better  # not at the top: _select imports this module

    cfg = ctx.config
    scorer = _target_scorer(ctx, metric, valset)
    every = [list(range(len(valset)))]
    a = _target_scores(study, ctx, scorer, target, pick, every)
    b = _target_scores(study, ctx, scorer, target, fallback, every)
    return TargetCheck(
        target=model_name(target),
        pick=sum(a.values()) / len(a),
        fallback=sum(b.values()) / len(b),
        p_better=p_better(a, b, cfg.seed),
        confidence=float(cfg.tie_confidence),
        examples=len(set(a) & set(b)),
        calls=scorer.calls,
    )


def trim_check(
    study: optuna.Study,
    ctx: SearchContext,
    metric: Callable[..., Any],
    valset: Sequence[Any],
    target: Any,
    trimmed: ParetoRow,
    chosen: ParetoRow,
) -> TrimCheck:
    """Whether ``target`` finds that ``trimmed`` loses no validation example ``chosen`` got.

    ``chosen`` is scored on the whole ``valset`` (or read back), then ``trimmed`` in chunks of
    :func:`~specprompt.search._trim.scoring_order` (the examples ``chosen`` got first), stopping at
    the first chunk where it loses one. Scores are stored as in :func:`target_check` (a trimmed
    program's partial scores too: a resumed compile reads them and calls nothing).
    """
    scorer = _target_scorer(ctx, metric, valset)
    reference = _target_scores(study, ctx, scorer, target, chosen, [list(range(len(valset)))])
    chunks = scoring_order(reference, max(CHUNK, scorer.num_threads))
    got = _target_scores(study, ctx, scorer, target, trimmed, chunks, reference)
    return TrimCheck(
        target=model_name(target),
        tokens=trimmed.tokens,
        trimmed=sum(got.values()) / len(got),
        chosen=sum(reference.values()) / len(reference),
        lost=loses_nothing(got, {i: reference[i] for i in got}),
        examples=len(got),
        calls=scorer.calls,
    )


def _target_scorer(ctx: SearchContext, metric: Callable[..., Any], valset: Sequence[Any]) -> Scorer:
    cfg = ctx.config
    return Scorer(metric, valset, cfg.num_threads, cfg.retry_policy(), seed=cfg.seed)


def _target_scores(
    study: optuna.Study,
    ctx: SearchContext,
    scorer: Scorer,
    target: Any,
    row: ParetoRow,
    chunks: Sequence[Sequence[int]],
    reference: Mapping[int, float] | None = None,
) -> dict[int, float]:
    """The target's scores of ``row``: read from ``study`` when stored, else scored chunk by chunk
    and stored after each chunk; with a ``reference``, scoring stops after the first chunk where
    ``row`` scores below it (the scores are then partial, and stored as such)."""
    attr = TARGET_SCORES_ATTR + row.key
    stored = study.user_attrs.get(attr)
    scores = {int(k): float(v) for k, v in stored.items()} if isinstance(stored, dict) else {}
    key, failures = "target:" + row.key, Failures()  # every example failing: per row, not per chunk
    with dspy.context(lm=remote_lm(target, ctx.config.call_timeout)):
        for part in chunks:
            todo = [i for i in part if i not in scores]
            if todo:  # a resumed compile scores only what an earlier run did not store
                try:
                    scores.update(scorer.score(key, _builder(ctx, row), todo, failures))
                except ScoringError:  # keep what was scored: a compile run again asks only for the rest
                    scores.update(scorer.known(key, todo))
                    raise
                finally:
                    study.set_user_attr(attr, {str(k): v for k, v in sorted(scores.items())})
            if reference is not None and loses_nothing({i: scores[i] for i in part}, {i: reference[i] for i in part}):
                break
    if failures.all_failed:  # not stored as scores: a compile run again scores them again
        kept = {i: v for i, v in scores.items() if i not in failures.ran}
        study.set_user_attr(attr, {str(k): v for k, v in sorted(kept.items())})
        scorer.check(key, failures, "candidate scored by the target")
    return scores


def _builder(ctx: SearchContext, row: ParetoRow) -> Callable[[], dspy.Module]:
    """Builds the program of ``row`` when called (what ``Scorer.score`` takes)."""
    return lambda: ctx.build(row_candidate(ctx, row))
