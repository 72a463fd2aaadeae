"""SearchConfig: validation of every field, JSON round trip, option checks."""

from __future__ import annotations

from typing import Any

import pytest

from specprompt import ConfigError
from specprompt.search import SearchConfig


def test_defaults_round_trip_and_options() -> None:
    cfg = SearchConfig(token_budget=12.5, scheme="dct", scheme_options={"groups": [1, 3, 64]}, detail="low")
    assert cfg.scheme_options == (("groups", (1, 3, 64)),)
    assert cfg.options == {"groups": (1, 3, 64)}
    assert SearchConfig.from_dict(cfg.to_dict()) == cfg
    assert '"groups":[1,3,64]' in cfg.to_json()
    assert cfg.replace(n_trials=3).n_trials == 3
    assert SearchConfig(scheme_options=[("levels", 2)]).options == {"levels": 2}
    assert SearchConfig(run_dir=__import__("pathlib").Path("/tmp/x")).run_dir == "/tmp/x"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("token_budget", -1, "token_budget must be a number >= 0"),
        ("token_budget", True, "token_budget must be a number >= 0"),
        ("token_budget", float("inf"), "token_budget must be a number >= 0"),
        ("token_budget", "10", "token_budget must be a number >= 0"),
        ("cost_model", "", "cost_model must be a non-empty string"),
        ("scheme", 3, "scheme must be a non-empty string"),
        ("scheme_options", "levels=3", "scheme_options must be a mapping"),
        ("scheme_options", {3: 1}, "scheme_options keys must be strings"),
        ("detail", "medium", "detail must be None or one of auto, low, high"),
        ("n_trials", 0, "n_trials must be an int >= 1"),
        ("n_trials", 2.0, "n_trials must be an int >= 1"),
        ("minibatch_size", 0, "minibatch_size must be an int >= 1"),
        ("full_eval_every", False, "full_eval_every must be an int >= 1"),
        ("num_threads", 0, "num_threads must be an int >= 1 or None"),
        ("k_demos", -1, "k_demos must be an int >= 0 or None"),
        ("seed", -3, "seed must be an int >= 0"),
        ("multi_objective", 1, "multi_objective must be True or False"),
        ("progress", "yes", "progress must be True or False"),
        ("study_name", "", "study_name must be a non-empty string or None"),
        ("run_dir", 3, "run_dir must be a path or None"),
        ("crop_fraction", 1.0, r"crop_fraction must be a number in \(0, 1\)"),
        ("local_search", 1.5, r"local_search must be a number in \[0, 1\]"),
        ("local_search", -0.1, r"local_search must be a number in \[0, 1\]"),
        ("local_search", True, r"local_search must be a number in \[0, 1\]"),
        ("local_search", "half", r"local_search must be a number in \[0, 1\]"),
        ("crop_fraction", True, r"crop_fraction must be a number in \(0, 1\)"),
        ("timeout", 0, "timeout must be a number of seconds > 0 or None"),
        ("timeout", float("inf"), "timeout must be a number of seconds > 0 or None"),
        ("timeout", "60", "timeout must be a number of seconds > 0 or None"),
        ("finalists", 0, "finalists must be an int >= 1"),
        ("tie_confidence", 1.0, r"tie_confidence must be a number in \[0.5, 1\)"),
        ("tie_confidence", 0.4, r"tie_confidence must be a number in \[0.5, 1\)"),
        ("tie_confidence", True, r"tie_confidence must be a number in \[0.5, 1\)"),
    ],
)
def test_bad_values_name_the_field_and_value(field: str, value: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SearchConfig(**{field: value})


def test_unknown_options() -> None:
    with pytest.raises(ConfigError, match=r"unknown search option\(s\) \['budget'\]; allowed: .*token_budget"):
        SearchConfig.from_dict({"budget": 3})
    with pytest.raises(ConfigError, match="unknown search option"):
        SearchConfig().replace(trials=3)
    with pytest.raises(ConfigError, match="search options must be a mapping"):
        SearchConfig.from_dict([("n_trials", 3)])  # type: ignore[arg-type]
