"""contact_sheet: one row per spectrum, captions priced by the image sent, errors."""

from __future__ import annotations

import numpy as np
import pytest

from specprompt import ConfigError, Selection, UnknownNameError, decompose
from specprompt.reports import contact_sheet
from specprompt.reports._contact import _kind, _price


def test_contact_sheet() -> None:
    spec = decompose(np.random.default_rng(0).random((64, 48, 3), dtype=np.float32))
    sels = [("all", Selection.all()), ("coarse", Selection.of(["residual"]))]
    sheet = contact_sheet([("lap", spec, sels)], cell=64)
    legend, caption = 2 * 13 + 6, 4 * 13 + 4  # two legend lines; label + gpt-4.1-mini, gpt-4o, local
    assert sheet.mode == "RGB" and sheet.size == (110 + 2 * (64 + 6) + 6, legend + 64 + caption + 6 + 6)
    assert np.asarray(sheet).std() > 0
    one_model = contact_sheet([("lap", spec, sels)], cell=64, cost_models=["qwen2-vl"])
    assert one_model.size[1] == sheet.size[1] - 13
    with pytest.raises(ConfigError, match="at least one row"):
        contact_sheet([])
    with pytest.raises(ConfigError, match="cell must be an int >= 32"):
        contact_sheet([("lap", spec, [("all", Selection.all())])], cell=8)
    with pytest.raises(UnknownNameError):
        contact_sheet([("lap", spec, sels)], cost_models=["nope:model"])


def test_one_model_name_is_one_model() -> None:
    spec = decompose(np.random.default_rng(0).random((64, 48, 3), dtype=np.float32))
    rows = [("lap", spec, [("all", Selection.all()), ("default", None)])]
    one = contact_sheet(rows, cell=64, cost_models="openai:gpt-4o")
    assert np.array_equal(np.asarray(one), np.asarray(contact_sheet(rows, cell=64, cost_models=["openai:gpt-4o"])))
    with pytest.raises(ConfigError, match="cost_models must be a model name or a sequence of names"):
        contact_sheet(rows, cost_models=[5])  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("rows", "match"),
    [
        ([1, 2], r"rows\[0\] must be \(title, Spectrum, \[\(label, Selection\), \.\.\.\]\), got 1"),
        ("abc", "rows must be a sequence of rows, got str"),
        ([("t", "not a spectrum", [])], r"rows\[0\] must hold a Spectrum second, got str"),
        ([(1, "SPEC", [])], r"rows\[0\] title must be a str, got int"),
        ([("t", "SPEC", "all")], r"rows\[0\] must end with a list of \(label, Selection\)"),
        ([("t", "SPEC", [("all", "L0")])], r"rows\[0\] cell 0 must be \(label, Selection or None\)"),
        ([("t", "SPEC", [("all",)])], r"rows\[0\] cell 0 must be"),
    ],
)
def test_malformed_rows_are_refused(rows: object, match: str) -> None:
    spec = decompose(np.zeros((32, 32, 3), np.float32))

    def fill(value: object) -> object:
        return spec if value == "SPEC" else value

    rows = [tuple(fill(v) for v in r) if isinstance(r, tuple) else r for r in rows] if isinstance(rows, list) else rows
    with pytest.raises(ConfigError, match=match):
        contact_sheet(rows)  # type: ignore[arg-type]


def test_captions_show_the_saving_against_the_whole_image() -> None:
    assert _price(104, 415, "gpt-4.1-mini") == "104 gpt-4.1-mini  -74%"
    assert _price(2, 415, "gpt-4.1-mini") == "2 gpt-4.1-mini  -99%"  # floored: only 0 tokens saves 100%
    assert _price(255, 255, "gpt-4o") == "255 gpt-4o"


def test_legend_says_how_each_model_bills() -> None:
    from specprompt import get_cost_model

    assert _kind(get_cost_model("openai:gpt-4.1-mini")) == "(32 px patches)"
    assert _kind(get_cost_model("openai:gpt-4o")) == "(512 px tiles)"
    assert _kind(get_cost_model("qwen2-vl")) == "(14 px patches)"
    assert _kind(get_cost_model("anthropic:claude-sonnet-4")) == "(per pixel)"
    assert _kind(get_cost_model("local")) == "(band VLM, reads 64 px)"
    assert _kind(get_cost_model("local:band-vlm-v2")) == "(band VLM, reads 256 px)"


def test_a_transparent_image_is_shown_on_white() -> None:
    logo = np.zeros((32, 32, 4), np.float32)
    logo[8:24, 8:24, 3] = 1.0  # a black box on a clear background
    sheet = np.asarray(contact_sheet([("logo", decompose(logo), [("all", Selection.all())])], cell=64))
    x, y = 110 + 6, 2 * 13 + 6 + 6  # the top-left corner of the first cell
    assert sheet[y + 2, x + 2].tolist() == [255, 255, 255] and sheet[y + 32, x + 32].tolist() == [0, 0, 0]
