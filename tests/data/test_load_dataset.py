"""specprompt.load_dataset: the CLI's dataset reader as a public function."""

from __future__ import annotations

import json
import logging
from pathlib import Path

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
    assert text.startswith(f"dataset folder {tmp_path}: 4 entries not read: loose.png (not in a label folder), ")
    assert "cat/c.heic (suffix '.heic'), cat/d.svg (suffix '.svg') and 1 more;" in text  # cat/more/, not shown
    assert f"only images directly in {tmp_path}/<label>/ with suffix .png, .jpg" in text
    assert "notes.txt" not in text and ".DS_Store" not in caplog.text and ".cache" not in caplog.text
    (info,) = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert info == f"dataset folder {tmp_path}: 1 file(s) not read (not images): cat/notes.txt"


def test_folder_warning_names_a_nested_folder(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _png(tmp_path / "cat" / "a.png", 10)
    _png(tmp_path / "cat" / "more" / "b.png", 20)
    with caplog.at_level(logging.WARNING, logger="specprompt.data"):
        specprompt.load_dataset(tmp_path)
    assert "1 entry not read: cat/more/ (a folder inside a label folder)" in caplog.text


def test_folder_of_images_only_logs_nothing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _png(tmp_path / "cat" / "a.png", 10)
    _png(tmp_path / "dog" / "b.PNG", 10)
    with caplog.at_level(logging.DEBUG, logger="specprompt.data"):
        assert len(specprompt.load_dataset(tmp_path)) == 2
    assert caplog.records == []


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
