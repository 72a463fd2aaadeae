"""describe_program refuses demo images that could not be sent, naming where they are, never drops or passes them."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import dspy
import numpy as np
import pytest
from PIL import Image

from specprompt import ImageInputError, Selection, decompose
from specprompt.reports import describe_program
from specprompt.types import SpectralImage

MARKER = "<<CUSTOM-TYPE-START-IDENTIFIER>>{}<<CUSTOM-TYPE-END-IDENTIFIER>>"


def _png(size: int = 16) -> bytes:
    buf = io.BytesIO()
    Image.fromarray((np.random.default_rng(1).random((size, size, 3)) * 255).astype(np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def _uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def _program() -> dspy.Predict:
    src = (np.random.default_rng(0).random((32, 32, 3)) * 255).astype(np.uint8)
    program = dspy.Predict("image: dspy.Image -> label")
    program.demos = [
        dspy.Example(image=SpectralImage.from_spectrum(decompose(src), Selection.of(["residual"])), label="a"),
        dspy.Example(image=dspy.Image(_uri(_png())), label="b"),
    ]
    return program


def test_a_sound_program_lists_both_images(tmp_path: Path) -> None:
    _program().save(str(tmp_path / "p.json"))
    assert [(r.slot, r.kind) for r in describe_program(tmp_path / "p.json").rows] == [
        ("self/demo0/image", "spectral"),
        ("self/demo1/image", "image"),
    ]


@pytest.mark.parametrize(
    ("image", "match"),
    [
        (MARKER.format("garbage"), "a DSPy custom-type marker whose content is not a JSON list of content parts"),
        (MARKER.format(json.dumps([{"type": "image_url", "image_url": {"url": _uri(_png()[:-200])}}])), "truncated"),
    ],
)
def test_a_saved_demo_image_that_cannot_be_read_is_an_error(tmp_path: Path, image: str, match: str) -> None:
    path = tmp_path / "p.json"
    _program().save(str(path))
    state = json.loads(path.read_text())
    state["demos"][1]["image"] = image
    path.write_text(json.dumps(state))
    where = re.escape(f"cannot read image of predictor 'self', demo 1, field 'image' in {path}: ")
    with pytest.raises(ImageInputError, match=where + f".*{match}"):
        describe_program(path)
    with pytest.raises(ImageInputError, match=r"in the program state: "):
        describe_program(state)


def test_a_truncated_image_in_a_live_program_is_an_error() -> None:
    program = _program()
    program.demos[1]["image"] = dspy.Image(_uri(_png()[:-200]))
    with pytest.raises(
        ImageInputError,
        match=r"cannot read image of predictor 'self', demo 1, field 'image' in the program: .*truncated",
    ):
        describe_program(program)


def test_a_vector_part_is_listed_as_sent_without_pixels(tmp_path: Path) -> None:
    # SVG and PDF parts load (DSPy sends them as they are, see tests/types): they are described the same way
    from specprompt.reports import CompileReport

    svg = "data:image/svg+xml;base64," + base64.b64encode(b"<svg xmlns='http://www.w3.org/2000/svg'/>").decode()
    program = _program()
    program.demos.append(dspy.Example(image=dspy.Image(svg), label="c"))
    rows = describe_program(program, cost_model="openai:gpt-4.1-mini").rows
    vector = rows[-1]
    assert (vector.kind, vector.sent_size, vector.local_tokens, vector.model_tokens) == ("image", None, 0, None)
    assert [r.sent_size for r in rows[:2]] == [rows[0].sent_size, (16, 16)] and rows[0].sent_size is not None
    page = CompileReport({"config": {"cost_model": "openai:gpt-4.1-mini"}, "front": [], "best": None}, program).html()
    assert "image sent: <code>data:image/svg+xml;base64," in page
    # a broken PNG is still refused: only the media types that are no raster image pass undecoded
    program.demos[-1] = dspy.Example(image=dspy.Image("data:image/png;base64," + base64.b64encode(b"junk").decode()))
    with pytest.raises(ImageInputError, match="demo 2"):
        describe_program(program)
