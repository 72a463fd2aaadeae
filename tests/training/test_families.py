"""Procedural task families and episode sampling."""

from __future__ import annotations

import numpy as np
import pytest

from specprompt import ConfigError, UnknownNameError
from specprompt.training import (
    AUX_ATTRIBUTES,
    HELD_OUT_FAMILIES,
    TRAIN_FAMILIES,
    available_families,
    get_family,
    keep_masks,
    sample_episodes,
)


@pytest.mark.parametrize("name", sorted(set(TRAIN_FAMILIES) | set(HELD_OUT_FAMILIES)))
def test_every_family_renders_valid_seeded_images(name: str) -> None:
    fam = get_family(name)
    assert len(fam.values) >= 5 and fam.instructions
    a, aux = fam.render(np.random.default_rng(3), 1)
    b, _ = fam.render(np.random.default_rng(3), 1)
    c, _ = fam.render(np.random.default_rng(4), 1)
    assert a.shape == (64, 64, 3) and a.dtype == np.float32
    assert 0.0 <= a.min() and a.max() <= 1.0
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert set(aux) <= set(AUX_ATTRIBUTES)
    for attr, v in aux.items():
        assert 0 <= v < AUX_ATTRIBUTES[attr]


def test_the_deciding_attribute_is_in_the_aux_labels() -> None:
    for name in TRAIN_FAMILIES:
        _, aux = get_family(name).render(np.random.default_rng(0), 2)
        assert aux[name] == 2
    for name in HELD_OUT_FAMILIES:  # held-out attributes have no head
        assert name not in AUX_ATTRIBUTES


def test_family_errors() -> None:
    assert available_families() == sorted(available_families())
    with pytest.raises(UnknownNameError, match="known: "):
        get_family("nope")
    with pytest.raises(ConfigError, match="values 0"):
        get_family("colour").render(np.random.default_rng(0), 99)


def test_episode_layout_and_determinism() -> None:
    a = sample_episodes(np.random.default_rng(5), ("shape", "count"), 3, n_way=5, k_shot=2, n_query=1)
    b = sample_episodes(np.random.default_rng(5), ("shape", "count"), 3, n_way=5, k_shot=2, n_query=1)
    assert a.images.shape == (3, 15, 64, 64, 3)
    assert a.labels[0].tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 0, 1, 2, 3, 4]
    assert np.array_equal(a.images, b.images) and a.texts == b.texts
    assert all(len(set(ans)) == 5 for ans in a.answers)
    with pytest.raises(ConfigError, match="fewer than n_way"):
        sample_episodes(np.random.default_rng(0), ("size",), 1, n_way=6, k_shot=1, n_query=1)


def test_keep_masks_always_keep_a_token_and_follow_the_rates() -> None:
    rng = np.random.default_rng(0)
    masks = keep_masks(rng, 400, dropout_prob=1.0, tile_dropout=1.0, band_dropout=1.0)
    assert [m.shape for m in masks] == [(400, 16), (400, 16), (400, 4), (400, 4), (400, 4)]
    kept = np.concatenate(masks, axis=1)
    assert kept.any(axis=1).all()
    assert 0.2 < kept.mean() < 0.8
    none = np.concatenate(keep_masks(rng, 50, dropout_prob=0.0, tile_dropout=1.0, band_dropout=1.0), axis=1)
    assert none.all()
