"""load_program and restore_images refuse corrupt or foreign program files with errors that name what is wrong."""

from __future__ import annotations

import base64
import io
import json
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dspy
import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from specprompt import ConfigError, ImageInputError, Selection, decompose
from specprompt.types import SpectralImage, load_program, restore_images

SIG = "image: dspy.Image -> label"


def _spectral() -> SpectralImage:
    src = (np.random.default_rng(0).random((32, 32, 3)) * 255).astype(np.uint8)
    return SpectralImage.from_spectrum(decompose(src), Selection.of(["residual"]))


def _saved(tmp_path: Path, program: dspy.Module | None = None) -> Path:
    if program is None:
        program = dspy.Predict(SIG)
        program.demos = [
            dspy.Example(image=_spectral(), label="a").with_inputs("image"),
            dspy.Example(image=dspy.Image(Image.new("RGB", (8, 8), "red")), label="b").with_inputs("image"),
        ]
    path = tmp_path / "p.json"
    program.save(str(path))
    return path


def _edit(path: Path, change: Callable[[dict[str, Any]], object]) -> Path:
    state = json.loads(path.read_text())
    change(state)
    path.write_text(json.dumps(state))
    return path


def _in(path: Path) -> str:
    return re.escape(repr(str(path)))


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('{"demos": [', "is not JSON"),
        ("[1, 2]", r"is not a DSPy program state \(expected a JSON object, got a JSON list\)"),
        ("{}", "is not a DSPy program state: no predictor with 'demos' in it"),
        ('{"demos": [3], "signature": {}}', "demo 0 of predictor 'self' is not a JSON object"),
    ],
)
def test_a_file_that_is_not_a_program_state_is_refused(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "p.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match=f"{_in(path)}:? {match}"):
        load_program(dspy.Predict(SIG), path)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda s: s.pop("signature"), r"the 'signature' of predictor 'self' is not a saved DSPy signature"),
        (lambda s: s.update(signature="x"), r"the 'signature' of predictor 'self' is not a saved DSPy signature"),
        (lambda s: s["signature"].update(fields=["image", "label"]), r"field 0 of the signature of predictor 'self'"),
        (lambda s: s.pop("lm"), r"predictor 'self' has no 'lm' entry"),
        (lambda s: s.pop("metadata"), r"has no 'metadata' object with 'dependency_versions'"),
        (
            lambda s: s["metadata"].update(dependency_versions={"nope": "1"}),
            r"DSPy cannot load .* into the program: KeyError",
        ),
    ],
)
def test_a_program_state_of_the_wrong_shape_is_refused(
    tmp_path: Path, change: Callable[[dict[str, Any]], object], match: str
) -> None:
    path = _edit(_saved(tmp_path), change)
    program = dspy.Predict(SIG)
    with pytest.raises(ConfigError, match=match):
        load_program(program, path)
    assert program.demos == []


def test_a_file_of_another_program_is_refused_before_loading(tmp_path: Path) -> None:
    path = _saved(tmp_path)
    fits = f"{_in(path)} does not fit the program: "
    other = dspy.Predict("question -> answer")
    with pytest.raises(
        ConfigError,
        match=fits + r"predictor 'self' was saved with fields \['image', 'label'\], the program's has "
        r"\['question', 'answer'\]",
    ):
        load_program(other, path)
    assert other.demos == [] and list(other.signature.fields) == ["question", "answer"]
    with pytest.raises(ConfigError, match=fits + r"it holds predictor\(s\) \['self'\], the program has \['predict'\]"):
        load_program(dspy.ChainOfThought(SIG), path)
    with pytest.raises(ConfigError, match=r"saved with fields \['image', 'label'\], the program's has \['image', 'q'"):
        load_program(dspy.Predict("image: dspy.Image, q -> label"), path)


def test_fields_saved_with_their_own_description_are_checked_by_the_demos(tmp_path: Path) -> None:
    class Described(dspy.Signature):
        image: dspy.Image = dspy.InputField()
        label: str = dspy.OutputField(desc="what the image shows")

    saved = dspy.Predict(Described)
    saved.demos = [dspy.Example(image=dspy.Image(Image.new("RGB", (4, 4))), label="a").with_inputs("image")]
    path = _saved(tmp_path, saved)
    with pytest.raises(
        ConfigError,
        match=r"of predictor 'self' have field\(s\) \['label'\] that its signature lacks and none of \['answer'\]",
    ):
        load_program(dspy.Predict("image: dspy.Image -> answer"), path)
    with pytest.raises(ConfigError, match=r"saved with fields \['image', '\?'\] \('\?': a field saved with a desc"):
        load_program(dspy.Predict("image: dspy.Image, q -> answer"), path)
    assert load_program(dspy.Predict(Described), path).demos[0]["label"] == "a"

    class Hinted(dspy.Signature):  # an optional input no demo holds, and a field saved with desc=None
        image: dspy.Image = dspy.InputField(desc=None)
        hint: str = dspy.InputField(desc="an optional hint")
        label: str = dspy.OutputField()

    saved = dspy.Predict(Hinted)
    saved.demos = [dspy.Example(image=dspy.Image(Image.new("RGB", (4, 4))), label="a").with_inputs("image")]
    assert load_program(dspy.Predict(Hinted), _saved(tmp_path, saved)).demos[0]["label"] == "a"


def test_demo_fields_beyond_the_signature_load(tmp_path: Path) -> None:
    saved = dspy.Predict("image: dspy.Image -> label")
    saved.demos = [dspy.Example(image=dspy.Image(Image.new("RGB", (4, 4))), label="a", id=7).with_inputs("image")]
    loaded = load_program(dspy.Predict("image: dspy.Image -> label"), _saved(tmp_path, saved))
    assert loaded.demos[0]["id"] == 7 and isinstance(loaded.demos[0]["image"], dspy.Image)


def test_arguments_that_are_not_a_program_and_a_path_are_refused(tmp_path: Path) -> None:
    path = _saved(tmp_path)
    with pytest.raises(ConfigError, match=r"load_program expects a dspy\.Module, got NoneType"):
        load_program(None, path)  # type: ignore[type-var]
    with pytest.raises(ConfigError, match=r"expects the path of a \.json file \(str or pathlib\.Path\), got None"):
        load_program(dspy.Predict(SIG), None)  # type: ignore[arg-type]


def _png_of(state: dict[str, Any], demo: int) -> tuple[str, bytes]:
    uri = re.search(r"data:image/png;base64,[A-Za-z0-9+/=]+", state["demos"][demo]["image"])
    assert uri is not None
    return uri.group(0), base64.b64decode(uri.group(0).split(",", 1)[1])


def _swap_png(demo: int, make: Callable[[bytes], bytes]) -> Callable[[dict[str, Any]], object]:
    def change(state: dict[str, Any]) -> None:
        uri, png = _png_of(state, demo)
        new = "data:image/png;base64," + base64.b64encode(make(png)).decode()
        state["demos"][demo]["image"] = state["demos"][demo]["image"].replace(uri, new)

    return change


def _metadata(**change: object) -> Callable[[bytes], bytes]:
    def make(png: bytes) -> bytes:
        with Image.open(io.BytesIO(png)) as im:
            info = PngImagePlugin.PngInfo()
            info.add_text("specprompt", json.dumps({**json.loads(im.info["specprompt"]), **change}))
            buf = io.BytesIO()
            im.save(buf, "PNG", pnginfo=info)
        return buf.getvalue()

    return make


START, END = "<<CUSTOM-TYPE-START-IDENTIFIER>>", "<<CUSTOM-TYPE-END-IDENTIFIER>>"


@pytest.mark.parametrize(
    ("demo", "change", "match"),
    [
        (0, _swap_png(0, lambda png: png[: len(png) * 2 // 3]), "truncated"),
        (1, _swap_png(1, lambda png: png[: len(png) * 2 // 3]), "truncated"),
        (0, _swap_png(0, _metadata(render_size=[3, 3])), r"SpectralImage render_size \(3, 3\) differs from its PNG"),
        (
            1,
            lambda s: s["demos"][1].update(image=f"{START}garbage{END}"),
            "a DSPy custom-type marker whose content is not a JSON list of content parts",
        ),
        (
            1,
            lambda s: s["demos"][1].update(image=START + '[{"type": "image_url", "image_url": {}}]' + END),
            "an 'image_url' part without a 'url' string",
        ),
        (
            1,
            lambda s: s["demos"][1].update(
                image=START
                + json.dumps([{"type": "image_url", "image_url": {"url": "data:text/plain;base64,AA=="}}])
                + END
            ),
            "is not an image type",
        ),
    ],
)
def test_a_corrupt_demo_image_is_refused_naming_file_predictor_demo_and_field(
    tmp_path: Path, demo: int, change: Callable[[dict[str, Any]], object], match: str
) -> None:
    path = _edit(_saved(tmp_path), change)
    program = dspy.Predict(SIG)
    where = re.escape(f"cannot read image of predictor 'self', demo {demo}, field 'image' in {path}: ")
    with pytest.raises(ImageInputError, match=where + f".*{match}"):
        load_program(program, path)
    assert program.demos == []  # refused before DSPy loads anything


def test_an_unregistered_scheme_loads_with_a_warning_and_vector_parts_pass(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = _edit(_saved(tmp_path), _swap_png(0, _metadata(scheme="a-plugin")))
    with caplog.at_level(logging.WARNING, "specprompt.types"):
        program = load_program(dspy.Predict(SIG), path)
    assert isinstance(program.demos[0]["image"], SpectralImage) and program.demos[0]["image"].scheme == "a-plugin"
    assert "names scheme 'a-plugin', which is not registered here (known: " in caplog.text
    svg = "data:image/svg+xml;base64," + base64.b64encode(b"<svg xmlns='http://www.w3.org/2000/svg'/>").decode()
    part = START + json.dumps([{"type": "image_url", "image_url": {"url": svg}}]) + END
    assert isinstance(restore_images(_with_demo(part)).demos[0]["image"], dspy.Image)  # sent as it is


def _with_demo(image: str) -> dspy.Predict:
    program = dspy.Predict(SIG)
    program.demos = [{"image": image, "label": "a"}]
    return program


def test_restore_images_names_the_predictor_demo_field_and_item(tmp_path: Path) -> None:
    state = json.loads(_saved(tmp_path).read_text())
    good = state["demos"][1]["image"]
    program = dspy.Predict("images: list[dspy.Image] -> label")
    program.demos = [{"images": [good, f"{START}garbage{END}"], "label": "a"}]
    with pytest.raises(
        ImageInputError, match=r"cannot read image of predictor 'self', demo 0, field 'images' item 1: a DSPy custom"
    ):
        restore_images(program)
    assert program.demos[0]["images"][0] == good  # nothing changed
    program.demos[0]["images"] = [good]
    assert isinstance(restore_images(program).demos[0]["images"][0], dspy.Image)
