"""The ``local:band-vlm-v2`` cost model (256 px canvas): the 64 px bands' tokens plus the fine
levels' tokens that the size allows, priced by the image sent whatever the scheme."""

from __future__ import annotations

import numpy as np
import pytest

from specprompt import Selection, decompose
from specprompt.cost import LocalCostModel, get_cost_model, image_tokens, selection_tokens
from specprompt.errors import SelectionError
from specprompt.search._budget import Pricer, uniform_sizes
from specprompt.vlm import ModelConfig, prepare_image, read_config, resolve_checkpoint
from specprompt.vlm._tokenizer import image_token_count, token_layout

V2 = "local:band-vlm-v2"
BANDS = {"L0": 16, "L1": 16, "L2": 4, "L3": 4, "residual": 4}


@pytest.mark.parametrize(
    ("size", "fine"),
    [
        # up to 64 px the canvas adds nothing: the source has no content above the 64 px bands
        ((64, 64), {"F0": 0, "F1": 0}),
        ((17, 40), {"F0": 0, "F1": 0}),
        # F1 (0.25 .. 0.5 of the 256 px Nyquist) needs content above 64 px; F0 above 128 px
        ((100, 100), {"F0": 0, "F1": 16}),
        ((128, 128), {"F0": 0, "F1": 16}),
        ((129, 129), {"F0": 16, "F1": 16}),
        ((256, 256), {"F0": 16, "F1": 16}),
        # works as 256 x 192: F0 192 x 256 / 64 = 3 x 4, F1 96 x 128 / 32 = 3 x 4; the bands 3 x 4 too
        ((4000, 3000), {"F0": 12, "F1": 12}),
    ],
)
def test_hand_computed_fine_tokens(size: tuple[int, int], fine: dict[str, int]) -> None:
    per_band = token_layout(*size, canvas=256).per_band()
    assert {k: per_band[k] for k in fine} == fine
    assert image_tokens(V2, *size) == sum(per_band.values()) == image_token_count(*size, canvas=256)
    assert image_tokens(V2, *size) - image_tokens("local", *size) == sum(fine.values())
    assert image_tokens(V2, *size) <= sum(BANDS.values()) + 32 == 76


def test_v2_downsampling_never_costs_more() -> None:
    # what uniform_sizes' bisection relies on, as for v1
    m = get_cost_model(V2)
    for n in range(1, 400):
        assert m.tokens(n + 1, n + 1) >= m.tokens(n, n)
    for a, b in [(4, 3), (3, 4), (16, 9), (1, 5)]:
        for k in range(1, 100):
            assert m.tokens((k + 1) * a, (k + 1) * b) >= m.tokens(k * a, k * b)


def test_uniform_sizes_under_v2_counts_the_fine_tokens() -> None:
    sizes = [(256, 256), (128, 128)]  # 76 + 60 tokens at full size under v2, 44 + 44 under v1
    assert uniform_sizes(sizes, Pricer("local", None), 88) == (1.0, sizes, 88)
    scale, scaled, tokens = uniform_sizes(sizes, Pricer(V2, None), 88) or (0.0, [], 0)
    assert scale < 1.0 and tokens <= 88 and scaled[0][0] < 256


def test_v2_selection_tokens_of_a_256px_image() -> None:
    spec = decompose(np.zeros((256, 256, 3), np.float32))

    def tokens(bands: list[str]) -> int:
        return selection_tokens(spec, Selection.of(bands), V2)

    assert tokens(spec.band_names) == 76  # 256 px sent: both fine levels
    assert tokens(["L1", "L2", "L3", "residual"]) == 60  # 128 px sent: F1 only
    assert tokens(["L2", "L3", "residual"]) == 44 == selection_tokens(spec, Selection.of(["L2"]), "local")
    assert tokens(["L0"]) == 76  # kept fine detail is priced as the pixels sent
    assert selection_tokens(spec, Selection.none(), V2) == 0


@pytest.mark.parametrize("scheme", ["laplacian", "dct", "fft", "wavelet"])
@pytest.mark.parametrize("size", [(96, 160), (200, 300), (512, 512)])
def test_v2_equal_pixels_equal_tokens(scheme: str, size: tuple[int, int]) -> None:
    # the v2 price is the tokens of the image actually sent, whatever the scheme
    img = np.random.default_rng(2).random((*size, 3), dtype=np.float32)
    s = decompose(img, scheme)
    names = s.band_names
    seen: dict[tuple[int, int], int] = {}
    selections = [None, *(Selection.of(n) for n in (names[:1], names[-1:], names[1:], names[::2]))]
    for sel in selections:
        sent = s.render(sel, "minimal")
        price = selection_tokens(s, sel, V2)
        assert price == image_tokens(V2, *sent.size) == image_token_count(*sent.size, canvas=256), (scheme, sel)
        assert seen.setdefault(sent.size, price) == price
    assert selection_tokens(s, None, V2) == image_tokens(V2, size[1], size[0]) > selection_tokens(s, None, "local")


def test_v2_price_is_the_upper_bound_of_what_the_model_reads() -> None:
    """The energy gate may drop fine tokens of flat patches; the price (size only) never does."""
    model = ModelConfig.from_dict(read_config(resolve_checkpoint("band-vlm-v2"))["model"])
    price = LocalCostModel(canvas=model.canvas).tokens(256, 192)
    rng = np.random.default_rng(3)
    noise = rng.random((192, 256, 3), dtype=np.float32)
    flat = np.full((192, 256, 3), 0.5, np.float32)
    half = flat.copy()
    half[:, :128] = noise[:, :128]  # fine detail in the left half only

    def read(img: np.ndarray) -> int:
        return prepare_image(img, canvas=model.canvas, fine_threshold=model.fine_threshold).layout.n_tokens

    assert read(noise) == price == 36 + 24
    assert read(flat) == 36 < price  # no energy: no fine token is read, but the price is the size's
    assert 36 < read(half) < price


@pytest.mark.parametrize("scheme", ["laplacian", "dct"])
def test_what_the_model_reads_of_a_selection_never_exceeds_its_price(scheme: str) -> None:
    """The engine tokenizes a demo natively (its kept bands and tiles at source size, energy-gated):
    never more tokens than the price of the minimal render, under v1 and v2."""
    s = decompose(np.random.default_rng(4).random((192, 256, 3), dtype=np.float32), scheme)
    names = s.band_names
    first = s.bands[0]
    tiles = {first.name: [(0, 0)]} if first.tile_grid != (1, 1) else None
    selections = [None, Selection.of(names[:1], tiles), Selection.of(names[1:2]), Selection.of(names[-2:])]
    reads = {}
    for model, canvas in (("local", 64), (V2, 256)):
        for sel in selections:
            try:
                read = prepare_image((s, sel), canvas=canvas, fine_threshold=0.012).layout.n_tokens
            except SelectionError:  # only bands finer than the canvas: the model refuses to read it
                read = 0
            assert read <= selection_tokens(s, sel, model), (model, sel)
            reads[model, sel] = read
    assert reads[V2, None] > reads["local", None]  # the fine tokens of noise are read
    if scheme == "laplacian":  # DCT's 8 x 8 blocks have no frequency between DC and 1/8: fewer tokens
        assert reads[V2, None] == selection_tokens(s, None, V2) == 60
    assert sum(r > 0 for r in reads.values()) >= 6


@pytest.mark.parametrize("canvas", [64, 128, 256, 512])
def test_every_canvas_has_a_name(canvas: int) -> None:
    model = get_cost_model(f"local:canvas-{canvas}")
    assert model == LocalCostModel(canvas=canvas)
    assert model.tokens(4000, 3000) == image_token_count(4000, 3000, canvas=canvas)
    assert model.tokens(1024, 1024) == 44 + 16 * (canvas.bit_length() - 7)  # 16 per fine level above 64 px
