"""load_dataset: an example's image holds the pixels load_image gives demos; label folders in NFC."""

from __future__ import annotations

import base64
import io
import json
import logging
import unicodedata
from pathlib import Path
from typing import Literal

import dspy
import numpy as np
import pytest
from PIL import Image

import specprompt
from specprompt.errors import SpecPromptWarning

from ..conftest import display_p3_profile


def _sent(image: dspy.Image) -> tuple[str, Image.Image]:
    """The media type of an example's data URI and its pixels as a plain decoder reads them (no EXIF)."""
    head, payload = image.url.split(",", 1)
    return head, Image.open(io.BytesIO(base64.b64decode(payload)))


def _upright_and_phone_photo(path: Path) -> np.ndarray:
    """Writes a JPEG stored sideways with EXIF orientation 6 (as phones do); returns its upright pixels."""
    upright = np.zeros((32, 16, 3), np.uint8)
    upright[:8, :8] = (255, 0, 0)  # a red block top-left
    exif = Image.Exif()
    exif[0x0112] = 6  # the viewer turns it 90 degrees clockwise
    Image.fromarray(np.rot90(upright, 1)).save(path, quality=100, exif=exif)  # stored turned back
    return upright


def test_a_rotated_phone_photo_is_sent_upright_as_its_demo(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "a").mkdir()
    photo = tmp_path / "a" / "phone.jpg"
    _upright_and_phone_photo(photo)
    Image.new("RGB", (8, 8), (10, 20, 30)).save(tmp_path / "a" / "plain.png")
    with caplog.at_level(logging.INFO, logger="specprompt.data"):
        phone, plain = (ex.image for ex in specprompt.load_dataset(tmp_path))
    media, pixels = _sent(phone)
    assert media == "data:image/png;base64" and "exif" not in pixels.info
    assert np.array_equal(np.asarray(pixels), np.asarray(specprompt.load_image(photo)))  # the demo's pixels
    assert pixels.size == (16, 32) and np.asarray(pixels)[2, 2, 0] > 200  # upright: red top-left
    assert plain.url.split(",")[1] == base64.b64encode((tmp_path / "a" / "plain.png").read_bytes()).decode()
    (record,) = [r for r in caplog.records if "re-encoded" in r.getMessage()]  # one line for the whole dataset
    assert record.getMessage() == (
        f"dataset {tmp_path}: 1 of 2 image(s) re-encoded as PNG to hold the pixels demos are sent with: "
        "EXIF orientation 6 (1)"
    )


def test_16_bit_and_wide_gamut_images_are_re_encoded(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    deep = tmp_path / "scan.png"
    Image.fromarray(np.full((4, 4), 10000, np.uint16)).save(deep)
    wide = tmp_path / "p3.png"
    Image.new("RGB", (4, 4), (200, 150, 120)).save(wide, icc_profile=display_p3_profile())
    lines = [{"image": "scan.png", "label": "dark"}, {"image": "p3.png", "label": "skin"}]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    with caplog.at_level(logging.INFO, logger="specprompt.data"):
        first, second = specprompt.load_dataset(tmp_path / "d.jsonl")
    _, grey = _sent(first.image)
    assert grey.mode == "L" and grey.getpixel((0, 0)) == round(10000 / 257)  # not clipped to white
    _, colour = _sent(second.image)
    assert "icc_profile" not in colour.info
    assert np.array_equal(np.asarray(colour), np.asarray(specprompt.load_image(wide)))
    assert np.asarray(colour)[0, 0].tolist() != [200, 150, 120]
    assert "2 of 2 image(s) re-encoded" in caplog.text and "mode I;16 (1)" in caplog.text
    assert "ICC profile 'sRGB built-in' converted to sRGB (1)" in caplog.text


def test_an_animated_gif_warns_naming_the_file_at_the_callers_line(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (8, 8), c) for c in ("red", "blue", "green")]
    (tmp_path / "a").mkdir()
    gif = tmp_path / "a" / "holiday_clip.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:])
    with pytest.warns(SpecPromptWarning) as record:
        (example,) = specprompt.load_dataset(tmp_path)
    assert [str(w.message) for w in record] == [f"{gif} has 3 frames; only the first frame is used"]
    assert record[0].filename == __file__
    media, pixels = _sent(example.image)
    assert media == "data:image/png;base64" and getattr(pixels, "n_frames", 1) == 1  # the query is the first frame
    assert np.asarray(pixels.convert("RGB"))[0, 0].tolist() == [255, 0, 0]


def test_a_still_gif_and_a_palette_png_are_kept_byte_for_byte(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    Image.new("RGB", (8, 8), "red").save(tmp_path / "a" / "still.gif")
    Image.new("RGB", (8, 8), "blue").convert("P").save(tmp_path / "a" / "palette.png")
    Image.new("LA", (8, 8), (90, 128)).save(tmp_path / "a" / "grey_alpha.png")
    names = ("grey_alpha.png", "palette.png", "still.gif")
    for example, name in zip(specprompt.load_dataset(tmp_path), names, strict=True):
        assert base64.b64decode(example.image.url.split(",")[1]) == (tmp_path / "a" / name).read_bytes()


def test_an_nfd_label_folder_gives_the_nfc_label(tmp_path: Path) -> None:
    nfd, nfc = unicodedata.normalize("NFD", "café"), unicodedata.normalize("NFC", "café")
    assert nfd != nfc
    for split, name in (("train", nfd), ("val", nfc)):
        (tmp_path / split / name).mkdir(parents=True)
        Image.new("RGB", (8, 8), "red").save(tmp_path / split / name / "x.png")
    (train,) = specprompt.load_dataset(tmp_path / "train")
    (val,) = specprompt.load_dataset(tmp_path / "val")
    assert train.label == val.label == nfc
    program = dspy.Predict(
        dspy.Signature(
            {"image": (dspy.Image, dspy.InputField()), "label": (Literal["café", "thé"], dspy.OutputField())}
        )
    )
    (typed,) = specprompt.load_dataset(tmp_path / "train", program)
    assert typed.label == nfc
