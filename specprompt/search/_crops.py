"""Detail crops: the window of an image where its fine bands carry the most energy."""

from __future__ import annotations

import numpy as np

from specprompt.spectral import Selection, Spectrum

__all__ = ["FINE_FROM", "detail_box"]

#: Bands whose lower frequency bound is at least this fraction of Nyquist count as fine.
FINE_FROM = 0.25


def detail_box(spectrum: Spectrum, fraction: float) -> tuple[int, int, int, int]:
    """The ``(top, left, height, width)`` window of side ``fraction`` holding most fine-band energy.

    Fine bands are those with ``freq_range[0] >= FINE_FROM``; their full-size reconstruction is
    squared, summed over channels and box-summed with an integral image.

    Convention:
        Sides are ``max(1, round(side * fraction))``; ties go to the top-left-most window, and
        an image without fine bands (tiny) gets the centred window.

    Example:
        >>> from specprompt import decompose
        >>> img = np.zeros((64, 64, 1), np.float32)
        >>> img[40:60:2, 4:24] = 1.0  # stripes in the lower left
        >>> detail_box(decompose(img), 0.5)
        (32, 0, 32, 32)
    """
    h, w = spectrum.shape[0], spectrum.shape[1]
    ch, cw = max(1, round(h * fraction)), max(1, round(w * fraction))
    fine = [b.name for b in spectrum.bands if b.freq_range[0] >= FINE_FROM]
    if not fine:
        return (h - ch) // 2, (w - cw) // 2, ch, cw
    hp = spectrum.reconstruct(Selection.of(fine)).astype(np.float64)
    energy = np.square(hp).sum(axis=2)
    integral = np.zeros((h + 1, w + 1))
    integral[1:, 1:] = energy.cumsum(0).cumsum(1)
    sums = integral[ch:, cw:] - integral[:-ch, cw:] - integral[ch:, :-cw] + integral[:-ch, :-cw]
    top, left = np.unravel_index(int(np.argmax(sums)), sums.shape)
    return int(top), int(left), ch, cw
