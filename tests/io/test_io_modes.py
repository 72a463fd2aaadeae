"""Mode normalisation, EXIF orientation and animations (the table in specprompt.io's docstring)."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import ExifTags, Image, features

from specprompt.errors import ImageInputError, SpecPromptWarning
from specprompt.io import as_array, load_image


def _pixels(image: Image.Image) -> list[object]:
    return np.asarray(image).tolist()


def _with_pixels(mode: str, size: tuple[int, int], values: list[object]) -> Image.Image:
    image = Image.new(mode, size)
    for i, value in enumerate(values):
        image.putpixel((i % size[0], i // size[0]), value)
    return image


def _palette(transparency: bool) -> Image.Image:
    image = _with_pixels("P", (2, 1), [0, 1])
    image.putpalette([10, 20, 30, 40, 50, 60])
    if transparency:
        image.info["transparency"] = 0
    return image


def _rgba_palette() -> Image.Image:
    image = _with_pixels("P", (2, 1), [0, 1])
    image.putpalette(bytes([10, 20, 30, 0, 40, 50, 60, 255]), rawmode="RGBA")
    return image


def _pa() -> Image.Image:
    image = Image.new("PA", (1, 1), (1, 7))
    image.putpalette([0, 0, 0, 10, 20, 30])
    return image


def _i16(mode: str, values: list[int]) -> Image.Image:
    dtype = ">u2" if mode == "I;16B" else "<u2"
    return Image.frombytes(mode, (len(values), 1), np.asarray(values, dtype).tobytes())


# (name, image factory, expected mode, expected load_image pixels as nested lists)
CASES: list[tuple[str, Callable[[], Image.Image], str, list[object]]] = [
    ("1", lambda: _with_pixels("1", (2, 1), [0, 1]), "L", [[0, 255]]),
    ("L", lambda: _with_pixels("L", (2, 1), [77, 200]), "L", [[77, 200]]),
    ("LA", lambda: Image.new("LA", (1, 1), (100, 50)), "RGBA", [[[100, 100, 100, 50]]]),
    ("P", lambda: _palette(False), "RGB", [[[10, 20, 30], [40, 50, 60]]]),
    ("P+transparency", lambda: _palette(True), "RGBA", [[[10, 20, 30, 0], [40, 50, 60, 255]]]),
    ("P+RGBA palette", _rgba_palette, "RGBA", [[[10, 20, 30, 0], [40, 50, 60, 255]]]),
    ("PA", _pa, "RGBA", [[[10, 20, 30, 7]]]),
    ("RGB", lambda: Image.new("RGB", (1, 1), (1, 2, 3)), "RGB", [[[1, 2, 3]]]),
    ("RGBX", lambda: Image.new("RGBX", (1, 1), (1, 2, 3, 9)), "RGB", [[[1, 2, 3]]]),
    ("RGBA", lambda: Image.new("RGBA", (1, 1), (1, 2, 3, 4)), "RGBA", [[[1, 2, 3, 4]]]),
    ("RGBa", lambda: Image.new("RGBa", (1, 1), (100, 50, 0, 128)), "RGBA", [[[199, 99, 0, 128]]]),
    ("CMYK", lambda: Image.new("CMYK", (1, 1), (255, 0, 0, 0)), "RGB", [[[0, 255, 255]]]),
    ("YCbCr", lambda: Image.new("YCbCr", (1, 1), (128, 128, 128)), "RGB", [[[128, 128, 128]]]),
    ("LAB", lambda: Image.new("LAB", (1, 1), (255, 128, 128)), "RGB", [[[254, 255, 254]]]),
    ("HSV", lambda: Image.new("HSV", (1, 1), (0, 0, 200)), "RGB", [[[200, 200, 200]]]),
    ("I;16", lambda: _i16("I;16", [0, 257, 1000, 65535]), "L", [[0, 1, 4, 255]]),
    ("I;16B", lambda: _i16("I;16B", [0, 257, 1000, 65535]), "L", [[0, 1, 4, 255]]),
    ("I", lambda: _with_pixels("I", (5, 1), [-5, 0, 32768, 65535, 70000]), "L", [[0, 0, 128, 255, 255]]),
    ("F", lambda: _with_pixels("F", (4, 1), [-0.5, 0.25, 0.5, 2.0]), "L", [[0, 64, 128, 255]]),
]


@pytest.mark.parametrize(("name", "make", "mode", "pixels"), CASES, ids=[c[0] for c in CASES])
def test_mode_table(name: str, make: Callable[[], Image.Image], mode: str, pixels: list[object]) -> None:
    source = make()
    before = _pixels(source)
    out = load_image(source)
    assert out.mode == mode
    assert _pixels(out) == pixels
    assert out is not source and _pixels(source) == before  # the caller's image is untouched
    arr = as_array(source)
    assert arr.dtype == np.float32 and arr.shape[2] == {"L": 1, "RGB": 3, "RGBA": 4}[mode]
    assert float(arr.min()) >= 0.0 and float(arr.max()) <= 1.0


def test_as_array_keeps_16_bit_precision() -> None:
    arr = as_array(_i16("I;16", [0, 1, 1000, 65535]))
    expected = np.array([0, 1, 1000, 65535], np.float32) / np.float32(65535)
    np.testing.assert_array_equal(arr[0, :, 0], expected)


def test_as_array_float_mode_is_clipped() -> None:
    arr = as_array(_with_pixels("F", (3, 1), [-1.0, 0.3, 5.0]))
    np.testing.assert_allclose(arr[0, :, 0], [0.0, 0.3, 1.0], rtol=0, atol=1e-7)


def test_float_mode_with_nan_is_refused() -> None:
    image = _with_pixels("F", (2, 1), [0.5, float("nan")])
    with pytest.raises(ImageInputError) as info:
        load_image(image)
    assert "<PIL image F 2x1>" in str(info.value) and "NaN" in info.value.reason


def test_unsupported_mode_is_refused() -> None:
    with pytest.raises(ImageInputError) as info:
        load_image(Image.new("La", (2, 1)))
    assert info.value.source == "<PIL image La 2x1>"
    assert "unsupported PIL mode 'La'" in str(info.value)


def test_16_bit_png_file(tmp_path: Path) -> None:
    path = tmp_path / "deep.png"
    Image.fromarray(np.array([[0, 1000, 65535]], np.uint16)).save(path)
    assert _pixels(load_image(path)) == [[0, 4, 255]]
    np.testing.assert_array_equal(as_array(path)[0, :, 0], np.array([0, 1000, 65535], np.float32) / 65535)


def test_float_tiff_file(tmp_path: Path) -> None:
    path = tmp_path / "float.tif"
    Image.fromarray(np.array([[0.0, 0.5, 3.0]], np.float32)).save(path)
    assert _pixels(load_image(path)) == [[0, 128, 255]]


def test_png_palette_transparency_from_file(tmp_path: Path) -> None:
    path = tmp_path / "pal.png"
    _palette(False).save(path, transparency=1)
    out = load_image(path)
    assert out.mode == "RGBA" and _pixels(out) == [[[10, 20, 30, 255], [40, 50, 60, 0]]]


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    pixels = np.zeros((16, 32, 3), np.uint8)
    pixels[:, :16] = (255, 0, 0)  # left half red
    pixels[:, 16:] = (0, 0, 255)  # right half blue
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # displayed after a 90 degree clockwise turn
    path = tmp_path / "rotated.jpg"
    Image.fromarray(pixels).save(path, exif=exif, quality=95)
    out = load_image(path)
    assert out.size == (16, 32)  # width and height swapped
    top, bottom = np.asarray(out)[4, 8].astype(int), np.asarray(out)[28, 8].astype(int)
    assert top[0] > 200 and top[2] < 60  # the left half (red) is now on top
    assert bottom[2] > 200 and bottom[0] < 60
    assert as_array(path).shape == (32, 16, 3)


def _frames() -> list[Image.Image]:
    return [Image.new("RGB", (4, 3), colour) for colour in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]


ANIMATED = ["GIF", "PNG", *(["WEBP"] if features.check("webp") else [])]


@pytest.mark.parametrize("fmt", ANIMATED)
def test_animation_gives_first_frame_and_warns(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"anim.{fmt.lower()}"
    first, *rest = _frames()
    first.save(path, format=fmt, save_all=True, append_images=rest, duration=50, loop=0, lossless=True)
    with pytest.warns(SpecPromptWarning, match="has 3 frames") as record:
        out = load_image(path)
    assert str(path) in str(record[0].message)
    assert out.size == (4, 3) and out.mode == "RGB"
    assert np.asarray(out)[0, 0].tolist() == [255, 0, 0]
    with pytest.warns(SpecPromptWarning, match="only the first frame"):
        assert as_array(path.read_bytes()).shape == (3, 4, 3)


def test_animated_pil_image_is_read_at_frame_0_and_left_where_it_was() -> None:
    buffer = io.BytesIO()
    first, *rest = _frames()
    first.save(buffer, format="GIF", save_all=True, append_images=rest, duration=50)
    image = Image.open(io.BytesIO(buffer.getvalue()))
    image.seek(2)
    with pytest.warns(SpecPromptWarning, match=r"<PIL image .*has 3 frames"):
        out = load_image(image)
    assert np.asarray(out)[0, 0].tolist() == [255, 0, 0]
    assert image.tell() == 2


def test_still_image_does_not_warn(tmp_path: Path) -> None:
    path = tmp_path / "still.gif"
    _frames()[0].save(path)
    load_image(path)  # warnings are errors under pytest: a warning here fails the test
