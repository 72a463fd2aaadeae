"""Colour profiles: pixels tagged with an ICC profile other than sRGB are converted to sRGB.

An untagged image is read as sRGB by browsers, chat APIs and every judge here, so the pixels
:func:`~specprompt.load_image` returns must be sRGB: a Display P3 phone photo or an Adobe RGB
export sent with its stored values and no profile looks washed out or shifted in hue.
Grey profiles are not applied (their tone curves differ from sRGB's by a few levels at most).
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from specprompt.io._modes import to_standard_mode

if TYPE_CHECKING:
    from PIL import Image as PILImage
    from PIL import ImageCms

__all__ = ["SrgbResult", "to_srgb"]

#: Modes whose pixels a colour profile of each colour space describes (others are converted first).
_RGB_MODES = ("RGB", "RGBA")


@dataclass(frozen=True)
class SrgbResult:
    """The image in sRGB, what was done, and a warning when a profile could not be applied.

    Attributes:
        image: the converted image, or the given one when nothing was converted.
        change: ``"ICC profile 'Display P3' converted to sRGB"``, or ``"... not applied"`` for a
            profile left out (grey, unreadable or unfit); ``None`` when the image has no profile
            or an sRGB one.
        warning: why a profile was not applied, after the source in a warning; ``None`` otherwise.
    """

    image: PILImage.Image
    change: str | None = None
    warning: str | None = None


@functools.lru_cache(maxsize=1)
def _srgb() -> ImageCms.ImageCmsProfile:
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


@functools.lru_cache(maxsize=32)
def _is_srgb(profile_bytes: bytes) -> bool:
    """Whether converting with the profile changes no colour of a 16^3 grid by more than 1 level.

    Decided by the colours, not the profile's name: an sRGB profile from any vendor (matrix, LUT,
    v2 or v4) passes, a profile that calls itself sRGB but holds other primaries does not.
    """
    from PIL import Image, ImageCms

    levels = np.linspace(0, 255, 16).round().astype(np.uint8)
    grid = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1).reshape(64, 64, 3)
    profile = ImageCms.ImageCmsProfile(io.BytesIO(profile_bytes))
    out = ImageCms.profileToProfile(Image.fromarray(grid, "RGB"), profile, _srgb(), outputMode="RGB")
    assert out is not None  # inPlace=False always returns the new image
    return int(np.abs(np.asarray(out).astype(np.int16) - grid).max()) <= 1


def _name(profile: object) -> str:
    from PIL import ImageCms

    try:
        text = ImageCms.getProfileDescription(profile).strip()  # type: ignore[arg-type]
    except ImageCms.PyCMSError:
        text = ""
    return text[:60] or "unnamed"


def to_srgb(image: PILImage.Image, source: str) -> SrgbResult:
    """``image`` converted from its embedded ICC profile (``info["icc_profile"]``) to sRGB.

    RGB profiles are applied to RGB and RGBA images (palette and RGBX images are expanded to
    RGB or RGBA first; alpha is kept), CMYK profiles to CMYK images (the result is RGB). An sRGB
    profile, a grey profile, or no profile leaves the image as it is. The result carries no
    profile. A profile that cannot be read or does not fit the image's mode is not applied:
    the stored values are used as sRGB and :attr:`SrgbResult.warning` says why.

    Convention:
        The profile's own rendering intent is used (for the usual matrix profiles of cameras and
        phones every intent gives the same colours).
    """
    data = image.info.get("icc_profile")
    if not isinstance(data, bytes) or not data:
        return SrgbResult(image)
    try:
        from PIL import ImageCms
    except ImportError:  # a Pillow built without LittleCMS
        return SrgbResult(
            image, "ICC profile not applied", "has an ICC profile, but this Pillow has no ImageCms to apply it"
        )
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(data))
        space = profile.profile.xcolor_space.strip()
        if space == "GRAY":
            return SrgbResult(image, f"grey ICC profile {_name(profile)!r} not applied")
        if space == "RGB" and image.mode in ("P", "PA", "RGBX", "RGBa"):
            image = to_standard_mode(image, source)
        fits = (space == "RGB" and image.mode in _RGB_MODES) or (space == "CMYK" and image.mode == "CMYK")
        if not fits:
            return SrgbResult(
                image,
                f"ICC profile {_name(profile)!r} not applied",
                f"has an ICC profile for {space or '?'} pixels, but its pixels are {image.mode}: not applied",
            )
        if space == "RGB" and _is_srgb(data):
            return SrgbResult(image)
        out = ImageCms.profileToProfile(
            image,
            profile,
            _srgb(),
            renderingIntent=ImageCms.Intent(ImageCms.getDefaultIntent(profile)),
            outputMode="RGBA" if image.mode == "RGBA" else "RGB",
        )
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError) as exc:
        reason = f"has an ICC profile that could not be applied ({exc}); its values are used as sRGB"
        return SrgbResult(image, "ICC profile not applied", reason)
    assert out is not None  # inPlace=False always returns the new image
    out.info.pop("icc_profile", None)
    return SrgbResult(out, change=f"ICC profile {_name(profile)!r} converted to sRGB")
