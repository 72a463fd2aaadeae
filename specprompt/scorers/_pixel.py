"""Pixel-only judges: DSPy engines that see nothing but the pixels a remote API would receive.

A judge decodes each image part of the request to RGB pixels as demo images are decoded (EXIF
orientation, sRGB, 16-bit scaled, alpha on white; any PNG text chunk, such as the ``specprompt``
metadata of a :class:`~specprompt.SpectralImage`, is discarded unread), brings
every image to the judge's fixed working size (as a vision encoder does), describes it with the
judge's own descriptor and answers with the label of the nearest demo image. A demo sent small
is therefore seen as a blurry enlargement, exactly as much detail as its pixels hold.

==========  ======================================================================================
judge       descriptor (at the working size)
==========  ======================================================================================
hist-hog    224 px: joint RGB colour histogram (6x6x6 bins, Hellinger), mean chromaticity, a
            histogram of oriented gradients (8x8 cells x 9 orientations, each cell normalised), a
            global 18-bin orientation histogram and the log mean gradient magnitude at 224, 112 and
            56 px (sharpness)
lbp-dct     256 px: contrast-weighted uniform local binary patterns of the grey image (P=8 at radii 1
            and 3, Hellinger), the 8x8 lowest DCT coefficients of a 32 px grey thumbnail (layout),
            the pixels of a 96 px colour thumbnail, the mean chromaticity and the log energy of
            eight octave-spaced DCT frequency bands (sharpness)
==========  ======================================================================================

They stand in for a remote VLM when a benchmark needs a judge that is not the local band VLM
and not the band-aware :class:`~specprompt.scorers.NearestBandEngine`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

import dspy
import numpy as np

from specprompt.errors import ConfigError, ImageInputError
from specprompt.scorers._async import engine_lm
from specprompt.scorers._engine_base import (
    ChatImage,
    LRUCache,
    ParsedChat,
    ScorerEngine,
    default_answer,
    engine_config,
    need_query_image,
)

__all__ = ["PIXEL_JUDGES", "PixelJudgeConfig", "PixelJudgeEngine", "judge_descriptor", "pixel_lm", "sent_pixels"]

Judge = Literal["hist-hog", "lbp-dct"]
#: Names of the pixel-only judges.
PIXEL_JUDGES: tuple[str, ...] = get_args(Judge)
#: Longest side an OpenAI ``detail="low"`` image is read at.
LOW_DETAIL_SIDE = 512
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


@dataclass(frozen=True)
class PixelJudgeConfig:
    """Options of a :class:`PixelJudgeEngine`.

    Attributes:
        judge: which descriptor (:data:`PIXEL_JUDGES`).
        cost_model: cost model pricing the image parts in ``usage.input_tokens``.
        cache_size: descriptors kept (keyed by a digest of the image part).
    """

    judge: str = "hist-hog"
    cost_model: str = "openai:gpt-4.1-mini"
    cache_size: int = 1024

    def __post_init__(self) -> None:
        if self.judge not in PIXEL_JUDGES:
            raise ConfigError(f"unknown pixel judge {self.judge!r}; known: {', '.join(PIXEL_JUDGES)}")
        from specprompt.cost import get_cost_model

        get_cost_model(self.cost_model)
        if not isinstance(self.cache_size, int) or isinstance(self.cache_size, bool) or self.cache_size < 1:
            raise ConfigError(f"cache_size must be an int >= 1, got {self.cache_size!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)

    def model_string(self) -> str:
        """``specprompt/pixel-<judge>-v1``: the DSPy model name (bump the version when answers change)."""
        return f"specprompt/pixel-{self.judge}-v1"


# -- decoding -----------------------------------------------------------------------------------


#: The ``detail`` values :func:`sent_pixels` takes (only ``"low"`` shrinks the image).
SENT_DETAILS = (None, "auto", "low", "high")


def sent_pixels(data: bytes, detail: str | None = None, where: str = "<image>") -> np.ndarray:
    """Float32 RGB pixels in [0, 1] of encoded image bytes, as a remote API reads them.

    Decoded as demo images are (:func:`specprompt.io.as_array`): EXIF orientation applied, an ICC
    profile converted to sRGB, 16-bit values scaled (not clipped), the first frame of an animation.
    Only the pixels are kept: PNG text chunks (``specprompt`` metadata) and every other ancillary
    field are discarded. Grey is repeated to three channels, alpha composited on white
    (:func:`specprompt.io.opaque_rgb`, the background of every judge). With ``detail="low"`` the
    image is shrunk to fit 512 x 512 (OpenAI's low detail).

    Shape:
        ``(H, W, 3)``.

    Args:
        data: the encoded image (PNG, JPEG, ...).
        detail: OpenAI's ``detail`` hint: ``"low"``, ``"high"``, ``"auto"`` or ``None``.
        where: how the image is named in errors.

    Raises:
        ImageInputError: ``data`` is not bytes, or the bytes are not an image.
        ConfigError: another ``detail``.

    Example:
        >>> from specprompt.tasks._base import png_data_uri
        >>> import base64
        >>> png = base64.b64decode(png_data_uri(np.zeros((4, 6, 3), np.uint8)).split(",")[1])
        >>> sent_pixels(png).shape
        (4, 6, 3)
    """
    from PIL import Image

    from specprompt.io import as_array, opaque_rgb

    if detail not in SENT_DETAILS:
        raise ConfigError(f"detail must be one of {', '.join(map(repr, SENT_DETAILS))}, got {detail!r}")
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ImageInputError(where, f"expected the encoded image as bytes, got {type(data).__name__}")
    try:
        rgb = opaque_rgb(as_array(bytes(data)))
    except ImageInputError as exc:
        raise ImageInputError(where, exc.reason) from None
    if detail == "low" and max(rgb.shape[:2]) > LOW_DETAIL_SIDE:
        image = Image.fromarray(np.rint(rgb * np.float32(255.0)).astype(np.uint8), "RGB")
        scale = LOW_DETAIL_SIDE / max(image.size)
        size = (max(1, round(image.size[0] * scale)), max(1, round(image.size[1] * scale)))
        image = image.resize(size, Image.Resampling.BICUBIC, reducing_gap=3.0)
        return np.asarray(image, np.float32) / np.float32(255.0)
    return rgb


def _to_working(pixels: np.ndarray, side: int) -> np.ndarray:
    """Resizes so the longer side is ``side`` (area averaging down, bicubic up), aspect kept."""
    import cv2

    h, w = pixels.shape[:2]
    scale = side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if size == (w, h):
        return np.ascontiguousarray(pixels, np.float32)
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    out: np.ndarray = cv2.resize(np.ascontiguousarray(pixels, np.float32), size, interpolation=interp)
    clipped: np.ndarray = np.clip(out.reshape(size[1], size[0], -1), 0.0, 1.0)
    return clipped


# -- descriptors --------------------------------------------------------------------------------

_Descriptor = tuple[np.ndarray, ...]


def _grid_index(h: int, w: int, cells: int) -> np.ndarray:
    ys = np.minimum(np.arange(h) * cells // h, cells - 1)
    xs = np.minimum(np.arange(w) * cells // w, cells - 1)
    out: np.ndarray = ys[:, None] * cells + xs[None, :]
    return out


def _gradients(grey: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import cv2

    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=1)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=1)
    return np.hypot(gx, gy), np.mod(np.arctan2(gy, gx), np.pi)


def _hist_hog(pixels: np.ndarray) -> _Descriptor:
    import cv2

    work = _to_working(pixels, 224)
    q = np.minimum((work * 6).astype(np.int64), 5)
    counts = np.bincount((q[:, :, 0] * 36 + q[:, :, 1] * 6 + q[:, :, 2]).ravel(), minlength=216)
    colour = np.sqrt(counts / counts.sum())
    grey = np.ascontiguousarray(work @ _LUMA)
    mag, ang = _gradients(grey)
    cells, bins = 8, 9
    cell = _grid_index(grey.shape[0], grey.shape[1], cells)
    obin = np.minimum((ang / np.pi * bins).astype(np.int64), bins - 1)
    hog = np.bincount((cell * bins + obin).ravel(), weights=mag.ravel(), minlength=cells * cells * bins)
    hog = hog.reshape(cells * cells, bins)
    norms = np.linalg.norm(hog, axis=1, keepdims=True)
    hog = hog / np.sqrt(norms**2 + (0.2 * float(norms.mean()) + 1e-6) ** 2)
    orient = np.bincount(np.minimum((ang / np.pi * 18).astype(np.int64), 17).ravel(), weights=mag.ravel(), minlength=18)
    orient = np.sqrt(orient / max(float(orient.sum()), 1e-12))
    energy = [float(mag.mean())]
    level: np.ndarray = grey
    for _ in range(2):
        level = cv2.resize(
            level, (max(1, level.shape[1] // 2), max(1, level.shape[0] // 2)), interpolation=cv2.INTER_AREA
        )
        energy.append(float(_gradients(level)[0].mean()))
    sharp = np.log(np.array(energy) + 1e-3)
    mean = work.reshape(-1, 3).mean(axis=0).astype(np.float64)
    chroma = mean / max(float(mean.sum()), 1e-6)
    return colour, hog.ravel() / np.sqrt(cells * cells), np.concatenate([orient, sharp]), chroma


def _hellinger_rows(hist: np.ndarray) -> np.ndarray:
    out: np.ndarray = np.sqrt(hist / np.maximum(hist.sum(axis=-1, keepdims=True), 1e-12))
    return out


def _lbp_dct(pixels: np.ndarray) -> _Descriptor:
    import cv2
    from skimage.feature import local_binary_pattern

    work = _to_working(pixels, 256)
    grey = np.ascontiguousarray(work @ _LUMA)
    g8 = np.clip(grey * 255 + 0.5, 0, 255).astype(np.uint8)
    # each code weighted by the local contrast, so the sign patterns of noise in flat areas count little
    contrast = _gradients(grey)[0].ravel().astype(np.float64) + 1e-3
    lbp = np.concatenate(
        [
            _hellinger_rows(
                np.bincount(
                    local_binary_pattern(g8, 8, r, method="uniform").astype(np.int64).ravel(),  # type: ignore[no-untyped-call]
                    weights=contrast,
                    minlength=10,
                )
            )
            for r in (1, 3)
        ]
    )
    thumb = cv2.resize(grey, (32, 32), interpolation=cv2.INTER_AREA)
    layout = cv2.dct(thumb - np.float32(thumb.mean()))[:8, :8].ravel() / 8.0
    small = cv2.resize(work, (96, 96), interpolation=cv2.INTER_AREA).ravel()
    mean = work.reshape(-1, 3).mean(axis=0).astype(np.float64)
    chroma = mean / max(float(mean.sum()), 1e-6)
    h, w = grey.shape
    coeffs = cv2.dct(np.ascontiguousarray(grey[: h - h % 2, : w - w % 2]))
    fy = np.arange(coeffs.shape[0])[:, None] / coeffs.shape[0]
    fx = np.arange(coeffs.shape[1])[None, :] / coeffs.shape[1]
    band = np.digitize(np.sqrt(fy**2 + fx**2), 2.0 ** -np.arange(8, 0, -1))  # octaves 1/256 .. 1/2
    energy = np.bincount(band.ravel(), weights=(coeffs.astype(np.float64) ** 2).ravel(), minlength=9)
    counts = np.bincount(band.ravel(), minlength=9)
    spectrum = np.log(energy[1:] / np.maximum(counts[1:], 1) + 1e-7)
    return lbp, layout, small, spectrum, chroma


def _hist_hog_distance(a: _Descriptor, b: _Descriptor) -> float:
    return (
        float(np.sum((a[0] - b[0]) ** 2))
        + float(np.sum((a[1] - b[1]) ** 2))
        + float(np.sum((a[2][:-3] - b[2][:-3]) ** 2))
        + 0.5 * float(np.sum((a[2][-3:] - b[2][-3:]) ** 2))
        + 40.0 * float(np.sum((a[3] - b[3]) ** 2))
    )


def _lbp_dct_distance(a: _Descriptor, b: _Descriptor) -> float:
    return (
        float(np.sum((a[0] - b[0]) ** 2))
        + float(np.sum((a[1] - b[1]) ** 2))
        + 10.0 * float(np.mean((a[2] - b[2]) ** 2))
        + 0.02 * float(np.sum((a[3] - b[3]) ** 2))
        + 40.0 * float(np.sum((a[4] - b[4]) ** 2))
    )


_JUDGES: dict[str, tuple[Callable[[np.ndarray], _Descriptor], Callable[[_Descriptor, _Descriptor], float]]] = {
    "hist-hog": (_hist_hog, _hist_hog_distance),
    "lbp-dct": (_lbp_dct, _lbp_dct_distance),
}


def judge_descriptor(judge: str, pixels: np.ndarray) -> _Descriptor:
    """The descriptor ``judge`` computes from RGB ``pixels`` (float32 in [0, 1]).

    Shape:
        ``pixels``: ``(H, W, 3)``; any size (brought to the judge's working size).

    Raises:
        ConfigError: unknown judge.
    """
    if judge not in _JUDGES:
        raise ConfigError(f"unknown pixel judge {judge!r}; known: {', '.join(PIXEL_JUDGES)}")
    return _JUDGES[judge][0](np.asarray(pixels, np.float32))


# -- the engine ---------------------------------------------------------------------------------


class PixelJudgeEngine(ScorerEngine):
    """DSPy engine answering with the label of the demo whose image pixels look most like the query's.

    Args:
        config: a :class:`PixelJudgeConfig`; or give its fields as keywords.

    Convention:
        - Only pixels are read (:func:`sent_pixels`): the same pixels with or without PNG
          metadata give the same answer. ``detail="low"`` parts are read at <= 512 px.
        - A demo's distance is the mean over its images paired by position with the query's;
          demos without images are ignored; ties go to the earlier demo. The answer is the
          nearest demo's assistant message verbatim (any adapter's format); without any image
          demo it is the placeholder answer of :func:`~specprompt.scorers._engine_base.default_answer`.
        - ``usage.input_tokens`` = text tokens + image tokens of every part under ``cost_model``;
          ``provider_data["specprompt"]`` holds ``demo``, ``score`` (minus the distance) and ``scores``.

    Example:
        >>> PixelJudgeEngine(judge="lbp-dct").model_name
        'specprompt/pixel-lbp-dct-v1'
    """

    def __init__(self, config: PixelJudgeConfig | None = None, **options: Any) -> None:
        config = engine_config(PixelJudgeConfig, config, options, "PixelJudgeEngine")
        super().__init__(config.cost_model, config.cache_size)
        self.config = config
        self.model_name = config.model_string()
        self._describe, self._distance = _JUDGES[config.judge]
        self._descriptors: LRUCache[tuple[str, str | None], _Descriptor] = LRUCache(config.cache_size)

    def dump_state(self) -> dict[str, Any]:
        """JSON-ready state for ``dspy.LM.dump_state``."""
        return self.config.to_dict()

    @classmethod
    def load_state(cls, state: dict[str, Any]) -> PixelJudgeEngine:
        """Inverse of :meth:`dump_state`."""
        return cls(PixelJudgeConfig(**dict(state)))

    def descriptor(self, image: ChatImage) -> _Descriptor:
        """The judge's descriptor of one image part (cached by its digest and ``detail``)."""
        key = (image.key, image.detail)
        hit = self._descriptors.get(key)
        if hit is None:
            detail = image.detail if image.detail in SENT_DETAILS else None  # an unknown hint reads as full size
            pixels = sent_pixels(image.data, detail, image.describe())
            self._sizes.put(image.key, (pixels.shape[1], pixels.shape[0]))
            hit = self._describe(pixels)
            self._descriptors.put(key, hit)
        return hit

    def rank(self, chat: ParsedChat) -> list[float]:
        """Scores (minus distances) of every demo of ``chat``, in order.

        Raises:
            InvalidRequestError: no image in the whole chat (:func:`need_query_image`).
            ImageInputError: the query has no image, or an image cannot be decoded.
        """
        need_query_image(chat)
        query = [self.descriptor(q) for q in chat.query]
        scores = []
        for demo in chat.demos:
            dists = [self._distance(self.descriptor(d), q) for d, q in zip(demo.images, query, strict=False)]
            scores.append(-float(np.mean(dists)))
        return scores

    def answer(self, chat: ParsedChat) -> tuple[str, dict[str, Any]]:
        scores = self.rank(chat)
        if not scores:
            return default_answer(chat), {"demo": None, "score": None, "scores": []}
        best = int(np.argmax(scores))
        return chat.demos[best].answer, {"demo": best, "score": scores[best], "scores": scores}


def pixel_lm(judge: str = "hist-hog", *, cache: bool = False, **options: Any) -> dspy.LM:
    """A ``dspy.LM`` served by a :class:`PixelJudgeEngine`.

    Args:
        judge: a name from :data:`PIXEL_JUDGES`.
        cache: use DSPy's response cache (off by default: hits report no usage).
        **options: other :class:`PixelJudgeConfig` fields (``cost_model``, ``cache_size``).

    Raises:
        ConfigError: unknown judge or option.

    Example:
        >>> lm = pixel_lm("hist-hog")
        >>> lm.model, lm.engine.calls
        ('specprompt/pixel-hist-hog-v1', 0)
    """
    return engine_lm(PixelJudgeEngine(judge=judge, **options), cache)
