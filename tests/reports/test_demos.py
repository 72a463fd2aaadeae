"""describe_program: the same rows from a program and from its saved JSON; multi-predictor states."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dspy
import pytest

from specprompt import ConfigError, UnknownNameError
from specprompt.reports import describe_program, read_program_state
from specprompt.types import SpectralImage


def test_program_and_json_agree(searched: tuple[Any, Any], tmp_path: Path) -> None:
    program, result = searched
    program.save(str(tmp_path / "p.json"))
    live = describe_program(program, cost_model="openai:gpt-4.1-mini")
    saved = describe_program(tmp_path / "p.json", cost_model="openai:gpt-4.1-mini")
    assert [r.to_dict() for r in live.rows] == [r.to_dict() for r in saved.rows]
    assert saved.tokens()[1] == result.best.tokens  # the search's price of the chosen prompt
    for r in saved.rows:
        if r.kind == "spectral":
            assert isinstance(r.image, SpectralImage) and r.bands is not None
    as_dict = json.loads((tmp_path / "p.json").read_text())
    assert describe_program(as_dict).to_dict()["local_tokens"] == saved.tokens()[0]
    html = saved._repr_html_()
    assert html.startswith("<table>") and "image tokens per prompt" in html and "gpt-4.1-mini" in html


def test_module_with_several_predictors(searched: tuple[Any, Any], tmp_path: Path) -> None:
    program, _ = searched

    class Two(dspy.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = program.deepcopy()
            self.b = dspy.Predict("question -> answer")
            self.b.demos = [dspy.Example(question="q", answer=None)]  # a None text field is no dropped image

    two = Two()
    two.save(str(tmp_path / "two.json"))
    states = read_program_state(tmp_path / "two.json")
    assert list(states) == ["a", "b"]
    images = describe_program(tmp_path / "two.json")
    assert dict(images.demos) == {"a": len(program.demos), "b": 1}
    assert {r.predictor for r in images.rows} == {"a"}
    assert images.tokens("b") == (0, None) and images.shown_model is None
    table = images.table()
    assert "predictor b: 1 demo(s), 0 image slot(s)" in table


def test_errors() -> None:
    with pytest.raises(UnknownNameError, match="unknown cost model"):
        describe_program(dspy.Predict("a -> b"), cost_model="nope")
    with pytest.raises(ConfigError, match="not a DSPy program state"):
        read_program_state({"x": 1})


def test_demo_image_is_built_with_keywords_only() -> None:
    from specprompt.reports import DemoImage

    row = DemoImage(predictor="self", demo=0, field="image", kind="dropped")
    assert (row.slot, row.kept_text(), row.local_tokens, row.model_tokens) == ("self/demo0/image", "dropped", 0, None)
    with pytest.raises(TypeError):
        DemoImage("self", 0, "image", None, "dropped")  # type: ignore[misc]


def test_every_demo_image_carries_its_label(searched: tuple[Any, Any], tmp_path: Path) -> None:
    program, _ = searched
    labels = [d.label for _, pred in program.named_predictors() for d in pred.demos]
    images = describe_program(program)
    assert [r.label for r in images.rows] == labels and all(labels)
    first = images.rows[0]
    assert first.title == f"{first.label} ({first.slot})" and first.to_dict()["label"] == first.label
    assert f"  {first.demo}     {first.label}  " in images.table()
    assert f"<td>{first.label}</td><td>{first.slot}</td>" in images._repr_html_()
    program.save(str(tmp_path / "p.json"))
    assert [r.label for r in describe_program(tmp_path / "p.json").rows] == labels


def test_labels_of_several_text_fields() -> None:
    from specprompt.reports._state import demo_labels

    p = dspy.ChainOfThought("image: dspy.Image, question -> answer")
    p.predict.demos = [dspy.Example(image=None, question="which  colour?", reasoning="r", answer="red")]
    assert demo_labels(p) == {("predict", 0): "red"}  # outputs only, reasoning left out
    state = {"demos": [{"question": "which\ncolour?", "answer": "x" * 80}], "signature": {}, "lm": None}
    (text,) = demo_labels(state).values()  # a saved state does not say which fields are outputs
    assert text.startswith("question=which colour?; answer=xxx") and len(text) == 60 and text.endswith("...")
    assert demo_labels({"demos": [{"image": None}], "signature": {}, "lm": None}) == {}


def test_local_tokens_follow_the_local_checkpoint() -> None:
    import numpy as np

    from specprompt.cost import image_tokens

    program = dspy.Predict("image: dspy.Image -> label")
    pixels = np.random.default_rng(0).integers(0, 256, (256, 320, 3), dtype=np.uint8)
    from PIL import Image

    program.demos = [dspy.Example(image=dspy.Image(Image.fromarray(pixels)), label="a")]
    v1 = describe_program(program)
    v2 = describe_program(program, local_model="local:band-vlm-v2")
    assert v1.local_model == "local" and v2.local_model == "local:band-vlm-v2"
    assert v1.rows[0].local_tokens == image_tokens("local", 320, 256)
    assert v2.rows[0].local_tokens == image_tokens("local:band-vlm-v2", 320, 256) > v1.rows[0].local_tokens
    assert "local:band-vlm-v2" in v2.table() and v2.to_dict()["local_model"] == "local:band-vlm-v2"
    # a local cost model is the local column's model too, and is not shown twice
    by_cost = describe_program(program, cost_model="local:band-vlm-v2")
    assert by_cost.rows[0].local_tokens == v2.rows[0].local_tokens and by_cost.shown_model is None
    with pytest.raises(ConfigError, match="local_model must be a local cost model"):
        describe_program(program, local_model="openai:gpt-4.1-mini")


def test_a_corrupt_demo_image_is_named_by_file_predictor_demo_and_field(
    searched: tuple[Any, Any], tmp_path: Path
) -> None:
    import base64
    import io
    import re

    from PIL import Image, PngImagePlugin

    from specprompt import ImageInputError

    program, _ = searched
    path = tmp_path / "p.json"
    program.save(str(path))
    text = path.read_text()
    uri = re.search(r"data:image/png;base64,[A-Za-z0-9+/=]+", text)
    assert uri is not None
    junk = "data:image/png;base64," + base64.b64encode(b"\x89PNG junk").decode()
    (tmp_path / "junk.json").write_text(text.replace(uri.group(0), junk, 1))
    with pytest.raises(
        ImageInputError,
        match=r"cannot read image of predictor '\w+', demo 0, field 'image' in \S+junk.json: not an image",
    ):
        describe_program(tmp_path / "junk.json")

    def tampered(name: str, **change: str) -> Path:
        with Image.open(io.BytesIO(base64.b64decode(uri.group(0).split(",", 1)[1]))) as im:
            meta = {**json.loads(im.info["specprompt"]), **change}
            info = PngImagePlugin.PngInfo()
            info.add_text("specprompt", json.dumps(meta))
            buf = io.BytesIO()
            im.save(buf, "PNG", pnginfo=info)
        png = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
        (tmp_path / name).write_text(text.replace(uri.group(0), png, 1))
        return tmp_path / name

    with pytest.raises(ImageInputError, match=r"field 'image' in \S+scheme.json: .*unknown scheme 'nope'"):
        describe_program(tampered("scheme.json", scheme="nope"))
    l9 = json.dumps({"bands": ["L9", "residual"], "tiles": {}}, separators=(",", ":"))  # canonical
    with pytest.raises(
        ImageInputError, match=r"band.json: its specprompt metadata keeps band\(s\) \['L9'\] that a laplacian layout"
    ):
        describe_program(tampered("band.json", selection=l9))


def test_the_table_keeps_its_columns_with_wide_labels() -> None:
    from PIL import Image

    program = dspy.Predict("image: dspy.Image -> label")
    labels = ["cat", "Ünïcødé 猫", "chat noir", "ne\u0301e"]  # a CJK character (2 columns), a combining accent (0)
    program.demos = [dspy.Example(image=dspy.Image(Image.new("RGB", (8, 8))), label=label) for label in labels]
    lines = [line for line in describe_program(program).table().splitlines() if line.startswith("  ")][
        : len(labels) + 1
    ]
    starts = {_column(line, "image") for line in lines[1:]}  # the field column, after the label column
    assert len(starts) == 1, lines
    assert _column(lines[0], "field") == starts.pop()


def _column(line: str, word: str) -> int:
    """The display column where ``word`` starts in ``line`` (wide characters count two)."""
    from specprompt.reports._demos import _display_width

    return _display_width(line[: line.index(word)])


def test_bands_above_the_sent_nyquist_are_not_listed_as_kept(resized: tuple[Any, Any], tmp_path: Path) -> None:
    program, _ = resized
    program.save(str(tmp_path / "p.json"))
    for images in (describe_program(program), describe_program(tmp_path / "p.json")):
        half, partly, exact = images.rows
        assert (half.removed_by_resize, half.cutoff) == (("L0",), 0.5)
        assert half.kept_text() == "residual, L1 (2 of 3); removed by the resize: L0"
        assert (partly.removed_by_resize, partly.cutoff) == ((), 0.625)  # L0 straddles 0.625 of Nyquist
        assert partly.kept_text() == "residual, L0 (2 of 3)"
        assert exact.sent_size == (32, 32) and (exact.removed_by_resize, exact.cutoff) == ((), None)
        assert exact.kept_text() == "residual, L1 (2 of 3)"  # an exact render loses no kept band
        assert "removed by the resize: L0" in images.table() and "removed by the resize: L0" in images._repr_html_()
        assert images.to_dict()["images"][0]["removed_by_resize"] == ["L0"]


def test_a_program_whose_search_dropped_every_image_lists_them(searched: tuple[Any, Any], tmp_path: Path) -> None:
    _, result = searched
    text_only = result.baselines["text_only"].program
    text_only.save(str(tmp_path / "p.json"))
    for images in (describe_program(text_only), describe_program(tmp_path / "p.json")):
        assert images.rows and all(r.kind == "dropped" for r in images.rows) and images.text_only
        assert len(images.rows) == len(text_only.demos)
        table = images.table()
        assert f"no demo image is sent: all {len(images.rows)} were dropped (text-only demos)" in table
        assert table.count("dropped") == len(images.rows) + 1
    # a None text value alone says nothing of images: no row, and not text-only demos
    plain = dspy.Predict("question -> answer")
    plain.demos = [dspy.Example(question="q", answer=None)]
    none = describe_program(plain)
    assert not none.rows and not none.text_only
    assert none.table().splitlines()[:2] == [
        "predictor self: 1 demo(s), 0 image slot(s)",
        "  image tokens per prompt: 0 local",
    ]


def test_a_detail_crop_says_where_it_was_cut_from(cropped: tuple[Any, Any], tmp_path: Path) -> None:
    from specprompt.types import content_hash

    program, source = cropped
    program.save(str(tmp_path / "p.json"))
    for images in (describe_program(program), describe_program(tmp_path / "p.json")):
        whole, crop = images.rows
        assert whole.crop_box is None and whole.crop_text() is None
        assert (crop.crop_box, crop.crop_source_size, crop.crop_source_hash) == (
            (16, 8, 24, 20),
            (64, 48),
            content_hash(source),
        )
        assert crop.source_size == crop.sent_size == (24, 20)
        assert crop.kept_text() == "detail crop 24x20 at (16, 8) of the 64x48 image: all (2)"
        assert "detail crop 24x20 at (16, 8) of the 64x48 image" in images.table()
        assert images.to_dict()["images"][1]["crop_box"] == [16, 8, 24, 20]


def test_a_sharpened_demo_image_says_so_where_its_sent_size_is_shown(
    sharpened: tuple[Any, Any], tmp_path: Path
) -> None:
    program, _ = sharpened
    program.save(str(tmp_path / "p.json"))
    for images in (describe_program(program), describe_program(tmp_path / "p.json")):
        sharp, plain = images.rows
        assert (sharp.sharpen, plain.sharpen) == (100, None)
        assert (sharp.sent_text(), plain.sent_text()) == ("32x32, sharpened 100%", "32x32")
        table, page = images.table(), images._repr_html_()
        assert table.count("32x32, sharpened 100%") == 1 and page.count("<td>32x32, sharpened 100%</td>") == 1
        assert page.count("<td>32x32</td>") == 1
        assert [r["sharpen"] for r in images.to_dict()["images"]] == [100, None]
