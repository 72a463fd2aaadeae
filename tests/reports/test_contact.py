"""contact_sheet keeps working: one row per spectrum, captions, errors."""

from __future__ import annotations

import numpy as np
import pytest

from specprompt import ConfigError, Selection, decompose
from specprompt.reports import contact_sheet


def test_contact_sheet() -> None:
    spec = decompose(np.random.default_rng(0).random((64, 48, 3), dtype=np.float32))
    sheet = contact_sheet(
        [("lap", spec, [("all", Selection.all()), ("coarse", Selection.of(["residual"]))])],
        cell=64,
        cost_model="openai:gpt-4o",
    )
    assert sheet.mode == "RGB" and sheet.size == (110 + 2 * (64 + 6) + 6, 64 + 30 + 12)
    assert np.asarray(sheet).std() > 0
    with pytest.raises(ConfigError, match="at least one row"):
        contact_sheet([])
    with pytest.raises(ConfigError, match="cell must be >= 32"):
        contact_sheet([("lap", spec, [("all", Selection.all())])], cell=8)
