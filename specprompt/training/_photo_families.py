"""Real-image training families for the fine-level (v2) band VLM: crops of installed photos and
procedural fine textures, rendered at the working canvas (256 px by default), plus the resample and
blur augmentations.

Split (no overlap with the benchmark's real-photo tasks, :mod:`specprompt.tasks._photos`): these
families use only the ``skimage.data`` photos in :data:`TRAIN_PHOTOS`; the benchmark tasks use
astronaut, chelsea, coffee, rocket, hubble_deep_field, colorwheel, brick, grass and gravel, none of
which is read here. Nothing is downloaded.

=================  ===========================================================================
family             what decides the class
=================  ===========================================================================
photo-scene        which photo a crop (40-90% of the short side, rotated, flipped, blurred) is from
photo-grain        which photo a native-scale, contrast-matched grey crop is from (grain, texture)
photo-cast         the colour cast (6 colours) laid over a crop of any training photo
photo-mark         the letter (10 capitals) on a small light tag near a corner of a training photo;
                   in most episodes every image shares one scene (the same crop, tag place and
                   font), so only the letter's strokes - fine pixels of a small region - differ
fine-texture       a fine pattern (period 2.5-7 px at 256 px) over a random smooth background:
                   only the fine levels differ between classes
=================  ===========================================================================

Convention:
    ``render(rng, value, size, scene=None)`` returns float32 ``(size, size, 3)`` pixels in [0, 1];
    every draw comes from the caller's generators. ``scene`` (families with ``shared_scene`` > 0)
    is a generator seeded once per episode and fresh for every image, so the scene it draws is the
    same for every image of the episode. :func:`augment` returns the image and the side it is
    "sent" at (a resampled image is smaller: the model's size rule then creates no fine token
    above its Nyquist, as for a small image at prediction time).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from specprompt.errors import UnknownNameError

__all__ = ["PHOTO_FAMILIES", "TRAIN_PHOTOS", "PhotoFamily", "augment", "get_photo_family", "is_photo_family"]

#: ``skimage.data`` photos the training families read (none is used by a benchmark task).
TRAIN_PHOTOS: tuple[str, ...] = (
    "camera",
    "coins",
    "moon",
    "page",
    "text",
    "immunohistochemistry",
    "retina",
    "cell",
    "clock",
    "horse",
)
_GRAIN_PHOTOS = TRAIN_PHOTOS[:-1]  # the horse is a binary silhouette: no grain
_CASTS: dict[str, tuple[float, float, float]] = {
    "red": (0.95, 0.15, 0.10),
    "green": (0.15, 0.85, 0.20),
    "blue": (0.15, 0.30, 0.95),
    "yellow": (0.95, 0.85, 0.10),
    "cyan": (0.10, 0.85, 0.90),
    "purple": (0.65, 0.15, 0.85),
}
#: Letters of ``photo-mark``: capitals only (the ``photo-detail`` benchmark task shows digits).
_MARKS = ("A", "E", "H", "K", "M", "R", "T", "W", "X", "Z")
#: Hershey fonts of ``photo-mark`` (cv2 ids: plain, duplex, complex, triplex); the benchmark's
#: ``photo-detail`` digits use the simplex font (0), which is left out.
_MARK_FONTS = (1, 2, 3, 4)
_TEXTURES = ("fine stripes", "fine checker", "fine dots", "fine noise", "crosshatch", "no pattern")


@lru_cache(maxsize=16)
def _photo(name: str) -> np.ndarray:
    """:func:`specprompt.io.sample_photo`, halved once when larger than 720 px (the retina, 1411 px) so
    crops resize fast; read-only."""
    from specprompt.io import sample_photo

    arr = sample_photo(name)
    if max(arr.shape[:2]) > 720:
        import cv2

        half = (arr.shape[1] // 2, arr.shape[0] // 2)
        arr = np.ascontiguousarray(cv2.resize(arr, half, interpolation=cv2.INTER_AREA), np.float32)
        arr.flags.writeable = False
    return arr


def _resize(pixels: np.ndarray, size: int) -> np.ndarray:
    import cv2

    h, w = pixels.shape[:2]
    interp = cv2.INTER_AREA if max(h, w) > size else cv2.INTER_CUBIC
    out = cv2.resize(np.ascontiguousarray(pixels, np.float32), (size, size), interpolation=interp)
    return np.asarray(out, np.float32).reshape(size, size, 3)


def _crop(rng: np.random.Generator, pixels: np.ndarray, side: int) -> np.ndarray:
    h, w = pixels.shape[:2]
    side = max(8, min(side, h, w))
    y0, x0 = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    out = np.rot90(pixels[y0 : y0 + side, x0 : x0 + side], int(rng.integers(4)))
    return out[:, ::-1] if rng.random() < 0.5 else out


def _scene(rng: np.random.Generator, value: int, size: int, scene: np.random.Generator | None) -> np.ndarray:
    import cv2

    src = _photo(TRAIN_PHOTOS[value])
    img = _resize(_crop(rng, src, int(min(src.shape[:2]) * rng.uniform(0.4, 0.9))), size)
    rot = cv2.getRotationMatrix2D((size / 2 - 0.5, size / 2 - 0.5), float(rng.uniform(-20, 20)), 1.0)
    img = cv2.warpAffine(img, rot, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    return np.asarray(img, np.float32) * np.float32(rng.uniform(0.8, 1.2))


def _grain(rng: np.random.Generator, value: int, size: int, scene: np.random.Generator | None) -> np.ndarray:
    src = _photo(_GRAIN_PHOTOS[value])
    side = round(size * float(np.exp(rng.uniform(np.log(0.8), np.log(1.25)))))
    grey = _resize(_crop(rng, src, side), size).mean(2)
    grey = (grey - grey.mean()) / max(float(grey.std()), 1e-3)
    img = (rng.uniform(0.4, 0.6) + rng.uniform(0.12, 0.18) * grey)[:, :, None]
    return np.asarray(img + rng.uniform(-0.04, 0.04, 3), np.float32)


def _cast(rng: np.random.Generator, value: int, size: int, scene: np.random.Generator | None) -> np.ndarray:
    src = _photo(TRAIN_PHOTOS[int(rng.integers(len(TRAIN_PHOTOS)))])
    img = _resize(_crop(rng, src, int(min(src.shape[:2]) * rng.uniform(0.5, 1.0))), size)
    tint = np.clip(np.array(list(_CASTS.values())[value]) + rng.uniform(-0.06, 0.06, 3), 0, 1)
    alpha = rng.uniform(0.25, 0.4)
    return np.asarray((1 - alpha) * img + alpha * tint, np.float32)


def _texture(rng: np.random.Generator, value: int, size: int, scene: np.random.Generator | None) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + np.float32(0.5)
    period = rng.uniform(2.5, 7.0) * size / 256
    theta = rng.uniform(0, np.pi)
    u = xx * np.cos(theta) + yy * np.sin(theta)
    v = -xx * np.sin(theta) + yy * np.cos(theta)
    w = 2 * np.pi / period
    kind = _TEXTURES[value]
    if kind == "fine stripes":
        pat = np.sin(w * u)
    elif kind == "fine checker":
        pat = np.sign(np.sin(w * u) * np.sin(w * v))
    elif kind == "fine dots":
        pat = ((np.cos(w * u) + np.cos(w * v)) > 1.2).astype(np.float32) * 2 - 0.3
    elif kind == "fine noise":
        pat = rng.normal(0, 1, (size, size))
    elif kind == "crosshatch":
        pat = np.sin(w * u) + np.sin(w * (xx * np.cos(theta + 1.2) + yy * np.sin(theta + 1.2)))
    else:
        pat = np.zeros((size, size), np.float32)
    pat = pat - pat.mean()
    pat = pat / max(float(pat.std()), 1e-6) * rng.uniform(0.06, 0.14)
    # smooth random background (a colour gradient): the same distribution for every class
    c0, c1 = rng.uniform(0.2, 0.8, 3), rng.uniform(0.2, 0.8, 3)
    ramp = (xx * np.cos(theta * 2) + yy * np.sin(theta * 2)) / (size * 1.5) + 0.5
    bg = c0 + (c1 - c0) * np.clip(ramp, 0, 1)[:, :, None]
    return np.asarray(bg + pat[:, :, None], np.float32)


def _mark(rng: np.random.Generator, value: int, size: int, scene: np.random.Generator | None) -> np.ndarray:
    import cv2

    at = scene if scene is not None else rng  # what the episode's images share
    src = _photo(TRAIN_PHOTOS[int(at.integers(len(TRAIN_PHOTOS)))])
    img = np.ascontiguousarray(_resize(_crop(at, src, int(min(src.shape[:2]) * at.uniform(0.5, 1.0))), size))
    tag = max(10, round(size * at.uniform(1 / 9, 1 / 6)))
    margin = round(size * at.uniform(0.02, 0.08))
    corner = int(at.integers(4))
    jitter = max(1, size // 256)
    x0 = (size - tag - margin if corner % 2 else margin) + int(rng.integers(-jitter, jitter + 1))
    y0 = (size - tag - margin if corner // 2 else margin) + int(rng.integers(-jitter, jitter + 1))
    paper = tuple(float(v) for v in at.uniform(0.8, 0.97, 3))
    ink = at.uniform(0.0, 0.2, 3).astype(np.float32)
    font = _MARK_FONTS[int(at.integers(len(_MARK_FONTS)))]
    thick = max(1, round(size * at.uniform(1 / 400, 1 / 128)))
    height = max(4, round(tag * at.uniform(0.45, 0.6)))
    cv2.rectangle(img, (x0, y0), (x0 + tag, y0 + tag), paper, -1)
    text = _MARKS[value]
    scale = cv2.getFontScaleFromHeight(font, height, thick)
    (tw, th), _ = cv2.getTextSize(text, font, scale, thick)
    org = (x0 + (tag - tw) // 2 + int(rng.integers(-1, 2)), y0 + (tag + th) // 2 + int(rng.integers(-1, 2)))
    alpha = np.zeros((size, size), np.uint8)
    cv2.putText(alpha, text, org, font, scale, 255, thick, cv2.LINE_AA)
    a = (alpha.astype(np.float32) / np.float32(255.0))[:, :, None]
    img = img + a * (ink - img)
    return np.asarray(img + rng.normal(0.0, 0.01, img.shape), np.float32)


@dataclass(frozen=True)
class PhotoFamily:
    """A real-image task family rendered at any size (see the module docstring)."""

    name: str
    values: tuple[str, ...]
    instructions: tuple[str, ...]
    draw: Callable[[np.random.Generator, int, int, np.random.Generator | None], np.ndarray]
    #: Probability that an episode's images share one scene (see :meth:`render`).
    shared_scene: float = 0.0

    def render(
        self, rng: np.random.Generator, value: int, size: int, scene: np.random.Generator | None = None
    ) -> np.ndarray:
        """Float32 ``(size, size, 3)`` pixels in [0, 1] of class ``value``.

        ``scene``: a generator drawing what the images of one episode share (seed it the same for
        each image); ``None`` draws everything from ``rng``. Families without a shared scene ignore it.
        """
        out: np.ndarray = np.clip(self.draw(rng, value, size, scene), 0.0, 1.0).astype(np.float32)
        return out


PHOTO_FAMILIES: dict[str, PhotoFamily] = {
    f.name: f
    for f in (
        PhotoFamily(
            "photo-scene",
            TRAIN_PHOTOS,
            ("Which photo is this crop from?", "Which scene is it?"),
            _scene,
        ),
        PhotoFamily(
            "photo-grain",
            _GRAIN_PHOTOS,
            ("Which surface is it?", "Which material does the close-up show?"),
            _grain,
        ),
        PhotoFamily("photo-cast", tuple(_CASTS), ("Which colour cast does the photo have?",), _cast),
        PhotoFamily("fine-texture", _TEXTURES, ("Which fine pattern is it?", "What texture is it?"), _texture),
        PhotoFamily(
            "photo-mark",
            _MARKS,
            ("Which letter is printed on the small tag?", "What does the label in the corner say?"),
            _mark,
            shared_scene=0.75,
        ),
    )
}


def is_photo_family(name: str) -> bool:
    """Whether ``name`` is one of :data:`PHOTO_FAMILIES`."""
    return name in PHOTO_FAMILIES


def get_photo_family(name: str) -> PhotoFamily:
    """The photo family ``name``.

    Raises:
        UnknownNameError: unknown name (the message lists the known ones).
    """
    try:
        return PHOTO_FAMILIES[name]
    except KeyError:
        raise UnknownNameError("photo family", name, tuple(PHOTO_FAMILIES)) from None


def augment(rng: np.random.Generator, image: np.ndarray) -> tuple[np.ndarray, int]:
    """A resampled or blurred copy of a square image and the side it is sent at.

    Odds 1/2 each: Lanczos resampling to ``1/1.5 .. 1/6`` of the side (sent small, as a remote
    API receives a shrunken demo), or a Gaussian blur of sigma 0.5-3 px at full size (a
    band-limited render).
    """
    import cv2

    size = image.shape[0]
    if rng.random() < 0.5:
        side = max(8, round(size / rng.uniform(1.5, 6.0)))
        small = cv2.resize(np.ascontiguousarray(image), (side, side), interpolation=cv2.INTER_LANCZOS4)
        return np.clip(np.asarray(small, np.float32), 0, 1).reshape(side, side, 3), side
    blurred = cv2.GaussianBlur(np.ascontiguousarray(image), (0, 0), float(rng.uniform(0.5, 3.0)))
    return np.asarray(blurred, np.float32).reshape(size, size, 3), size
