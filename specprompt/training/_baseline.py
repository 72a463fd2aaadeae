"""The nearest-neighbour band scorer: the baseline the band VLM must beat.

It sees exactly the tokens the model sees: the raw working-band coefficients of every created
token (dropped tokens are zeros), concatenated into one vector per image, and scores each answer
by the negative squared L2 distance from the query to the closest demo with that answer (1-NN).

Shape:
    ``support``: ``(S, F)``; ``labels``: ``(S,)`` in ``0 .. N-1``; ``query``: ``(Q, F)`` -> ``(Q, N)``.

Example:
    >>> import numpy as np
    >>> s = np.array([[0.0, 0.0], [1.0, 1.0]]); q = np.array([[0.9, 1.0]])
    >>> nearest_neighbour_scores(s, np.array([0, 1]), q, 2).argmax(-1).tolist()
    [1]
"""

from __future__ import annotations

import numpy as np

from specprompt.errors import ShapeError

__all__ = ["band_vectors", "nearest_neighbour_scores"]


def nearest_neighbour_scores(support: np.ndarray, labels: np.ndarray, query: np.ndarray, n_way: int) -> np.ndarray:
    """Per query and class, minus the smallest squared distance to that class's demos (-inf if none).

    Raises:
        ShapeError: mismatched shapes.
    """
    support, query, labels = np.asarray(support, np.float64), np.asarray(query, np.float64), np.asarray(labels)
    if support.ndim != 2 or query.ndim != 2 or support.shape[1] != query.shape[1]:
        raise ShapeError("support/query", (*support.shape, *query.shape), "(S, F) and (Q, F) with equal F")
    if labels.shape != (support.shape[0],):
        raise ShapeError("labels", labels.shape, f"({support.shape[0]},)")
    d = (query**2).sum(1)[:, None] - 2 * query @ support.T + (support**2).sum(1)[None, :]
    out = np.full((query.shape[0], n_way), -np.inf)
    for c in range(n_way):
        sel = labels == c
        if sel.any():
            out[:, c] = -d[:, sel].min(1)
    return out


def band_vectors(bands: list[np.ndarray], keep: list[np.ndarray], patches: tuple[int, ...]) -> np.ndarray:
    """Flattened raw coefficients of the kept tokens (dropped tokens zeroed), one row per image.

    Args:
        bands: per working band, ``(B, 3, h, w)`` coefficients.
        keep: per working band, ``(B, T)`` bool keep-mask in row-major token order.
        patches: patch side per band.
    """
    rows = []
    for band, k, p in zip(bands, keep, patches, strict=True):
        b, _, h, w = band.shape
        g = h // p
        m = k.reshape(b, g, 1, g, 1).repeat(p, 2).repeat(p, 4).reshape(b, 1, h, w)
        rows.append((band * m).reshape(b, -1))
    return np.concatenate(rows, axis=1)
