"""Registry of named cost models, and the name normalization shared by every lookup."""

from __future__ import annotations

import re
from collections.abc import Iterator

from specprompt._registry import Registry
from specprompt.cost._base import CostModel
from specprompt.errors import ConfigError, UnknownNameError

__all__ = ["available_cost_models", "get_cost_model", "normalize_name", "register_cost_model", "resolve_name"]

_MODELS: Registry[CostModel] = Registry("cost model")

#: LiteLLM provider prefixes that bill like a registered provider.
_PROVIDER_ALIASES = {"vertex_ai": "gemini", "google": "gemini"}
#: Providers tried, in order, for a bare name such as ``"gpt-4o"``.
_PROVIDERS = ("openai", "anthropic", "gemini")
#: Snapshot suffixes that do not change the image formula: ``-2024-08-06``, ``-20241022``, ``-latest``.
_SNAPSHOT = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8}|latest)$")


def normalize_name(name: str) -> str:
    """Lowercases ``name`` and turns a DSPy/LiteLLM ``provider/model`` prefix into ``provider:model``.

    Example:
        >>> normalize_name("OpenAI/GPT-4o")
        'openai:gpt-4o'
        >>> normalize_name("vertex_ai/gemini-2.5-pro")
        'gemini:gemini-2.5-pro'
    """
    if not isinstance(name, str):
        raise ConfigError(f"a cost model name must be a string, got {name!r}")
    key = name.strip().lower()
    if ":" not in key and "/" in key:
        provider, rest = key.split("/", 1)
        key = f"{provider}:{rest}"
    provider, sep, rest = key.partition(":")
    if sep and provider in _PROVIDER_ALIASES:
        key = f"{_PROVIDER_ALIASES[provider]}:{rest}"
    return key


def _candidates(key: str, depth: int = 0) -> Iterator[str]:
    yield key
    stripped = _SNAPSHOT.sub("", key)
    if stripped != key:
        yield stripped
    _, sep, rest = key.partition(":")
    if not sep:
        for p in _PROVIDERS:
            yield f"{p}:{key}"
            if stripped != key:
                yield f"{p}:{stripped}"
    elif depth < 2 and rest:
        # "openai/qwen2.5-vl" (an OpenAI-compatible server), "openrouter/openai/gpt-4o"
        yield from _candidates(normalize_name(rest), depth + 1)


def resolve_name(name: str) -> str:
    """The registered name that ``name`` refers to.

    Lookup order: the normalized name; the same without a snapshot suffix (``-2024-08-06``,
    ``-20241022``, ``-latest``); for a bare name, ``openai:``, ``anthropic:`` and ``gemini:``
    in front of it; for a prefixed name, the part after the prefix (so an OpenAI-compatible
    server's ``"openai/qwen2.5-vl"`` finds ``"qwen2.5-vl"``).

    Raises:
        UnknownNameError: nothing matches; the message lists the registered names.
        ConfigError: ``name`` is not a string.

    Example:
        >>> resolve_name("anthropic/claude-3-5-sonnet-20241022")
        'anthropic:claude-3-5-sonnet'
    """
    for key in _candidates(normalize_name(name)):
        if key in _MODELS:
            return key
    raise UnknownNameError("cost model", name, _MODELS.names())


def register_cost_model(name: str, model: CostModel, *, replace: bool = False) -> CostModel:
    """Registers ``model`` under ``name`` (normalized like lookups: ``"acme/vlm"`` -> ``"acme:vlm"``).

    Args:
        name: lowercase ``[a-z0-9_.:/+-]`` after normalization.
        model: a :class:`CostModel` instance, e.g. ``get_cost_model("openai:gpt-4o").with_overrides(base=0)``.
        replace: overwrite an existing entry instead of raising.

    Returns:
        ``model``.

    Raises:
        DuplicateNameError: the name is taken and ``replace`` is false.
        ConfigError: ``model`` is not a CostModel, or the name has characters outside the allowed set.
    """
    if not isinstance(model, CostModel):
        raise ConfigError(f"register_cost_model expects a CostModel instance, got {type(model).__name__}")
    _MODELS.register(normalize_name(name), model, replace=replace)
    return model


def get_cost_model(name: str) -> CostModel:
    """The cost model registered under ``name`` (aliases resolved as in :func:`resolve_name`).

    Example:
        >>> get_cost_model("openai/gpt-4o").tokens(1024, 1024, "high")
        765
    """
    return _MODELS.get(resolve_name(name))


def available_cost_models() -> list[str]:
    """Registered cost model names, sorted."""
    return _MODELS.names()
