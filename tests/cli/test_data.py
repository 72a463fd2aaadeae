"""Program references, metrics and dataset loading of the CLI, with every error path."""

from __future__ import annotations

import base64
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import dspy
import pytest

from specprompt import ConfigError, ImageInputError
from specprompt.cli._user_code import exact_match, load_metric, load_object, load_program_ref
from specprompt.data import dataset_fields, load_dataset


def fields_of(program_file: Path, name: str = "program"):
    return dataset_fields(load_program_ref(f"{program_file}:{name}"))


# -- programs and metrics --------------------------------------------------------------------------


def test_program_forms(program_file: Path) -> None:
    inst = load_program_ref(f"{program_file}:program")
    assert isinstance(inst, dspy.Predict)
    assert isinstance(load_program_ref(f"{program_file}:make"), dspy.Predict)
    cls = load_program_ref(f"{program_file}:Classifier")
    assert [n for n, _ in cls.named_predictors()] == ["predict"]


@pytest.mark.parametrize(
    ("ref", "match"),
    [
        ("prog.py", "must be given as FILE.py:NAME"),
        (":program", "must be given as FILE.py:NAME"),
        ("prog.txt:program", "must be a .py file"),
        ("missing.py:program", "does not exist"),
        ("prog.py:not-an-identifier", "must be a Python identifier"),
        ("prog.py:nothing", "has no program named 'nothing'; candidates there: .*Classifier"),
        ("prog.py:NOT_A_PROGRAM", "is a int; expected a dspy.Module"),
        ("prog.py:needs_args", "must be callable with no arguments"),
        ("prog.py:returns_int", r"returned a int, expected a dspy.Module"),
        ("prog.py:NotAModule", r"returned a NotAModule, expected a dspy.Module"),
        ("prog.py:NeedsArgs", r"is the class NeedsArgs, not a dspy.Module subclass"),
    ],
)
def test_program_errors(program_file: Path, monkeypatch: pytest.MonkeyPatch, ref: str, match: str) -> None:
    monkeypatch.chdir(program_file.parent)
    with pytest.raises(ConfigError, match=match):
        load_program_ref(ref)


def test_load_object_rejects_non_strings() -> None:
    with pytest.raises(ConfigError, match=r"FILE\.py:NAME"):
        load_object(3)  # type: ignore[arg-type]


def test_metrics(program_file: Path) -> None:
    assert load_metric("exact") is exact_match
    fn = load_metric(f"{program_file}:metric")
    ex = dspy.Example(image=None, label="a").with_inputs("image")
    assert fn(ex, dspy.Prediction(label="a")) == 1.0
    with pytest.raises(ConfigError, match="is a int, expected metric"):
        load_metric(f"{program_file}:NOT_A_PROGRAM")
    with pytest.raises(ConfigError, match="needs examples with at least one output"):
        exact_match(dspy.Example(image=None).with_inputs("image"), dspy.Prediction())
    assert exact_match(ex, dspy.Prediction(label=None)) == 0.0


def test_dataset_fields(program_file: Path) -> None:
    f = fields_of(program_file)
    assert (f.inputs, f.outputs, dict(f.images)) == (("image",), ("label",), {"image": "single"})
    assert f.choices["label"] == ("top-left", "top-right", "bottom-left", "bottom-right")
    assert dict(fields_of(program_file, "album").images) == {"images": "list"}
    cot = fields_of(program_file, "cot")
    assert cot.outputs == ("answer",)  # reasoning is never a label
    pipe = fields_of(program_file, "Pipeline")
    assert (pipe.inputs, pipe.outputs) == (("image",), ("verdict",))  # first predictor's inputs, last's outputs
    with pytest.raises(ConfigError, match="no predictors"):
        dataset_fields(dspy.Module())
    with pytest.raises(ConfigError, match=r"expected a dspy\.Module"):
        dataset_fields("x")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="no output field"):
        dataset_fields(dspy.ChainOfThought("question -> reasoning"))


# -- datasets: the happy paths ------------------------------------------------------------------------


def test_folder_and_jsonl_give_equal_examples(program_file: Path, tiny_data: dict[str, Path]) -> None:
    f = fields_of(program_file)
    from_dir = load_dataset(tiny_data["train_dir"], f)
    from_jsonl = load_dataset(tiny_data["train_jsonl"], f)
    assert len(from_dir) == len(from_jsonl) == 6
    assert all(ex.inputs().keys() == ["image"] for ex in from_dir)
    key = lambda ex: (ex.label, ex.image.url)  # noqa: E731
    assert sorted(map(key, from_dir)) == sorted(map(key, from_jsonl))
    assert from_dir[0].image.url.startswith("data:image/png;base64,")
    again = load_dataset(tiny_data["train_jsonl"], f)
    assert [e.image.url for e in again] == [e.image.url for e in from_jsonl]  # deterministic (resume relies on it)


def test_jsonl_extras(program_file: Path, tiny_data: dict[str, Path], tmp_path: Path) -> None:
    """Absolute paths, data URIs, blank lines, a BOM, extra keys, list fields and BMP re-encoding."""
    root = tiny_data["root"]
    first = json.loads(tiny_data["train_jsonl"].read_text().splitlines()[0])
    png = root / first["image"]
    uri = "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode()
    from PIL import Image

    Image.open(png).save(tmp_path / "x.bmp")
    lines = [
        json.dumps({"image": str(png.resolve()), "label": "top-left", "id": 7}),
        "",
        json.dumps({"image": uri, "label": "top-right"}),
        json.dumps({"image": "x.bmp", "label": "top-right"}),
    ]
    path = tmp_path / "d.jsonl"
    path.write_text("\ufeff" + "\n".join(lines) + "\n", encoding="utf-8")
    exs = load_dataset(path, fields_of(program_file))
    assert [e.label for e in exs] == ["top-left", "top-right", "top-right"]
    assert "id" not in exs[0]
    assert exs[1].image.url == uri  # PNG bytes kept as they are
    assert exs[2].image.url.startswith("data:image/png;base64,")  # BMP re-encoded
    album = tmp_path / "album.jsonl"
    album.write_text(json.dumps({"images": [str(png), "x.bmp"], "place": "here"}) + "\n")
    (ex,) = load_dataset(album, fields_of(program_file, "album"))
    assert len(ex.images) == 2 and all(isinstance(i, dspy.Image) for i in ex.images)


def test_folder_skips_non_images_and_hidden(program_file: Path, tiny_data: dict[str, Path], tmp_path: Path) -> None:
    src = next((tiny_data["train_dir"] / "top-left").glob("*.png"))
    (tmp_path / "top-left").mkdir()
    (tmp_path / "top-left" / "a.PNG").write_bytes(src.read_bytes())
    (tmp_path / "top-left" / "notes.txt").write_text("hello")
    (tmp_path / "top-left" / ".hidden.png").write_text("not an image")
    (tmp_path / ".git").mkdir()
    exs = load_dataset(tmp_path, fields_of(program_file))
    assert [e.label for e in exs] == ["top-left"]
    (ex,) = load_dataset(tmp_path, fields_of(program_file, "album"))  # list[dspy.Image] field
    assert isinstance(ex.images, list) and len(ex.images) == 1


# -- datasets: every error -----------------------------------------------------------------------------


def write(tmp_path: Path, *lines: str, name: str = "d.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    ("lines", "match"),
    [
        (['{"image": "a.png", "label": "top-left"', ""], r"d.jsonl:1: not valid JSON \(.* at column"),
        (["", "[1, 2]"], r"d.jsonl:2: each line must be a JSON object, got list"),
        (['{"image": "a.png"}'], r"d.jsonl:1: missing field\(s\) \['label'\]; the program expects inputs"),
        (['{"image": "nope.png", "label": "top-left"}'], r"d.jsonl:1 field 'image': image file .*nope.png.* not exist"),
        (['{"image": 3, "label": "top-left"}'], r"d.jsonl:1 field 'image': an image must be a path"),
        (['{"image": "https://x.org/a.png", "label": "top-left"}'], "is not fetched; download it"),
        (['{"image": "a.png", "label": "middle"}'], r"d.jsonl:1: label 'middle' is not one of 'top-left'"),
    ],
)
def test_jsonl_errors(
    program_file: Path, tiny_data: dict[str, Path], tmp_path: Path, lines: list[str], match: str
) -> None:
    png = next(tiny_data["train_dir"].glob("*/*.png"))
    (tmp_path / "a.png").write_bytes(png.read_bytes())
    with pytest.raises(ConfigError, match=match):
        load_dataset(write(tmp_path, *lines), fields_of(program_file))


def test_image_errors(program_file: Path, tmp_path: Path) -> None:
    (tmp_path / "bad.png").write_text("this is not a png")
    path = write(tmp_path, '{"image": "bad.png", "label": "top-left"}')
    with pytest.raises(ImageInputError, match=r"d.jsonl:1 field 'image' \(bad.png\)"):
        load_dataset(path, fields_of(program_file))
    path = write(tmp_path, '{"image": "data:image/png;base64,@@@", "label": "top-left"}')
    with pytest.raises(ImageInputError, match="invalid base64 data"):
        load_dataset(path, fields_of(program_file))
    path = write(tmp_path, '{"image": "data:text/plain;base64,aGk=", "label": "top-left"}')
    with pytest.raises(ImageInputError, match="is not an image type"):
        load_dataset(path, fields_of(program_file))
    path = write(tmp_path, '{"images": "bad.png", "place": "x"}')
    with pytest.raises(ConfigError, match="is a list of images; give a JSON list"):
        load_dataset(path, fields_of(program_file, "album"))
    (tmp_path / "lab" / "top-left").mkdir(parents=True)
    (tmp_path / "lab" / "top-left" / "x.png").write_text("nope")
    with pytest.raises(ImageInputError, match=r"x.png"):
        load_dataset(tmp_path / "lab", fields_of(program_file))


def test_file_level_errors(program_file: Path, tmp_path: Path) -> None:
    f = fields_of(program_file)
    with pytest.raises(ConfigError, match="does not exist"):
        load_dataset(tmp_path / "missing.jsonl", f)
    (tmp_path / "d.csv").write_text("a,b\n")
    with pytest.raises(ConfigError, match=r"must be a \.jsonl file or a folder per label, got suffix '\.csv'"):
        load_dataset(tmp_path / "d.csv", f)
    with pytest.raises(ConfigError, match="has no examples"):
        load_dataset(write(tmp_path, "", "   "), f)
    (tmp_path / "latin.jsonl").write_bytes(b'{"image": "\xff.png", "label": "top-left"}\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_dataset(tmp_path / "latin.jsonl", f)


def test_folder_errors(program_file: Path, tiny_data: dict[str, Path], tmp_path: Path) -> None:
    f = fields_of(program_file)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match=r"is empty: expected .*/<label>/\*.png$"):
        load_dataset(empty, f)
    png = next(tiny_data["train_dir"].glob("*/*.png"))
    (empty / "loose.png").write_bytes(png.read_bytes())
    with pytest.raises(ConfigError, match=r"1 image\(s\) lie directly in it"):
        load_dataset(empty, f)
    (tmp_path / "labels" / "middle").mkdir(parents=True)
    with pytest.raises(ConfigError, match=r"label folder\(s\) \['middle'\] are not labels .* allowed: top-left"):
        load_dataset(tmp_path / "labels", f)
    with pytest.raises(ConfigError, match="fits programs with one image input and one output field"):
        load_dataset(tiny_data["train_dir"], fields_of(program_file, "two_inputs"))


# -- datasets through the CLI: skipped entries are visible -----------------------------------------------


def test_cli_shows_the_skipped_entries_of_a_folder_dataset(
    program_file: Path, tiny_data: dict[str, Path], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    shutil.copytree(tiny_data["train_dir"], data)
    (data / "top-left" / "extra").mkdir()
    src = next((data / "top-left").glob("*.png"))
    shutil.copy(src, data / "top-left" / "extra" / "x.png")
    cmd = [sys.executable, "-m", "specprompt", "calibrate", f"{program_file}:program", "--trainset", str(data)]
    done = subprocess.run([*cmd, "--lm", "gpt"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    warning = f"WARNING specprompt.data: dataset folder {data}: 1 entry not read: "
    assert warning + "1 folder inside a label folder: top-left/extra/;" in lines[0]
    assert lines[-1].startswith("specprompt calibrate: error: --lm must be ")


def test_compile_sets_its_log_level_before_the_datasets_load(
    program_file: Path, tiny_data: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import specprompt.data
    from specprompt.cli import main

    seen: list[int] = []

    def load(*args: Any, **kwargs: Any) -> Any:
        seen.append(logging.getLogger("specprompt").getEffectiveLevel())
        raise ConfigError("stop here")

    logger = logging.getLogger("specprompt")
    monkeypatch.setattr(logger, "level", logging.WARNING)  # restored after the test
    monkeypatch.setattr(specprompt.data, "load_dataset", load)
    args = ["compile", f"{program_file}:program", "--trainset", str(tiny_data["train_dir"]), "--budget", "100"]
    assert main([*args, "--cost-model", "local", "--out", str(tmp_path / "o")]) == 2
    assert seen == [logging.INFO]
