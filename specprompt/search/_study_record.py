"""What a specprompt study was made with, kept as short named study user attributes.

``optuna-dashboard`` shows the first 1,024 characters of an attribute's JSON, and the ``optuna``
CLI prints attributes on one line; so the record is split into attributes of a few hundred
characters each, named by what they hold:

========================  =========================================================================
study user attribute      holds
========================  =========================================================================
``specprompt``            ``{"format": 2, "strategy": "band", "valset": <examples>, "scored_with":
                          {...}}``: the study is specprompt's, which search it holds (``band``; or
                          ``random``, the random-search baseline: study ``<name>-random`` of the
                          compile whose band search is study ``<name>``), and what its scores are
                          scores of (program, valset, metric, LM, ...:
                          :func:`~specprompt.search._identity.scoring_identity`, compared when the
                          study is resumed)
``specprompt:config``     the config fields that name the study (:data:`NAMING_FIELDS`): what a
                          trial measures (budget, cost model, scheme, minibatch, seed, ...)
``specprompt:search``     the other config fields: how the search runs (trials, finalists, trim, ...)
``specprompt:remote``     the config fields of remote scoring (:data:`REMOTE_FIELDS`: timeouts,
                          retries, spending caps)
``specprompt:slots``      the demo image slots the search chooses bands for
========================  =========================================================================

Convention:
    Studies made before the split (format 1) hold everything in one ``specprompt`` attribute:
    ``{"config": {...}, "slots": [...], "valset": n, "scored_with": {...}}``. They are read as
    they are and kept in that format when their record is written again, so the versions that
    made them still open them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from specprompt.search._identity import NAMING_FIELDS

if TYPE_CHECKING:
    import optuna

__all__ = ["RECORD_ATTR", "REMOTE_FIELDS", "STRATEGIES", "StudyRecord"]

#: The study user attribute that marks a study as specprompt's.
RECORD_ATTR = "specprompt"
_CONFIG = RECORD_ATTR + ":config"
_SEARCH = RECORD_ATTR + ":search"
_REMOTE = RECORD_ATTR + ":remote"
_SLOTS = RECORD_ATTR + ":slots"

#: Config fields of remote scoring, kept in ``specprompt:remote``.
REMOTE_FIELDS = (
    "call_timeout",
    "retries",
    "retry_backoff",
    "endpoint_failures",
    "max_calls",
    "max_tokens",
    "price_per_million_tokens",
    "max_cost",
)

#: The format this version writes; 1 is the single ``specprompt`` attribute of earlier versions.
FORMAT = 2

#: What a study holds: the band search of a compile, or its random-search baseline.
STRATEGIES = ("band", "random")


@dataclass(frozen=True)
class StudyRecord:
    """The record of one study: its config, demo slots, valset size and scoring identity.

    Attributes:
        config: :meth:`SearchConfig.to_dict` of the compile that made the study.
        slots: the ids of the demo image slots searched.
        valset: how many validation examples score it.
        scored_with: what its scores are scores of (``None``: not recorded by the version that
            made it).
        strategy: one of :data:`STRATEGIES` (``None``: not recorded, format 1).
        format: 2, or 1 for a study made before the split (written back the same way).

    Example:
        >>> rec = StudyRecord({"seed": 0, "n_trials": 5, "retries": 4}, ("p/demo0/image",), 6, {"metric": "m"})
        >>> sorted(rec.to_attrs())
        ['specprompt', 'specprompt:config', 'specprompt:remote', 'specprompt:search', 'specprompt:slots']
        >>> StudyRecord.from_attrs(rec.to_attrs()) == rec
        True
        >>> old = {"specprompt": {"config": {"seed": 0}, "slots": ["p/demo0/image"], "valset": 6}}
        >>> StudyRecord.from_attrs(old)  # doctest: +NORMALIZE_WHITESPACE
        StudyRecord(config={'seed': 0}, slots=('p/demo0/image',), valset=6, scored_with=None, strategy=None,
                    format=1)
    """

    config: Mapping[str, Any]
    slots: tuple[str, ...]
    valset: int
    scored_with: Mapping[str, str] | None = None
    strategy: str | None = "band"
    format: int = FORMAT

    def to_attrs(self) -> dict[str, Any]:
        """The study user attributes (JSON) of this record, in its format."""
        scored = {} if self.scored_with is None else {"scored_with": dict(self.scored_with)}
        if self.format == 1:
            one = {"config": dict(self.config), "slots": list(self.slots), "valset": self.valset}
            return {RECORD_ATTR: one | scored}
        groups: dict[str, dict[str, Any]] = {_CONFIG: {}, _SEARCH: {}, _REMOTE: {}}
        for name, value in self.config.items():
            group = _CONFIG if name in NAMING_FIELDS else _REMOTE if name in REMOTE_FIELDS else _SEARCH
            groups[group][name] = value
        head = {"format": FORMAT, "strategy": self.strategy, "valset": self.valset} | scored
        return {RECORD_ATTR: head, **groups, _SLOTS: list(self.slots)}

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any]) -> StudyRecord | None:
        """The record in a study's user attributes, of either format; ``None`` when there is none
        (a study not made by specprompt)."""
        head = attrs.get(RECORD_ATTR)
        if not isinstance(head, Mapping):
            return None
        scored = head.get("scored_with")
        scored_with = dict(scored) if isinstance(scored, Mapping) else None
        valset = int(head.get("valset") or 0)
        if "format" not in head:  # one attribute, as versions before the split wrote it
            config, slots = head.get("config"), head.get("slots")
            return cls(
                dict(config) if isinstance(config, Mapping) else {},
                _names(slots),
                valset,
                scored_with,
                strategy=None,
                format=1,
            )
        config = {}
        for group in (_CONFIG, _SEARCH, _REMOTE):
            part = attrs.get(group)
            config.update(part if isinstance(part, Mapping) else {})
        strategy = head.get("strategy")
        return cls(
            config,
            _names(attrs.get(_SLOTS)),
            valset,
            scored_with,
            strategy=strategy if isinstance(strategy, str) else None,
            format=int(head["format"]),
        )

    @classmethod
    def read(cls, study: optuna.Study) -> StudyRecord | None:
        """The record of ``study`` (``None``: it has none)."""
        return cls.from_attrs(study.user_attrs)

    def write(self, study: optuna.Study) -> None:
        """Stores the record as user attributes of ``study``."""
        for name, value in self.to_attrs().items():
            study.set_user_attr(name, value)

    def replace(self, **changes: Any) -> StudyRecord:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)


def _names(value: object) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, Sequence) and not isinstance(value, str) else ()
