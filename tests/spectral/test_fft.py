"""The ``fft`` scheme: radial rings and orientation sectors of the global spectrum."""

from __future__ import annotations

import doctest
import json
import math

import numpy as np
import pytest

import specprompt
from specprompt import ConfigError, Selection, ShapeError
from specprompt.spectral import FftConfig, _fft
from specprompt.spectral._fft import FftScheme, band_labels, band_layout, fourier_resize, minimal_size
from specprompt.spectral._laplacian import LaplacianConfig

TOL = 1e-5
DEFAULT_RADII = (0.0625, 0.125, 0.25, 0.5)


def _image(shape: tuple[int, int], channels: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((*shape, channels), dtype=np.float32)


def _smooth(shape: tuple[int, int], channels: int = 3, seed: int = 0) -> np.ndarray:
    """A natural-ish image: most energy at low frequencies, so every ring is exercised."""
    img = _image(shape, channels, seed)
    spec = np.fft.rfft2(img, axes=(0, 1))
    fy = np.fft.fftfreq(shape[0])[:, None, None]
    fx = np.fft.rfftfreq(shape[1])[None, :, None]
    spec /= 1.0 + 40.0 * np.sqrt(fy**2 + fx**2)
    return np.fft.irfft2(spec, s=shape, axes=(0, 1)).astype(np.float32)


# -- reconstruction ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "shape", [(1, 1), (1, 9), (9, 1), (1, 40), (40, 1), (2, 2), (7, 5), (8, 8), (33, 64), (64, 33), (1200, 37)]
)
@pytest.mark.parametrize("channels", [1, 3, 4])
@pytest.mark.parametrize("options", [{}, {"orientations": 4}, {"radii": (0.3, 1.0), "orientations": 3}])
def test_perfect_reconstruction(shape: tuple[int, int], channels: int, options: dict[str, object]) -> None:
    img = _image(shape, channels)
    spec = specprompt.decompose(img, "fft", **options)
    out = spec.reconstruct()
    assert out.shape == img.shape and out.dtype == np.float32
    assert np.abs(out - img).max() <= TOL
    for band in spec.bands:
        coeffs = spec.coefficients(band.name)
        assert coeffs.dtype == np.float32 and coeffs.shape == img.shape == band.coeff_shape


def test_reconstruction_is_the_sum_of_the_band_images() -> None:
    img = _image((40, 30), 3, seed=2)
    spec = specprompt.decompose(img, "fft", orientations=2)
    kept = ["r0", "r2/o1", "r4/o0"]
    total = sum(np.asarray(spec.coefficients(n), np.float64) for n in kept)
    assert np.abs(spec.reconstruct(Selection.of(kept)) - total).max() <= TOL


# -- masks --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(16, 16), (15, 22), (1, 10), (9, 1), (2, 3)])
@pytest.mark.parametrize("orientations", [1, 4])
def test_band_masks_are_binary_and_sum_to_one(shape: tuple[int, int], orientations: int) -> None:
    # The spectrum of a unit impulse is all ones, so each band image's spectrum is its mask.
    impulse = np.zeros((*shape, 1), np.float32)
    impulse[0, 0, 0] = 1.0
    spec = specprompt.decompose(impulse, "fft", orientations=orientations)
    masks = np.stack([np.fft.rfft2(spec.coefficients(b.name)[:, :, 0]) for b in spec.bands])
    assert np.abs(masks.imag).max() <= TOL
    assert np.all((np.abs(masks.real) <= TOL) | (np.abs(masks.real - 1) <= TOL))
    assert np.abs(masks.real.sum(axis=0) - 1.0).max() <= TOL
    labels = band_labels(shape, DEFAULT_RADII, orientations)
    assert labels.shape == (shape[0], shape[1] // 2 + 1)
    assert np.array_equal(np.argmax(masks.real, axis=0), labels)


def test_rings_follow_the_radial_frequency() -> None:
    h, w = 64, 48
    labels = band_labels((h, w), DEFAULT_RADII)
    fy, fx = np.fft.fftfreq(h)[:, None] / 0.5, np.fft.rfftfreq(w)[None, :] / 0.5
    rho2 = fy**2 + fx**2
    edges = (0.0, *DEFAULT_RADII, math.sqrt(2))
    for ring in range(len(edges) - 1):
        inside = ((rho2 > edges[ring] ** 2) | (ring == 0)) & (rho2 <= edges[ring + 1] ** 2)
        assert np.array_equal(labels == ring, inside), ring
    assert labels[0, 0] == 0 and labels[h // 2, w // 2] == len(DEFAULT_RADII)  # DC and the corner
    assert not labels.flags.writeable


@pytest.mark.parametrize("shape", [(16, 16), (15, 22), (10, 9), (1, 12), (12, 1)])
@pytest.mark.parametrize("orientations", [2, 3, 4, 6])
def test_sector_masks_are_hermitian_and_band_images_real(shape: tuple[int, int], orientations: int) -> None:
    full = band_labels(shape, DEFAULT_RADII, orientations, full=True)
    mirror = full[(-np.arange(shape[0])) % shape[0]][:, (-np.arange(shape[1])) % shape[1]]
    assert np.array_equal(full, mirror)
    assert np.array_equal(full[:, : shape[1] // 2 + 1], band_labels(shape, DEFAULT_RADII, orientations))

    img = _image(shape, 3, seed=4)
    spec = specprompt.decompose(img, "fft", orientations=orientations)
    f = np.fft.fft2(img.astype(np.float64), axes=(0, 1))
    for i, band in enumerate(spec.bands):
        complex_band = np.fft.ifft2(f * (full == i)[:, :, None], axes=(0, 1))
        assert np.abs(complex_band.imag).max() <= 1e-9
        assert np.abs(complex_band.real - spec.coefficients(band.name)).max() <= TOL


def test_sectors_pick_up_the_matching_stripe_orientation() -> None:
    n = 64
    y, x = np.mgrid[0:n, 0:n].astype(np.float32) * np.float32(2 * np.pi / n)
    stripes = {  # radii 0.375 and 0.354 of Nyquist: ring r3 = (0.25, 0.5]
        "r3/o0": np.cos(12 * x),  # vertical stripes: horizontal frequency, 0 degrees
        "r3/o1": np.cos(8 * x + 8 * y),
        "r3/o2": np.cos(12 * y),  # horizontal stripes: 90 degrees
        "r3/o3": np.cos(8 * x - 8 * y),
    }
    for band, pattern in stripes.items():
        energy = specprompt.decompose(pattern[:, :, None], "fft", orientations=4).energy()
        assert max(energy, key=energy.__getitem__) == band
        assert energy[band] >= 0.999 * sum(energy.values())


# -- energy and linearity ---------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(64, 64), (31, 50), (1, 33)])
@pytest.mark.parametrize("orientations", [1, 4])
def test_band_energies_partition_the_image_energy(shape: tuple[int, int], orientations: int) -> None:
    img = _smooth(shape, 3, seed=5)
    spec = specprompt.decompose(img, "fft", orientations=orientations)
    total = float(np.sum(np.square(img, dtype=np.float64)))
    assert sum(spec.energy().values()) == pytest.approx(total, rel=1e-4)
    # hard masks are orthogonal projections: distinct band images are orthogonal
    imgs = [np.asarray(spec.coefficients(b.name), np.float64).ravel() for b in spec.bands]
    gram = np.array([[a @ b for b in imgs] for a in imgs])
    off = gram - np.diag(np.diag(gram))
    assert np.abs(off).max() <= 1e-4 * total


def test_decomposition_is_linear() -> None:
    x, y = _image((37, 52), 3, seed=6), _image((37, 52), 3, seed=7)
    a, b = 0.6, -1.3
    sx, sy = specprompt.decompose(x, "fft", orientations=4), specprompt.decompose(y, "fft", orientations=4)
    sz = specprompt.decompose(a * x + b * y, "fft", orientations=4)
    for name in sz.band_names:
        expected = a * sx.coefficients(name) + b * sy.coefficients(name)
        assert np.abs(sz.coefficients(name) - expected).max() <= 4 * TOL


# -- band metadata ----------------------------------------------------------------------------------
def test_band_order_names_and_metadata() -> None:
    spec = specprompt.decompose(_image((256, 128), 3), "fft", orientations=4)
    assert spec.band_names[:3] == ("r0", "r1/o0", "r1/o1")
    assert len(spec.bands) == 1 + 4 * 4
    r0, last = spec.band("r0"), spec.bands[-1]
    assert (r0.level, r0.orientation, r0.freq_range) == (0, None, (0.0, 0.0625))
    assert last.name == "r4/o3" and last.level == 4 and last.freq_range == (0.5, math.sqrt(2))
    assert [spec.band(f"r2/o{s}").orientation for s in range(4)] == [
        (157.5, 22.5),
        (22.5, 67.5),
        (67.5, 112.5),
        (112.5, 157.5),
    ]
    levels = [b.level for b in spec.bands]
    assert levels == sorted(levels)  # low -> high frequency, unlike the Laplacian
    # tokens at each band's own Nyquist rate: ceil(256 * r) x ceil(128 * r) samples, 16 per token
    assert r0.tile_grid == (1, 1)
    assert spec.band("r3/o2").tile_grid == (8, 4)
    assert last.tile_grid == (16, 8)
    assert spec.band("r1/o0").freq_range == (0.0625, 0.125) and spec.band("r1/o0").tile_grid == (2, 1)
    json.dumps(spec.table())


def test_without_orientations_rings_have_plain_names() -> None:
    spec = specprompt.decompose(_image((32, 32), 1), "fft", radii=[0.5])
    assert spec.band_names == ("r0", "r1")
    assert spec.config == FftConfig(radii=(0.5,))
    assert [s.name for s in band_layout((0.25, 0.5), 1)] == ["r0", "r1", "r2"]


def test_rings_empty_on_a_tiny_image_are_zero() -> None:
    spec = specprompt.decompose(_image((3, 3), 1), "fft", radii=(0.1, 0.2, 0.3))
    # a 3x3 grid has radial frequencies 0, 2/3 and 0.94 only: rings r1 and r2 hold no bin
    assert np.all(spec.coefficients("r1") == 0) and np.all(spec.coefficients("r2") == 0)
    assert np.abs(spec.coefficients("r3")).max() > 0


# -- minimal rendering --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kept", "expected"),
    [
        (["r0"], (17, 17)),
        (["r0", "r1", "r2"], (65, 65)),
        (["r2"], (65, 65)),
        (["r0", "r3"], (129, 129)),
        (["r4"], (256, 256)),
        (["r0", "r4"], (256, 256)),
    ],
)
def test_minimal_render_sizes(kept: list[str], expected: tuple[int, int]) -> None:
    spec = specprompt.decompose(_image((256, 256), 3), "fft")
    assert spec.render_shape(Selection.of(kept)) == expected
    assert spec.render_array(Selection.of(kept)).shape == (*expected, 3)


def test_keeping_rings_up_to_a_quarter_is_about_four_times_smaller() -> None:
    spec = specprompt.decompose(_image((300, 200), 3), "fft")
    h, w = spec.render_shape(Selection.of(["r0", "r1", "r2"]))
    assert (h, w) == (75, 51)
    assert 3.8 <= 300 / h <= 4.0 and 3.8 <= 200 / w <= 4.0


@pytest.mark.parametrize("shape", [(64, 64), (75, 50), (50, 75), (1, 40), (40, 1), (9, 7)])
@pytest.mark.parametrize("orientations", [1, 2])
def test_upsampled_minimal_render_equals_the_full_band_limited_render(
    shape: tuple[int, int], orientations: int
) -> None:
    spec = specprompt.decompose(_image(shape, 3, seed=8), "fft", orientations=orientations)
    for ring in range(len(DEFAULT_RADII)):
        kept = [b.name for b in spec.bands if b.level is not None and b.level <= ring]
        for sel in (Selection.of(kept), Selection.of(kept[-1:])):
            minimal = spec.render_array(sel, "minimal")
            assert minimal.shape[0] <= shape[0] and minimal.shape[1] <= shape[1]
            up = spec.upsample(minimal)
            assert up.shape == (*shape, 3)
            assert np.abs(up - spec.reconstruct(sel)).max() <= TOL


def test_a_selection_with_tiles_renders_at_full_size() -> None:
    spec = specprompt.decompose(_image((64, 64), 1, seed=9), "fft")
    band = spec.band("r3")
    assert band.tile_grid == (2, 2)
    sel = Selection.of(["r0", "r3"], tiles={"r3": [(0, 1)]})
    assert spec.render_shape(sel) == (64, 64)
    assert spec.tile_count(sel) == 1 + 1
    out = spec.render_array(sel)
    expected = spec.coefficients("r0").copy()
    expected[:32, 32:] += spec.coefficients("r3")[:32, 32:]
    assert np.abs(out - expected).max() <= TOL
    assert spec.render_shape(Selection.of(["r0", "r3"])) == (33, 33)


def test_minimal_size_rule() -> None:
    assert minimal_size(256, 0.25) == 65
    assert minimal_size(255, 0.25) == 63  # |k| <= 31.875 -> 31 -> 63
    assert minimal_size(10, 0.5) == 5
    assert minimal_size(4, 0.9) == 3
    assert minimal_size(1, 0.1) == 1
    assert minimal_size(5, 1.0) == 5
    assert minimal_size(2, 0.99) == 1  # only DC fits below radius 0.99 of a 2-sample axis


# -- fourier_resize -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("small", "big"), [((4, 6), (9, 13)), ((5, 7), (8, 8)), ((6, 1), (11, 4)), ((3, 3), (3, 8))])
def test_fourier_resize_up_then_down_is_the_identity(small: tuple[int, int], big: tuple[int, int]) -> None:
    x = _image(small, 3, seed=10)
    up = fourier_resize(x, big)
    assert up.shape == (*big, 3) and up.dtype == np.float32
    assert np.abs(fourier_resize(up, small) - x).max() <= TOL
    assert up.mean() == pytest.approx(float(x.mean()), abs=TOL)  # pixel values keep their scale


def test_fourier_resize_accepts_2d_and_rejects_bad_input() -> None:
    assert fourier_resize(np.ones((3, 4), np.float32), (5, 6)).shape == (5, 6, 1)
    same = np.ones((3, 4, 1), np.float32)
    out = fourier_resize(same, (3, 4))
    assert out is not same and np.array_equal(out, same)
    with pytest.raises(ShapeError, match=r"\(2, 2, 2, 2\)"):
        fourier_resize(np.zeros((2, 2, 2, 2), np.float32), (4, 4))
    with pytest.raises(ShapeError, match=r"\(0, 3, 1\)"):
        fourier_resize(np.zeros((0, 3, 1), np.float32), (4, 4))
    for bad in [(0, 4), (4,), "44", (4, 2.5), (True, 4)]:
        with pytest.raises(ConfigError, match="positive ints"):
            fourier_resize(same, bad)  # type: ignore[arg-type]


# -- config -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"radii": (0.5, 0.25)}, r"strictly increasing.*0\.5 >= 0\.25"),
        ({"radii": (0.25, 0.25)}, r"strictly increasing.*0\.25 >= 0\.25"),
        ({"radii": (0.0, 0.5)}, r"radius 0\.0 .*outside \(0, 1\]"),
        ({"radii": (0.5, 1.5)}, r"radius 1\.5 .*outside \(0, 1\]"),
        ({"radii": (-0.1,)}, r"radius -0\.1 "),
        ({"radii": (float("nan"),)}, r"radius nan "),
        ({"radii": (True,)}, r"radius True "),
        ({"radii": ("0.5",)}, r"radius '0\.5' "),
        ({"radii": ()}, r"non-empty tuple.*\(\)"),
        ({"radii": "0.5"}, r"non-empty tuple.*'0\.5'"),
        ({"radii": 0.5}, r"non-empty tuple.*0\.5"),
        ({"orientations": 0}, r"orientations must be an int >= 1.*got 0"),
        ({"orientations": -2}, r"got -2"),
        ({"orientations": 2.0}, r"got 2\.0"),
        ({"orientations": True}, r"got True"),
    ],
)
def test_config_validation_names_the_bad_value(options: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        FftConfig(**options)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=match):
        specprompt.decompose(_image((8, 8), 1), "fft", **options)


def test_config_json_round_trip_and_unknown_option() -> None:
    cfg = FftConfig(radii=[0.1, 0.4, 1], orientations=3)  # type: ignore[arg-type]
    assert cfg.radii == (0.1, 0.4, 1.0)
    data = json.loads(json.dumps(cfg.to_dict()))
    assert data == {"radii": [0.1, 0.4, 1.0], "orientations": 3}
    assert FftConfig.from_dict(data) == cfg
    with pytest.raises(ConfigError, match="levels"):
        specprompt.decompose(_image((8, 8), 1), "fft", levels=2)


def test_scheme_rejects_a_foreign_config_and_a_2d_array() -> None:
    with pytest.raises(ConfigError, match="LaplacianConfig"):
        FftScheme(LaplacianConfig()).analyze(_image((4, 4), 1))
    with pytest.raises(ShapeError, match=r"\(4, 4\)"):
        FftScheme(FftConfig()).analyze(np.zeros((4, 4), np.float32))


def test_docstring_examples_run() -> None:
    result = doctest.testmod(_fft, extraglobs={"np": np}, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 8
    assert result.failed == 0
