"""Procedural task families: 64 x 64 RGB scenes whose deciding attribute lives in one frequency range.

A :class:`Family` renders an image for a given *value* of its deciding attribute (a class, whose
answer string is ``family.values[i]``) while every other attribute (colour, position, size, shape,
background, ...) is drawn at random, so the attribute that matters changes from episode to episode
and the model has to read it off the demonstrations. Every render also returns the values of the
*training* attributes it fixed (``AUX_ATTRIBUTES``), used as an auxiliary loss.

Convention:
    Images are float32 ``(64, 64, 3)`` in [0, 1], pixel centres at ``i + 0.5``. Each family owns no
    RNG: callers pass a seeded :class:`numpy.random.Generator`, so episodes are reproducible.

Example:
    >>> import numpy as np
    >>> img, aux = get_family("colour").render(np.random.default_rng(0), 2)
    >>> img.shape, aux["colour"]
    ((64, 64, 3), 2)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from specprompt.errors import ConfigError, UnknownNameError

__all__ = [
    "AUX_ATTRIBUTES",
    "COLOURS",
    "FAMILIES",
    "HELD_OUT_FAMILIES",
    "SHAPES",
    "TRAIN_FAMILIES",
    "Family",
    "available_families",
    "get_family",
]

SIZE = 64
_YY, _XX = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) + np.float32(0.5)

COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (0.92, 0.12, 0.10),
    "orange": (1.00, 0.55, 0.05),
    "yellow": (0.95, 0.92, 0.15),
    "green": (0.12, 0.78, 0.20),
    "cyan": (0.10, 0.85, 0.92),
    "blue": (0.15, 0.28, 0.98),
    "purple": (0.62, 0.20, 0.88),
    "pink": (1.00, 0.55, 0.78),
    "white": (0.96, 0.96, 0.96),
}
COLOUR_NAMES = tuple(COLOURS)
SHAPES = ("circle", "square", "triangle", "diamond", "cross", "ring", "star", "hexagon", "crescent")
POSITIONS = ("top left", "top", "top right", "left", "centre", "right", "bottom left", "bottom", "bottom right")
TEXTURES = ("solid", "stripes", "checker", "dots", "grid", "noise", "rings")
ORIENTATIONS = ("0 degrees", "30 degrees", "60 degrees", "90 degrees", "120 degrees", "150 degrees")
GLYPHS = tuple("ABCDEFGHKLMNPRSTUVWXYZ2345789")
COUNTS = ("1", "2", "3", "4", "5", "6", "7")
SIZES = ("tiny", "small", "medium", "large", "huge")
ELONGATIONS = ("1:1", "3:2", "5:2", "7:2", "5:1")

#: Attributes with an auxiliary classification head: name -> number of classes.
AUX_ATTRIBUTES: dict[str, int] = {
    "shape": len(SHAPES),
    "colour": len(COLOUR_NAMES),
    "position": len(POSITIONS),
    "texture": len(TEXTURES),
    "orientation": len(ORIENTATIONS),
    "glyph": len(GLYPHS),
    "count": len(COUNTS),
}

Aux = dict[str, int]


# -- drawing primitives -----------------------------------------------------------------------------
def _f32(x: Any) -> np.ndarray:
    return np.asarray(x, np.float32)


def _sdf(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Signed distance-like field of a unit-radius shape in local coordinates (negative inside)."""
    r = np.sqrt(u * u + v * v)
    if shape == "circle":
        return _f32(r - 1.0)
    if shape == "square":
        return _f32(np.maximum(np.abs(u), np.abs(v)) - 0.8)
    if shape == "diamond":
        return _f32((np.abs(u) + np.abs(v)) / math.sqrt(2) - 0.72)
    if shape == "cross":
        a = np.maximum(np.abs(u) - 0.32, np.abs(v) - 1.0)
        b = np.maximum(np.abs(u) - 1.0, np.abs(v) - 0.32)
        return _f32(np.minimum(a, b))
    if shape == "ring":
        return _f32(np.abs(r - 0.72) - 0.28)
    if shape == "star":
        theta = np.arctan2(v, u)
        return _f32((r - (0.62 + 0.38 * np.cos(5 * theta))) * 0.6)
    if shape in ("triangle", "hexagon"):
        n = 3 if shape == "triangle" else 6
        apothem = 0.55 if n == 3 else 0.85
        d = np.full_like(u, -np.inf)
        for k in range(n):
            a = 2 * math.pi * k / n - math.pi / 2
            d = np.maximum(d, u * math.cos(a) + v * math.sin(a) - apothem)
        return _f32(d)
    if shape == "crescent":
        return _f32(np.maximum(r - 1.0, -(np.sqrt((u - 0.45) ** 2 + v * v) - 0.8)))
    raise ConfigError(f"unknown shape {shape!r}; known: {', '.join(SHAPES)}")  # pragma: no cover


def _mask(shape: str, cx: float, cy: float, radius: float, angle: float = 0.0, aspect: float = 1.0) -> np.ndarray:
    """Anti-aliased coverage in [0, 1] of ``shape`` centred at ``(cx, cy)`` (pixels), rotated by ``angle``."""
    c, s = math.cos(angle), math.sin(angle)
    dx, dy = _XX - cx, _YY - cy
    u = (c * dx + s * dy) / (radius * math.sqrt(aspect))
    v = (-s * dx + c * dy) / (radius / math.sqrt(aspect))
    scale = radius / math.sqrt(aspect) if aspect > 1 else radius
    out: np.ndarray = np.clip(0.5 - _sdf(shape, u, v) * scale, 0.0, 1.0)
    return out


def _pattern(rng: np.random.Generator, kind: str, angle: float, period: float) -> np.ndarray:
    """A [0, 1] fill pattern over the whole canvas (1 = full colour)."""
    c, s = math.cos(angle), math.sin(angle)
    a = (_XX * c + _YY * s) * (2 * math.pi / period) + rng.uniform(0, 2 * math.pi)
    b = (-_XX * s + _YY * c) * (2 * math.pi / period) + rng.uniform(0, 2 * math.pi)
    if kind == "solid":
        return np.ones((SIZE, SIZE), np.float32)
    if kind == "stripes":
        p = np.cos(a)
    elif kind == "checker":
        p = np.cos(a / 1.4) * np.cos(b / 1.4) * 2.0
    elif kind == "dots":
        p = (np.cos(a) + np.cos(b)) - 1.0
    elif kind == "grid":
        p = 1.0 - 2.0 * np.maximum(np.cos(a), np.cos(b)) ** 8 - 0.3
    elif kind == "noise":
        p = rng.standard_normal((SIZE // 2, SIZE // 2)).repeat(2, 0).repeat(2, 1) * 2.0
    elif kind == "rings":
        cx, cy = rng.uniform(16, 48, size=2)
        p = np.cos(np.sqrt((_XX - cx) ** 2 + (_YY - cy) ** 2) * (2 * math.pi / period))
    else:  # pragma: no cover - internal
        raise ConfigError(f"unknown texture {kind!r}; known: {', '.join(TEXTURES)}")
    return _f32(np.clip(0.5 + 1.5 * p, 0.0, 1.0))


def _colour(rng: np.random.Generator, idx: int | None = None) -> tuple[int, np.ndarray]:
    i = int(rng.integers(len(COLOUR_NAMES))) if idx is None else idx
    rgb = np.asarray(COLOURS[COLOUR_NAMES[i]], np.float32) + rng.uniform(-0.05, 0.05, 3).astype(np.float32)
    return i, np.clip(rgb, 0.0, 1.0)


def _background(rng: np.random.Generator) -> np.ndarray:
    v = rng.uniform(0.02, 0.3)
    img = np.empty((SIZE, SIZE, 3), np.float32)
    img[:] = np.clip(v + rng.uniform(-0.05, 0.05, 3), 0, 1)
    return img


def _paint(img: np.ndarray, alpha: np.ndarray, rgb: np.ndarray, pattern: np.ndarray | None = None) -> None:
    fill = rgb[None, None, :] if pattern is None else rgb[None, None, :] * (0.25 + 0.75 * pattern[:, :, None])
    a = alpha[:, :, None]
    img *= 1.0 - a
    img += a * fill


def _cell(pos: int) -> tuple[float, float]:
    return SIZE * (1 + 2 * (pos % 3)) / 6, SIZE * (1 + 2 * (pos // 3)) / 6


def _cell_of(cx: float, cy: float) -> int:
    return min(2, int(cy * 3 / SIZE)) * 3 + min(2, int(cx * 3 / SIZE))


def _object_scene(
    rng: np.random.Generator,
    *,
    shape: int | None = None,
    colour: int | None = None,
    radius: float | None = None,
    centre: tuple[float, float] | None = None,
    texture: int | None = None,
    angle: float | None = None,
    period: float | None = None,
    aspect: float = 1.0,
    spin: float = 0.3,
    background: np.ndarray | None = None,
) -> tuple[np.ndarray, Aux]:
    """One object on a background; unspecified attributes are drawn from ``rng``."""
    s = int(rng.integers(len(SHAPES))) if shape is None else shape
    ci, rgb = _colour(rng, colour)
    r = float(rng.uniform(9, 20)) if radius is None else radius
    if centre is None:
        lo, hi = r + 1, SIZE - r - 1
        cx, cy = (float(rng.uniform(lo, hi)), float(rng.uniform(lo, hi))) if hi > lo else (SIZE / 2, SIZE / 2)
    else:
        cx, cy = centre
    img = _background(rng) if background is None else background
    t = 0 if texture is None else texture
    th = float(rng.uniform(0, math.pi)) if angle is None else angle
    pattern = None
    if t:
        per = float(rng.uniform(3.5, 5.0)) if period is None else period
        pattern = _pattern(rng, TEXTURES[t], th, per)
    rot = float(rng.uniform(-spin, spin))
    _paint(img, _mask(SHAPES[s], cx, cy, r, rot, aspect), rgb, pattern)
    aux: Aux = {"shape": s, "colour": ci, "position": _cell_of(cx, cy)}
    if texture is not None:
        aux["texture"] = t
    return img, aux


# -- families -----------------------------------------------------------------------------------------
def _r_shape(rng: np.random.Generator, v: int) -> tuple[np.ndarray, Aux]:
    r = float(rng.uniform(13, 22))
    c = SIZE / 2 + rng.uniform(-7, 7, 2)
    tex = 0 if rng.random() < 0.8 else int(rng.integers(1, len(TEXTURES)))
    return _object_scene(rng, shape=v, radius=r, centre=(float(c[0]), float(c[1])), texture=tex)


def _r_colour(rng: np.random.Generator, v: int) -> tuple[np.ndarray, Aux]:
    return _object_scene(rng, colour=v, radius=float(rng.uniform(6, 18)))


def _r_position(rng: np.random.Generator, v: int) -> tuple[np.ndarray, Aux]:
    cx, cy = _cell(v)
    j = rng.uniform(-4, 4, 2)
    return _object_scene(rng, radius=float(rng.uniform(5, 8)), centre=(cx + float(j[0]), cy + float(j[1])))


def _r_texture(rng: np.random.Generator, v: int) -> tuple[np.ndarray, Aux]:
    return _object_scene(
        rng, texture=v, radius=float(rng.uniform(22, 30)), centre=tuple(SIZE / 2 + rng.uniform(-4, 4, 2)), spin=3.2
    )


def _r_orientation(rng: np.random.Generator, v: int) -> tuple[np.ndarray, Aux]:
    angle = math.radians(30 * v + float(rng.uniform(-3, 3)) + 90)  # stripes run along 30*v degrees
    img, aux = _object_scene(
        rng,
        texture=1,
        angle=angle,
        period=float(rng.uniform(4.0, 6.0)),
        radius=float(rng.uniform(22, 30)),
        centre=tuple(SIZE / 2 + rng.uniform(-4, 4, 2)),
        spin=3.2,
    )
    aux["orientation"] = v
    return img, aux


@functools.cache
def _glyph_mask(ch: str, size: int) -> np.ndarray:
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=size)
    canvas = Image.new("L", (size * 2, size * 2), 0)
    ImageDraw.Draw(canvas).text((size // 2, size // 4), ch, fill=255, font=font, stroke_width=1, stroke_fill=255)
    arr = np.asarray(canvas, np.float32) / 255.0
    ys, xs = np.nonzero(arr > 0.05)
    out: np.ndarray = arr[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    return out


def _r_glyph(rng: np.random.Generator, v: int) -> tuple[np.ndarray, Aux]:
    img = _background(rng)
    ci, rgb = _colour(rng)
    m = _glyph_mask(GLYPHS[v], int(rng.choice((18, 22))))
    h, w = m.shape
    y0 = int(rng.integers(SIZE // 2 - h // 2 - 6, SIZE // 2 - h // 2 + 7))
    x0 = int(rng.integers(SIZE // 2 - w // 2 - 6, SIZE // 2 - w // 2 + 7))
    alpha = np.zeros((SIZE, SIZE), np.float32)
    alpha[y0 : y0 + h, x0 : x0 + w] = m
    _paint(img, alpha, rgb)
    return img, {"glyph": v, "colour": ci, "position": _cell_of(x0 + w / 2, y0 + h / 2)}


def _r_count(rng: np.random.Generator, v: int) -> tuple[np.ndarray, Aux]:
    img = _background(rng)
    ci, rgb = _colour(rng)
    n = v + 1
    r = float(rng.uniform(3.2, 4.5))
    shape = ("circle", "square", "diamond")[int(rng.integers(3))]
    pts: list[tuple[float, float]] = []
    while len(pts) < n:
        p = rng.uniform(r + 2, SIZE - r - 2, 2)
        if all((p[0] - q[0]) ** 2 + (p[1] - q[1]) ** 2 > (2 * r + 4) ** 2 for q in pts):
            pts.append((float(p[0]), float(p[1])))
    alpha = np.zeros((SIZE, SIZE), np.float32)
    for cx, cy in pts:
        alpha = np.maximum(alpha, _mask(shape, cx, cy, r))
    _paint(img, alpha, rgb)
    return img, {"count": v, "colour": ci}


def _r_size(rng: np.random.Generator, v: int) -> tuple[np.ndarray, Aux]:
    radius = (4.0, 7.0, 11.0, 16.0, 23.0)[v] * float(rng.uniform(0.93, 1.07))
    return _object_scene(rng, radius=radius)


def _r_background(rng: np.random.Generator, v: int) -> tuple[np.ndarray, Aux]:
    bg = np.empty((SIZE, SIZE, 3), np.float32)
    base = np.asarray(COLOURS[COLOUR_NAMES[v]], np.float32) * 0.5 + rng.uniform(-0.04, 0.04, 3).astype(np.float32)
    bg[:] = np.clip(base, 0, 1)
    others = [i for i in range(len(COLOUR_NAMES)) if i != v]
    return _object_scene(rng, background=bg, colour=int(rng.choice(others)), radius=float(rng.uniform(8, 18)))


def _r_elongation(rng: np.random.Generator, v: int) -> tuple[np.ndarray, Aux]:
    aspect = (1.0, 1.5, 2.5, 3.5, 5.0)[v]
    shape = (0, 1)[int(rng.integers(2))]  # ellipse or rectangle
    c = SIZE / 2 + rng.uniform(-5, 5, 2)
    return _object_scene(
        rng, shape=shape, radius=float(rng.uniform(10, 14)), aspect=aspect, centre=(float(c[0]), float(c[1])), spin=3.2
    )


# -- registry -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Family:
    """A procedural N-way classification task family.

    Attributes:
        name: registry name.
        attribute: what decides the answer (``"colour"``).
        frequency: where that attribute lives in the spectrum (documentation, e.g. ``"coarse"``).
        values: the answer strings; class ``i`` is rendered by ``render(rng, i)``.
        instructions: instruction texts used in training episodes.
        renderer: ``(rng, value_index) -> (image, aux)``.
    """

    name: str
    attribute: str
    frequency: str
    values: tuple[str, ...]
    instructions: tuple[str, ...]
    renderer: Callable[[np.random.Generator, int], tuple[np.ndarray, Aux]]

    def render(self, rng: np.random.Generator, value: int) -> tuple[np.ndarray, Aux]:
        """A float32 ``(64, 64, 3)`` image of class ``value`` and its auxiliary labels."""
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < len(self.values):
            raise ConfigError(f"family {self.name!r} has values 0..{len(self.values) - 1}, got {value!r}")
        img, aux = self.renderer(rng, value)
        return np.clip(img, 0.0, 1.0).astype(np.float32, copy=False), aux


_SPECS: tuple[
    tuple[
        str, str, str, tuple[str, ...], tuple[str, ...], Callable[[np.random.Generator, int], tuple[np.ndarray, Aux]]
    ],
    ...,
] = (
    ("shape", "shape", "coarse (L2-L3)", SHAPES, ("What shape is it?", "Name the shape."), _r_shape),
    ("colour", "colour", "lowest (residual)", COLOUR_NAMES, ("What colour is the object?", "Colour?"), _r_colour),
    ("position", "position", "lowest (residual, L3)", POSITIONS, ("Where is the object?", "Which part?"), _r_position),
    ("texture", "texture", "fine (L0-L1)", TEXTURES, ("What is the surface pattern?", "Texture?"), _r_texture),
    ("orientation", "orientation", "fine (L0-L1)", ORIENTATIONS, ("Which way do the stripes run?",), _r_orientation),
    ("glyph", "glyph", "fine (L0-L1)", GLYPHS, ("Which character is shown?", "Read the symbol."), _r_glyph),
    ("count", "count", "middle (L1-L2)", COUNTS, ("How many objects are there?", "Count them."), _r_count),
    ("size", "size", "coarse (L2-residual)", SIZES, ("How big is the object?",), _r_size),
    (
        "background",
        "background colour",
        "lowest (residual)",
        COLOUR_NAMES,
        ("What colour is the background?",),
        _r_background,
    ),
    ("elongation", "aspect ratio", "coarse (L2-L3)", ELONGATIONS, ("How elongated is the object?",), _r_elongation),
)
#: Every task family by name.
FAMILIES: dict[str, Family] = {spec[0]: Family(*spec) for spec in _SPECS}

#: Families trained on by default; the others are held out for evaluation.
TRAIN_FAMILIES: tuple[str, ...] = ("shape", "colour", "position", "texture", "orientation", "glyph", "count")
HELD_OUT_FAMILIES: tuple[str, ...] = ("size", "background", "elongation")


def available_families() -> list[str]:
    """Names of every task family, sorted."""
    return sorted(FAMILIES)


def get_family(name: str) -> Family:
    """The family called ``name``; :class:`UnknownNameError` lists the known ones."""
    try:
        return FAMILIES[name]
    except (KeyError, TypeError):
        raise UnknownNameError("task family", name, available_families()) from None
