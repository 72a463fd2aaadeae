"""Every accepted source type, and the refusals that depend on the source type."""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import specprompt
from specprompt.errors import ImageInputError
from specprompt.io import _sources, as_array, load_image


def _png(size: tuple[int, int] = (3, 2), colour: tuple[int, int, int] = (10, 200, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def _check(info: pytest.ExceptionInfo[ImageInputError], source: str, reason: str) -> None:
    err = info.value
    assert isinstance(err, ImageInputError)
    assert source in err.source and source in str(err), (source, str(err))
    assert reason in err.reason and reason in str(err), (reason, str(err))


def _assert_is_sample(image: Image.Image) -> None:
    assert image.mode == "RGB" and image.size == (3, 2)
    assert np.asarray(image)[1, 2].tolist() == [10, 200, 30]


def test_public_names() -> None:
    assert specprompt.load_image is load_image
    assert set(specprompt.io.__all__) == {
        "ALLOWED_FORMATS",
        "ALPHA_BACKGROUND",
        "ARRAY_DTYPES",
        "DEFAULT_MAX_PIXELS",
        "NOT_RASTER_MEDIA_TYPES",
        "NormalisedImage",
        "SAMPLE_PHOTOS",
        "as_array",
        "check_max_pixels",
        "data_uri_media_type",
        "describe_bytes",
        "describe_data_uri",
        "describe_path",
        "image_format",
        "load_image",
        "normalise_image",
        "opaque_rgb",
        "parse_data_uri",
        "sample_photo",
    }


def test_str_and_pathlike(tmp_path: Path) -> None:
    path = tmp_path / "x.png"
    path.write_bytes(_png())
    _assert_is_sample(load_image(str(path)))
    _assert_is_sample(load_image(path))


class _BytesPath:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __fspath__(self) -> bytes:
        return os.fsencode(self.path)


def test_pathlike_returning_bytes(tmp_path: Path) -> None:
    path = tmp_path / "x.png"
    path.write_bytes(_png())
    _assert_is_sample(load_image(_BytesPath(path)))


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview])
def test_bytes_like(wrap: type) -> None:
    _assert_is_sample(load_image(wrap(_png())))


def test_data_uri() -> None:
    _assert_is_sample(load_image("data:image/png;base64," + base64.b64encode(_png()).decode()))


def test_file_objects(tmp_path: Path) -> None:
    path = tmp_path / "x.png"
    path.write_bytes(_png())
    _assert_is_sample(load_image(io.BytesIO(_png())))
    with path.open("rb") as handle:
        _assert_is_sample(load_image(handle))


def test_pil_image_is_copied() -> None:
    source = Image.new("RGB", (3, 2), (10, 200, 30))
    out = load_image(source)
    _assert_is_sample(out)
    out.putpixel((0, 0), (0, 0, 0))
    assert source.getpixel((0, 0)) == (10, 200, 30)


def test_lazily_opened_pil_image() -> None:
    _assert_is_sample(load_image(Image.open(io.BytesIO(_png()))))


def test_existing_path_that_looks_like_a_data_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("data:sample.png").write_bytes(_png())
    _assert_is_sample(load_image("data:sample.png"))


def test_as_array_of_encoded_sources() -> None:
    arr = as_array(_png())
    assert arr.dtype == np.float32 and arr.shape == (2, 3, 3)
    np.testing.assert_allclose(arr[0, 0], np.array([10, 200, 30], np.float32) / 255)


def test_decompose_accepts_a_path(tmp_path: Path) -> None:
    path = tmp_path / "x.png"
    path.write_bytes(_png((16, 16)))
    spectrum = specprompt.decompose(path, "laplacian")
    assert spectrum.shape == (16, 16, 3)


# -- dspy.Image ------------------------------------------------------------------------------------
def test_dspy_image_with_data_uri() -> None:
    dspy = pytest.importorskip("dspy")
    _assert_is_sample(load_image(dspy.Image(_png())))


def test_dspy_image_with_remote_url_is_refused() -> None:
    dspy = pytest.importorskip("dspy")
    with pytest.raises(ImageInputError) as info:
        load_image(dspy.Image("https://example.com/cat.png"))
    _check(info, "<dspy.Image: https://example.com/cat.png>", "remote fetching is disabled")


def test_dspy_image_with_bad_data_uri_names_dspy() -> None:
    dspy = pytest.importorskip("dspy")
    with pytest.raises(ImageInputError) as info:
        load_image(dspy.Image("data:image/png;base64,%%%%"))
    _check(info, "<dspy.Image data URI: image/png", "invalid base64")


# -- refusals tied to the source type --------------------------------------------------------------
@pytest.mark.parametrize("url", ["https://example.com/cat.png", "http://10.0.0.1/x.jpg", "gs://bucket/x.png"])
def test_url_strings_are_refused(url: str) -> None:
    with pytest.raises(ImageInputError) as info:
        load_image(url)
    _check(info, url, "remote fetching is disabled")


@pytest.mark.parametrize(
    ("value", "source"),
    [(42, "<object of type builtins.int>"), (None, "<object of type builtins.NoneType>"), ([1], "builtins.list")],
)
def test_unsupported_types(value: object, source: str) -> None:
    with pytest.raises(ImageInputError) as info:
        load_image(value)
    _check(info, source, "unsupported source type; expected a path")


def test_empty_string() -> None:
    with pytest.raises(ImageInputError) as info:
        load_image("")
    _check(info, "<empty string>", "neither a path nor a data URI")


class _BadPath:
    def __fspath__(self) -> int:
        return 3


def test_pathlike_returning_a_non_path() -> None:
    with pytest.raises(ImageInputError) as info:
        load_image(_BadPath())
    _check(info, "_BadPath", "not a usable path")


def test_path_with_nul_byte() -> None:
    with pytest.raises(ImageInputError) as info:
        load_image("bad\x00name.png")
    _check(info, "bad\x00name.png", "not a usable path")


class _FailingReader:
    def read(self) -> bytes:
        raise OSError("device gone")


class _NoneReader:
    name = "sock"

    def read(self) -> None:
        return None


@pytest.mark.parametrize(
    ("obj", "source", "reason"),
    [
        (io.StringIO("abc"), "<file object StringIO>", "returned text (str); open the file in binary mode"),
        (_FailingReader(), "<file object _FailingReader>", "read() failed (OSError: device gone)"),
        (_NoneReader(), "<file object sock>", "read() returned NoneType, expected bytes"),
        (io.BytesIO(), "<file object BytesIO>", "no data (0 bytes)"),
    ],
)
def test_bad_file_objects(obj: object, source: str, reason: str) -> None:
    with pytest.raises(ImageInputError) as info:
        load_image(obj)
    _check(info, source, reason)


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(ImageInputError) as info:
        load_image(tmp_path)
    _check(info, str(tmp_path), "is a directory")


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(ImageInputError) as info:
        load_image(tmp_path / "nope.png")
    _check(info, str(tmp_path / "nope.png"), "no such file or directory")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo")
def test_fifo_is_not_read(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    with pytest.raises(ImageInputError) as info:
        load_image(fifo)
    _check(info, str(fifo), "not a regular file")


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(ImageInputError) as info:
        load_image(path)
    _check(info, str(path), "file is empty (0 bytes)")


def test_permission_error_on_open(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "x.png"
    path.write_bytes(_png())

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(_sources, "open", refuse, raising=False)
    with pytest.raises(ImageInputError) as info:
        load_image(path)
    _check(info, str(path), "permission denied")


def test_other_os_error_on_open(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "x.png"
    path.write_bytes(_png())

    def fail(*args: object, **kwargs: object) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(_sources, "open", fail, raising=False)
    with pytest.raises(ImageInputError) as info:
        load_image(path)
    _check(info, str(path), "cannot read the file (OSError")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root can read any file")
def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "secret.png"
    path.write_bytes(_png())
    path.chmod(0)
    try:
        with pytest.raises(ImageInputError) as info:
            load_image(path)
    finally:
        path.chmod(0o600)
    _check(info, str(path), "permission denied")


def test_long_paths_are_shortened(tmp_path: Path) -> None:
    path = tmp_path / ("a" * 200 + ".png")
    with pytest.raises(ImageInputError) as info:
        load_image(str(path))
    assert "..." in info.value.source and len(info.value.source) <= 96
    assert info.value.source.endswith("a.png")
