"""The LM a command scores with: ``--lm local | nearest | pixel:<judge> | <provider>/<model>``.

Shared by ``specprompt compile``, ``demo`` and ``calibrate``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from specprompt.errors import ConfigError, EndpointError

if TYPE_CHECKING:
    import dspy

__all__ = ["API_KEY_ENVS", "make_lm", "missing_key_named"]

#: Environment variables read, in order, for ``--api-key`` when it is not given.
API_KEY_ENVS = ("SPECPROMPT_API_KEY", "OPENAI_API_KEY")


def make_lm(
    name: str,
    *,
    api_base: str | None = None,
    api_key: str | None = None,
    cost_model: str = "local",
    adapter: str | None = None,
    checkpoint: str | None = None,
    flag: str = "--lm",
) -> dspy.LM:
    """The LM that scores candidates: ``"local"`` (the shipped band VLM, offline; the default of
    ``specprompt compile``), ``"nearest"`` (offline), ``"pixel:<judge>"`` (offline) or a LiteLLM
    model string.

    Args:
        name: ``"local"`` (:func:`specprompt.vlm.local_lm`), ``"nearest"``
            (:func:`specprompt.scorers.nearest_lm`, pricing image parts with ``cost_model``),
            ``"pixel:<judge>"`` (:func:`specprompt.scorers.pixel_lm`, a pixel-only judge such as
            ``pixel:hist-hog`` that sees exactly the PNG a remote API would receive, standing in
            for a remote VLM) or ``"<provider>/<model>"`` such as ``"openai/gpt-4o-mini"``.
        api_base: the server URL of an OpenAI-compatible API (``http://127.0.0.1:8000/v1``).
        api_key: the API key; default ``$SPECPROMPT_API_KEY``, then ``$OPENAI_API_KEY``.
        cost_model: the cost model the nearest engine reports usage with.
        adapter: a FourierFT adapter directory from ``specprompt finetune`` (``"local"`` only).
        checkpoint: the local band VLM's checkpoint, a directory or a shipped name such as
            ``"band-vlm-v2"`` (``"local"`` only; default: ``band-vlm-v1``). Under the bare
            ``--cost-model local`` the search then prices that checkpoint's tokens
            (:meth:`specprompt.search.BandOptimizer.compile`).
        flag: the option that named the LM (``"--lm"``, ``"--target"``, ``"--local"``), for messages.

    Raises:
        ConfigError: a name that is none of these, an ``api_base`` or ``api_key`` given to a
            local scorer, an ``adapter`` or ``checkpoint`` given to another LM, or a bad adapter
            or checkpoint.

    Example:
        >>> make_lm("nearest").model
        'specprompt/nearest-v1'
        >>> make_lm("local").model.startswith("specprompt/local-")
        True
        >>> make_lm("pixel:lbp-dct").model
        'specprompt/pixel-lbp-dct-v1'
    """
    import dspy

    if adapter is not None and name != "local":
        raise ConfigError(f"--adapter is for {flag} local (the adapter adapts the local band VLM), got {flag} {name!r}")
    if checkpoint is not None and name != "local":
        raise ConfigError(f"--checkpoint is for {flag} local (a checkpoint of the local band VLM), got {flag} {name!r}")
    pixel = name.startswith("pixel:")
    for option, value in (("--api-base", api_base), ("--api-key", api_key)):
        if (name in ("local", "nearest") or pixel) and value is not None:
            raise ConfigError(f"{option} is for remote LMs; {flag} {name} runs locally")
    if pixel:
        from specprompt.scorers import PIXEL_JUDGES, pixel_lm

        judge = name.partition(":")[2]
        if judge not in PIXEL_JUDGES:
            raise ConfigError(f"unknown pixel judge in {flag} {name!r}; known: pixel:{', pixel:'.join(PIXEL_JUDGES)}")
        return pixel_lm(judge) if cost_model == "local" else pixel_lm(judge, cost_model=cost_model)
    if name == "local":
        from specprompt.scorers import local_lm

        return local_lm(checkpoint, adapter_path=adapter)
    if name == "nearest":
        from specprompt.scorers import nearest_lm

        return nearest_lm() if cost_model == "local" else nearest_lm(cost_model=cost_model)
    provider, sep, model = name.partition("/")
    if not sep or not provider or not model:
        raise ConfigError(
            f"{flag} must be 'local', 'nearest', 'pixel:<judge>' or '<provider>/<model>' "
            f"(e.g. 'openai/gpt-4o-mini'), got {name!r}"
        )
    key = api_key if api_key is not None else next((os.environ[v] for v in API_KEY_ENVS if os.environ.get(v)), None)
    kwargs: dict[str, Any] = {}
    if api_base is not None:
        kwargs["api_base"] = api_base
    if key is not None:
        kwargs["api_key"] = key
    return dspy.LM(name, **kwargs)


@contextmanager
def missing_key_named(lms: Mapping[str, str | None], key_flag: str = "--lm") -> Iterator[None]:
    """Turns a remote LM's refusal for want of an API key into an error naming the CLI's ways to give one.

    DSPy's message tells a Python user to pass ``api_key=`` to ``dspy.LM``; a CLI user gives
    ``--api-key`` (to the LM ``key_flag`` names) or sets :data:`API_KEY_ENVS`.

    Args:
        lms: the LM options of the command and their values (``{"--lm": "openai/gpt-4o", ...}``),
            to name the one refused (by its model; one with an ``--api-base`` URL is ``key_flag``'s).
        key_flag: the option ``--api-key`` and ``--api-base`` apply to.

    Raises:
        ConfigError: the endpoint refused a call because no API key was found.
    """
    try:
        yield
    except EndpointError as exc:
        if "no API key found" not in exc.last:
            raise
        flag = next((f for f, name in lms.items() if name is not None and name == exc.endpoint), key_flag)
        envs = " or ".join(f"${v}" for v in (*API_KEY_ENVS, *_provider_envs(exc.last)))
        how = f"pass --api-key or set {envs}" if flag == key_flag else f"set {envs} (--api-key is for {key_flag})"
        name = lms.get(flag) or exc.endpoint
        raise ConfigError(f"{flag} {name} needs an API key and none was found: {how}") from None


def _provider_envs(message: str) -> list[str]:
    """The provider's own key variables a refusal names (``Set ANTHROPIC_API_KEY in the environment``)."""
    found = re.search(r"Set ([A-Z0-9_]+(?: or [A-Z0-9_]+)*) in the environment", message)
    names = found.group(1).split(" or ") if found else []
    return [n for n in names if n not in API_KEY_ENVS]
