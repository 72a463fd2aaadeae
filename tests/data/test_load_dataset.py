"""specprompt.load_dataset: the CLI's dataset reader as a public function."""

from __future__ import annotations

import json
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
