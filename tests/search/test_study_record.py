"""The study record: short named attributes that optuna-dashboard shows whole; studies of the old format still load."""

from __future__ import annotations

import json

from specprompt.search import NAMING_FIELDS, SearchConfig
from specprompt.search._study_record import REMOTE_FIELDS, StudyRecord

#: optuna-dashboard cuts an attribute's JSON after this many characters (MAX_ATTR_LENGTH in its serializer).
DASHBOARD_LIMIT = 1024


def test_every_config_field_is_in_one_named_attribute_and_comes_back() -> None:
    config = SearchConfig(
        token_budget=60, cost_model="openai:gpt-4o", max_cost=2.0, price_per_million_tokens=1.5, run_dir="x" * 200
    ).to_dict()
    rec = StudyRecord(config, ("a/demo0/image", "a/demo1/image"), 12, {"metric": "exact_match", "lm": "m"})
    attrs = rec.to_attrs()
    head = {"format": 2, "strategy": "band", "valset": 12, "scored_with": {"metric": "exact_match", "lm": "m"}}
    assert attrs["specprompt"] == head
    assert set(attrs["specprompt:config"]) == set(NAMING_FIELDS)
    assert set(attrs["specprompt:remote"]) == set(REMOTE_FIELDS)
    assert set(attrs["specprompt:search"]) == set(config) - set(NAMING_FIELDS) - set(REMOTE_FIELDS)
    assert attrs["specprompt:slots"] == ["a/demo0/image", "a/demo1/image"]
    assert all(len(json.dumps(v)) <= DASHBOARD_LIMIT for v in attrs.values())
    back = StudyRecord.from_attrs(json.loads(json.dumps(attrs)))  # through JSON, as storages keep it
    assert back == rec and back is not None and SearchConfig.from_dict(back.config) == SearchConfig.from_dict(config)


def test_the_format_of_earlier_versions_is_read_and_written_back_as_it_was() -> None:
    old = {
        "specprompt": {
            "config": SearchConfig(token_budget=36).to_dict(),
            "slots": ["self/demo0/image"],
            "valset": 6,
            "scored_with": {"metric": "exact_match"},
        }
    }
    rec = StudyRecord.from_attrs(old)
    assert rec is not None and rec.format == 1 and rec.valset == 6 and rec.slots == ("self/demo0/image",)
    assert rec.config["token_budget"] == 36 and rec.scored_with == {"metric": "exact_match"}
    assert rec.to_attrs() == old
    updated = rec.replace(scored_with={"metric": "exact_match", "lm": "m"}).to_attrs()
    assert list(updated) == ["specprompt"] and updated["specprompt"]["scored_with"]["lm"] == "m"
    no_identity = {"specprompt": {k: v for k, v in old["specprompt"].items() if k != "scored_with"}}
    assert StudyRecord.from_attrs(no_identity) == rec.replace(scored_with=None)
    assert StudyRecord.from_attrs({}) is None and StudyRecord.from_attrs({"specprompt": "text"}) is None
