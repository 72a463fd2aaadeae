"""Contract every registered cost model satisfies (run against each registered name)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from specprompt.cost import CostModel, available_cost_models, cost_model_from_dict, get_cost_model, image_tokens
from specprompt.errors import ConfigError, UnknownNameError

NAMES = available_cost_models()
SIZES = [(1, 1), (1, 37), (37, 1), (200, 200), (512, 512), (513, 300), (1024, 768), (1800, 2400), (4096, 8192)]


def _ok(model: CostModel, w: int, h: int) -> bool:
    return not (model.family == "qwen-vl" and max(w, h) / min(w, h) > 200)


def test_every_family_is_registered() -> None:
    families = {get_cost_model(n).family for n in NAMES}
    assert families == {"openai-tile", "openai-patch", "anthropic", "gemini", "qwen-vl", "local"}


@pytest.mark.parametrize("name", NAMES)
def test_tokens_and_resized_are_positive_ints(name: str) -> None:
    model = get_cost_model(name)
    for w, h in SIZES:
        if not _ok(model, w, h):
            continue
        for detail in ("auto", "low", "high"):
            t = model.tokens(w, h, detail)
            rw, rh = model.resized(w, h, detail)
            assert type(t) is int and t > 0
            assert type(rw) is int and type(rh) is int and rw > 0 and rh > 0
            assert image_tokens(name, w, h, detail=detail) == t


@pytest.mark.parametrize("name", NAMES)
def test_auto_is_priced_as_high(name: str) -> None:
    model = get_cost_model(name)
    for w, h in SIZES:
        if _ok(model, w, h):
            assert model.tokens(w, h, "auto") == model.tokens(w, h, "high")
            assert model.tokens(w, h, "low") <= model.tokens(w, h, "high")


@pytest.mark.parametrize("name", NAMES)
def test_numpy_ints_are_accepted(name: str) -> None:
    assert image_tokens(name, np.int64(300), np.int32(200)) == image_tokens(name, 300, 200)


@pytest.mark.parametrize("name", NAMES)
def test_dict_round_trip(name: str) -> None:
    model = get_cost_model(name)
    data = model.to_dict()
    assert data["family"] == model.family
    assert cost_model_from_dict(data) == model


@pytest.mark.parametrize("name", NAMES)
def test_every_field_has_help(name: str) -> None:
    model = get_cost_model(name)
    helps = model.fields_help()
    assert set(helps) == {f.name for f in dataclasses.fields(model)}
    assert all(helps.values())


@pytest.mark.parametrize("name", NAMES)
def test_with_overrides_returns_a_new_equal_valued_model(name: str) -> None:
    model = get_cost_model(name)
    fields = dataclasses.fields(model)
    same = {fields[0].name: getattr(model, fields[0].name)} if fields else {}  # "local" has no numbers
    copy = model.with_overrides(**same)
    assert copy == model and copy is not model
    assert get_cost_model(name) is model  # the registry is untouched
    with pytest.raises(ConfigError, match="no_such_field"):
        model.with_overrides(no_such_field=1)


@pytest.mark.parametrize("bad", [0, -3, 1.5, "10", True, None, 10.0])
def test_bad_sizes_raise_config_error_naming_the_value(bad: object) -> None:
    for name in ("openai:gpt-4o", "anthropic", "gemini", "qwen2-vl", "local", "openai:o4-mini"):
        with pytest.raises(ConfigError, match="width") as exc:
            image_tokens(name, bad, 10)  # type: ignore[arg-type]
        assert repr(bad) in str(exc.value)
        with pytest.raises(ConfigError, match="height"):
            image_tokens(name, 10, bad)  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match="width"):
            get_cost_model(name).resized(bad, 10)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["ok.png", None, np.zeros((8, 8, 3), np.float32)])
def test_selection_tokens_needs_a_spectrum(bad: object) -> None:
    from specprompt.cost import selection_tokens

    with pytest.raises(
        ConfigError, match=r"selection_tokens expects a Spectrum \(specprompt\.decompose\(image\)\), got"
    ):
        selection_tokens(bad, None, "openai:gpt-4o")  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["medium", "HIGH", "", None, 1])
def test_bad_detail_raises_config_error(bad: object) -> None:
    with pytest.raises(ConfigError, match="'auto', 'low', 'high'"):
        image_tokens("openai:gpt-4o", 10, 10, detail=bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="detail"):
        get_cost_model("anthropic").resized(10, 10, bad)  # type: ignore[arg-type]


def test_from_dict_errors() -> None:
    with pytest.raises(ConfigError, match="family"):
        cost_model_from_dict({"base": 1})
    with pytest.raises(ConfigError, match="family"):
        cost_model_from_dict([("family", "gemini")])  # type: ignore[arg-type]
    with pytest.raises(UnknownNameError, match="openai-tile"):
        cost_model_from_dict({"family": "nope"})
    with pytest.raises(ConfigError, match="bogus"):
        cost_model_from_dict({"family": "gemini", "bogus": 1})
    with pytest.raises(ConfigError, match="tokens_per_tile"):
        cost_model_from_dict({"family": "gemini", "tokens_per_tile": 0})
