"""Contract every registered band-decomposition scheme must satisfy (run against each backend)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import specprompt
from specprompt import Selection
from specprompt.spectral import get_scheme

SCHEMES = specprompt.available_schemes()
TOL = 1e-5

SHAPES = [(1, 1), (1, 17), (23, 1), (7, 5), (8, 8), (31, 64), (64, 31), (97, 130), (256, 256)]


def _image(shape: tuple[int, int], channels: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.random((*shape, channels), dtype=np.float32)


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_perfect_reconstruction(scheme: str, shape: tuple[int, int], channels: int) -> None:
    img = _image(shape, channels)
    spec = specprompt.decompose(img, scheme)
    out = spec.reconstruct()
    assert out.shape == img.shape
    assert out.dtype == np.float32
    assert np.abs(out - img).max() <= TOL


@pytest.mark.parametrize("scheme", SCHEMES)
def test_huge_thin_image(scheme: str) -> None:
    img = _image((2, 5000), 3, seed=1)
    spec = specprompt.decompose(img, scheme)
    assert np.abs(spec.reconstruct() - img).max() <= TOL


@pytest.mark.parametrize("scheme", SCHEMES)
def test_band_names_unique_and_tables_json(scheme: str) -> None:
    import json

    spec = specprompt.decompose(_image((40, 56), 3), scheme)
    names = [b.name for b in spec.bands]
    assert len(names) == len(set(names))
    assert [b.index for b in spec.bands] == list(range(len(names)))
    json.dumps(spec.table())
    for band in spec.bands:
        lo, hi = band.freq_range
        assert 0.0 <= lo <= hi
        assert spec.coefficients(band.name).shape == band.coeff_shape
        assert band.n_tiles >= 1


@pytest.mark.parametrize("scheme", SCHEMES)
def test_empty_selection_is_zero_and_renders_tiny(scheme: str) -> None:
    spec = specprompt.decompose(_image((33, 20), 3), scheme)
    assert np.abs(spec.reconstruct(Selection.none())).max() == 0.0
    assert spec.render_shape(Selection.none()) == (1, 1)
    assert spec.tile_count(Selection.none()) == 0


@pytest.mark.parametrize("scheme", SCHEMES)
def test_selection_errors_name_the_band(scheme: str) -> None:
    spec = specprompt.decompose(_image((16, 16), 1), scheme)
    with pytest.raises(specprompt.SelectionError, match="nope"):
        spec.reconstruct(Selection.of(["nope"]))
    band = spec.bands[0]
    with pytest.raises(specprompt.SelectionError, match="outside its tile grid"):
        spec.reconstruct(Selection.of([band.name], tiles={band.name: [(99, 0)]}))
    with pytest.raises(specprompt.SelectionError, match="Selection"):
        spec.reconstruct("all")  # type: ignore[arg-type]


@pytest.mark.parametrize("scheme", SCHEMES)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    h=st.integers(1, 70),
    w=st.integers(1, 70),
    c=st.sampled_from([1, 3, 4]),
    seed=st.integers(0, 2**16),
    data=st.data(),
)
def test_properties(scheme: str, h: int, w: int, c: int, seed: int, data: st.DataObject) -> None:
    """Perfect reconstruction, linearity, sum of single-band reconstructions, idempotence."""
    x = _image((h, w), c, seed)
    y = _image((h, w), c, seed + 1)
    sx, sy = specprompt.decompose(x, scheme), specprompt.decompose(y, scheme)
    assert np.abs(sx.reconstruct() - x).max() <= TOL

    names = list(sx.band_names)
    kept = data.draw(st.lists(st.sampled_from(names), unique=True))
    sel = Selection.of(kept)

    # linearity of the (masked) reconstruction
    a, b = 0.7, -0.4
    sz = specprompt.decompose(a * x + b * y, scheme)
    lin = a * sx.reconstruct(sel) + b * sy.reconstruct(sel)
    assert np.abs(sz.reconstruct(sel) - lin).max() <= 4 * TOL

    # bands add up: the reconstruction of a selection is the sum of its single-band parts
    parts = sum((sx.reconstruct(Selection.of([n])) for n in kept), np.zeros_like(x))
    assert np.abs(sx.reconstruct(sel) - parts).max() <= 4 * TOL

    # idempotence: decomposing a band-limited reconstruction and keeping the same bands changes nothing
    if scheme != "laplacian":  # the Laplacian pyramid is overcomplete: bands are not projections
        limited = sx.reconstruct(sel)
        again = specprompt.decompose(limited, scheme).reconstruct(sel)
        assert np.abs(again - limited).max() <= 10 * TOL


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("shape", [(64, 64), (75, 50), (1, 40)])
def test_minimal_render_upsamples_to_full_band_limited(scheme: str, shape: tuple[int, int]) -> None:
    img = _image(shape, 3, seed=3)
    spec = specprompt.decompose(img, scheme)
    full_h, full_w = shape
    checked = 0
    for i in range(len(spec.bands)):
        # keep every band but the i finest/highest ones, by frequency
        order = sorted(spec.bands, key=lambda band: band.freq_range[1])
        sel = Selection.of([band.name for band in order[: len(order) - i]])
        if not spec.kept(sel):
            continue
        mh, mw = spec.render_shape(sel)
        assert (mh <= full_h and mw <= full_w) or (mh, mw) == spec.render_shape(Selection.all())
        minimal = spec.render_array(sel, "minimal")
        assert minimal.shape[:2] == (mh, mw)
        full = spec.reconstruct(sel)
        up = spec.upsample(minimal)
        assert np.abs(up - full).max() <= 1e-4
        checked += 1
    assert checked >= 1


@pytest.mark.parametrize("scheme", SCHEMES)
def test_render_is_8bit_quantized_within_half_a_step(scheme: str) -> None:
    img = _image((48, 40), 3, seed=5) * 0.8 + 0.1
    spec = specprompt.decompose(img, scheme)
    pil = spec.render(size="full")
    assert pil.mode == "RGB" and pil.size == (40, 48)
    err = np.abs(np.asarray(pil, np.float32) / 255.0 - img).max()
    assert err <= 0.5 / 255 + TOL


@pytest.mark.parametrize("scheme", SCHEMES)
def test_selected_tiles_only_change_their_region(scheme: str) -> None:
    img = _image((64, 64), 1, seed=7)
    spec = specprompt.decompose(img, scheme)
    band = max(spec.bands, key=lambda b: b.n_tiles)
    if band.n_tiles < 2:
        pytest.skip("no band with several tiles")
    whole = spec.reconstruct(Selection.of([band.name]))
    one = spec.reconstruct(Selection.of([band.name], tiles={band.name: [(0, 0)]}))
    assert spec.tile_count(Selection.of([band.name], tiles={band.name: [(0, 0)]})) == 1
    assert not np.allclose(one, whole)
    assert np.abs(one).max() > 0


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("shape", [(1, 1), (7, 5), (31, 64), (97, 130)])
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_band_layout_is_the_layout_of_decompose(scheme: str, shape: tuple[int, int], channels: int) -> None:
    from specprompt.spectral import band_layout, scheme_for

    spec = specprompt.decompose(_image(shape, channels), scheme)
    assert band_layout(scheme, shape, channels) == spec.bands
    assert scheme_for(scheme).band_layout(shape, channels) == spec.bands


def test_band_layout_options_and_errors() -> None:
    from specprompt.spectral import band_layout

    spec = specprompt.decompose(_image((40, 50), 3), "laplacian", levels=2)
    assert band_layout("laplacian", (40, 50), 3, levels=2) == spec.bands
    with pytest.raises(specprompt.ConfigError, match="bad option for scheme 'laplacian'"):
        band_layout("laplacian", (40, 50), 3, nope=1)
    with pytest.raises(specprompt.UnknownNameError):
        band_layout("no-such-scheme", (40, 50))
    for shape in ((-16, 16), (0, 16), (16,), (16.0, 16), "16x16", None):
        with pytest.raises(specprompt.ConfigError, match=r"band_layout shape must be \(height, width\), two ints >= 1"):
            band_layout("laplacian", shape)  # type: ignore[arg-type]
    for channels in (0, 2, 5, 3.0, True):
        with pytest.raises(specprompt.ConfigError, match="band_layout channels must be 1, 3 or 4, got"):
            band_layout("laplacian", (16, 16), channels)  # type: ignore[arg-type]
    assert band_layout("laplacian", (np.int64(40), np.int64(50)), np.int64(3), levels=2) == spec.bands


@pytest.mark.parametrize("scheme", SCHEMES)
def test_upsample_refuses_what_is_not_a_minimal_render(scheme: str) -> None:
    spec = specprompt.decompose(_image((32, 32), 3), scheme)
    with pytest.raises(specprompt.ConfigError, match="upsample expects the pixels of a minimal render"):
        spec.upsample(None)  # type: ignore[arg-type]
    with pytest.raises(specprompt.ConfigError, match="upsample expects the pixels of a minimal render"):
        spec.upsample("pixels")  # type: ignore[arg-type]
    for bad in (np.zeros(5, np.float32), np.zeros((4, 4, 3, 1), np.float32), np.float32(1.0)):
        with pytest.raises(specprompt.ShapeError, match=r"minimal render has shape .*expected \(h, w\) or \(h, w, C\)"):
            spec.upsample(bad)
    with pytest.raises(specprompt.ConfigError, match=r"upsample shape must be \(height, width\)"):
        spec.upsample(spec.render_array(), (0, 32))
    np.testing.assert_allclose(spec.upsample(spec.render_array()), spec.render_array(None, "full"), atol=1e-5)


def test_to_pil_refuses_other_shapes() -> None:
    from specprompt.spectral import to_pil

    assert to_pil(np.zeros((4, 4, 1), np.float32)).mode == "L"
    for shape in ((4, 4, 2), (4, 4), (4, 4, 5), (0, 4, 3)):
        with pytest.raises(specprompt.ShapeError, match=r"to_pil pixels has shape .*C in 1, 3, 4"):
            to_pil(np.zeros(shape, np.float32))
    with pytest.raises(specprompt.ConfigError, match="to_pil expects a numpy array of pixels, got None"):
        to_pil(None)  # type: ignore[arg-type]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_input_is_finite_sees_a_nan_anywhere(scheme: str) -> None:
    # decompose trusts input_is_finite instead of scanning the input of a scheme with borrows_input
    cls = get_scheme(scheme)
    backend = cls(cls.config_cls())
    img = _image((37, 29), 3, seed=5)
    assert backend.input_is_finite(backend.analyze(img))
    for pos in [(0, 0, 0), (36, 28, 2), (18, 3, 1)]:
        bad = img.copy()
        bad[pos] = np.nan
        assert not backend.input_is_finite(backend.analyze(bad)), pos
