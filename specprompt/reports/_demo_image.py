"""One demo image of a program: the :class:`DemoImage` record, and how one demo field value is read
into it (:func:`image_row`).

A value is turned back into a :class:`~specprompt.SpectralImage` or a plain ``dspy.Image``
(:func:`specprompt.types.restore_image`); sizes come from the image data (decoded fully, so a
truncated image is refused), band lists from the source's band layout
(:func:`specprompt.spectral.band_layout`), tokens from :func:`specprompt.cost.image_tokens` of the
image sent. :func:`specprompt.reports.describe_program` walks a program's demos with it.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from specprompt.errors import ImageInputError

if TYPE_CHECKING:
    from specprompt.spectral import Band

__all__ = ["DemoImage", "image_row"]

_CHANNELS = {"1": 1, "L": 1, "P": 3, "RGB": 3, "RGBA": 4, "LA": 4}


@dataclass(frozen=True, kw_only=True)
class DemoImage:
    """One image value of one demo, or a dropped image (the field holds no image).

    Built with keywords only; the fields that do not apply to a kind default to ``None``.

    Attributes:
        predictor: the predictor's name (``"self"`` for a bare ``dspy.Predict``).
        demo: index in the predictor's demos.
        field: the demo field.
        item: position in a ``list[dspy.Image]`` field, or ``None``.
        kind: ``"spectral"`` (a SpectralImage), ``"image"`` (a plain ``dspy.Image``) or
            ``"dropped"`` (the search removed it: the demo is sent as text only).
        image: the image object, ``None`` when dropped.
        scheme: decomposition scheme of a SpectralImage.
        kept: kept band names (``None``: all bands), as the selection names them.
        bands: every band name of the source's spectrum, when known.
        removed_by_resize: kept bands the resize to ``sent_size`` removes (their frequencies lie
            above the sent image's Nyquist, :func:`specprompt.spectral.removed_by_resize`): kept
            by the selection, yet not in the image sent. Empty for an exact (minimal) render.
        cutoff: the sent image's Nyquist as a fraction of the source's
            (:func:`specprompt.spectral.resize_cutoff`) when the kept bands were resized to
            ``sent_size``; ``None`` for an exact (minimal) render, which loses no kept band.
        sent_size: ``(width, height)`` of the image sent.
        sharpen: percent of the unsharp mask applied to the image sent after its resize
            (:attr:`specprompt.SpectralImage.sharpen`), ``None`` for none.
        source_size: ``(width, height)`` of the source.
        source_hash: :func:`specprompt.types.content_hash` of the source.
        crop_box: for a detail crop, ``(left, top, width, height)`` of the region it was cut from,
            in the pixel coordinates of the whole image (its ``source_size`` and ``source_hash``
            are the crop's own); ``None`` for an image that is not a crop.
        crop_source_size: ``(width, height)`` of the whole image a detail crop was cut from.
        crop_source_hash: :func:`specprompt.types.content_hash` of that whole image.
        detail: the OpenAI ``detail`` hint sent with the image.
        local_tokens: tokens under the local cost model of
            :func:`~specprompt.reports.describe_program` (the local band VLM's tokenizer of the image
            sent, see :func:`specprompt.cost.selection_tokens`).
        model_tokens: tokens under the chosen cost model, or ``None`` when none was chosen.
        label: what the demo answers, for captions: its output field value (``"top-left"``), or
            ``"field=value; ..."`` when it has several text fields; ``None`` when it has none.
    """

    predictor: str
    demo: int
    field: str
    item: int | None = None
    kind: str
    image: Any = None
    scheme: str | None = None
    kept: tuple[str, ...] | None = None
    bands: tuple[str, ...] | None = None
    removed_by_resize: tuple[str, ...] = ()
    cutoff: float | None = None
    sent_size: tuple[int, int] | None = None
    sharpen: int | None = None
    source_size: tuple[int, int] | None = None
    source_hash: str | None = None
    crop_box: tuple[int, int, int, int] | None = None
    crop_source_size: tuple[int, int] | None = None
    crop_source_hash: str | None = None
    detail: str | None = None
    local_tokens: int = 0
    model_tokens: int | None = None
    label: str | None = None

    @property
    def slot(self) -> str:
        """``predictor/demo<i>/field[item]``, the slot id used in search results."""
        suffix = "" if self.item is None else f"[{self.item}]"
        return f"{self.predictor}/demo{self.demo}/{self.field}{suffix}"

    @property
    def title(self) -> str:
        """``"top-left (self/demo0/image)"``: the label first, the slot id after; the slot alone without a label."""
        return self.slot if not self.label else f"{self.label} ({self.slot})"

    def crop_text(self) -> str | None:
        """``"detail crop 32x32 at (16, 0) of the 64x64 image"`` (the box's left, top), ``None`` when not a crop."""
        if self.crop_box is None or self.crop_source_size is None:
            return None
        left, top, w, h = self.crop_box
        sw, sh = self.crop_source_size
        return f"detail crop {w}x{h} at ({left}, {top}) of the {sw}x{sh} image"

    def sent_text(self) -> str:
        """``"128x128"``, ``"128x128, sharpened 100%"`` when the image sent was sharpened, ``"-"`` without a size."""
        if self.sent_size is None:
            return "-"
        size = f"{self.sent_size[0]}x{self.sent_size[1]}"
        return size if not self.sharpen else f"{size}, sharpened {self.sharpen}%"

    def kept_text(self) -> str:
        """``"residual, L3 (2 of 5)"``, ``"all (5)"``, ``"dropped"``; kept bands that the resize to the
        sent size removes are named apart: ``"residual, L1 (2 of 3); removed by the resize: L0"``; a
        detail crop says so first: ``"detail crop 32x32 at (16, 0) of the 64x64 image: all (2)"``."""
        text = self._bands_text()
        crop = self.crop_text()
        return text if crop is None else f"{crop}: {text}"

    def _bands_text(self) -> str:
        if self.kind == "dropped":
            return "dropped"
        if self.kind == "image":
            return "plain image"
        n = f" of {len(self.bands)}" if self.bands is not None else ""
        cut = f"; removed by the resize: {', '.join(self._coarse_first(self.removed_by_resize))}"
        if self.kept is None:
            if not self.removed_by_resize:
                return f"all{f' ({len(self.bands)})' if self.bands is not None else ''}"
            sent = [b for b in self.bands or () if b not in self.removed_by_resize]
            return f"{', '.join(self._coarse_first(sent)) or 'none'} ({len(sent)}{n}){cut}"
        sent = [b for b in self.kept if b not in self.removed_by_resize]
        text = f"{', '.join(self._coarse_first(sent)) or 'none'} ({len(sent)}{n})"
        return text + (cut if self.removed_by_resize else "")

    def _coarse_first(self, names: Iterable[str]) -> list[str]:
        """``names`` from the coarsest band to the finest (the reverse of the spectrum's order)."""
        order = {b: i for i, b in enumerate(self.bands or ())}
        return sorted(names, key=lambda b: (-order.get(b, -1), b))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (the image itself left out)."""
        return {
            "slot": self.slot,
            "predictor": self.predictor,
            "demo": self.demo,
            "field": self.field,
            "item": self.item,
            "kind": self.kind,
            "scheme": self.scheme,
            "kept": None if self.kept is None else list(self.kept),
            "bands": None if self.bands is None else list(self.bands),
            "removed_by_resize": list(self.removed_by_resize),
            "cutoff": self.cutoff,
            "sent_size": None if self.sent_size is None else list(self.sent_size),
            "sharpen": self.sharpen,
            "source_size": None if self.source_size is None else list(self.source_size),
            "source_hash": self.source_hash,
            "crop_box": None if self.crop_box is None else list(self.crop_box),
            "crop_source_size": None if self.crop_source_size is None else list(self.crop_source_size),
            "crop_source_hash": self.crop_source_hash,
            "detail": self.detail,
            "local_tokens": self.local_tokens,
            "model_tokens": self.model_tokens,
            "label": self.label,
        }


@lru_cache(maxsize=64)
def _layout(scheme: str, options: str, size: tuple[int, int], channels: int) -> tuple[Band, ...]:
    """The source's band layout (:meth:`~specprompt.spectral.Scheme.band_layout`)."""
    from specprompt.spectral import band_layout

    w, h = size
    return band_layout(scheme, (h, w), channels, **json.loads(options))


def _png_info(url: str) -> tuple[tuple[int, int], int] | None:
    """``((width, height), channels)`` of a base64 data URI image, decoded fully; ``None`` for another URL
    and for an SVG or PDF part (sent as it is, as on loading the program).

    Raises:
        ImageInputError: a data URI whose image is truncated or corrupt.
    """
    import warnings

    from PIL import Image

    from specprompt.errors import SpecPromptWarning
    from specprompt.io import NOT_RASTER_MEDIA_TYPES, data_uri_media_type, load_image, parse_data_uri

    if not isinstance(url, str) or not url.startswith("data:") or data_uri_media_type(url) in NOT_RASTER_MEDIA_TYPES:
        return None
    data = parse_data_uri(url, "<demo image>")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SpecPromptWarning)  # an animation: its first frame is what is sent
        load_image(data)  # every pixel: a truncated image is refused here, not reported as valid
    with Image.open(io.BytesIO(data)) as im:
        return (int(im.size[0]), int(im.size[1])), _CHANNELS.get(im.mode, 3)


def image_row(
    predictor: str, demo: int, field: str, item: int | None, value: Any, cost_model: str | None, local_model: str
) -> DemoImage | None:
    """The :class:`DemoImage` of one demo field value (item ``item`` of a list field), priced with
    ``cost_model`` and ``local_model``; ``None`` for a value that is no image."""
    import dspy

    from specprompt.cost import image_tokens
    from specprompt.types import SpectralImage, restore_image

    value = restore_image(value)
    if isinstance(value, SpectralImage):
        info = _png_info(value.url)
        channels = info[1] if info else 3
        src_w, src_h = int(value.source_size[0]), int(value.source_size[1])
        bands = _layout(value.scheme, value.scheme_options, (src_w, src_h), channels)
        sel = value.selection_obj
        kept = None if sel.bands is None else tuple(sorted(sel.bands))
        unknown = sorted(set(kept or ()) - {b.name for b in bands})
        if unknown:  # a tampered or foreign chunk: the bands it names are not the source's
            raise ImageInputError(
                "<its specprompt metadata>",
                f"its specprompt metadata keeps band(s) {unknown} that a {value.scheme} layout of "
                f"{src_w}x{src_h} lacks "
                f"(bands: {', '.join(b.name for b in bands)})",
            )
        w, h = value.render_size
        cutoff: float | None = None
        removed: tuple[str, ...] = ()
        if value.resample is not None:  # the kept bands at full size, resized: finer ones may not survive
            from specprompt.spectral import removed_by_resize, resize_cutoff

            cutoff = resize_cutoff((src_w, src_h), (w, h))
            removed = tuple(b for b in removed_by_resize(bands, (src_w, src_h), (w, h)) if kept is None or b in kept)
        detail = value.detail or "auto"
        crop = value.crop_of
        local = image_tokens(local_model, w, h)  # the local model reads the pixels sent, like any model
        model = None if cost_model is None else image_tokens(cost_model, w, h, detail=detail)
        return DemoImage(
            predictor=predictor,
            demo=demo,
            field=field,
            item=item,
            kind="spectral",
            image=value,
            scheme=value.scheme,
            kept=kept,
            bands=tuple(b.name for b in bands),
            removed_by_resize=removed,
            cutoff=cutoff,
            sent_size=(w, h),
            sharpen=value.sharpen,
            source_size=(src_w, src_h),
            source_hash=value.source_hash,
            crop_box=None if crop is None else tuple(crop["box"]),
            crop_source_size=None if crop is None else tuple(crop["source_size"]),
            crop_source_hash=None if crop is None else crop["source_hash"],
            detail=value.detail,
            local_tokens=local,
            model_tokens=model,
        )
    if isinstance(value, dspy.Image):
        info = _png_info(value.url)
        size = None if info is None else info[0]
        hint = getattr(value, "detail", None)
        local = 0 if size is None else image_tokens(local_model, *size)
        model = None if cost_model is None or size is None else image_tokens(cost_model, *size, detail=hint or "auto")
        return DemoImage(
            predictor=predictor,
            demo=demo,
            field=field,
            item=item,
            kind="image",
            image=value,
            sent_size=size,
            source_size=size,
            detail=hint,
            local_tokens=local,
            model_tokens=model,
        )
    return None
