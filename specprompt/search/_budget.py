"""Token accounting: what the demo images of one prompt cost under a cost model."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from specprompt.cost import get_cost_model, image_tokens, selection_tokens
from specprompt.spectral import Selection, Spectrum

__all__ = ["Pricer", "fits", "uniform_sizes"]


def fits(tokens: float, budget: float | None) -> bool:
    """True when ``tokens`` is within ``budget`` (``None`` = no limit)."""
    return budget is None or tokens <= budget


class Pricer:
    """Prices selections and plain image sizes under one cost model and ``detail``, with a cache.

    Args:
        cost_model: a :mod:`specprompt.cost` model name.
        detail: the ``detail`` the images are sent with; ``None`` is priced as ``"auto"``.

    Raises:
        UnknownNameError: unknown cost model.

    Example:
        >>> import numpy as np
        >>> from specprompt import decompose
        >>> spec = decompose(np.zeros((64, 64, 3), np.float32))
        >>> p = Pricer("local", None)
        >>> p.selection("h", spec, Selection.all()), p.selection("h", spec, Selection.none())
        (44, 0)
    """

    def __init__(self, cost_model: str, detail: str | None) -> None:
        get_cost_model(cost_model)  # fail early on an unknown name
        self.cost_model = cost_model
        self.detail = detail or "auto"
        self._cache: dict[tuple[str, str, str], int] = {}
        self._lock = threading.Lock()

    def selection(self, source_hash: str, spectrum: Spectrum, selection: Selection, detail: str | None = None) -> int:
        """Tokens of the image sent for ``selection`` (0 when it keeps nothing)."""
        d = detail or self.detail
        key = (source_hash, selection.to_json(), d)
        with self._lock:
            hit = self._cache.get(key)
        if hit is None:
            hit = int(selection_tokens(spectrum, selection, self.cost_model, detail=d))  # type: ignore[arg-type]
            with self._lock:
                self._cache[key] = hit
        return hit

    def image(self, width: int, height: int, detail: str | None = None) -> int:
        """Tokens of a plain ``width`` x ``height`` image."""
        return int(image_tokens(self.cost_model, width, height, detail=detail or self.detail))  # type: ignore[arg-type]


def _scaled(size: tuple[int, int], scale: float) -> tuple[int, int]:
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def uniform_sizes(
    sizes: Sequence[tuple[int, int]], pricer: Pricer, budget: float
) -> tuple[float, list[tuple[int, int]], int] | None:
    """The largest common scale factor whose resized images fit ``budget`` together.

    Scales are tried as ``L / longest`` for integer ``L`` (``longest`` = the longest side of any
    image): a bisection over ``L`` assuming fewer pixels never cost more tokens, then a downward
    scan from the bisection's answer in case the cost model is not monotone.

    Args:
        sizes: ``(width, height)`` of each image.
        pricer: prices every resized image.
        budget: the token budget of all images together.

    Returns:
        ``(scale, sizes, tokens)``, or ``None`` when even 1-pixel-wide images do not fit.

    Example:
        >>> uniform_sizes([(64, 64), (32, 16)], Pricer("local", None), 30)  # full size: 44 + 14 tokens
        (0.25, [(16, 16), (8, 4)], 16)
    """
    longest = max(max(s) for s in sizes)

    def total(n: int) -> int:
        return sum(pricer.image(*_scaled(s, n / longest)) for s in sizes)

    if total(longest) <= budget:
        return 1.0, list(sizes), total(longest)
    lo, hi = 1, longest  # invariant (under monotonicity): total(hi) > budget
    if total(lo) > budget:
        return None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if total(mid) <= budget:
            lo = mid
        else:
            hi = mid
    n = lo
    while n > 1 and total(n) > budget:
        n -= 1
    scale = n / longest
    return scale, [_scaled(s, scale) for s in sizes], total(n)
