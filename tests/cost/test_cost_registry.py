"""Cost-model names: registration, lookup, aliases and errors."""

from __future__ import annotations

import pytest

from specprompt.cost import (
    AnthropicCostModel,
    OpenAITileCostModel,
    available_cost_models,
    get_cost_model,
    image_tokens,
    register_cost_model,
    resolve_name,
)
from specprompt.errors import ConfigError, DuplicateNameError, UnknownNameError


@pytest.mark.parametrize(
    ("alias", "name"),
    [
        ("openai:gpt-4o", "openai:gpt-4o"),
        ("openai/gpt-4o", "openai:gpt-4o"),
        ("OpenAI/GPT-4o", "openai:gpt-4o"),
        ("  openai:gpt-4o ", "openai:gpt-4o"),
        ("gpt-4o", "openai:gpt-4o"),
        ("openai/gpt-4o-2024-11-20", "openai:gpt-4o"),
        ("openai/gpt-4o-2024-08-06", "openai:gpt-4o-2024-08-06"),
        ("openai/gpt-4o-mini-2024-07-18", "openai:gpt-4o-mini"),
        ("openai/gpt-4.1-mini-2025-04-14", "openai:gpt-4.1-mini"),
        ("chatgpt-4o-latest", "openai:chatgpt-4o-latest"),
        ("anthropic/claude-3-5-sonnet-20241022", "anthropic:claude-3-5-sonnet"),
        ("anthropic/claude-3-7-sonnet-latest", "anthropic:claude-3-7-sonnet"),
        ("claude-sonnet-4-20250514", "anthropic:claude-sonnet-4"),
        ("gemini/gemini-2.5-flash", "gemini:gemini-2.5-flash"),
        ("vertex_ai/gemini-2.5-pro", "gemini:gemini-2.5-pro"),
        ("Qwen2.5-VL", "qwen2.5-vl"),
        ("openai/qwen2.5-vl", "qwen2.5-vl"),  # an OpenAI-compatible server
        ("openrouter/openai/gpt-4o", "openai:gpt-4o"),
        ("LOCAL", "local"),
    ],
)
def test_aliases(alias: str, name: str) -> None:
    assert resolve_name(alias) == name
    assert get_cost_model(alias) is get_cost_model(name)


def test_known_names_include_every_family_example() -> None:
    names = set(available_cost_models())
    assert {"openai:gpt-4o", "openai:o4-mini", "anthropic", "gemini:gemini-2.0-flash", "qwen2-vl", "local"} <= names
    assert available_cost_models() == sorted(names)


def test_unknown_name_lists_known_names() -> None:
    with pytest.raises(UnknownNameError, match="openai:gpt-4o") as exc:
        image_tokens("openai:gpt-9", 10, 10)
    assert isinstance(exc.value, KeyError)
    assert "'openai:gpt-9'" in str(exc.value)
    with pytest.raises(UnknownNameError):
        get_cost_model("mistral/pixtral")
    with pytest.raises(ConfigError, match="string"):
        get_cost_model(None)  # type: ignore[arg-type]


@pytest.mark.usefixtures("clean_registry")
def test_register_custom_model_and_duplicates() -> None:
    custom = get_cost_model("openai:gpt-4o").with_overrides(base=1, tile=2)
    assert register_cost_model("acme/vlm", custom) is custom
    assert resolve_name("ACME/vlm") == "acme:vlm"
    assert image_tokens("acme:vlm", 1024, 1024, detail="high") == 9
    with pytest.raises(DuplicateNameError, match="acme:vlm"):
        register_cost_model("acme:vlm", AnthropicCostModel())
    with pytest.raises(DuplicateNameError, match="openai:gpt-4o"):
        register_cost_model("openai/gpt-4o", OpenAITileCostModel())
    register_cost_model("acme:vlm", AnthropicCostModel(), replace=True)
    assert image_tokens("acme:vlm", 1000, 1000) == 1334


@pytest.mark.usefixtures("clean_registry")
def test_register_errors() -> None:
    with pytest.raises(ConfigError, match="CostModel"):
        register_cost_model("x", OpenAITileCostModel)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="invalid"):
        register_cost_model("bad name!", OpenAITileCostModel())
    with pytest.raises(ConfigError, match="string"):
        register_cost_model(3, OpenAITileCostModel())  # type: ignore[arg-type]


def test_overrides_leave_the_registry_alone() -> None:
    assert image_tokens("openai:gpt-4o", 512, 512, overrides={"base": 0, "tile": 1}) == 1
    assert image_tokens("openai:gpt-4o", 512, 512) == 255
    with pytest.raises(ConfigError, match="nope"):
        image_tokens("openai:gpt-4o", 512, 512, overrides={"nope": 1})
