"""The ``local`` cost model (the local VLM's tokenizer) and :func:`selection_tokens`."""

from __future__ import annotations

import numpy as np
import pytest

from specprompt import Selection, Spectrum, decompose
from specprompt.cost import LocalCostModel, cost_model_from_dict, get_cost_model, image_tokens, selection_tokens
from specprompt.errors import ConfigError, SelectionError, UnknownNameError
from specprompt.search._budget import Pricer, uniform_sizes
from specprompt.vlm import DEFAULT_CHECKPOINT, ModelConfig, read_config, resolve_checkpoint, shipped_checkpoints
from specprompt.vlm._tokenizer import MAX_TOKENS, image_token_count, token_layout

SIZES = [(1, 1), (7, 5), (16, 16), (17, 17), (32, 32), (33, 33), (64, 64), (100, 33), (640, 480), (17, 1000)]


@pytest.mark.parametrize("size", SIZES)
def test_local_is_the_tokenizer(size: tuple[int, int]) -> None:
    w, h = size
    expected = token_layout(w, h).n_tokens
    assert image_tokens("local", w, h) == expected == image_token_count(w, h)
    assert 0 < expected <= MAX_TOKENS == 44


@pytest.mark.parametrize(
    ("size", "per_band"),
    [
        # 64 x 64: L0 64x64 / 16, L1 32x32 / 8, L2 16x16 / 8, L3 8x8 / 4, residual 4x4 / 2
        ((64, 64), {"L0": 16, "L1": 16, "L2": 4, "L3": 4, "residual": 4}),
        # works as 64 wide x 48 high: L0 48x64 / 16 = 3 x 4, L1 24x32 / 8 = 3 x 4, the rest 2 x 2
        ((4000, 3000), {"L0": 12, "L1": 12, "L2": 4, "L3": 4, "residual": 4}),
        # 32 px has nothing above its own Nyquist, i.e. above half the working Nyquist: no L0
        ((32, 32), {"L0": 0, "L1": 16, "L2": 4, "L3": 4, "residual": 4}),
        # 16 px: content up to a quarter of the working Nyquist: L2, L3, residual
        ((16, 16), {"L0": 0, "L1": 0, "L2": 4, "L3": 4, "residual": 4}),
    ],
)
def test_hand_computed_sizes(size: tuple[int, int], per_band: dict[str, int]) -> None:
    assert token_layout(*size).per_band() == per_band
    assert LocalCostModel().tokens(*size) == sum(per_band.values())


def test_large_images_cost_the_same_as_their_working_size() -> None:
    m = LocalCostModel()
    assert m.tokens(64, 64) == m.tokens(256, 256) == m.tokens(5000, 5000) == 44
    assert m.tokens(640, 480) == m.tokens(64, 48) == 36
    assert m.tokens(480, 640) == 36


def test_local_ignores_detail_and_resizes_nothing() -> None:
    m = LocalCostModel()
    assert m.tokens(640, 480, "low") == m.tokens(640, 480, "high") == m.tokens(640, 480, "auto")
    assert m.resized(640, 480) == (640, 480)
    assert m.resized(4000, 3000, "low") == (4000, 3000)


def test_local_has_two_numbers_the_canvas_and_the_fine_grid() -> None:
    m = get_cost_model("local")
    assert isinstance(m, LocalCostModel)
    assert m.to_dict() == {"family": "local", "canvas": 64, "fine_grid": 4}
    assert cost_model_from_dict({"family": "local"}) == m == cost_model_from_dict(m.to_dict())
    v2 = get_cost_model("local:band-vlm-v2")
    assert m.with_overrides(canvas=256) == v2 == cost_model_from_dict({"family": "local", "canvas": 256})
    assert v2 != m and v2.tokens(256, 256) == 76 != m.tokens(256, 256)
    with pytest.raises(ConfigError, match="min_size"):
        m.with_overrides(min_size=1)
    with pytest.raises(ConfigError, match="levels"):
        cost_model_from_dict({"family": "local", "levels": 2})


@pytest.mark.parametrize("canvas", [100, 32, 1024, True, "256", 256.0, None])
def test_local_refuses_a_canvas_no_model_has(canvas: object) -> None:
    with pytest.raises(ConfigError, match=r"LocalCostModel\.canvas must be one of 64, 128, 256, 512"):
        LocalCostModel(canvas=canvas)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="canvas"):
        get_cost_model("local").with_overrides(canvas=canvas)


@pytest.mark.parametrize("checkpoint", shipped_checkpoints())
def test_every_shipped_checkpoint_has_the_cost_model_of_its_canvas(checkpoint: str) -> None:
    canvas = ModelConfig.from_dict(read_config(resolve_checkpoint(checkpoint))["model"]).canvas
    for name in (f"local:{checkpoint}", f"local/{checkpoint}", f"LOCAL:{checkpoint.upper()}"):
        assert get_cost_model(name) == LocalCostModel(canvas=canvas), name
    assert get_cost_model("local") == get_cost_model(f"local:{DEFAULT_CHECKPOINT.name}")


def test_local_canvases_are_the_models() -> None:
    from specprompt.cost._local import CANVASES as COST_CANVASES
    from specprompt.vlm._config import CANVASES

    assert COST_CANVASES == CANVASES


def test_uniform_downsampling_never_costs_more() -> None:
    # what uniform_sizes' bisection relies on: a smaller copy of the same shape costs no more
    m = LocalCostModel()
    for n in range(1, 300):
        assert m.tokens(n + 1, n + 1) >= m.tokens(n, n)
    for a, b in [(4, 3), (3, 4), (16, 9), (1, 5), (7, 5)]:
        for k in range(1, 120):
            assert m.tokens((k + 1) * a, (k + 1) * b) >= m.tokens(k * a, k * b)


def test_uniform_sizes_finds_the_largest_fitting_scale() -> None:
    pricer = Pricer("local", None)
    sizes = [(256, 256), (128, 128)]  # 44 + 44 tokens at full size
    assert uniform_sizes(sizes, pricer, 88) == (1.0, sizes, 88)
    scale, scaled, tokens = uniform_sizes(sizes, pricer, 60) or (0.0, [], 0)
    assert tokens <= 60
    brute = max(
        n
        for n in range(1, 257)
        if image_tokens("local", n, n) + image_tokens("local", max(1, round(n / 2)), max(1, round(n / 2))) <= 60
    )
    assert scale == brute / 256 and scaled[0] == (brute, brute)
    assert uniform_sizes(sizes, pricer, 7) is None  # even 1 px images cost 4 tokens each


@pytest.fixture
def spec() -> Spectrum:
    rng = np.random.default_rng(0)
    return decompose(rng.random((96, 160, 3), dtype=np.float32))  # bands L0 (96x160), L1, L2, L3, residual


@pytest.fixture
def spec256() -> Spectrum:
    return decompose(np.zeros((256, 256, 3), np.float32))  # L0 .. L3, residual 16 x 16


def test_selection_tokens_local_prices_the_sent_image(spec: Spectrum) -> None:
    assert selection_tokens(spec, None, "local") == image_tokens("local", 160, 96) == 36
    sel = Selection.of(["L1", "residual"], tiles={"L1": [(0, 0), (1, 2)]})
    h, w = spec.render_shape(sel, "minimal")
    assert (h, w) == (48, 80)  # L1 is kept, so the image sent is half the source size
    assert selection_tokens(spec, sel, "local") == image_tokens("local", 80, 48)
    assert selection_tokens(spec, sel, LocalCostModel(), detail="low") == selection_tokens(spec, sel, "local")


def test_selection_tokens_local_bands_of_a_256px_image(spec256: Spectrum) -> None:
    # the image sent: 256 px with L0, 128 px without it, ..., 16 px with the residual alone
    def tokens(bands: list[str], tiles: dict[str, list[tuple[int, int]]] | None = None) -> int:
        return selection_tokens(spec256, Selection.of(bands, tiles), "local")

    assert tokens(["residual"]) == image_tokens("local", 16, 16) == 12
    assert tokens(["L3", "residual"]) == image_tokens("local", 32, 32) == 28
    assert tokens(["L2", "L3", "residual"]) == 44 == tokens(["L0", "L1", "L2", "L3", "residual"])
    # bands finer than the 64 px working resolution are part of the pixels sent: not free
    assert tokens(["L0", "L1"]) == 44
    assert tokens(["L0", "residual"]) == 44 > tokens(["residual"])
    # tiles do not shrink the image sent
    assert tokens(["L3"], {"L3": [(0, 0)]}) == tokens(["L3"]) == 28


@pytest.mark.parametrize("scheme", ["laplacian", "dct", "fft", "wavelet"])
@pytest.mark.parametrize("size", [(48, 80), (96, 160), (512, 512)])
def test_selection_tokens_local_equal_pixels_equal_tokens(scheme: str, size: tuple[int, int]) -> None:
    # the local cost is the tokens of the image actually sent, whatever the scheme
    img = np.random.default_rng(1).random((*size, 3), dtype=np.float32)
    s = decompose(img, scheme)
    names = s.band_names
    selections = [
        None,
        Selection.of(names[:1]),
        Selection.of(names[-1:]),
        Selection.of(names[1:]),
        Selection.of(names[::2]),
    ]
    for sel in selections:
        sent = s.render(sel, "minimal")
        assert selection_tokens(s, sel, "local") == image_tokens("local", *sent.size), (scheme, sel)
    assert selection_tokens(s, None, "local") == image_tokens("local", size[1], size[0])


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
    with pytest.raises(SelectionError, match="99"):
        selection_tokens(spec, Selection.of(["L0"], tiles={"L0": [(99, 0)]}), "local")
    with pytest.raises(UnknownNameError):
        selection_tokens(spec, None, "nope")
    with pytest.raises(ConfigError, match="detail"):
        selection_tokens(spec, None, "local", detail="medium")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="overrides"):
        selection_tokens(spec, None, "anthropic", overrides=[("max_tokens", 1)])  # type: ignore[arg-type]


def test_importing_the_cost_models_does_not_import_torch() -> None:
    import subprocess
    import sys

    code = "import sys, specprompt.cost as c; c.image_tokens('local', 64, 64); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
