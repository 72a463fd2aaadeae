"""Colour profiles, what decoding changes (normalise_image) and the one background of transparent pixels."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from specprompt.errors import ShapeError, SpecPromptWarning
from specprompt.io import ALPHA_BACKGROUND, as_array, load_image, normalise_image, opaque_rgb

from ..conftest import display_p3_profile

SKIN = (200, 150, 120)


def _encoded(image: Image.Image, fmt: str = "PNG", **params: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **params)
    return buf.getvalue()


def _in_srgb(image: Image.Image, profile: bytes) -> np.ndarray:
    """What a colour-managed viewer shows: ``image`` converted from ``profile`` to sRGB by LittleCMS."""
    source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
    out = ImageCms.profileToProfile(image, source, ImageCms.createProfile("sRGB"), outputMode=image.mode)
    assert out is not None
    return np.asarray(out)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_a_display_p3_image_is_converted_to_srgb(fmt: str) -> None:
    stored = Image.new("RGB", (6, 4), SKIN)
    data = _encoded(stored, fmt, icc_profile=display_p3_profile())
    expected = _in_srgb(Image.open(io.BytesIO(data)).convert("RGB"), display_p3_profile())
    assert np.abs(expected.astype(int) - SKIN).max() >= 5  # the stored values are visibly off
    image = load_image(data)
    assert image.mode == "RGB" and np.array_equal(np.asarray(image), expected)
    assert "icc_profile" not in image.info  # untagged: read as sRGB everywhere
    assert np.array_equal(np.rint(as_array(data) * 255).astype(int), expected)


def test_alpha_is_kept_through_the_conversion() -> None:
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., :3], rgba[..., 3] = SKIN, np.arange(16, dtype=np.uint8).reshape(4, 4) * 16
    data = _encoded(Image.fromarray(rgba, "RGBA"), icc_profile=display_p3_profile())
    image = load_image(data)
    assert image.mode == "RGBA" and np.array_equal(np.asarray(image)[..., 3], rgba[..., 3])
    assert np.array_equal(np.asarray(image)[..., :3], _in_srgb(Image.new("RGB", (4, 4), SKIN), display_p3_profile()))


def test_an_srgb_profile_leaves_the_pixels_and_is_no_change() -> None:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    pixels = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    result = normalise_image(_encoded(Image.fromarray(pixels), icc_profile=srgb))
    assert np.array_equal(np.asarray(result.image), pixels) and result.changes == () and result.warnings == ()


def test_a_profile_that_cannot_be_applied_warns_once_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "odd.png"
    path.write_bytes(_encoded(Image.new("RGB", (4, 4), SKIN), icc_profile=b"not a profile" * 20))
    with pytest.warns(SpecPromptWarning, match=r"odd\.png has an ICC profile that could not be applied") as record:
        image = load_image(path)
    assert len(record) == 1 and "\n" not in str(record[0].message)
    assert record[0].filename == __file__  # points at the caller of load_image
    assert np.asarray(image)[0, 0].tolist() == list(SKIN)  # the stored values, read as sRGB
    grey = tmp_path / "grey.png"
    grey.write_bytes(_encoded(Image.new("L", (4, 4), 9), icc_profile=display_p3_profile()))
    with pytest.warns(SpecPromptWarning, match=r"grey\.png has an ICC profile for RGB pixels, but its pixels are L"):
        assert load_image(grey).getpixel((0, 0)) == 9


def test_normalise_image_says_what_decoding_changed(tmp_path: Path) -> None:
    plain = normalise_image(_encoded(Image.new("RGB", (4, 2), SKIN)))
    assert (plain.format, plain.changes, plain.warnings) == ("PNG", (), ())
    palette = normalise_image(_encoded(Image.new("RGB", (4, 2), SKIN).convert("P")))
    assert palette.changes == () and palette.image.mode == "RGB"  # expanded, same colours
    exif = Image.Exif()
    exif[0x0112] = 6
    rotated = normalise_image(_encoded(Image.new("RGB", (4, 2), SKIN), "JPEG", exif=exif))
    assert rotated.changes == ("EXIF orientation 6",) and rotated.image.size == (2, 4)
    deep = normalise_image(_encoded(Image.fromarray(np.full((2, 3), 40000, np.uint16))))
    assert deep.changes == ("mode I;16",) and deep.image.getpixel((0, 0)) == round(40000 / 257)
    tagged = normalise_image(_encoded(Image.new("RGB", (4, 2), SKIN), icc_profile=display_p3_profile()))
    assert tagged.changes == ("ICC profile 'sRGB built-in' converted to sRGB",)  # named so, P3 by its colours
    frames = [Image.new("RGB", (4, 4), c) for c in ("red", "blue", "green")]
    gif = tmp_path / "clip.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # normalise_image warns about nothing: it says so
        animated = normalise_image(gif)
    assert animated.changes == ("first of 3 frames",) and animated.format == "GIF"
    assert animated.warnings == ("has 3 frames; only the first frame is used",)
    assert normalise_image(np.zeros((2, 2), np.uint16)).changes == ()


def test_opaque_rgb_puts_transparency_on_white() -> None:
    assert ALPHA_BACKGROUND == (1.0, 1.0, 1.0)
    rgba = np.zeros((1, 3, 4), np.float32)
    rgba[0, :, 3] = (0.0, 0.5, 1.0)
    assert opaque_rgb(rgba)[0, :, 0].tolist() == [1.0, 0.5, 0.0]
    assert opaque_rgb(np.array([[[0.2, 0.0]]], np.float32)).tolist() == [[[1.0, 1.0, 1.0]]]  # grey + alpha
    rgb = np.random.default_rng(0).random((3, 4, 3), dtype=np.float32)
    assert opaque_rgb(rgb) is rgb  # nothing to do without alpha
    assert np.array_equal(opaque_rgb(rgb[:, :, :1]), np.repeat(rgb[:, :, :1], 3, axis=2))
    assert opaque_rgb(rgb[:, :, 0]).shape == (3, 4, 3)
    over = np.full((1, 1, 4), 2.0, np.float32)  # a band render may overshoot: alpha clipped, colour not
    assert opaque_rgb(over).tolist() == [[[2.0, 2.0, 2.0]]]
    with pytest.raises(ShapeError, match=r"pixels has shape \(2, 2, 5\)"):
        opaque_rgb(np.zeros((2, 2, 5)))
