"""The two entry points: :func:`image_tokens` (one image size) and :func:`selection_tokens` (a Selection)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from specprompt.cost._base import CostModel, Detail, check_detail, check_size
from specprompt.cost._registry import get_cost_model
from specprompt.errors import ConfigError

if TYPE_CHECKING:
    from specprompt.spectral import Selection, Spectrum

__all__ = ["image_tokens", "selection_tokens"]


def _model(model: str | CostModel, overrides: Mapping[str, Any] | None) -> CostModel:
    resolved = model if isinstance(model, CostModel) else get_cost_model(model)
    if overrides is None:
        return resolved
    if not isinstance(overrides, Mapping):
        raise ConfigError(f"overrides must be a mapping of field -> value, got {overrides!r}")
    return resolved.with_overrides(**overrides)


def image_tokens(
    model: str | CostModel,
    width: int,
    height: int,
    *,
    detail: Detail = "auto",
    overrides: Mapping[str, Any] | None = None,
) -> int:
    """Prompt tokens a provider bills for one ``width`` x ``height`` image.

    Args:
        model: a registered name (``"openai:gpt-4o"``, ``"openai/gpt-4o"``, ``"anthropic"``,
            ``"qwen2.5-vl"``, ``"local"``, ``"local:band-vlm-v2"``, ...; case-insensitive, dated
            snapshots accepted) or a :class:`CostModel` instance.
        width: image width in pixels, a positive int.
        height: image height in pixels, a positive int.
        detail: OpenAI's ``detail`` option; ``"auto"`` is priced as ``"high"`` (an upper bound).
            Other providers ignore it.
        overrides: replaces some of the model's numbers for this call, e.g. ``{"base": 70}``.

    Returns:
        the token count.

    Raises:
        UnknownNameError: unknown model name (the message lists the known ones).
        ConfigError: a size that is not a positive int, an unknown ``detail``, a bad override.

    Example:
        >>> image_tokens("openai/gpt-4o", 1024, 1024, detail="high")
        765
        >>> image_tokens("openai:gpt-4o", 4096, 8192, detail="low")
        85
    """
    w, h = check_size(width, height)
    return _model(model, overrides).tokens(w, h, check_detail(detail))


def selection_tokens(
    spectrum: Spectrum,
    selection: Selection | None,
    model: str | CostModel,
    *,
    detail: Detail = "auto",
    overrides: Mapping[str, Any] | None = None,
) -> int:
    """Image tokens of the image sent for ``selection`` of ``spectrum``.

    This prices the minimal render, ``spectrum.render_shape(selection, "minimal")``, the image
    that would be sent, for every model: the same pixels cost the same whatever the
    decomposition scheme. For a :class:`LocalCostModel` (``"local"``, ``"local:band-vlm-v2"``)
    that is the local band VLM's token count of the sent image size (at most 44 tokens for
    ``band-vlm-v1``, 76 for ``band-vlm-v2``, whose fine tokens are priced where the size allows
    them, before its energy gate): kept bands finer than the checkpoint's working resolution are
    not free, since they are part of the pixels sent. A selection that keeps no band sends no
    image and costs 0.

    Raises:
        ConfigError: ``spectrum`` is not a :class:`~specprompt.Spectrum` (decompose the image
        first). SelectionError: ``selection`` does not fit ``spectrum``. UnknownNameError /
        ConfigError: as in :func:`image_tokens`.

    Example:
        >>> import numpy as np
        >>> from specprompt import Selection, decompose
        >>> spec = decompose(np.zeros((64, 64, 3), np.float32))
        >>> selection_tokens(spec, Selection.of(["L1", "residual"]), "openai:gpt-4o", detail="high")
        255
        >>> selection_tokens(spec, Selection.none(), "openai:gpt-4o")
        0
        >>> selection_tokens(spec, None, "local"), selection_tokens(spec, Selection.of(["residual"]), "local")
        (44, 12)
        >>> spec = decompose(np.zeros((256, 256, 3), np.float32))
        >>> v2 = "local:band-vlm-v2"  # drops L0: sends 128 px, no F0 token
        >>> selection_tokens(spec, None, v2), selection_tokens(spec, Selection.of(["L1"]), v2)
        (76, 60)
    """
    from specprompt.spectral import Spectrum

    if not isinstance(spectrum, Spectrum):
        raise ConfigError(
            f"selection_tokens expects a Spectrum (specprompt.decompose(image)), got {type(spectrum).__name__} "
            f"{spectrum!r:.60}; use image_tokens(model, width, height) to price a whole image"
        )
    cost = _model(model, overrides)
    check_detail(detail)
    if not spectrum.kept(selection):
        return 0
    h, w = spectrum.render_shape(selection, "minimal")
    return cost.tokens(w, h, detail)
