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
    with pytest.raises(ConfigError, match="cell must be >= 32"):
        contact_sheet([("lap", spec, [("all", Selection.all())])], cell=8)
    with pytest.raises(UnknownNameError):
        contact_sheet([("lap", spec, sels)], cost_models=["nope:model"])


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
