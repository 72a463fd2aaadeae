"""N-way K-shot episodes drawn from the task families, and random band/tile dropout masks.

Convention:
    In an episode of ``N`` classes, ``K`` demos and ``Q`` queries per class, images ``0 .. N*K-1``
    are the demos (class-major: class 0's K demos first) and the remaining ``N*Q`` the queries.
    Class ``c`` of an episode is a random value of the family (answers are shuffled per episode).
    Everything is drawn from the caller's :class:`numpy.random.Generator`.

Example:
    >>> import numpy as np
    >>> batch = sample_episodes(np.random.default_rng(0), ("colour",), 2, n_way=3, k_shot=2, n_query=1)
    >>> batch.images.shape, batch.labels[0].tolist()
    ((2, 9, 64, 64, 3), [0, 0, 1, 1, 2, 2, 0, 1, 2])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from specprompt.errors import ConfigError
from specprompt.training._families import AUX_ATTRIBUTES, get_family
from specprompt.training._photo_families import augment as augment_image
from specprompt.training._photo_families import get_photo_family, is_photo_family
from specprompt.vlm import BAND_NAMES, FINE_GRID, PATCHES, WORKING_SIZE, episode_text, fine_names, to_canvas

__all__ = ["EpisodeBatch", "fine_allowed", "fine_keep_masks", "keep_masks", "sample_episodes"]

_GENERIC = ("Answer like the examples.", "Which one?", "Label the last image.")
_AUX_NAMES = tuple(AUX_ATTRIBUTES)
_GRID = [((WORKING_SIZE >> lv) // p) ** 2 for lv, p in enumerate(PATCHES)]


@dataclass(frozen=True)
class EpisodeBatch:
    """A batch of episodes.

    Attributes:
        images: ``(E, M, 64, 64, 3)`` float32, ``M = N * (K + Q)``.
        labels: ``(E, M)`` class index per image.
        aux: ``(E, M, A)`` auxiliary labels (``-1`` where the attribute is not defined).
        texts: per episode, the instruction and answers as one string (may be empty).
        answers: per episode, the answer string of each class.
        families: per episode, the family name.
        n_way: N. k_shot: K. n_query: Q.
        detail: ``(E, M, C, C, 3)`` detail canvases for a ``canvas`` > 64 model, else ``None``
            (images of procedural families are left black: their fine levels are never created).
        sent: ``(E, M)`` side in px each image is sent at (64 for procedural families), or ``None``.
    """

    images: np.ndarray
    labels: np.ndarray
    aux: np.ndarray
    texts: tuple[str, ...]
    answers: tuple[tuple[str, ...], ...]
    families: tuple[str, ...]
    n_way: int
    k_shot: int
    n_query: int
    detail: np.ndarray | None = None
    sent: np.ndarray | None = None


def sample_episodes(
    rng: np.random.Generator,
    families: Sequence[str],
    n_episodes: int,
    *,
    n_way: int,
    k_shot: int,
    n_query: int,
    text_dropout: float = 0.0,
    generic_answers: float = 0.0,
    canvas: int = WORKING_SIZE,
    augment: float = 0.0,
) -> EpisodeBatch:
    """Draws ``n_episodes`` episodes, each from a family chosen uniformly among ``families``.

    Args:
        rng: the generator every draw comes from.
        families: family names to draw from.
        n_episodes: E.
        n_way: classes per episode (at most the family's number of values).
        k_shot: demos per class.
        n_query: queries per class.
        text_dropout: probability that the instruction is replaced by a generic one or dropped.
        generic_answers: probability that the answer strings are replaced by letters or numbers.
        canvas: the model's working resolution; above 64 the batch carries detail canvases.
        augment: probability that an image of a photo family is resampled or blurred
            (:func:`~specprompt.training._photo_families.augment`).

    Families may be procedural (:func:`get_family`, 64 px) or photo families
    (:mod:`specprompt.training._photo_families`, rendered at ``max(canvas, 256)`` px). With only
    procedural families and ``canvas=64`` the draws are exactly those of v1.

    Raises:
        ConfigError: a family has fewer than ``n_way`` values. UnknownNameError: unknown family.
    """
    fams = [get_photo_family(f) if is_photo_family(f) else get_family(f) for f in families]
    for f in fams:
        if len(f.values) < n_way:
            raise ConfigError(f"family {f.name!r} has {len(f.values)} values, fewer than n_way={n_way}")
    m = n_way * (k_shot + n_query)
    images = np.empty((n_episodes, m, WORKING_SIZE, WORKING_SIZE, 3), np.float32)
    fine = canvas > WORKING_SIZE
    detail = np.zeros((n_episodes, m, canvas, canvas, 3), np.float32) if fine else None
    sent = np.full((n_episodes, m), WORKING_SIZE, np.int64)
    labels = np.empty((n_episodes, m), np.int64)
    aux = np.full((n_episodes, m, len(_AUX_NAMES)), -1, np.int64)
    texts, answers, names = [], [], []
    for e in range(n_episodes):
        fam = fams[int(rng.integers(len(fams)))]
        values = rng.choice(len(fam.values), size=n_way, replace=False)
        order = [c for c in range(n_way) for _ in range(k_shot)] + [c for c in range(n_way) for _ in range(n_query)]
        photo_fam = get_photo_family(fam.name) if is_photo_family(fam.name) else None
        shared = photo_fam is not None and photo_fam.shared_scene > 0 and rng.random() < photo_fam.shared_scene
        scene_seed = int(rng.integers(2**63)) if shared else None
        for i, c in enumerate(order):
            labels[e, i] = c
            if photo_fam is not None:
                scene = None if scene_seed is None else np.random.default_rng(scene_seed)
                big = photo_fam.render(rng, int(values[c]), max(canvas, 256), scene)
                side = big.shape[0]
                if augment and rng.random() < augment:
                    big, side = augment_image(rng, big)
                images[e, i] = to_canvas(big)
                sent[e, i] = side
                if detail is not None:
                    detail[e, i] = to_canvas(big, canvas)
                continue
            img, a = get_family(fam.name).render(rng, int(values[c]))
            images[e, i] = img
            for j, name in enumerate(_AUX_NAMES):
                aux[e, i, j] = a.get(name, -1)
        ans = tuple(fam.values[int(v)] for v in values)
        if rng.random() < generic_answers:
            style = int(rng.integers(3))
            ans = tuple(("ABCDEFGHIJ"[c], str(c + 1), f"class {c}")[style] for c in range(n_way))
        r = rng.random()
        if r < text_dropout / 2:
            instruction = ""
        elif r < text_dropout:
            instruction = _GENERIC[int(rng.integers(len(_GENERIC)))]
        else:
            instruction = fam.instructions[int(rng.integers(len(fam.instructions)))]
        texts.append(episode_text(instruction, ans))
        answers.append(ans)
        names.append(fam.name)
    return EpisodeBatch(
        images,
        labels,
        aux,
        tuple(texts),
        tuple(answers),
        tuple(names),
        n_way,
        k_shot,
        n_query,
        detail,
        sent if fine else None,
    )


def fine_allowed(sent: np.ndarray, canvas: int, grid: int = FINE_GRID) -> list[np.ndarray]:
    """Per fine level, ``(N, grid^2)`` bool: the level is above the Nyquist of an image sent at
    ``sent`` px (the size rule of :func:`~specprompt.vlm.token_layout` for a square image)."""
    flat = np.asarray(sent).reshape(-1)
    out = []
    for j in range(len(fine_names(canvas))):
        ok = flat * 2 ** (j + 1) > canvas
        out.append(np.repeat(ok[:, None], grid * grid, axis=1))
    return out


def fine_keep_masks(
    rng: np.random.Generator,
    allowed: list[np.ndarray],
    *,
    dropout_prob: float,
    tile_dropout: float,
    band_dropout: float,
) -> list[np.ndarray]:
    """Random keep-masks of the fine levels, within ``allowed``: with probability ``dropout_prob``
    an image loses each fine level with probability ``band_dropout`` and each remaining token with a
    rate drawn in ``[0, tile_dropout]``."""
    if not allowed:
        return []
    n = allowed[0].shape[0]
    out = [a.copy() for a in allowed]
    for i in range(n):
        if rng.random() >= dropout_prob:
            continue
        rate = rng.uniform(0.0, tile_dropout)
        for k in out:
            if rng.random() < band_dropout:
                k[i] = False
            else:
                k[i] &= rng.random(k.shape[1]) >= rate
    return out


def keep_masks(
    rng: np.random.Generator,
    n_images: int,
    *,
    dropout_prob: float,
    tile_dropout: float,
    band_dropout: float,
) -> list[np.ndarray]:
    """Random token keep-masks for training, one ``(n_images, T_l)`` bool array per working band.

    Each image is left whole with probability ``1 - dropout_prob``; otherwise one of three
    corruptions is drawn: random tile dropout (odds 1/2; each token dropped with a rate drawn
    uniformly in ``[0, tile_dropout]``), coarse-first truncation (odds 1/4; keep a uniform fraction
    in ``[0.15, 1]`` of the tokens, coarse bands first) or band dropout (odds 1/4; each band dropped
    with probability ``band_dropout``). At least one token is always kept.
    """
    total = sum(_GRID)
    keep = np.ones((n_images, total), bool)
    band_of = np.repeat(np.arange(len(BAND_NAMES)), _GRID)
    coarse_rank = np.argsort(-band_of, kind="stable")  # residual first
    for i in range(n_images):
        if rng.random() >= dropout_prob:
            continue
        mode = int(rng.integers(4)) - 1
        if mode <= 0:
            keep[i] = rng.random(total) >= rng.uniform(0.0, tile_dropout)
        elif mode == 1:
            n = max(1, round(rng.uniform(0.15, 1.0) * total))
            order = coarse_rank.copy()
            cut_band = band_of[order[n - 1]]
            same = np.nonzero(band_of[order] == cut_band)[0]
            order[same] = order[rng.permutation(same)]  # partial band: random tiles
            keep[i] = False
            keep[i, order[:n]] = True
        else:
            dropped = rng.random(len(BAND_NAMES)) < band_dropout
            keep[i] = ~dropped[band_of]
        if not keep[i].any():
            keep[i, int(rng.integers(total))] = True
    return np.split(keep, np.cumsum(_GRID)[:-1], axis=1)
