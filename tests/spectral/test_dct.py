from __future__ import annotations

import doctest
import math

import numpy as np
import pytest
import scipy.fft

import specprompt
from specprompt import ConfigError, Selection, ShapeError
from specprompt.spectral import DctConfig, _dct
from specprompt.spectral._dct import DctScheme, render_size, segments, zigzag
from specprompt.spectral._tiles import tile_slices

TOL = 1e-5


def _image(shape: tuple[int, int], channels: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((*shape, channels), dtype=np.float32)


def _ycbcr(img: np.ndarray) -> np.ndarray:
    r, g, b = img[..., 0].astype(np.float64), img[..., 1].astype(np.float64), img[..., 2].astype(np.float64)
    return np.stack(
        [
            0.299 * r + 0.587 * g + 0.114 * b,
            -0.168736 * r - 0.331264 * g + 0.5 * b,
            0.5 * r - 0.418688 * g - 0.081312 * b,
        ],
        axis=-1,
    )


@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (9, 1), (7, 5), (8, 8), (13, 21), (64, 48), (1500, 17)])
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_perfect_reconstruction(shape: tuple[int, int], channels: int) -> None:
    img = _image(shape, channels)
    out = specprompt.decompose(img, "dct").reconstruct()
    assert out.shape == img.shape and out.dtype == np.float32
    assert np.abs(out - img).max() <= TOL


def test_zigzag_is_the_jpeg_order() -> None:
    zz = zigzag()
    assert len(zz) == 64 and sorted(zz) == [(u, v) for u in range(8) for v in range(8)]
    assert zz[:10] == ((0, 0), (0, 1), (1, 0), (2, 0), (1, 1), (0, 2), (0, 3), (1, 2), (2, 1), (3, 0))
    assert zz[-3:] == ((6, 7), (7, 6), (7, 7))


def test_band_names_order_and_metadata() -> None:
    spec = specprompt.decompose(_image((40, 56), 3), "dct")
    names = spec.band_names
    assert len(names) == 27
    assert names[:9] == tuple(
        f"y/z{lo}-{hi}"
        for lo, hi in zip((0, 1, 3, 6, 10, 15, 21, 28, 36), (1, 3, 6, 10, 15, 21, 28, 36, 64), strict=True)
    )
    assert names[9] == "cb/z0-1" and names[18] == "cr/z0-1" and names[-1] == "cr/z36-64"
    assert [b.component for b in spec.bands] == ["y"] * 9 + ["cb"] * 9 + ["cr"] * 9
    assert [b.level for b in spec.bands[:9]] == list(range(9))
    dc, last = spec.band("y/z0-1"), spec.band("cb/z36-64")
    assert dc.freq_range == (0.0, 0.0) and dc.orientation is None
    assert last.freq_range[0] == pytest.approx(math.hypot(4, 4) / 8) and last.freq_range[1] == 1.0
    assert spec.band("y/z1-3").freq_range == (0.125, 0.125)
    assert dc.coeff_shape == (5, 7, 1) and last.coeff_shape == (5, 7, 28)
    assert dc.tile_grid == (3, 4)  # one token per 2 x 2 blocks
    assert spec.coefficients("cr/z3-6").shape == (5, 7, 3)
    gray = specprompt.decompose(_image((8, 8), 1), "dct")
    assert {b.component for b in gray.bands} == {"y"}
    rgba = specprompt.decompose(_image((8, 8), 4), "dct")
    assert [b.component for b in rgba.bands][-1] == "a" and len(rgba.bands) == 36


def test_coefficients_match_scipy_block_dct_in_zigzag_order() -> None:
    img = _image((16, 24), 3, seed=1)
    spec = specprompt.decompose(img, "dct")
    planes = _ycbcr(img)
    order = [u * 8 + v for u, v in zigzag()]
    for ci, comp in enumerate(("y", "cb", "cr")):
        blocks = planes[..., ci].reshape(2, 8, 3, 8).transpose(0, 2, 1, 3)
        ref = scipy.fft.dctn(blocks, axes=(-2, -1), norm="ortho").reshape(2, 3, 64)[..., order]
        got = np.concatenate([spec.coefficients(b.name) for b in spec.bands if b.component == comp], axis=-1)
        np.testing.assert_allclose(got, ref, atol=2e-6)


def test_border_blocks_use_their_own_size_dct() -> None:
    img = _image((11, 8), 1, seed=2)  # one 8x8 block above one 3x8 block
    spec = specprompt.decompose(img, "dct", groups=(64,))
    coeffs = spec.coefficients("y/z0-64")
    ref = scipy.fft.dctn(img[8:, :, 0].astype(np.float64), norm="ortho")
    for j, (u, v) in enumerate(zigzag()):
        assert coeffs[1, 0, j] == pytest.approx(ref[u, v] if u < 3 else 0.0, abs=2e-6)


def test_colour_conversion_and_grey_from_luma_only() -> None:
    img = _image((16, 16), 3, seed=3)
    spec = specprompt.decompose(img, "dct")
    dc = spec.coefficients("y/z0-1")[:, :, 0]
    np.testing.assert_allclose(dc / 8, _ycbcr(img)[..., 0].reshape(2, 8, 2, 8).mean(axis=(1, 3)), atol=1e-6)
    luma = spec.reconstruct(Selection.of([b.name for b in spec.bands if b.component == "y"]))
    np.testing.assert_allclose(luma[..., 0], _ycbcr(img)[..., 0], atol=TOL)
    assert np.abs(luma[..., 1:] - luma[..., :1]).max() <= TOL  # neutral chroma: grey


def test_rgba_alpha_is_its_own_component() -> None:
    img = _image((12, 20), 4, seed=4)
    spec = specprompt.decompose(img, "dct")
    colour = [b.name for b in spec.bands if b.component != "a"]
    no_alpha = spec.reconstruct(Selection.of(colour))
    np.testing.assert_allclose(no_alpha[..., :3], img[..., :3], atol=TOL)
    assert np.abs(no_alpha[..., 3]).max() <= TOL
    only_alpha = spec.reconstruct(Selection.of([b.name for b in spec.bands if b.component == "a"]))
    np.testing.assert_allclose(only_alpha[..., 3], img[..., 3], atol=TOL)
    assert np.abs(only_alpha[..., :3]).max() <= TOL


def test_custom_groups_and_config_round_trip() -> None:
    spec = specprompt.decompose(_image((16, 16), 1), "dct", groups=[2, 10, 64])
    assert spec.band_names == ("y/z0-2", "y/z2-10", "y/z10-64")
    assert spec.config.groups == (2, 10, 64)
    cfg = DctConfig(groups=(1, 64))
    assert DctConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.to_dict() == {"groups": [1, 64]}


@pytest.mark.parametrize(
    "groups",
    ["1,64", (), (1.5, 64), (True, 64), (0, 64), (3, 3, 64), (10, 5, 64), (1, 63), (1, 65), None],
)
def test_groups_validation(groups: object) -> None:
    with pytest.raises(ConfigError, match="dct groups"):
        DctConfig(groups=groups)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        specprompt.decompose(_image((8, 8), 1), "dct", groups=groups)


def test_unknown_option_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="bad option"):
        specprompt.decompose(_image((8, 8), 1), "dct", levels=3)
    with pytest.raises(ConfigError, match="unknown option"):
        DctConfig.from_dict({"groups": [64], "block": 8})


def test_minimal_render_sizes() -> None:
    spec = specprompt.decompose(_image((64, 48), 3), "dct")
    assert spec.render_shape(spec.select(["y/z0-1"])) == (8, 6)  # DC only: 8x smaller
    assert spec.render_shape(spec.select(["y/z0-1", "cr/z1-3"])) == (16, 12)  # u, v < 2: 4x smaller
    assert spec.render_shape(spec.select(["cb/z1-3"])) == (16, 12)
    assert spec.render_shape(spec.select(["y/z3-6"])) == (24, 18)  # (2, 0) needs k = 3
    assert spec.render_shape(spec.select(["y/z28-36"])) == (64, 48)
    assert spec.render_shape(spec.select(["y/z0-1"]), size="full") == (64, 48)
    assert spec.render(spec.select(["y/z0-1", "cb/z0-1", "cr/z0-1"])).size == (6, 8)
    odd = specprompt.decompose(_image((20, 30), 1), "dct")
    assert odd.render_shape(odd.select(["y/z0-1"])) == (3, 4)
    assert odd.render_shape(odd.select(["y/z1-3"])) == (6, 8)  # 2*2 + min(2, 4), 3*2 + min(2, 6)
    thin = specprompt.decompose(_image((1, 40), 1), "dct")
    assert thin.render_shape(thin.select(["y/z1-3"])) == (1, 10)
    assert segments(20) == ((0, 2, 8), (2, 1, 4)) and segments(5) == ((0, 1, 5),) and segments(16) == ((0, 2, 8),)
    assert [render_size(20, k) for k in range(1, 9)] == [3, 6, 9, 12, 14, 16, 18, 20]


@pytest.mark.parametrize("shape", [(64, 48), (20, 30), (1, 40), (37, 1), (5, 3), (1500, 17)])
@pytest.mark.parametrize(
    "keep", [["y/z0-1"], ["y/z0-1", "y/z1-3"], ["y/z3-6", "y/z0-1"], ["y/z10-15"], ["y/z21-28"], ["y/z36-64"]]
)
def test_upsampled_minimal_render_is_the_band_limited_image(shape: tuple[int, int], keep: list[str]) -> None:
    img = _image(shape, 3, seed=5)
    spec = specprompt.decompose(img, "dct")
    sel = spec.select(keep + [name.replace("y/", "cb/") for name in keep])
    minimal = spec.render_array(sel)
    assert minimal.shape[:2] == spec.render_shape(sel)
    assert minimal.shape[0] <= shape[0] and minimal.shape[1] <= shape[1]
    full = spec.render_array(sel, "full")
    np.testing.assert_allclose(spec.upsample(minimal), full, atol=TOL)


def test_minimal_render_keeps_pixel_values() -> None:
    img = np.full((24, 40, 3), 0.25, np.float32)
    img[..., 1] = 0.75
    spec = specprompt.decompose(img, "dct")
    sel = Selection.of(["y/z0-1", "cb/z0-1", "cr/z0-1"])
    np.testing.assert_allclose(spec.render_array(sel), np.broadcast_to(img[:3, :5], (3, 5, 3)), atol=TOL)


def test_upsample_and_synthesize_reject_wrong_shapes() -> None:
    img = _image((20, 30), 3)
    spec = specprompt.decompose(img, "dct")
    with pytest.raises(ShapeError, match="render size"):
        spec.upsample(np.zeros((5, 5, 3), np.float32))
    with pytest.raises(ShapeError, match=r"\(h, w\) or \(h, w, C\)"):
        spec.upsample(np.zeros((3, 4, 3, 1), np.float32))
    np.testing.assert_array_equal(spec.upsample(img[..., 0]), img[..., :1])  # already full size
    scheme = DctScheme(DctConfig())
    analysis = scheme.analyze(img)
    coeffs: dict[str, np.ndarray | None] = {b.name: None for b in analysis.bands}
    coeffs["y/z1-3"] = analysis.coeffs["y/z1-3"]
    with pytest.raises(ShapeError, match="k >= 2"):
        scheme.synthesize(analysis, coeffs, (3, 4))  # k = 1 cannot hold the (0, 1) coefficient
    with pytest.raises(ShapeError, match="render size"):
        scheme.synthesize(analysis, coeffs, (7, 7))
    assert scheme.synthesize(analysis, coeffs, (6, 8)).shape == (6, 8, 3)


@pytest.mark.parametrize("shape", [(64, 48), (8, 8), (21, 13)])
def test_energy_is_partitioned_over_bands(shape: tuple[int, int]) -> None:
    gray = _image(shape, 1, seed=6)
    energy = specprompt.decompose(gray, "dct").energy()
    assert sum(energy.values()) == pytest.approx(float(np.sum(gray.astype(np.float64) ** 2)), rel=1e-5)
    rgb = _image(shape, 3, seed=7)
    energy = specprompt.decompose(rgb, "dct").energy()
    assert sum(energy.values()) == pytest.approx(float(np.sum(_ycbcr(rgb) ** 2)), rel=1e-5)
    assert energy["y/z0-1"] > energy["y/z36-64"]


@pytest.mark.parametrize("channels", [1, 3])
def test_tile_masking_zeroes_exactly_the_other_blocks(channels: int) -> None:
    img = _image((40, 56), channels, seed=8)  # 5 x 7 blocks, tile grid 3 x 4
    spec = specprompt.decompose(img, "dct")
    tile = (1, 2)
    sel = Selection.of(spec.band_names, tiles={name: [tile] for name in spec.band_names})
    assert spec.tile_count(sel) == len(spec.bands)
    out = spec.reconstruct(sel)
    rows, cols = tile_slices((5, 7), (3, 4), tile)
    assert (rows, cols) == (slice(1, 3), slice(3, 5))
    inside = (slice(8 * rows.start, 8 * rows.stop), slice(8 * cols.start, 8 * cols.stop))
    np.testing.assert_allclose(out[inside], img[inside], atol=TOL)
    mask = np.ones(img.shape[:2], bool)
    mask[inside] = False
    assert np.abs(out[mask]).max() == 0.0


def test_decompose_and_reconstruct_run_on_large_images() -> None:
    img = _image((1024, 1024), 3, seed=9)
    spec = specprompt.decompose(img, "dct")
    assert np.abs(spec.reconstruct() - img).max() <= TOL


def test_docstring_examples() -> None:
    result = doctest.testmod(_dct, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
