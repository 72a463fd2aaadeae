"""The record a band-search trial keeps in Optuna storage: one typed object, keys declared once.

Every trial attribute specprompt writes or reads goes through :class:`TrialRecord` (user
attributes) or :class:`FullScore` (the study attribute of a full-valset score); no other module
spells an attribute name.

================  ==================================================================  ===========
user attribute    meaning                                                             written by
================  ==================================================================  ===========
``origin``        ``baseline:<name>``, ``warm:<name>``, ``neighbour:<trial>``,        enqueue /
                  ``sampler`` (see :mod:`specprompt.search._sampler`), ``trim:<n>``   sampler /
                  (:mod:`specprompt.search._trim`)                                    trim
``worker``        ``{"host", "pid"}`` of the process that ran the trial               objective
``key``           hash of the rendered prompt (:meth:`SearchContext.key`)             objective
``tokens``        image tokens of the prompt                                          objective
``feasible``      ``tokens`` within the budget and, where the label rule binds, an      objective
                  image of every label: every ``constraint`` value <= 0
``constraint``    Optuna's constraints (``trial.set_constraint``): ``{"tokens": tokens  objective
                  - budget}`` with a budget, ``"labels"``: labels left without an
                  image, where the rule is on (neither: absent;
                  :func:`~specprompt.search._objective.constraints`)
``selections``    per image slot: source, choice, kept bands, crop, tokens            objective
``example_scores``  minibatch valset index (a string) -> score                        objective
``score``         the mean of ``example_scores`` (complete trials only)               objective
``reused_from``   the trial whose scores this one reuses (same prompt)                objective
``spend``         billed calls and tokens of the trial                                objective
``transport_error``  why the trial FAILed in transport (never scored)                 objective
``interrupted``   the trial's process was found dead on this host (then FAILed; a     next run
                  trial FAILed by Optuna's heartbeat has no reason of its own)
``retry_of``      the FAILed trial whose candidate this one runs again (Optuna's      requeue
                  ``failed_trial``/``retry_history`` system attributes too)
``surplus``       the shared study was full when the trial started: it FAILed         objective
                  unscored (an enqueued candidate is queued again)
``screen_score``  the screening judge's minibatch score (multi-fidelity search)       objective
``fidelity``      ``"screen"`` (screened out, PRUNED) or ``"target"`` (the target     objective
                  scored it); absent without screening (:mod:`~._screen`)
================  ==================================================================  ===========

Study attributes: :data:`FULL_PREFIX`, :data:`PERIODIC_PREFIX`, :data:`TRIM_SCORED` and
:data:`OUTSIDE_SPEND`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from specprompt.search._spend import Spend, StudySpend

if TYPE_CHECKING:
    import optuna

__all__ = [
    "FALLBACK_ORIGIN",
    "FULL_PREFIX",
    "OUTSIDE_SPEND",
    "PERIODIC_PREFIX",
    "TRIM_ORIGIN",
    "TRIM_SCORED",
    "FullScore",
    "TrialRecord",
    "read_outside_spend",
    "trim_scored",
    "write_outside_spend",
    "write_record",
]

#: Study user-attribute prefix of full-valset scores, keyed by candidate key.
FULL_PREFIX = "full:"
#: Study user-attribute prefix of the periodic full-valset evaluations: ``periodic:<n>`` is the
#: key of the candidate chosen after ``n`` finished trials (``None``: none was left to score).
PERIODIC_PREFIX = "periodic:"

#: Origin prefix of a trial the trim added after the choice (``trim:<n>``,
#: :mod:`specprompt.search._trim`); such trials do not count toward ``n_trials``.
TRIM_ORIGIN = "trim:"
#: Study user attribute: keys of the candidates whose full-valset score the trim
#: (:mod:`specprompt.search._trim`) computed first. They are never in the selection pool, so a
#: resumed compile chooses the program the first run chose before it trimmed.
TRIM_SCORED = "trim:scored"

#: Study user attribute: what the scorer of the study's compiles billed that no trial's ``spend``
#: record holds (baselines, the random search, full-valset scores), a running total over its
#: compiles as a :meth:`~specprompt.search._spend.StudySpend.to_dict`; kept by
#: :class:`~specprompt.search._guards.SpendCap`.
OUTSIDE_SPEND = "spend:outside"


#: Origin prefix of the prompt added when no trial of the search was feasible.
FALLBACK_ORIGIN = "fallback:"


@dataclass(frozen=True)
class TrialRecord:
    """What specprompt knows about one trial; every field is optional until written.

    ``to_attrs`` leaves out ``None`` fields, so a writer that knows only the origin writes only
    the origin. Field names are the attribute names.

    Example:
        >>> rec = TrialRecord(origin="warm:uniform", tokens=12)
        >>> rec.to_attrs()
        {'origin': 'warm:uniform', 'tokens': 12}
        >>> TrialRecord.from_attrs(rec.to_attrs()) == rec
        True
    """

    origin: str | None = None
    worker: Mapping[str, Any] | None = None
    key: str | None = None
    tokens: int | None = None
    feasible: bool | None = None
    constraint: Mapping[str, float] | None = None
    selections: Mapping[str, Any] | None = None
    example_scores: Mapping[int, float] | None = None
    score: float | None = None
    reused_from: int | None = None
    spend: Mapping[str, int] | None = None
    transport_error: str | None = None
    interrupted: str | None = None
    retry_of: int | None = None
    surplus: str | None = None
    screen_score: float | None = None
    fidelity: str | None = None

    def to_attrs(self) -> dict[str, Any]:
        """JSON user attributes (``None`` fields left out; example indices as strings)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if f.name == "constraint":
                value = {str(k): float(v) for k, v in value.items()}
            elif f.name == "example_scores":
                value = {str(i): float(s) for i, s in value.items()}
            elif isinstance(value, Mapping):
                value = dict(value)
            out[f.name] = value
        return out

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any]) -> TrialRecord:
        """The record of stored user attributes (unknown attributes are ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        data: dict[str, Any] = {k: v for k, v in attrs.items() if k in names}
        if data.get("constraint") is not None:
            limits = data["constraint"]  # a list: ``[tokens - budget]``, as older versions stored it
            pairs = limits.items() if isinstance(limits, Mapping) else zip(("tokens",), limits, strict=False)
            data["constraint"] = {str(k): float(v) for k, v in pairs}
        if data.get("example_scores") is not None:
            data["example_scores"] = {int(i): float(s) for i, s in data["example_scores"].items()}
        for name in ("score", "screen_score"):
            if data.get(name) is not None:
                data[name] = float(data[name])
        return cls(**data)

    @classmethod
    def from_trial(cls, trial: optuna.trial.FrozenTrial | optuna.Trial) -> TrialRecord:
        """The record of a trial (frozen or running)."""
        return cls.from_attrs(trial.user_attrs)

    @property
    def billed(self) -> Spend:
        """The trial's ``spend`` record (none: nothing)."""
        return Spend.from_dict(self.spend)

    @property
    def is_baseline(self) -> bool:
        """Whether the trial shows a baseline prompt (origin ``baseline:<name>``)."""
        return bool(self.origin and self.origin.startswith("baseline:"))

    @property
    def label_rule_binds(self) -> bool:
        """Whether the trial must keep an image of every label to be a candidate.

        Baselines (``baseline:<name>``) and the prompt added when no trial was feasible
        (``fallback:<name>``) are exempt; the search's own picks (``sampler``, ``warm:<name>``,
        ``neighbour:<trial>``) are bound. The one home of this rule: the objective applies it
        when it scores a trial, :func:`~specprompt.search._study.collect_rows` when it reads
        stored trials back.

        Example:
            >>> [TrialRecord(origin=o).label_rule_binds for o in ("sampler", "baseline:uniform", "fallback:full")]
            [True, False, False]
        """
        return not (self.is_baseline or (self.origin or "").startswith(FALLBACK_ORIGIN))


def write_record(trial: optuna.Trial, record: TrialRecord) -> None:
    """Writes the non-``None`` fields of ``record`` as user attributes of a running trial."""
    for name, value in record.to_attrs().items():
        trial.set_user_attr(name, value)


@dataclass(frozen=True)
class FullScore:
    """A candidate's full-valset score, kept as the study attribute ``full:<key>``.

    Attributes:
        score: the mean over the valset.
        trial: the trial that first showed the candidate (``None`` when none did).
        example_scores: valset index -> score (the paired bootstrap needs them).
    """

    score: float
    trial: int | None
    example_scores: Mapping[int, float]

    def to_attrs(self) -> dict[str, Any]:
        return {
            "score": float(self.score),
            "trial": self.trial,
            "example_scores": {str(i): float(s) for i, s in self.example_scores.items()},
        }

    @classmethod
    def read(cls, study: optuna.Study, key: str) -> FullScore | None:
        """The stored full-valset score of candidate ``key``, if any."""
        entry = study.user_attrs.get(FULL_PREFIX + key)
        if not isinstance(entry, Mapping) or "score" not in entry:
            return None
        scores = entry.get("example_scores") or {}
        trial = entry.get("trial")
        return cls(
            float(entry["score"]), None if trial is None else int(trial), {int(i): float(s) for i, s in scores.items()}
        )

    @classmethod
    def read_all(cls, study: optuna.Study) -> dict[str, FullScore]:
        """Every stored full-valset score of the study, by candidate key."""
        out: dict[str, FullScore] = {}
        for name in study.user_attrs:
            if name.startswith(FULL_PREFIX):
                entry = cls.read(study, name[len(FULL_PREFIX) :])
                if entry is not None:
                    out[name[len(FULL_PREFIX) :]] = entry
        return out

    def write(self, study: optuna.Study, key: str) -> None:
        study.set_user_attr(FULL_PREFIX + key, self.to_attrs())


def trim_scored(study: optuna.Study, add: str | None = None) -> frozenset[str]:
    """The keys of :data:`TRIM_SCORED`, after adding ``add`` (if given and new)."""
    keys = study.user_attrs.get(TRIM_SCORED)
    known = [str(k) for k in keys] if isinstance(keys, list) else []
    if add is not None and add not in known:
        known.append(add)
        study.set_user_attr(TRIM_SCORED, known)
    return frozenset(known)


def read_outside_spend(study: optuna.Study) -> StudySpend:
    """The study's :data:`OUTSIDE_SPEND` (none recorded: nothing)."""
    return StudySpend.from_dict(study.user_attrs.get(OUTSIDE_SPEND))


def write_outside_spend(study: optuna.Study, spend: StudySpend) -> None:
    """Sets the study's :data:`OUTSIDE_SPEND`."""
    study.set_user_attr(OUTSIDE_SPEND, spend.to_dict())
