"""Size limits, broken or hostile encoded data, and bad data URIs: always ImageInputError."""

from __future__ import annotations

import base64
import io
import struct
import threading
import time
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from specprompt.errors import ConfigError, ImageInputError
from specprompt.io import DEFAULT_MAX_PIXELS, as_array, load_image


def _check(info: pytest.ExceptionInfo[ImageInputError], source: str, reason: str) -> None:
    err = info.value
    assert isinstance(err, ImageInputError)
    assert source in err.source and source in str(err), (source, str(err))
    assert reason in err.reason and reason in str(err), (reason, str(err))


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG whose IHDR (with a correct CRC) claims ``width x height`` but whose data is 10 bytes."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 10)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def _encoded(fmt: str, size: tuple[int, int] = (64, 48)) -> bytes:
    noise = np.random.default_rng(0).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.fixture
def no_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Makes any attempt to decode pixel data fail loudly (with a reason the tests would not accept)."""

    def forbidden(self: ImageFile.ImageFile) -> None:
        raise RuntimeError("decoding was attempted")

    monkeypatch.setattr(ImageFile.ImageFile, "load", forbidden)


# -- size limits -----------------------------------------------------------------------------------
def test_header_above_default_limit_is_refused_before_decoding(no_decoding: None) -> None:
    data = _png_claiming(9000, 9000)  # 81 M pixels: above DEFAULT_MAX_PIXELS, below Pillow's own limit
    with pytest.raises(ImageInputError) as info:
        load_image(data)
    _check(info, f"<bytes: {len(data)} B>", f"more than max_pixels={DEFAULT_MAX_PIXELS:,}")
    assert "9000x9000" in info.value.reason


def test_huge_header_is_refused_fast(no_decoding: None) -> None:
    data = _png_claiming(100_000, 100_000)  # far above Pillow's own limit too: specprompt's limit decides
    start = time.perf_counter()
    with pytest.raises(ImageInputError) as info:
        load_image(data)
    assert time.perf_counter() - start < 1.0
    _check(
        info,
        f"<bytes: {len(data)} B>",
        f"100000x100000 = 10,000,000,000 pixels, more than max_pixels={DEFAULT_MAX_PIXELS:,}",
    )
    assert "decompression" not in str(info.value)


@pytest.mark.parametrize("side", [9500, 14000])  # Pillow's warning zone, and above twice its limit (its error)
def test_max_pixels_decides_above_pillows_own_limit(no_decoding: None, side: int) -> None:
    data = _png_claiming(side, side)
    limit = Image.MAX_IMAGE_PIXELS
    assert limit is not None and side * side > limit
    with pytest.raises(ImageInputError) as info:
        load_image(data, max_pixels=side * side - 1)
    _check(info, "<bytes:", f"{side}x{side} = {side * side:,} pixels, more than max_pixels={side * side - 1:,}")
    for allowed in (side * side, None):  # allowed: it goes on to decoding (which the fixture forbids)
        with warnings.catch_warnings(), pytest.raises(ImageInputError) as info:
            warnings.simplefilter("ignore")  # as outside pytest: the outcome must not rely on warnings being errors
            load_image(data, max_pixels=allowed)
        _check(info, "<bytes:", "decoding was attempted")
    assert Image.MAX_IMAGE_PIXELS == limit  # Pillow's guard is back


def test_an_image_pillow_calls_a_bomb_decodes_when_max_pixels_allows_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # a 100x50 image is more than twice Pillow's limit
    data = _encoded("PNG", (100, 50))
    assert load_image(data, max_pixels=None).size == (100, 50)
    assert as_array(data, max_pixels=5000).shape == (50, 100, 3)
    with pytest.raises(ImageInputError, match="more than max_pixels=4,999"):
        load_image(data, max_pixels=4999)
    assert Image.MAX_IMAGE_PIXELS == 1000


def test_lifting_pillows_guard_is_safe_across_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    big, small = _encoded("PNG", (100, 50)), _encoded("PNG", (20, 20))
    errors: list[BaseException] = []

    def work(data: bytes) -> None:
        try:
            for _ in range(10):
                load_image(data, max_pixels=None)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(big if i % 2 else small,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and Image.MAX_IMAGE_PIXELS == 1000


def test_custom_limit(tmp_path: Path) -> None:
    path = tmp_path / "x.png"
    path.write_bytes(_encoded("PNG", (100, 50)))
    with pytest.raises(ImageInputError) as info:
        load_image(path, max_pixels=4999)
    _check(info, str(path), "100x50 = 5,000 pixels, more than max_pixels=4,999")
    assert load_image(path, max_pixels=5000).size == (100, 50)
    assert load_image(path, max_pixels=None).size == (100, 50)


def test_limit_applies_to_pil_images_and_arrays() -> None:
    with pytest.raises(ImageInputError) as info:
        load_image(Image.new("L", (4, 4)), max_pixels=15)
    _check(info, "<PIL image L 4x4>", "more than max_pixels=15")
    with pytest.raises(ImageInputError) as info:
        as_array(np.zeros((4, 4)), max_pixels=15)
    _check(info, "<numpy array (4, 4) float64>", "more than max_pixels=15")


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "100"])
def test_bad_max_pixels(bad: object) -> None:
    with pytest.raises(ConfigError, match="max_pixels must be a positive int or None"):
        load_image(np.zeros((2, 2)), max_pixels=bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=repr(bad).replace(".", r"\.")):
        as_array(np.zeros((2, 2)), max_pixels=bad)  # type: ignore[arg-type]


def test_empty_pil_image() -> None:
    with pytest.raises(ImageInputError) as info:
        load_image(Image.new("RGB", (0, 0)))
    _check(info, "<PIL image RGB 0x0>", "image is empty (0x0 pixels)")


# -- broken encoded data ---------------------------------------------------------------------------
@pytest.mark.parametrize(("fmt", "suffix"), [("PNG", ".png"), ("JPEG", ".jpg")])
def test_truncated_files(tmp_path: Path, fmt: str, suffix: str) -> None:
    data = _encoded(fmt)
    path = tmp_path / f"cut{suffix}"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageInputError) as info:
        load_image(path)
    _check(info, str(path), "corrupt or truncated image data (OSError")
    assert info.value.__cause__ is not None  # the decoder's error is kept for debugging


def test_truncated_header() -> None:
    data = _encoded("JPEG")[:100]
    with pytest.raises(ImageInputError) as info:
        load_image(data)
    _check(info, "<bytes: 100 B>", "unreadable image header (OSError")


@pytest.mark.parametrize("wrap", [bytes, bytearray])
def test_zero_bytes(wrap: type) -> None:
    with pytest.raises(ImageInputError) as info:
        load_image(wrap(b""))
    _check(info, f"<{wrap.__name__}: 0 B>", "no data (0 bytes)")


def test_random_bytes() -> None:
    data = np.random.default_rng(1).bytes(1000)
    with pytest.raises(ImageInputError) as info:
        load_image(data)
    _check(info, "<bytes: 1000 B>", "not an image in a supported format (supported: PNG, JPEG")


def test_text_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("hello, I am not a picture\n")
    with pytest.raises(ImageInputError) as info:
        load_image(path)
    _check(info, str(path), "not an image in a supported format")


def test_zip_file(tmp_path: Path) -> None:
    path = tmp_path / "archive.png"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("inner.png", _encoded("PNG"))
    with pytest.raises(ImageInputError) as info:
        load_image(path)
    _check(info, str(path), "not an image in a supported format")


def test_format_outside_the_allow_list(tmp_path: Path) -> None:
    path = tmp_path / "old.pcx"
    Image.new("RGB", (4, 4)).save(path, format="PCX")  # a real image, in a format we do not decode
    with pytest.raises(ImageInputError) as info:
        load_image(path)
    _check(info, str(path), "not an image in a supported format")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP"])
def test_corrupted_bytes_never_leak_other_errors(fmt: str) -> None:
    data = bytearray(_encoded(fmt, (24, 16)))
    rng = np.random.default_rng(7)
    for _ in range(40):
        broken = bytearray(data)
        for pos in rng.integers(0, len(broken), 4):
            broken[int(pos)] = int(rng.integers(0, 256))
        broken = broken[: int(rng.integers(1, len(broken) + 1))]
        try:
            out = load_image(bytes(broken))
        except ImageInputError as err:
            assert err.source == f"<bytes: {len(broken)} B>" and err.reason
        else:
            assert out.mode in ("L", "RGB", "RGBA")


# -- data URIs -------------------------------------------------------------------------------------
def _uri(media: str, payload: bytes) -> str:
    return f"data:{media};base64,{base64.b64encode(payload).decode()}"


@pytest.mark.parametrize(
    ("uri", "source", "reason"),
    [
        ("data:image/png;base64,@@@@", "<data URI: image/png, 26 B>", "invalid base64"),
        ("data:image/png;base64,iVBORw0KGgo", "<data URI: image/png", "invalid base64 data (Incorrect padding)"),
        ("data:image/png;base64,iVBO Rw0K", "<data URI: image/png", "invalid base64"),
        ("data:image/png;base64,iVBORé==", "<data URI: image/png", "invalid base64"),
        ("data:text/plain;base64,aGVsbG8=", "<data URI: text/plain", "media type 'text/plain' is not an image type"),
        ("data:;base64,aGVsbG8=", "<data URI: no media type", "data URI has no media type"),
        ("data:image/png,rawbytes", "<data URI: image/png", "only base64 data URIs are supported"),
        ("data:image/png;base64", "<data URI: image/png", "malformed data URI: no ','"),
        ("data:image/png;base64,", "<data URI: image/png", "data URI carries no data"),
        ("data:image/png;base64,====", "<data URI: image/png", "invalid base64 data (Leading padding"),
        (_uri("image/png", b"hello world"), "<data URI: image/png", "not an image in a supported format"),
        (_uri("image/png", _png_claiming(9000, 9000)), "<data URI: image/png", "more than max_pixels"),
    ],
)
def test_bad_data_uris(uri: str, source: str, reason: str) -> None:
    with pytest.raises(ImageInputError) as info:
        load_image(uri)
    _check(info, source, reason)
