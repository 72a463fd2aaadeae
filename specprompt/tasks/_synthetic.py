"""Built-in procedurally generated tasks: one whose label lives in the low frequencies, one whose
label lives only in the finest ones, and one in between drawn over real photos."""

from __future__ import annotations

from functools import lru_cache
from typing import ClassVar

import numpy as np

from specprompt.tasks._base import ImageTaskGenerator, register_task, smooth_field, to_uint8

__all__ = ["ColourPosition", "FineTexture", "Gauge"]


class ColourPosition(ImageTaskGenerator):
    """``colour-position``: which quadrant holds a large coloured disc (each quadrant has its own colour).

    The label is carried by the coarsest bands (a disc of radius ~ size / 6 and its colour);
    per-pixel uniform noise (sigma 0.06) and a fine random speckle are added and carry nothing, so a
    selection that keeps only the coarse bands (e.g. the Laplacian residual) keeps the label.

    Example:
        >>> ColourPosition().draw(0, np.random.default_rng(0), 64).shape
        (64, 64, 3)
    """

    name = "colour-position"
    labels = ("top-left", "top-right", "bottom-left", "bottom-right")
    instructions = "Which quadrant of the picture holds the large coloured disc?"
    image_desc = "a noisy picture with one large coloured disc"
    _centres: ClassVar[tuple[tuple[float, float], ...]] = ((0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75))
    _colours: ClassVar[tuple[tuple[float, float, float], ...]] = (
        (0.92, 0.22, 0.18),  # red
        (0.22, 0.80, 0.28),  # green
        (0.20, 0.36, 0.92),  # blue
        (0.93, 0.85, 0.20),  # yellow
    )

    def draw(self, label: int, rng: np.random.Generator, size: int) -> np.ndarray:
        img = smooth_field(rng, size, 0.05, 0.45)
        cx, cy = ((np.array(self._centres[label]) + rng.uniform(-0.07, 0.07, 2)) * size).tolist()
        radius = rng.uniform(0.14, 0.2) * size
        colour = np.clip(np.array(self._colours[label]) + rng.uniform(-0.08, 0.08, 3), 0, 1).astype(np.float32)
        yy, xx = _grid(size)
        dist = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2)
        alpha = np.clip((radius - dist) / max(1.0, 0.02 * size), 0.0, 1.0)[:, :, None]
        img += alpha * (colour - img)
        img += _uniform_noise(rng, img.shape, 0.06)
        img += (rng.random((size, size, 1), dtype=np.float32) < 0.03) * np.float32(rng.uniform(-0.3, 0.3))
        return to_uint8(img)


class FineTexture(ImageTaskGenerator):
    """``fine-texture``: the direction of a faint fine grating (period 3 px) over a random background.

    Every class shares the same distribution of low-frequency background colour; the label is
    the orientation of a sinusoidal grating of period ``period`` px (random phase, +-4 degrees
    jitter), so halving the image twice removes it (the binomial low-pass of a Laplacian
    pyramid passes 6% of a 3 px period and nothing after the next halving).

    Example:
        >>> FineTexture().draw(1, np.random.default_rng(0), 64).dtype
        dtype('uint8')
    """

    name = "fine-texture"
    labels = ("horizontal", "vertical", "rising", "falling")
    instructions = "Which way do the fine stripes run: horizontal, vertical, rising (/) or falling (\\)?"
    image_desc = "a picture covered by faint fine stripes"
    # direction of the wave vector (x right, y down) for stripes of each label
    _angles: ClassVar[tuple[float, ...]] = (90.0, 0.0, 45.0, 135.0)
    period = 3.0
    amplitude = 0.16

    def draw(self, label: int, rng: np.random.Generator, size: int) -> np.ndarray:
        img = smooth_field(rng, size, 0.3, 0.7)
        theta = np.deg2rad(self._angles[label] + rng.uniform(-4.0, 4.0))
        yy, xx = _grid(size)
        phase = rng.uniform(0, 2 * np.pi)
        k = np.float32(2 * np.pi / self.period)
        wave = np.sin(k * np.float32(np.cos(theta)) * xx + k * np.float32(np.sin(theta)) * yy + np.float32(phase))
        img += np.float32(self.amplitude) * wave[:, :, None]
        img += _uniform_noise(rng, img.shape, 0.015)
        return to_uint8(img)


def _uniform_noise(rng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> np.ndarray:
    """Zero-mean uniform noise with standard deviation ``sigma`` (cheaper than Gaussian)."""
    noise = rng.random(shape, dtype=np.float32)
    noise -= np.float32(0.5)
    noise *= np.float32(sigma * np.sqrt(12.0))
    return noise


@lru_cache(maxsize=8)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    yy.flags.writeable = False
    xx.flags.writeable = False
    return yy, xx


@lru_cache(maxsize=1)
def _photos() -> tuple[np.ndarray, ...]:
    import skimage.data

    out = []
    for name in ("coffee", "chelsea", "rocket", "camera", "brick", "gravel"):
        arr = np.asarray(getattr(skimage.data, name)(), np.float32) / 255.0
        if arr.ndim == 2:
            arr = np.repeat(arr[:, :, None], 3, axis=2)
        out.append(arr)
    return tuple(out)


class Gauge(ImageTaskGenerator):
    """``gauge``: where the thin needle of a round dial points, drawn over a photo from ``skimage.data``.

    The dial face is a light disc over a dim, low-contrast photo (low frequencies); the label is
    the angle of a dark red needle about size / 96 px wide, which survives a couple of halvings
    and fades after that: a task in the middle bands.

    Example:
        >>> Gauge().draw(2, np.random.default_rng(0), 64).shape
        (64, 64, 3)
    """

    name = "gauge"
    labels = ("low", "medium", "high", "critical")
    instructions = "Read the dial: is the needle in the low, medium, high or critical range?"
    image_desc = "a photo of a round dial with one needle"
    # needle angle ranges in degrees, clockwise from pointing left (0) to pointing right (180)
    _ranges: ClassVar[tuple[tuple[float, float], ...]] = ((10, 40), (55, 85), (95, 125), (140, 170))

    def draw(self, label: int, rng: np.random.Generator, size: int) -> np.ndarray:
        import cv2

        photos = _photos()
        photo = photos[int(rng.integers(len(photos)))]
        h, w = photo.shape[:2]
        side = int(rng.integers(min(h, w) // 2, min(h, w) + 1))
        y0, x0 = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        img = cv2.resize(photo[y0 : y0 + side, x0 : x0 + side], (size, size), interpolation=cv2.INTER_AREA)
        img = np.ascontiguousarray(0.25 + 0.35 * img * rng.uniform(0.7, 1.0))  # a dim, low-contrast backdrop
        scale = 16  # cv2 drawing with 4 fractional bits
        centre = (size / 2 + rng.uniform(-0.03, 0.03, 2) * size) * scale
        radius = rng.uniform(0.4, 0.45) * size
        face = tuple(float(v) for v in np.clip(0.9 + rng.uniform(-0.06, 0.06, 3), 0, 1))
        c = (int(centre[0]), int(centre[1]))
        cv2.circle(img, c, int(radius * scale), face, -1, cv2.LINE_AA, shift=4)
        lo, hi = self._ranges[label]
        angle = np.deg2rad(rng.uniform(lo, hi))
        tip = centre + np.array([-np.cos(angle), -np.sin(angle)]) * radius * 0.9 * scale
        thickness = max(1, round(size / 96))
        cv2.line(img, c, (int(tip[0]), int(tip[1])), (0.75, 0.05, 0.05), thickness, cv2.LINE_AA, shift=4)
        return to_uint8(img)


for _gen in (ColourPosition(), FineTexture(), Gauge()):
    register_task(_gen)
