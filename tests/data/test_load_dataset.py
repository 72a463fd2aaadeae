"""specprompt.load_dataset: the CLI's dataset reader as a public function."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import dspy
import numpy as np
import pytest
from PIL import Image

import specprompt
from specprompt import ConfigError


def _png(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8, 3), value, np.uint8)).save(path)


def test_folder_per_label_gives_image_and_label(tmp_path: Path) -> None:
    _png(tmp_path / "cat" / "a.png", 10)
    _png(tmp_path / "dog" / "b.png", 200)
    exs = specprompt.load_dataset(tmp_path)
    assert [ex.label for ex in exs] == ["cat", "dog"]
    assert all(isinstance(ex.image, dspy.Image) and set(ex.inputs().keys()) == {"image"} for ex in exs)


def test_jsonl_with_custom_fields_and_with_a_program(tmp_path: Path) -> None:
    _png(tmp_path / "x.png", 50)
    (tmp_path / "d.jsonl").write_text(json.dumps({"photo": "x.png", "kind": "cat"}) + "\n")
    (ex,) = specprompt.load_dataset(tmp_path / "d.jsonl", image_field="photo", label_field="kind")
    assert ex.kind == "cat" and set(ex.inputs().keys()) == {"photo"}
    program = dspy.Predict("photo: dspy.Image -> kind")
    (same,) = specprompt.load_dataset(tmp_path / "d.jsonl", program)
    assert same.photo.url == ex.photo.url and same.kind == "cat"


def test_errors_name_the_input(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="must differ, both are 'image'"):
        specprompt.load_dataset(tmp_path, label_field="image")
    with pytest.raises(ConfigError, match="label_field must be a Python identifier"):
        specprompt.load_dataset(tmp_path, label_field="my label")
    with pytest.raises(ConfigError, match="not both"):
        specprompt.load_dataset(tmp_path, dspy.Predict("image: dspy.Image -> label"), image_field="photo")
    (tmp_path / "d.jsonl").write_text(json.dumps({"image": "x.png"}) + "\n")
    with pytest.raises(ConfigError, match=r"missing field\(s\) \['label'\]"):
        specprompt.load_dataset(tmp_path / "d.jsonl")


def test_folder_warns_once_about_entries_a_user_likely_meant(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _png(tmp_path / "cat" / "a.png", 10)
    _png(tmp_path / "cat" / "more" / "b.png", 20)  # a nested folder
    _png(tmp_path / "loose.png", 30)  # at the top level
    (tmp_path / "cat" / "c.heic").write_bytes(b"x")  # an image of a suffix not read
    (tmp_path / "cat" / "d.svg").write_bytes(b"x")
    (tmp_path / "cat" / "notes.txt").write_text("x")  # not an image: INFO only
    (tmp_path / "cat" / ".DS_Store").write_bytes(b"x")  # hidden: silent
    (tmp_path / ".cache").mkdir()
    with caplog.at_level(logging.INFO, logger="specprompt.data"):
        exs = specprompt.load_dataset(tmp_path)
    assert [ex.label for ex in exs] == ["cat"]
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    text = warning.getMessage()
    assert text.startswith(
        f"dataset folder {tmp_path}: 4 entries not read: 1 file not in a label folder: loose.png; "
        "1 HEIC file (convert to JPEG or PNG): cat/c.heic; 1 SVG file (convert to JPEG or PNG): cat/d.svg; "
        "1 folder inside a label folder: cat/more/; "
    )
    assert f"only images directly in {tmp_path}/<label>/ with suffix .png, .jpg" in text
    assert "notes.txt" not in text and ".DS_Store" not in caplog.text and ".cache" not in caplog.text
    start, info = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert start == f"reading dataset folder {tmp_path}: 1 image file(s) in 1 label folder(s)"
    assert info == f"dataset folder {tmp_path}: 1 file(s) not read (not images): cat/notes.txt"


def test_folder_warning_names_a_nested_folder(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _png(tmp_path / "cat" / "a.png", 10)
    _png(tmp_path / "cat" / "more" / "b.png", 20)
    with caplog.at_level(logging.WARNING, logger="specprompt.data"):
        specprompt.load_dataset(tmp_path)
    assert "1 entry not read: 1 folder inside a label folder: cat/more/;" in caplog.text


def test_folder_of_images_only_logs_where_it_starts_and_nothing_else(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _png(tmp_path / "cat" / "a.png", 10)
    _png(tmp_path / "dog" / "b.PNG", 10)
    with caplog.at_level(logging.DEBUG, logger="specprompt.data"):
        assert len(specprompt.load_dataset(tmp_path)) == 2
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.INFO, f"reading dataset folder {tmp_path}: 2 image file(s) in 2 label folder(s)")
    ]


def test_every_reason_to_skip_shows_however_many_share_one(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _png(tmp_path / "cat" / "a.png", 10)
    for i in range(8):  # an iPhone export: many HEIC photos, sorted before everything else
        (tmp_path / "cat" / f"IMG_{i:04d}.HEIC").write_bytes(b"x")
    (tmp_path / "cat" / "broken.png").symlink_to(tmp_path / "gone" / "x.png")
    _png(tmp_path / "cat" / "nested" / "b.png", 20)
    (tmp_path / "empty").mkdir()
    (tmp_path / "__MACOSX" / "cat").mkdir(parents=True)  # a zip artefact: silent, as hidden entries are
    (tmp_path / "__MACOSX" / "cat" / "._a.png").write_bytes(b"x")
    (tmp_path / "cat" / "__MACOSX").mkdir()
    _png(tmp_path / "loose.jpg", 30)
    with caplog.at_level(logging.WARNING, logger="specprompt.data"):
        assert [ex.label for ex in specprompt.load_dataset(tmp_path)] == ["cat"]
    (warning,) = [r.getMessage() for r in caplog.records]
    assert "__MACOSX" not in warning
    assert warning.startswith(
        f"dataset folder {tmp_path}: 12 entries not read: 1 file not in a label folder: loose.jpg; "
    )
    heic = ", ".join(f"cat/IMG_{i:04d}.HEIC" for i in range(5))
    assert f"8 HEIC files (convert to JPEG or PNG): {heic} and 3 more; " in warning
    assert f"1 broken link: cat/broken.png (to {tmp_path / 'gone' / 'x.png'}); " in warning
    assert "1 folder inside a label folder: cat/nested/; " in warning
    assert "1 label folder without images: empty/; " in warning


class Typed(dspy.Signature):
    """Label, count, score and flag of an image."""

    image: dspy.Image = dspy.InputField()
    label: str = dspy.OutputField()
    count: int = dspy.OutputField()
    score: float = dspy.OutputField()
    flag: bool = dspy.OutputField()
    note: str | None = dspy.OutputField()


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (
            {"label": None},
            r"d.jsonl:1: label is null, but the program's 'label' output is typed str",
        ),
        ({"label": ["red"]}, r"label is \[\"red\"\] \(a list\).*typed str"),
        ({"label": 3}, r"label is 3 \(a number\).*typed str"),
        ({"count": "3"}, r"count is \"3\" \(a string\).*typed int: give a JSON integer"),
        ({"count": True}, r"count is true \(a boolean\).*typed int"),
        ({"score": "0.5"}, r"score is \"0.5\" \(a string\).*typed float: give a JSON number"),
        ({"flag": 1}, r"flag is 1 \(a number\).*typed bool: give true or false"),
    ],
)
def test_a_label_of_another_json_type_than_its_output_is_refused(
    tmp_path: Path, change: dict[str, object], match: str
) -> None:
    _png(tmp_path / "x.png", 50)
    good = {"image": "x.png", "label": "red", "count": 3, "score": 1, "flag": False, "note": None}
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(good) + "\n")
    (ex,) = specprompt.load_dataset(path, dspy.Predict(Typed))  # an int where a float goes, null where optional
    assert (ex.label, ex.count, ex.score, ex.flag, ex.note) == ("red", 3, 1, False, None)
    path.write_text(json.dumps({**good, **change}) + "\n")
    with pytest.raises(ConfigError, match=match):
        specprompt.load_dataset(path, dspy.Predict(Typed))


def test_a_large_folder_shows_a_bar_over_its_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from tqdm import tqdm

    import specprompt.data._datasets as datasets

    made: list[tuple[str, int | None, bool, Any]] = []

    def make(desc: str, *, total: int | None, unit: str, enabled: bool, initial: int = 0) -> Any:
        bar = tqdm(total=total, desc=desc, unit=unit, disable=False, file=io.StringIO())
        made.append((desc, total, enabled, bar))
        return bar

    monkeypatch.setattr(datasets, "progress_bar", make)
    monkeypatch.setattr(datasets, "_BAR_FROM", 3)
    for i in range(4):
        _png(tmp_path / "train" / ("cat" if i % 2 else "dog") / f"{i}.png", 10 * i)
    specprompt.load_dataset(tmp_path / "train")
    ((desc, total, enabled, bar),) = made
    assert (desc, total, enabled, bar.n) == ("reading train", 4, True, 4)
    made.clear()
    specprompt.load_dataset(tmp_path / "train", progress=False)
    assert [m[2] for m in made] == [False]
    (tmp_path / "d.jsonl").write_text(
        "".join(json.dumps({"image": f"train/cat/{i}.png", "label": "cat"}) + "\n" for i in (1, 3))
    )
    made.clear()
    specprompt.load_dataset(tmp_path / "d.jsonl")
    assert [(m[0], m[1], m[2], m[3].n) for m in made] == [("reading d.jsonl", 2, False, 2)]  # 2 lines: not many


def test_max_pixels_reaches_every_image_of_a_dataset(tmp_path: Path) -> None:
    _png(tmp_path / "cat" / "a.png", 10)  # 8x8 = 64 pixels
    (tmp_path / "d.jsonl").write_text(json.dumps({"image": "cat/a.png", "label": "cat"}) + "\n")
    for path in (tmp_path, tmp_path / "d.jsonl"):
        with pytest.raises(
            specprompt.ImageInputError,
            match=r"a\.png.*8x8 = 64 pixels, more than max_pixels=63 \(pass a larger max_pixels",
        ):
            specprompt.load_dataset(path, max_pixels=63)
        assert len(specprompt.load_dataset(path, max_pixels=64)) == 1
        assert len(specprompt.load_dataset(path, max_pixels=None)) == 1
    with pytest.raises(ConfigError, match="max_pixels must be a positive int or None"):
        specprompt.load_dataset(tmp_path, max_pixels=0)


def test_a_photo_above_pillows_own_limit_loads_when_max_pixels_allows_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Image.fromarray(np.full((50, 100, 3), 10, np.uint8)).save(tmp_path / "x.jpg")
    (tmp_path / "cat").mkdir()
    (tmp_path / "x.jpg").rename(tmp_path / "cat" / "x.jpg")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 5,000 pixels: a "decompression bomb" to Pillow
    with pytest.raises(specprompt.ImageInputError, match="more than max_pixels=4,999") as info:
        specprompt.load_dataset(tmp_path, max_pixels=4999)
    assert "decompression" not in str(info.value)
    (ex,) = specprompt.load_dataset(tmp_path, max_pixels=5000)
    assert ex.image.url.startswith("data:image/jpeg;base64,")  # kept byte for byte, as smaller JPEGs are
