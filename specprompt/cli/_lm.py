"""The LM a command scores with: ``--lm local | nearest | pixel:<judge> | <provider>/<model>``.

Shared by ``specprompt compile``, ``demo`` and ``calibrate``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from specprompt.errors import ConfigError

if TYPE_CHECKING:
    import dspy

__all__ = ["API_KEY_ENVS", "make_lm"]

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

    Raises:
        ConfigError: a name that is none of these, an ``api_base`` given to a local scorer, an
            ``adapter`` or ``checkpoint`` given to another LM, or a bad adapter or checkpoint.

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
        raise ConfigError(f"--adapter is for --lm local (the adapter adapts the local band VLM), got --lm {name!r}")
    if checkpoint is not None and name != "local":
        raise ConfigError(f"--checkpoint is for --lm local (a checkpoint of the local band VLM), got --lm {name!r}")
    pixel = name.startswith("pixel:")
    if (name in ("local", "nearest") or pixel) and api_base is not None:
        raise ConfigError(f"--api-base is for remote LMs; --lm {name} runs locally")
    if pixel:
        from specprompt.scorers import PIXEL_JUDGES, pixel_lm

        judge = name.partition(":")[2]
        if judge not in PIXEL_JUDGES:
            raise ConfigError(f"unknown pixel judge in --lm {name!r}; known: pixel:{', pixel:'.join(PIXEL_JUDGES)}")
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
            "--lm must be 'local', 'nearest', 'pixel:<judge>' or '<provider>/<model>' "
            f"(e.g. 'openai/gpt-4o-mini'), got {name!r}"
        )
    key = api_key if api_key is not None else next((os.environ[v] for v in API_KEY_ENVS if os.environ.get(v)), None)
    kwargs: dict[str, Any] = {}
    if api_base is not None:
        kwargs["api_base"] = api_base
    if key is not None:
        kwargs["api_key"] = key
    return dspy.LM(name, **kwargs)
