"""Progress bars: made in one place, so every long phase shows and hides its bar the same way.

A bar is shown only on a terminal (tqdm's ``disable=None``) and never when the caller's ``progress``
switch is off (``SearchConfig.progress``, ``--no-progress``): logs and captured output stay free of
bar lines. Bars write to stderr, as log lines do; a phase still logs one line of its own.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tqdm.std import tqdm

__all__ = ["GrowingBar", "progress_bar"]


def progress_bar(desc: str, *, total: int | None, unit: str, enabled: bool, initial: int = 0) -> tqdm[Any]:
    """A tqdm bar named ``desc`` counting ``unit`` s; shown only on a terminal, and only when ``enabled``.

    Args:
        desc: what the bar counts, e.g. ``"band search"``, ``"baseline full"``.
        total: how many there are (``None``: not known, the bar counts up).
        unit: the counted thing, singular (``"trial"``, ``"example"``, ``"file"``).
        enabled: the caller's ``progress`` switch; ``False`` never shows the bar.
        initial: already done (a resumed search).
    """
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit=unit, disable=None if enabled else True)


class GrowingBar:
    """A bar whose total grows as work is handed out: a phase that scores candidates one after
    another learns how many examples each one runs only when it starts it.

    :meth:`add` and :meth:`update` may be called from several threads at once (the scorer's
    ``num_threads``): both hold one lock, so no count is lost and the bar is redrawn by one
    thread at a time.

    Example:
        >>> bar = GrowingBar("finalists", "example", enabled=False)
        >>> bar.add(3); bar.update(2); bar.counts
        (2, 3)
        >>> bar.close()
    """

    def __init__(self, desc: str, unit: str, *, enabled: bool) -> None:
        self._bar = progress_bar(desc, total=0, unit=unit, enabled=enabled)
        self._lock = threading.Lock()
        self._done = 0
        self._total = 0

    @property
    def counts(self) -> tuple[int, int]:
        """``(done, total)`` so far (counted also when the bar is hidden)."""
        with self._lock:
            return self._done, self._total

    def add(self, n: int) -> None:
        """``n`` more to do."""
        if n <= 0:
            return
        with self._lock:
            self._total += n
            self._bar.total = self._total
            self._bar.refresh()

    def update(self, n: int = 1) -> None:
        """``n`` more done."""
        if n <= 0:
            return
        with self._lock:
            self._done += n
            self._bar.update(n)

    def close(self) -> None:
        """Closes the bar (it stays on the terminal with its last counts)."""
        with self._lock:
            self._bar.close()
