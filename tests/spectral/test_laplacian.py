from __future__ import annotations

import cv2
import numpy as np
import pytest

import specprompt
from specprompt import Selection
from specprompt.errors import ImageInputError
from specprompt.spectral._laplacian import level_shapes


def test_levels_are_automatic_from_size() -> None:
    spec = specprompt.decompose(np.zeros((256, 256, 3), np.float32))
    assert spec.band_names == ("L0", "L1", "L2", "L3", "residual")
    assert spec.band("residual").coeff_shape == (16, 16, 3)
    assert specprompt.decompose(np.zeros((16, 10), np.float32)).band_names == ("residual",)
    assert len(specprompt.decompose(np.zeros((3, 1000), np.float32)).bands) == 7


def test_explicit_levels_and_odd_shapes_round_up() -> None:
    spec = specprompt.decompose(np.zeros((7, 5, 1), np.float32), levels=2)
    assert [b.coeff_shape[:2] for b in spec.bands] == [(7, 5), (4, 3), (2, 2)]
    assert level_shapes((7, 5), 2) == [(7, 5), (4, 3), (2, 2)]


def test_bands_match_opencv_reference() -> None:
    img = np.random.default_rng(0).random((45, 70, 3), dtype=np.float32)
    spec = specprompt.decompose(img, levels=2)
    g1 = cv2.pyrDown(img)
    l0 = img - cv2.pyrUp(g1, dstsize=(70, 45))
    np.testing.assert_allclose(spec.coefficients("L0"), l0, atol=1e-6)
    with pytest.raises(ValueError):
        spec.coefficients("L0")[0, 0, 0] = 1.0  # read-only view


def test_minimal_render_of_a_prefix_is_two_to_the_k_smaller() -> None:
    img = np.random.default_rng(1).random((128, 96, 3), dtype=np.float32)
    spec = specprompt.decompose(img)
    sel = Selection.of(["L2", "residual"])
    assert spec.render_shape(sel) == (32, 24)
    assert spec.render(sel).size == (24, 32)
    # a gap (keep L0 but not L1) still needs the full size
    assert spec.render_shape(Selection.of(["L0", "residual"])) == (128, 96)
    np.testing.assert_allclose(spec.upsample(spec.render_array(sel)), spec.reconstruct(sel), atol=1e-5)


def test_quantized_minimal_render_error_is_bounded_after_upsampling() -> None:
    img = np.random.default_rng(2).random((64, 64, 3), dtype=np.float32) * 0.6 + 0.2
    spec = specprompt.decompose(img)
    sel = Selection.of(["L1", "residual"])
    pixels = np.asarray(spec.render(sel), np.float32) / 255.0
    # pyrUp is a convex interpolator (kernel sums to one per phase), so 8-bit rounding of the
    # minimal render stays within half a step after upsampling, for values inside [0, 1]
    err = np.abs(spec.upsample(pixels) - spec.reconstruct(sel)).max()
    assert err <= 0.5 / 255 + 1e-5


@pytest.mark.parametrize("levels", [0, 2, None])
def test_decompose_neither_writes_nor_keeps_the_callers_array(levels: int | None) -> None:
    # laplacian borrows a float32 input without copying it (Scheme.borrows_input)
    img = np.random.default_rng(3).random((40, 52, 3), dtype=np.float32)
    before = img.copy()
    img.flags.writeable = False  # OpenCV and numpy must only read it
    spec = specprompt.decompose(img, levels=levels)
    np.testing.assert_array_equal(img, before)
    img.flags.writeable = True
    img[:] = 7.0  # the caller reuses its buffer: the spectrum must not change
    assert np.abs(spec.reconstruct() - before).max() <= 1e-5
    for name in spec.band_names:
        assert not np.shares_memory(spec.coefficients(name), img)


@pytest.mark.parametrize(
    ("shape", "levels"), [((9, 7, 3), None), ((9, 7, 3), 0), ((5, 6, 1), 2), ((1, 9, 4), None), ((6, 5), 3)]
)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_non_finite_value_anywhere_is_refused(shape: tuple[int, ...], levels: int | None, bad: float) -> None:
    # decompose skips the NaN / inf scan of a float32 input and looks at the residual instead:
    # that must catch a bad value at every position (odd sizes, borders, every channel)
    img = np.random.default_rng(4).random(shape, dtype=np.float32)
    for pos in np.ndindex(*shape):
        bad_img = img.copy()
        bad_img[pos] = bad
        with pytest.raises(ImageInputError, match=r"1 value\(s\) are NaN or infinite") as info:
            specprompt.decompose(bad_img, levels=levels)
        assert f"<numpy array {shape} float32>" in str(info.value)


def test_float64_beyond_float32_is_still_refused() -> None:
    img = np.zeros((40, 40, 3))
    img[39, 0, 1] = 1e300
    with pytest.raises(ImageInputError, match="beyond the float32 range"):
        specprompt.decompose(img)


def test_huge_finite_values_are_a_false_alarm_not_an_error() -> None:
    # the blur of values near the float32 limit overflows to inf in the residual; the full scan
    # then finds every input value finite, so the image is accepted (its bands hold the inf)
    img = np.full((40, 40, 3), 3.3e38, np.float32)
    spec = specprompt.decompose(img)
    assert not np.isfinite(spec.coefficients("residual")).all()


def test_plus_and_minus_inf_together_are_refused_without_a_warning() -> None:
    img = np.zeros((40, 40, 3), np.float32)
    img[0, 0, 0], img[39, 39, 2] = np.inf, -np.inf  # warnings are errors in pytest
    with pytest.raises(ImageInputError, match=r"2 value\(s\) are NaN or infinite"):
        specprompt.decompose(img)
