"""Built-in tasks made of real photographs that scikit-image ships (``skimage.data``, no download).

Each task puts its label in a different part of the spectrum of a real photo:

=================  ============================================  ===============================================
name               label                                         what the label needs
=================  ============================================  ===============================================
photo-tint         colour cast of a crop of a colour photo       coarsest bands only (the mean colour)
photo-texture      brick, grass or gravel (contrast-matched)     fine bands: texture detail at native scale
photo-identity     which photo a rotated, blurred crop is from   middle bands (shapes and layout)
photo-detail       the digit on a small tag in a 512 px photo    the finest bands of a small region
=================  ============================================  ===============================================

Images are square, ``size`` px; the benchmark uses 384 (tint), 256 (texture, identity) and 512
(detail). The photos are read once per process (``skimage.data`` reads files installed with
scikit-image; nothing is fetched).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from specprompt.io import sample_photo
from specprompt.tasks._base import ImageTaskGenerator, register_task, to_uint8

__all__ = ["PhotoDetail", "PhotoIdentity", "PhotoTexture", "PhotoTint"]

#: Colour photos of ``skimage.data`` that load without a download.
COLOUR_PHOTOS: tuple[str, ...] = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "colorwheel")


#: The photo loader, also :func:`specprompt.io.sample_photo`.
photo = sample_photo


def _resize(pixels: np.ndarray, size: int) -> np.ndarray:
    """Square ``pixels`` to ``(size, size, 3)``: area averaging when shrinking, bicubic when growing."""
    import cv2

    h = pixels.shape[0]
    if h == size:
        return np.array(pixels, np.float32)
    interp = cv2.INTER_AREA if h > size else cv2.INTER_CUBIC
    out: np.ndarray = cv2.resize(np.ascontiguousarray(pixels), (size, size), interpolation=interp)
    return out.reshape(size, size, 3)


def _square_crop(rng: np.random.Generator, pixels: np.ndarray, side: int) -> np.ndarray:
    h, w = pixels.shape[:2]
    side = min(side, h, w)
    y0, x0 = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    return pixels[y0 : y0 + side, x0 : x0 + side]


def _dihedral(rng: np.random.Generator, pixels: np.ndarray) -> np.ndarray:
    """One of the 8 rotations/flips of a square image."""
    out = np.rot90(pixels, int(rng.integers(4)))
    return out[:, ::-1] if rng.random() < 0.5 else out


class PhotoTint(ImageTaskGenerator):
    """``photo-tint``: the colour cast (red, green, blue, yellow) laid over a crop of a colour photo.

    The photo and crop are drawn independently of the label; the cast blends 30-40% of a
    saturated colour into every pixel, so the mean colour (the coarsest band) decides the label.

    Example:
        >>> PhotoTint().draw(0, np.random.default_rng(0), 64).shape
        (64, 64, 3)
    """

    name = "photo-tint"
    labels = ("red", "green", "blue", "yellow")
    instructions = "Which colour cast (red, green, blue or yellow) does the photo have?"
    image_desc = "a colour-tinted crop of a photo"
    _tints: ClassVar[tuple[tuple[float, float, float], ...]] = (
        (0.95, 0.15, 0.10),
        (0.15, 0.85, 0.20),
        (0.15, 0.30, 0.95),
        (0.95, 0.85, 0.10),
    )

    def draw(self, label: int, rng: np.random.Generator, size: int) -> np.ndarray:
        src = photo(COLOUR_PHOTOS[int(rng.integers(len(COLOUR_PHOTOS)))])
        side = int(rng.integers(min(src.shape[:2]) // 2, min(src.shape[:2]) + 1))
        img = _resize(_dihedral(rng, _square_crop(rng, src, side)), size)
        tint = np.clip(np.array(self._tints[label]) + rng.uniform(-0.06, 0.06, 3), 0, 1).astype(np.float32)
        alpha = np.float32(rng.uniform(0.30, 0.40))
        img = (1 - alpha) * img + alpha * tint
        return to_uint8(img)


class PhotoTexture(ImageTaskGenerator):
    """``photo-texture``: brick, grass or gravel, from crops of scikit-image's 512 px texture photos.

    A crop is taken at the photo's own scale (0.8-1.25x, so fine grain stays fine), rotated or
    flipped, and its grey levels are remapped to a mean and contrast drawn independently of the
    label (with a faint random colour cast): brightness, contrast and colour carry nothing, the
    texture's structure and grain carry the label.

    Example:
        >>> PhotoTexture().draw(2, np.random.default_rng(0), 64).shape
        (64, 64, 3)
    """

    name = "photo-texture"
    labels = ("brick", "grass", "gravel")
    instructions = "Which material does the close-up photo show: brick, grass or gravel?"
    image_desc = "a close-up photo of a surface"

    def draw(self, label: int, rng: np.random.Generator, size: int) -> np.ndarray:
        src = photo(self.labels[label])
        scale = float(np.exp(rng.uniform(np.log(0.8), np.log(1.25))))
        side = max(8, round(size * scale))
        crop = _dihedral(rng, _square_crop(rng, src, side))
        grey = _resize(crop, size)[:, :, 0]
        grey = (grey - grey.mean()) / max(float(grey.std()), 1e-3)
        mean, std = rng.uniform(0.4, 0.6), rng.uniform(0.12, 0.18)
        cast = rng.uniform(-0.04, 0.04, 3).astype(np.float32)
        img = (mean + std * grey)[:, :, None] + cast
        return to_uint8(img)


class PhotoIdentity(ImageTaskGenerator):
    """``photo-identity``: which of four photos a crop comes from (astronaut, cat, coffee, rocket).

    A crop of 45-80% of the photo's short side is rotated by up to +-25 degrees (the corners
    filled by reflection), maybe mirrored, blurred (Gaussian sigma 0-1.5 px at the output
    size) and its brightness scaled by 0.8-1.2: the scene's shapes and layout decide the label.

    Example:
        >>> PhotoIdentity().draw(1, np.random.default_rng(0), 64).shape
        (64, 64, 3)
    """

    name = "photo-identity"
    labels = ("astronaut", "cat", "coffee", "rocket")
    instructions = "Which photo is this crop taken from: astronaut, cat, coffee or rocket?"
    image_desc = "a rotated, blurred crop of one of four photos"
    _sources: ClassVar[tuple[str, ...]] = ("astronaut", "chelsea", "coffee", "rocket")

    def draw(self, label: int, rng: np.random.Generator, size: int) -> np.ndarray:
        import cv2

        src = photo(self._sources[label])
        side = int(min(src.shape[:2]) * rng.uniform(0.45, 0.8))
        crop = _resize(_square_crop(rng, src, side), size)
        rot = cv2.getRotationMatrix2D((size / 2 - 0.5, size / 2 - 0.5), float(rng.uniform(-25, 25)), 1.0)
        img = cv2.warpAffine(crop, rot, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
        if rng.random() < 0.5:
            img = img[:, ::-1]
        sigma = float(rng.uniform(0.0, 1.5))
        if sigma > 0.3:
            img = cv2.GaussianBlur(np.ascontiguousarray(img), (0, 0), sigma)
        return to_uint8(img * np.float32(rng.uniform(0.8, 1.2)))


class PhotoDetail(ImageTaskGenerator):
    """``photo-detail``: the digit (2, 3, 5 or 8) printed on a small tag in a corner of one photo.

    Every image is the same photo (``coffee``, cropped square, as from a fixed camera) with
    faint sensor noise (sigma 0.01); a light tag of about ``size / 7`` px near the lower right
    corner holds one dark digit about ``size / 13`` px tall with ``size / 200`` px strokes (position
    jittered by 1-2 px). Only the digit's strokes - fine pixels in a small region - differ
    between labels; halving the image twice blurs them into the same grey blob.

    Example:
        >>> PhotoDetail().draw(3, np.random.default_rng(0), 128).shape
        (128, 128, 3)
    """

    name = "photo-detail"
    labels = ("2", "3", "5", "8")
    instructions = "Which digit (2, 3, 5 or 8) is printed on the small tag in the corner of the photo?"
    image_desc = "a photo with a small tag holding one digit"

    def draw(self, label: int, rng: np.random.Generator, size: int) -> np.ndarray:
        import cv2

        src = photo("coffee")
        side = min(src.shape[:2])
        img = _resize(np.ascontiguousarray(src[:side, (src.shape[1] - side) // 2 :][:, :side]), size)
        tag = max(10, round(size / 7))
        x0 = size - tag - round(size / 24) + int(rng.integers(-1, 2))
        y0 = size - tag - round(size / 24) + int(rng.integers(-1, 2))
        img = np.ascontiguousarray(img, np.float32)
        cv2.rectangle(img, (x0, y0), (x0 + tag, y0 + tag), (0.93, 0.92, 0.88), -1)
        text = self.labels[label]
        height = tag * 0.55
        scale = cv2.getFontScaleFromHeight(cv2.FONT_HERSHEY_SIMPLEX, max(4, round(height)), 1)
        thick = max(1, round(size / 200))
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
        org = (x0 + (tag - tw) // 2 + int(rng.integers(-1, 2)), y0 + (tag + th) // 2 + int(rng.integers(-1, 2)))
        ink = np.zeros((size, size), np.uint8)
        cv2.putText(ink, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, 255, thick, cv2.LINE_AA)
        alpha = (ink.astype(np.float32) / np.float32(255.0))[:, :, None]
        img += alpha * (np.array((0.1, 0.1, 0.12), np.float32) - img)
        img += rng.normal(0.0, 0.01, img.shape).astype(np.float32)
        return to_uint8(img)


for _gen in (PhotoTint(), PhotoTexture(), PhotoIdentity(), PhotoDetail()):
    register_task(_gen)
