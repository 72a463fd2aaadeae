"""What a band search returns besides the program: the Pareto front, baselines and counts."""

from __future__ import annotations

import html
import json
import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from specprompt._pareto import baselines_table, natural_key, pareto_points, pareto_svg
from specprompt.errors import ConfigError
from specprompt.search._config import SearchConfig
from specprompt.search._record import TrialRecord
from specprompt.search._spend import SpendReport

if TYPE_CHECKING:
    import dspy
    import optuna

    from specprompt.search._calibration import Calibration
    from specprompt.search._departures import LocalPick
    from specprompt.search._screen import ScreenReport
    from specprompt.search._select import Confirmation
    from specprompt.search._trim import TrimReport

__all__ = [
    "GIVEN",
    "INTERVAL_LEVEL",
    "BaselineResult",
    "CompileResult",
    "ParetoRow",
    "best_row",
    "pareto",
    "rank",
    "sends_images",
]


#: Said of a calibration given to the compile (``BandOptimizer(calibration=...)``).
GIVEN = " (given: measured before this compile, which made no target call for it)"


@dataclass(frozen=True)
class ParetoRow:
    """One candidate of a finished search.

    Attributes:
        trial: the Optuna trial number that first showed this prompt.
        score: full-valset score when ``full`` is true, else the minibatch score.
        tokens: image tokens of all demo images of one prompt.
        full: whether ``score`` was measured on the whole valset.
        minibatch_score: the trial's own score (on the minibatch).
        selections: JSON, per image slot: source hash, choice, kept bands, crop, tokens.
        params: JSON of the trial's Optuna parameters (rebuilds the program).
        key: hash of the rendered prompt's images.
        origin: who proposed it (``baseline:<name>``, ``warm:<name>``, ``neighbour:<trial>``,
            ``sampler``).
    """

    trial: int
    score: float
    tokens: int
    full: bool
    minibatch_score: float
    selections: str
    params: str
    key: str
    origin: str = "sampler"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``selections`` and ``params`` decoded)."""
        return {
            "trial": self.trial,
            "score": self.score,
            "tokens": self.tokens,
            "full": self.full,
            "minibatch_score": self.minibatch_score,
            "selections": json.loads(self.selections),
            "params": json.loads(self.params),
            "key": self.key,
            "origin": self.origin,
        }

    def choices(self) -> str:
        """A compact one-line summary of the per-slot choices, demos in natural order (``demo2`` before
        ``demo10``)."""
        parts = []
        selections = json.loads(self.selections)
        for slot in sorted(selections, key=natural_key):  # stored key-sorted: demo10 before demo2
            entry = selections[slot]
            choice = entry.get("choice")
            text = choice if isinstance(choice, str) else ",".join(f"{k}={v}" for k, v in choice.items())
            if entry.get("crop"):
                text += "+crop"
            parts.append(f"{slot}:{text}")
        return " ".join(parts)


def rank(row: ParetoRow, *, minibatch: bool = False) -> tuple[float, int, int]:
    """The one ordering of candidates: higher score, then fewer tokens, then the earlier trial.

    ``minibatch=True`` ranks by the trial's own (minibatch) score instead of the best known one.
    """
    return (row.minibatch_score if minibatch else row.score, -row.tokens, -row.trial)


def best_row(rows: Sequence[ParetoRow], *, minibatch: bool = False) -> ParetoRow:
    """The first row by :func:`rank`.

    Raises:
        ValueError: ``rows`` is empty.
    """
    return max(rows, key=lambda r: rank(r, minibatch=minibatch))


def pareto(rows: Sequence[ParetoRow]) -> list[ParetoRow]:
    """Rows no other row beats on both score (higher) and tokens (lower), by ascending tokens.

    Of rows with equal score and tokens, the earliest trial stays.

    Example:
        >>> r = lambda n, s, t: ParetoRow(n, s, t, True, s, "{}", "{}", str(n))
        >>> [x.trial for x in pareto([r(0, 0.5, 10), r(1, 0.9, 30), r(2, 0.4, 20), r(3, 0.9, 30)])]
        [0, 1]
    """
    ordered = sorted(rows, key=lambda r: (r.tokens, -r.score, r.trial))
    front: list[ParetoRow] = []
    for row in ordered:
        if not front or row.score > front[-1].score:
            front.append(row)
    return front


@dataclass(frozen=True)
class BaselineResult:
    """A reference prompt scored with the same metric and valset as the search.

    Attributes:
        name: ``"full"``, ``"uniform"``, ``"sharpened"``, ``"low_detail"``, ``"text_only"`` or ``"random"``.
        score: mean metric on the full valset, or ``None`` when skipped.
        tokens: image tokens of its demo images, or ``None`` when skipped.
        fits: whether ``tokens`` is within the token budget.
        note: why it was skipped, or how it was made.
        program: the baseline program (not serialized).
        test_score: mean metric on the compile's ``testset`` (``None`` without one or when skipped).
        key: the prompt's candidate key (``None`` when skipped).
        candidate: the search candidate it shows (not serialized).
    """

    name: str
    score: float | None
    tokens: int | None
    fits: bool
    note: str = ""
    program: dspy.Module | None = field(default=None, repr=False, compare=False)
    test_score: float | None = None
    key: str | None = field(default=None, repr=False, compare=False)
    candidate: Any = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "score": self.score,
            "tokens": self.tokens,
            "fits": self.fits,
            "note": self.note,
            "test_score": self.test_score,
        }


def sends_images(row: ParetoRow) -> bool:
    """A baseline prompt that shows demo images, not the text-only demos (rules 4 and 7 of
    :mod:`specprompt.search._select`)."""
    return TrialRecord(origin=row.origin).is_baseline and row.tokens > 0


#: Level of the reported confidence intervals of the chosen program's valset and test scores
#: (:func:`~specprompt.search._select.score_interval`).
INTERVAL_LEVEL = 0.95


def _interval_text(interval: tuple[float, float] | None, n: int | None, method: str | None) -> str:
    """`` (n 30) [0.8865, 1.0000] 95% Wilson CI``; parts not known are left out.

    Example:
        >>> _interval_text((0.88649, 1.0), 30, "wilson"), _interval_text((0.7, 0.9), None, None)
        (' (n 30) [0.8865, 1.0000] 95% Wilson CI', ' [0.7000, 0.9000] 95% CI')
    """
    text = "" if n is None else f" (n {n})"
    if interval is not None:
        how = {"wilson": "Wilson ", "bootstrap": "bootstrap "}.get(method or "", "")
        text += f" [{interval[0]:.4f}, {interval[1]:.4f}] {round(100 * INTERVAL_LEVEL)}% {how}CI"
    return text


def _check_budget(budget: object) -> float:
    if not isinstance(budget, numbers.Real) or isinstance(budget, bool) or math.isnan(float(budget)) or budget < 0:
        raise ConfigError(f"budget must be a number >= 0, got {budget!r}")
    return float(budget)


@dataclass(frozen=True)
class CompileResult:
    """The outcome of :meth:`BandOptimizer.compile`, set once the search is over.

    Attributes:
        study: the Optuna study (trial user attributes are JSON).
        study_name: its name in the storage.
        config: the search options.
        best: the row of the returned program.
        front: the Pareto front over (score, tokens) of the feasible candidates.
        scorer_calls: (program, example) evaluations the band search ran in this compile
            (reused scores are free).
        n_trials: finished trials of the study that count toward ``config.n_trials``: the
            baselines and warm starts the search ran included; the trim's ``trim:<n>`` trials, the
            fallback and baselines added after the search (the random search's pick) are not.
        baselines: name -> :class:`BaselineResult` when baselines were run.
        baseline_calls: evaluations the baselines (random search included) ran in this compile;
            stored baseline results of a resumed study cost none.
        candidates: every feasible candidate the study scored (full-valset score where known,
            else minibatch), by trial; :meth:`program_for_budget` chooses among them.
        interval: 95% confidence interval of the returned program's full-valset score: Wilson's
            score interval for 0/1 scores, else a percentile bootstrap (``interval_method``; see
            :func:`~specprompt.search._select.score_interval`).
        interval_n: the valset examples behind ``best.score`` and ``interval``.
        interval_method: ``"wilson"`` or ``"bootstrap"``.
        test_score: the returned program's mean metric on the compile's ``testset``, if given.
        test_interval: 95% confidence interval of ``test_score``, computed as ``interval``.
        test_n: the testset examples behind ``test_score``.
        test_interval_method: ``"wilson"`` or ``"bootstrap"``.
        test_calls: evaluations the testset scoring ran.
        trim_calls: evaluations the trim's variants (``trim:<n>`` trials) ran in this compile; with
            ``baseline_calls`` they make the study's ``spend.baselines`` part.
        leader: the candidate with the best full-valset score at or above the baseline floor
            (``best`` itself unless a cheaper candidate tied with it).
        p_leader_better: paired-bootstrap probability that ``leader`` beats ``best`` (below
            ``config.tie_confidence`` by the rule).
        floor: the best full-valset score of a baseline candidate (``None`` without one).
        confirmation: the check that a search candidate picked over the baselines gains on
            valset halves it was not chosen on (:class:`~specprompt.search._select.Confirmation`),
            or ``None`` when it did not run (a baseline was picked, none was scored, or
            ``confirm_splits=0``).
        local_pick: what became of a local judge's pick over the baselines: held back, or
            returned once the target confirmed it
            (:class:`~specprompt.search._departures.LocalPick`; ``local_departures``), else ``None``.
        spend: billed calls and tokens, failures and the repay point (:class:`SpendReport`).
        calibration: the rank agreement of the scoring LM with the target LM, measured before
            the search (``calibrate=True`` with a ``target`` or a ``screen``), or given
            (``BandOptimizer(calibration=...)``), else ``None``.
        calibration_given: ``calibration`` was given, measured before this compile: its target
            calls were not spent by this compile.
        screening: what the screening judge of a multi-fidelity search did
            (:class:`~specprompt.search._screen.ScreenReport`; ``screen=`` given), else ``None``.
        trim: what the trim after the choice did (:class:`~specprompt.search._trim.TrimReport`:
            the variants tried and what became of each, image tokens before and after; ``best`` is the
            trimmed program), or ``None`` with ``trim=False``. ``leader``, ``p_leader_better``
            and ``floor`` describe the choice before the trim.
    """

    study: optuna.Study
    study_name: str
    config: SearchConfig
    best: ParetoRow
    front: tuple[ParetoRow, ...]
    scorer_calls: int
    n_trials: int
    baselines: Mapping[str, BaselineResult] | None = None
    baseline_calls: int = 0
    candidates: tuple[ParetoRow, ...] = ()
    interval: tuple[float, float] | None = None
    interval_n: int | None = None
    interval_method: str | None = None
    test_score: float | None = None
    test_interval: tuple[float, float] | None = None
    test_n: int | None = None
    test_interval_method: str | None = None
    test_calls: int = 0
    trim_calls: int = 0
    leader: ParetoRow | None = None
    p_leader_better: float = 0.0
    floor: float | None = None
    confirmation: Confirmation | None = None
    local_pick: LocalPick | None = None
    spend: SpendReport | None = None
    calibration: Calibration | None = None
    calibration_given: bool = False
    screening: ScreenReport | None = None
    trim: TrimReport | None = None
    _build: Callable[..., dspy.Module] | None = field(default=None, repr=False, compare=False)

    def pareto_front(self) -> list[ParetoRow]:
        """The Pareto rows, by ascending tokens."""
        return list(self.front)

    def program_for_budget(self, budget: float) -> dspy.Module:
        """The best scored candidate within ``budget`` tokens, rebuilt from its stored parameters
        (marked compiled, as the program ``compile`` returns).

        Every feasible candidate of the study is considered (not only the front): those with a
        full-valset score first, by :func:`rank`; when none of them fits, those scored only on
        the minibatch.

        Raises:
            ConfigError: ``budget`` is negative or not a number, or no scored candidate fits it
                (the message names the cheapest).
        """
        limit = _check_budget(budget)
        pool = self.candidates or self.front
        fitting = [r for r in pool if r.tokens <= limit]
        if not fitting:
            cheapest = min(pool, key=lambda r: (r.tokens, r.trial))
            raise ConfigError(
                f"no candidate fits budget {budget!r}: the cheapest scored candidate is trial "
                f"{cheapest.trial} with {cheapest.tokens} tokens"
            )
        full = [r for r in fitting if r.full]
        row = best_row(full or fitting)
        if self._build is None:  # pragma: no cover - always set by compile
            raise ConfigError("this result was loaded without its program builder")
        return self._build(json.loads(row.params), row.origin)

    @property
    def target_calls(self) -> dict[str, int]:
        """Calls this compile made to ``BandOptimizer(target=...)`` outside the search's scoring, by
        step: ``"calibration"`` (measured by this compile, not given), ``"pick check"`` and
        ``"trim check"`` (:mod:`~specprompt.search._departures`); empty when there were none.
        Not for a multi-fidelity search (``screen=``), whose target is the scoring LM
        (:attr:`scorer_calls`, :attr:`screening`, :attr:`calibration`).

        Example:
            >>> import optuna
            >>> row = ParetoRow(0, 1.0, 36, True, 1.0, "{}", "{}", "k", "baseline:uniform")
            >>> CompileResult(optuna.create_study(), "s", SearchConfig(), row, (row,), 0, 0).target_calls
            {}
        """
        calls: dict[str, int] = {}
        if self.calibration is not None and not self.calibration_given and self.screening is None:
            calls["calibration"] = self.calibration.target_calls
        if self.local_pick is not None and self.local_pick.check is not None:
            calls["pick check"] = self.local_pick.check.calls
        if self.trim is not None and self.trim.check is not None:
            calls["trim check"] = self.trim.check.calls
        return calls

    def to_dict(self) -> dict[str, Any]:
        return {
            "study_name": self.study_name,
            "target_calls": self.target_calls,
            "config": self.config.to_dict(),
            "best": self.best.to_dict(),
            "front": [r.to_dict() for r in self.front],
            "scorer_calls": self.scorer_calls,
            "baseline_calls": self.baseline_calls,
            "n_trials": self.n_trials,
            "baselines": None if self.baselines is None else {k: v.to_dict() for k, v in self.baselines.items()},
            "interval": None if self.interval is None else list(self.interval),
            "interval_level": INTERVAL_LEVEL,
            "interval_n": self.interval_n,
            "interval_method": self.interval_method,
            "test_score": self.test_score,
            "test_interval": None if self.test_interval is None else list(self.test_interval),
            "test_n": self.test_n,
            "test_interval_method": self.test_interval_method,
            "test_calls": self.test_calls,
            "trim_calls": self.trim_calls,
            "n_candidates": len(self.candidates),
            "leader": None if self.leader is None else self.leader.trial,
            "p_leader_better": self.p_leader_better,
            "floor": self.floor,
            "confirmation": None if self.confirmation is None else self.confirmation.to_dict(),
            "local_pick": None if self.local_pick is None else self.local_pick.to_dict(),
            "spend": None if self.spend is None else self.spend.to_dict(),
            "calibration": None if self.calibration is None else self.calibration.to_dict(),
            "calibration_given": self.calibration_given,
            "screening": None if self.screening is None else self.screening.to_dict(),
            "trim": None if self.trim is None else self.trim.to_dict(),
        }

    def to_json(self, indent: int | None = None) -> str:
        """JSON of :meth:`to_dict` (strict JSON: no NaN or infinity)."""
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True, allow_nan=False)

    def _table_rows(self) -> list[list[str]]:
        """The front by ascending tokens, and the returned program where it is not on the front."""
        rows = list(self.front)
        if all(r.trial != self.best.trial for r in rows):  # chosen by the valset score or a tie rule
            rows = sorted([*rows, self.best], key=lambda r: (r.tokens, -r.score))
        out = []
        for r in rows:
            mark = "*" if r.trial == self.best.trial else ""
            out.append([f"{r.trial}{mark}", f"{r.score:.4f}", "full" if r.full else "mini", str(r.tokens), r.choices()])
        return out

    def pareto_table(self) -> str:
        """A plain-text table of the front (``*`` marks the returned program, listed also when it is
        not on the front)."""
        header = ["trial", "score", "on", "tokens", "choices"]
        body = self._table_rows()
        widths = [max(len(x) for x in col) for col in zip(header, *body, strict=False)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in [header, *body]]
        lines.insert(1, "  ".join("-" * w for w in widths))
        lines.append("")
        lines.append(self.summary())
        if self.baselines:
            lines.append("")
            lines.append("baselines:")
            for b in self.baselines.values():
                score = "-" if b.score is None else f"{b.score:.4f}"
                tokens = "-" if b.tokens is None else str(b.tokens)
                test = "" if b.test_score is None else f"test {b.test_score:.4f} "
                lines.append(f"  {b.name:<10} score {score:<7} tokens {tokens:<7} {test}{b.note}".rstrip())
        if self.calibration is not None:
            lines.append("")
            lines.append(f"calibration{GIVEN if self.calibration_given else ''}:")
            lines.extend(f"  {line}" for line in self.calibration.summary().splitlines())
        if self.screening is not None:
            lines.append("")
            lines.append(self.screening.summary())
        if self.confirmation is not None:
            lines.append("")
            lines.append(self.confirmation.summary())
        if self.local_pick is not None:
            lines.append("")
            lines.append(self.local_pick.summary())
        if self.trim is not None:
            lines.append("")
            lines.append(self.trim.summary())
        return "\n".join(lines)

    def summary(self) -> str:
        """One line on the returned program: trial, origin, valset score with its interval, test score."""
        b = self.best
        text = f"chosen: trial {b.trial} ({b.origin}), {b.tokens} tokens, valset {b.score:.4f}"
        text += _interval_text(self.interval, self.interval_n, self.interval_method)
        if self.test_score is not None:
            text += f", test {self.test_score:.4f}"
            text += _interval_text(self.test_interval, self.test_n, self.test_interval_method)
        before = b.trial
        if self.trim is not None and self.trim.tokens_after < self.trim.tokens_before:
            before = self.trim.chosen
            origin = next((f", {r.origin}" for r in self.candidates if r.trial == before), "")
            text += (
                f"; trimmed from trial {before} ({self.trim.tokens_before} tokens{origin}), "
                "losing no valset example it got"
            )
            if self.trim.check is not None:
                text += " (the target agreed)"
        elif self.trim is not None and self.trim.check is not None:
            text += (
                f"; the local judge's trim to {self.trim.check.tokens} tokens "
                "lost validation examples under the target: not trimmed"
            )
        c = self.confirmation
        lp = self.local_pick
        if lp is not None and lp.returned:
            text += "; picked over the baselines by the local judge and confirmed by the target"
        elif lp is not None:
            text += (
                f"; trial {lp.pick.trial} was the local judge's pick over the baselines, "
                f"{'not confirmed by the target' if lp.check is not None else 'with no target to confirm it'}: "
                "the best baseline is returned"
            )
        elif self.leader is not None and self.leader.trial != before and c is not None and not c.departed:
            text += (
                f"; trial {self.leader.trial} led the valset, but choosing on half the valset gained "
                f"{100 * c.gain:+.1f} points over the best baseline on the other half: the baseline is returned"
            )
        elif self.leader is not None and self.leader.trial != before:
            pick = next((r for r in self.candidates if r.trial == before), b)
            why = "a baseline that sends images wins a tie" if sends_images(pick) else "the cheaper wins"
            text += (
                f"; ties with trial {self.leader.trial} ({self.leader.score:.4f}, {self.leader.tokens} tokens): "
                f"P(better) {self.p_leader_better:.2f} < {self.config.tie_confidence}, {why}"
            )
        return text

    def _repr_html_(self) -> str:
        """The notebook view: the summary, the Pareto plot, the front and the baselines (compact; the
        whole report is :class:`~specprompt.reports.CompileReport`)."""
        head = "".join(f"<th>{h}</th>" for h in ("trial", "score", "on", "tokens", "choices"))
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in self._table_rows()
        )
        title = html.escape(f"{self.study_name}: {self.n_trials} trials, {self.scorer_calls} scorer calls")
        data = self.to_dict()
        data["trials"] = [{"number": r.trial, "tokens": r.tokens, "score": r.score} for r in self.candidates]
        plot = pareto_svg(
            pareto_points(data),
            budget=self.config.token_budget,
            width=480,
            height=260,
            title=f"score vs tokens ({self.config.cost_model})",
        )
        return (
            f"<p>{html.escape(self.summary())}</p>{plot}"
            f"<table><caption>{title} (* the returned program)</caption><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table>"
            + baselines_table(data["baselines"], val_n=data.get("interval_n"), test_n=data.get("test_n"))
            + (
                ""
                if self.calibration is None
                else f"<pre>{html.escape(self.calibration.summary())}"
                + (html.escape(GIVEN) if self.calibration_given else "")
                + "</pre>"
            )
        )
