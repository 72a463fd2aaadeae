"""Folder-per-label datasets: folder names become labels of the output field's type, as JSONL labels must."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

import dspy
import numpy as np
import pytest
from PIL import Image

import specprompt
from specprompt import ConfigError


def _folders(root: Path, *names: str) -> Path:
    for i, name in enumerate(names):
        (root / name).mkdir(parents=True)
        Image.fromarray(np.full((8, 8, 3), 10 * i, np.uint8)).save(root / name / "a.png")
    return root


def _labels(root: Path, output: str) -> list[object]:
    return [ex.label for ex in specprompt.load_dataset(root, dspy.Predict(f"image: dspy.Image -> label: {output}"))]


@pytest.mark.parametrize(
    ("output", "names", "labels"),
    [
        ("int", ("1", "2", "-3", "0"), [-3, 0, 1, 2]),
        ("float", ("0.5", "1", "2e-3"), [0.5, 1.0, 0.002]),
        ("bool", ("true", "False"), [False, True]),
        ("str", ("1", "cat"), ["1", "cat"]),
        ("Optional[int]", ("7",), [7]),
    ],
)
def test_a_folder_name_becomes_a_label_of_the_output_type(
    tmp_path: Path, output: str, names: tuple[str, ...], labels: list[object]
) -> None:
    got = _labels(_folders(tmp_path, *names), output)
    assert got == labels
    assert [type(v) for v in got] == [type(v) for v in labels]  # 1, never '1' nor 1.0 for an int output


@pytest.mark.parametrize(
    ("output", "name", "match"),
    [
        ("int", "01", r"label folder '01' is not an integer, but the program's 'label' output is typed int"),
        ("int", "7.0", r"label folder '7.0' is not an integer.*name the label folders 0, 1, -2"),
        ("int", "cat", r"label folder 'cat' is not an integer.*exact-match metric never matches"),
        ("float", "nan", r"label folder 'nan' is not a number, but .* typed float"),
        ("float", "1e999", r"label folder '1e999' is not a number"),
        ("bool", "1", r"label folder '1' is not true or false, but .* typed bool: name the label folders true and"),
        ("bool", "yes", r"label folder 'yes' is not true or false"),
    ],
)
def test_a_folder_name_that_does_not_spell_the_output_type_is_refused(
    tmp_path: Path, output: str, name: str, match: str
) -> None:
    root = _folders(tmp_path / "data", name)
    with pytest.raises(ConfigError, match=rf"{root}: {match}"):
        _labels(root, output)


def test_two_folders_that_spell_one_label_are_refused(tmp_path: Path) -> None:
    root = _folders(tmp_path, "True", "true")
    with pytest.raises(ConfigError, match=r"label folders 'True' and 'true' both give the label True .*merge them"):
        _labels(root, "bool")


def test_literal_choices_are_matched_by_their_spelling(tmp_path: Path) -> None:
    class Digit(dspy.Signature):
        image: dspy.Image = dspy.InputField()
        label: Literal[1, 2] = dspy.OutputField()

    root = _folders(tmp_path / "ok", "1", "2")
    assert [ex.label for ex in specprompt.load_dataset(root, dspy.Predict(Digit))] == [1, 2]
    bad = _folders(tmp_path / "bad", "1", "3", "01")
    with pytest.raises(ConfigError, match=r"label folder\(s\) \['01', '3'\] are not labels .* allowed: 1, 2"):
        specprompt.load_dataset(bad, dspy.Predict(Digit))


def test_an_empty_label_folder_is_warned_about(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = _folders(tmp_path, "cat")
    (root / "dog").mkdir()
    (root / "fox").mkdir()
    (root / "fox" / "notes.txt").write_text("x")  # no image either: the file is logged at INFO
    with caplog.at_level(logging.INFO, logger="specprompt.data"):
        assert [ex.label for ex in specprompt.load_dataset(root)] == ["cat"]
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "2 entries not read: 2 label folders without images: dog/, fox/;" in warning
    (info,) = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO and "not read" in r.getMessage()]
    assert info.endswith("1 file(s) not read (not images): fox/notes.txt")
