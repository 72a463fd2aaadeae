from __future__ import annotations

import doctest
import math
import sys

import numpy as np
import pytest
import pywt

import specprompt
from specprompt import ConfigError, Selection, ShapeError
from specprompt.spectral import WaveletConfig, _wavelet
from specprompt.spectral._wavelet import ORIENTATIONS, WaveletScheme, auto_levels, level_shapes

TOL = 1e-5


def _image(shape: tuple[int, int], channels: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((*shape, channels), dtype=np.float32)


@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (9, 1), (7, 5), (13, 21), (64, 48), (1500, 17)])
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_perfect_reconstruction(shape: tuple[int, int], channels: int) -> None:
    img = _image(shape, channels)
    out = specprompt.decompose(img, "wavelet").reconstruct()
    assert out.shape == img.shape and out.dtype == np.float32
    assert np.abs(out - img).max() <= TOL


@pytest.mark.parametrize(
    ("wavelet", "mode"),
    [("db2", "symmetric"), ("sym3", "periodization"), ("bior2.2", "zero"), ("coif1", "periodic"), ("db4", "smooth")],
)
@pytest.mark.parametrize("shape", [(37, 29), (64, 48), (50, 9)])
def test_perfect_reconstruction_other_wavelets_and_modes(wavelet: str, mode: str, shape: tuple[int, int]) -> None:
    img = _image(shape, 3, seed=1)
    spec = specprompt.decompose(img, "wavelet", wavelet=wavelet, mode=mode, levels=3)
    assert np.abs(spec.reconstruct() - img).max() <= TOL


def test_band_names_order_and_metadata_match_pywt() -> None:
    img = _image((40, 30), 3, seed=2)
    spec = specprompt.decompose(img, "wavelet", levels=2)
    assert spec.band_names == ("h1", "v1", "d1", "h2", "v2", "d2", "a2")
    assert [b.level for b in spec.bands] == [0, 0, 0, 1, 1, 1, 2]
    assert [b.orientation for b in spec.bands[:3]] == [ORIENTATIONS["h"], ORIENTATIONS["v"], ORIENTATIONS["d"]]
    assert ORIENTATIONS["d"] == pytest.approx((math.degrees(math.atan(0.5)), math.degrees(math.atan(2.0))))
    assert spec.band("a2").orientation is None and spec.band("h1").component is None
    assert spec.band("h1").freq_range == (0.5, 1.0) and spec.band("d2").freq_range == (0.25, 0.5)
    assert spec.band("a2").freq_range == (0.0, 0.25)
    ref = pywt.wavedec2(img, "haar", mode="periodization", level=2, axes=(0, 1))
    np.testing.assert_allclose(spec.coefficients("a2"), ref[0], atol=1e-6)
    for name, arr in zip(("h2", "v2", "d2", "h1", "v1", "d1"), (*ref[1], *ref[2]), strict=True):
        np.testing.assert_allclose(spec.coefficients(name), arr, atol=1e-6)
        assert spec.band(name).coeff_shape == arr.shape
    assert spec.band("h1").coeff_shape == (20, 15, 3) and spec.band("h1").tile_grid == (2, 1)


def test_levels_auto_explicit_and_capped() -> None:
    assert specprompt.decompose(np.zeros((256, 256, 1), np.float32), "wavelet").band("a4").coeff_shape == (16, 16, 1)
    assert specprompt.decompose(np.zeros((16, 10, 1), np.float32), "wavelet").band_names == ("a0",)
    assert specprompt.decompose(np.zeros((1, 40, 1), np.float32), "wavelet").band_names == ("a0",)
    assert len(specprompt.decompose(np.zeros((64, 64, 1), np.float32), "wavelet", levels=20).bands) == 3 * 6 + 1
    assert auto_levels((100, 300), WaveletConfig(min_size=40)) == 3
    assert level_shapes((7, 10), 2) == [(7, 10), (4, 5), (2, 3)]
    assert level_shapes((20, 20), 1, "db2", "symmetric") == [(20, 20), (11, 11)]


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"wavelet": "nope"}, "discrete wavelet name"),
        ({"wavelet": "morl"}, "discrete wavelet name"),
        ({"wavelet": 3}, "discrete wavelet name"),
        ({"levels": -1}, "levels"),
        ({"levels": 1.5}, "levels"),
        ({"levels": True}, "levels"),
        ({"mode": "wrap"}, "mode must be one of"),
        ({"min_size": 0}, "min_size"),
    ],
)
def test_config_validation(options: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        WaveletConfig(**options)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=match):
        specprompt.decompose(_image((8, 8), 1), "wavelet", **options)


def test_config_round_trip() -> None:
    cfg = WaveletConfig(wavelet="db2", levels=3, mode="symmetric")
    assert WaveletConfig.from_dict(cfg.to_dict()) == cfg


def test_missing_pywavelets_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pywt", None)
    with pytest.raises(ImportError, match=r"pip install 'specprompt\[wavelet\]'"):
        WaveletConfig()


def test_minimal_render_sizes() -> None:
    spec = specprompt.decompose(_image((64, 48), 3), "wavelet", levels=3)
    assert spec.render_shape(spec.select(["a3"])) == (8, 6)
    assert spec.render_shape(spec.select(["a3", "h3", "d3"])) == (16, 12)
    assert spec.render_shape(spec.select(["v2"])) == (32, 24)
    assert spec.render_shape(spec.select(["a3", "d1"])) == (64, 48)
    odd = specprompt.decompose(_image((37, 29), 1), "wavelet", levels=2)
    assert odd.render_shape(odd.select(["a2"])) == (10, 8)
    assert odd.render_shape(odd.select(["a2", "v2"])) == (19, 15)


@pytest.mark.parametrize(
    ("shape", "options"),
    [
        ((64, 48), {}),
        ((37, 29), {}),
        ((1500, 17), {}),
        ((37, 29), {"wavelet": "db2", "mode": "symmetric", "levels": 2}),
        ((50, 41), {"wavelet": "sym4", "mode": "periodization", "levels": 2}),
    ],
)
def test_upsampled_minimal_render_is_the_band_limited_image(shape: tuple[int, int], options: dict[str, object]) -> None:
    spec = specprompt.decompose(_image(shape, 3, seed=3), "wavelet", **options)
    n = len(spec.bands) // 3
    keeps = [[f"a{n}"], [f"a{n}", f"h{n}"], [f"v{n}"]]
    if n >= 2:
        keeps.append([f"a{n}", f"d{n - 1}"])
    for keep in keeps:
        sel = spec.select(keep)
        minimal = spec.render_array(sel)
        assert minimal.shape[:2] == spec.render_shape(sel)
        assert minimal.shape[0] <= shape[0] and minimal.shape[1] <= shape[1]
        if keep[0] == f"a{n}" and len(keep) == 1:
            assert minimal.shape[0] < shape[0] and minimal.shape[1] < shape[1]
        np.testing.assert_allclose(spec.upsample(minimal), spec.render_array(sel, "full"), atol=TOL)


def test_minimal_render_keeps_pixel_values() -> None:
    img = np.full((32, 24, 3), 0.3, np.float32)
    spec = specprompt.decompose(img, "wavelet", levels=2)
    np.testing.assert_allclose(spec.render_array(spec.select(["a2"])), np.full((8, 6, 3), 0.3), atol=TOL)


def test_upsample_and_synthesize_reject_wrong_shapes() -> None:
    img = _image((40, 30), 3)
    spec = specprompt.decompose(img, "wavelet", levels=2)
    with pytest.raises(ShapeError, match="level shapes"):
        spec.upsample(np.zeros((7, 7, 3), np.float32))
    with pytest.raises(ShapeError, match=r"\(h, w\) or \(h, w, C\)"):
        spec.upsample(np.zeros((10, 8, 3, 1), np.float32))
    np.testing.assert_array_equal(spec.upsample(img[..., 0]), img[..., :1])
    scheme = WaveletScheme(WaveletConfig(levels=2))
    analysis = scheme.analyze(img)
    coeffs: dict[str, np.ndarray | None] = {b.name: None for b in analysis.bands}
    coeffs["h1"] = analysis.coeffs["h1"]
    with pytest.raises(ShapeError, match="to hold the kept details"):
        scheme.synthesize(analysis, coeffs, (10, 8))
    with pytest.raises(ShapeError, match="level shapes"):
        scheme.synthesize(analysis, coeffs, (11, 8))
    assert scheme.synthesize(analysis, {b.name: None for b in analysis.bands}, (10, 8)).shape == (10, 8, 3)


def test_energy_is_partitioned_for_orthonormal_periodization() -> None:
    img = _image((64, 32), 1, seed=4)
    energy = specprompt.decompose(img, "wavelet", wavelet="db2").energy()
    assert sum(energy.values()) == pytest.approx(float(np.sum(img.astype(np.float64) ** 2)), rel=1e-5)


def test_tile_masking_zeroes_exactly_the_other_region() -> None:
    img = _image((64, 64), 1, seed=5)
    spec = specprompt.decompose(img, "wavelet", levels=1)
    band = spec.band("h1")
    assert band.tile_grid == (2, 2)
    sel = Selection.of(["h1", "a1"], tiles={"h1": [(0, 1)], "a1": [(0, 1)]})
    out = spec.reconstruct(sel)
    # haar blocks do not overlap: the tile (0, 1) covers coefficient rows 0-16, columns 16-32
    np.testing.assert_allclose(out[:32, 32:], spec.reconstruct(Selection.of(["h1", "a1"]))[:32, 32:], atol=TOL)
    mask = np.ones((64, 64), bool)
    mask[:32, 32:] = False
    assert np.abs(out[mask]).max() == 0.0


def test_docstring_examples() -> None:
    result = doctest.testmod(_wavelet)
    assert result.attempted > 0 and result.failed == 0
