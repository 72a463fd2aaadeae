"""The ``local`` cost model and :func:`selection_tokens`."""

from __future__ import annotations

import numpy as np
import pytest

from specprompt import Selection, Spectrum, decompose
from specprompt.cost import LocalCostModel, image_tokens, selection_tokens
from specprompt.errors import ConfigError, SelectionError, UnknownNameError


@pytest.mark.parametrize("shape", [(1, 1), (7, 5), (16, 16), (17, 17), (33, 100), (100, 33), (300, 200), (17, 1000)])
def test_local_equals_spectrum_token_count(shape: tuple[int, int]) -> None:
    h, w = shape
    spec = decompose(np.zeros((h, w, 3), np.float32))
    assert image_tokens("local", w, h) == spec.token_count()
    for levels in (0, 1, 3):
        spec = decompose(np.zeros((h, w, 1), np.float32), levels=levels)
        assert LocalCostModel(levels=levels).tokens(w, h) == spec.token_count()


def test_local_is_monotone_and_ignores_detail() -> None:
    m = LocalCostModel()
    for w in range(1, 600, 29):
        for h in range(1, 600, 31):
            assert m.tokens(w + 29, h) >= m.tokens(w, h)
            assert m.tokens(w, h + 31) >= m.tokens(w, h)
    assert m.tokens(640, 480, "low") == m.tokens(640, 480, "high")
    assert m.resized(640, 480) == (640, 480)


def test_local_config_errors() -> None:
    with pytest.raises(ConfigError, match="min_size"):
        LocalCostModel(min_size=0)
    with pytest.raises(ConfigError, match="levels"):
        LocalCostModel(levels=-1)


@pytest.fixture
def spec() -> Spectrum:
    rng = np.random.default_rng(0)
    return decompose(rng.random((96, 160, 3), dtype=np.float32))  # bands L0 (96x160), L1, L2, residual


def test_selection_tokens_local_counts_kept_tiles(spec: Spectrum) -> None:
    assert selection_tokens(spec, None, "local") == spec.token_count()
    sel = Selection.of(["L1", "residual"], tiles={"L1": [(0, 0), (1, 2)]})
    assert selection_tokens(spec, sel, "local") == 2 + spec.band("residual").n_tiles
    assert selection_tokens(spec, sel, LocalCostModel(min_size=1)) == spec.token_count(sel)


def test_selection_tokens_prices_the_minimal_render(spec: Spectrum) -> None:
    assert selection_tokens(spec, None, "openai:gpt-4o", detail="high") == image_tokens(
        "openai:gpt-4o", 160, 96, detail="high"
    )
    sel = Selection.of(["L2", "residual"])
    h, w = spec.render_shape(sel, "minimal")
    assert (h, w) == (24, 40)
    for name in ("openai:gpt-4o", "anthropic", "gemini", "qwen2-vl", "openai:gpt-4.1-mini"):
        assert selection_tokens(spec, sel, name) == image_tokens(name, w, h)
    assert selection_tokens(spec, sel, "anthropic") == 2  # ceil(40 * 24 / 750)
    assert selection_tokens(spec, sel, "openai:gpt-4o", detail="low") == 85
    assert selection_tokens(spec, sel, "openai:gpt-4o", overrides={"base": 0}) == 170


def test_selection_tokens_zero_bands_cost_nothing(spec: Spectrum) -> None:
    for name in ("openai:gpt-4o", "anthropic", "local"):
        assert selection_tokens(spec, Selection.none(), name) == 0
        assert selection_tokens(spec, Selection.of(["L0"], tiles={"L0": []}), name) == 0


def test_selection_tokens_errors(spec: Spectrum) -> None:
    with pytest.raises(SelectionError, match="L9"):
        selection_tokens(spec, Selection.of(["L9"]), "openai:gpt-4o")
    with pytest.raises(SelectionError, match="L9"):
        selection_tokens(spec, Selection.of(["L9"]), "local")
    with pytest.raises(UnknownNameError):
        selection_tokens(spec, None, "nope")
    with pytest.raises(ConfigError, match="detail"):
        selection_tokens(spec, None, "local", detail="medium")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="overrides"):
        selection_tokens(spec, None, "anthropic", overrides=[("max_tokens", 1)])  # type: ignore[arg-type]
