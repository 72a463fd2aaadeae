"""The shared progress bars: hidden when switched off, counts safe across threads."""

from __future__ import annotations

import io
import threading
from typing import Any

import pytest
from tqdm import tqdm

import specprompt._progress as progress
from specprompt._progress import GrowingBar, progress_bar


def shown_bars(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bool, Any]]:
    """Makes every bar a real, shown tqdm bar writing into a buffer; returns ``(desc, enabled, bar)`` s."""
    made: list[tuple[str, bool, Any]] = []

    def make(desc: str, *, total: int | None, unit: str, enabled: bool, initial: int = 0) -> Any:
        bar = tqdm(total=total, initial=initial, desc=desc, unit=unit, disable=False, file=io.StringIO())
        made.append((desc, enabled, bar))
        return bar

    monkeypatch.setattr(progress, "progress_bar", make)
    return made


def test_a_bar_switched_off_is_never_shown() -> None:
    bar = progress_bar("x", total=3, unit="file", enabled=False)
    assert bar.disable
    bar.close()


def test_a_growing_bar_loses_no_count_across_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    made = shown_bars(monkeypatch)
    bar = GrowingBar("finalists", "example", enabled=True)

    def work() -> None:
        for _ in range(200):
            bar.add(1)
            bar.update(1)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert bar.counts == (1600, 1600)
    shown = made[0][2]
    assert (shown.n, shown.total) == (1600, 1600)
    bar.close()
