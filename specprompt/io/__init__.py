"""Image input: every accepted source becomes a PIL image (:func:`load_image`) or float32 pixels (:func:`as_array`).

Sources, limits and errors are described in :func:`load_image`. Every failure raises
:class:`~specprompt.errors.ImageInputError` naming the source (a path, ``"<bytes: 123 B>"``,
``"<data URI: image/png, 80 B>"``, ``"<numpy array (3, 4) uint8>"``) and the reason.

Mode conversions (after EXIF orientation and the ICC conversion below, first frame only)::

    decoded PIL mode          load_image result             as_array channels / values
    ------------------------  ----------------------------  ------------------------------------
    1 (bilevel)               L, 0 or 255                   1, 0 or 1
    L                         L                             1, v / 255
    LA                        RGBA, grey copied to R, G, B  4
    P without transparency    RGB                           3
    P with transparency       RGBA (info["transparency"]    4
      or an RGBA palette        or palette alpha)
    PA                        RGBA                          4
    RGB, RGBX                 RGB                           3
    RGBA                      RGBA                          4
    RGBa (premultiplied)      RGBA, un-premultiplied        4
    CMYK                      RGB: its ICC profile, or      3
                              Pillow's naive formula
    YCbCr, LAB, HSV           RGB (Pillow's conversion)     3
    I;16, I;16L, I;16B, I;16N L, round(v / 257)             1, v / 65535 (16-bit precision kept)
    I (int32)                 values clipped to 0..65535, then as I;16
    F (float32)               values taken as normalised: clipped to [0, 1], round(255 x) for L;
                              NaN or infinity is an error
    anything else (La, ...)   ImageInputError naming the mode

Colour profiles (ICC): an embedded RGB profile other than sRGB (Display P3, Adobe RGB) is applied, so
the pixels are sRGB, the colour space every untagged image is read in; so is a CMYK profile of a CMYK
image (instead of Pillow's naive formula). Whether a profile is sRGB is decided by its colours, not its
name. Grey profiles, and profiles of 16-bit or float images, are not applied. A profile that cannot be
read or does not fit the pixels gives a :class:`~specprompt.errors.SpecPromptWarning` naming the source,
and the stored values are used as sRGB. :func:`normalise_image` says what decoding changed (EXIF
rotation, ICC conversion, first frame, a mode whose values change), for callers that keep encoded files.

Transparency: every reader of pixels in specprompt (the offline judges, the local band VLM, the contact
sheet) shows a transparent image on white (:data:`ALPHA_BACKGROUND`) through :func:`opaque_rgb`.
"""

from specprompt.io._arrays import ARRAY_DTYPES
from specprompt.io._background import ALPHA_BACKGROUND, opaque_rgb
from specprompt.io._decode import ALLOWED_FORMATS, image_format
from specprompt.io._describe import (
    NOT_RASTER_MEDIA_TYPES,
    data_uri_media_type,
    describe_bytes,
    describe_data_uri,
    describe_path,
)
from specprompt.io._limits import DEFAULT_MAX_PIXELS, check_max_pixels
from specprompt.io._load import NormalisedImage, as_array, load_image, normalise_image
from specprompt.io._samples import SAMPLE_PHOTOS, sample_photo
from specprompt.io._sources import parse_data_uri

__all__ = [
    "ALLOWED_FORMATS",
    "ALPHA_BACKGROUND",
    "ARRAY_DTYPES",
    "DEFAULT_MAX_PIXELS",
    "NOT_RASTER_MEDIA_TYPES",
    "NormalisedImage",
    "SAMPLE_PHOTOS",
    "as_array",
    "check_max_pixels",
    "data_uri_media_type",
    "describe_bytes",
    "describe_data_uri",
    "describe_path",
    "image_format",
    "load_image",
    "normalise_image",
    "opaque_rgb",
    "parse_data_uri",
    "sample_photo",
]
