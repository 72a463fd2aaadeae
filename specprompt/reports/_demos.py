"""What the demo images of a program cost: one row per image, read from a program or its saved JSON.

Reading a saved program needs no code and runs none: the JSON file written by ``program.save`` is
parsed, each image marker string is turned back into a :class:`~specprompt.SpectralImage` (whose
PNG carries its scheme, kept bands and source hash) or a plain ``dspy.Image``, and sizes are read
from the PNG headers. Band lists come from the source's band layout
(:func:`specprompt.spectral.band_layout`: band layouts depend on shape and options only);
``local`` tokens, like every model's, are those of the image sent.
"""

from __future__ import annotations

import dataclasses
import html
import io
import json
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from specprompt.errors import ConfigError, ImageInputError, SpecPromptError
from specprompt.reports._state import demo_labels, demos_of, read_program_state

if TYPE_CHECKING:
    import dspy

    from specprompt.spectral import Band

__all__ = ["DemoImage", "ProgramImages", "describe_program", "image_rows_by_demo"]

_CHANNELS = {"1": 1, "L": 1, "P": 3, "RGB": 3, "RGBA": 4, "LA": 4}


def _display_width(text: str) -> int:
    """Columns ``text`` takes in a terminal: wide characters (CJK, East Asian width ``W``/``F``) take two,
    combining marks none; ``len`` would shift every column after a label such as ``猫``.

    Example:
        >>> _display_width("cat"), _display_width("猫"), _display_width("e\u0301")
        (3, 2, 1)
    """
    width = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def _pad(text: str, width: int) -> str:
    """``text`` padded with spaces to ``width`` display columns (:func:`_display_width`)."""
    return text + " " * max(0, width - _display_width(text))


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
        source_size: ``(width, height)`` of the source.
        source_hash: :func:`specprompt.types.content_hash` of the source.
        crop_box: for a detail crop, ``(left, top, width, height)`` of the region it was cut from,
            in the pixel coordinates of the whole image (its ``source_size`` and ``source_hash``
            are the crop's own); ``None`` for an image that is not a crop.
        crop_source_size: ``(width, height)`` of the whole image a detail crop was cut from.
        crop_source_hash: :func:`specprompt.types.content_hash` of that whole image.
        detail: the OpenAI ``detail`` hint sent with the image.
        local_tokens: tokens under the local cost model of :func:`describe_program` (the local
            band VLM's tokenizer of the image sent, see :func:`specprompt.cost.selection_tokens`).
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


@dataclass(frozen=True)
class ProgramImages:
    """Every demo image of a program, with its tokens.

    Attributes:
        rows: one :class:`DemoImage` per image (and per dropped image), in predictor, demo,
            field, item order.
        demos: predictor name -> number of demos (also those without images).
        cost_model: the cost model of ``model_tokens``, or ``None``.
        local_model: the local cost model of ``local_tokens``.
    """

    rows: tuple[DemoImage, ...]
    demos: Mapping[str, int]
    cost_model: str | None
    local_model: str = "local"

    @property
    def shown_model(self) -> str | None:
        """The cost model shown next to ``local`` tokens (``None`` when it is the local model itself)."""
        return None if self.cost_model in (None, "local", self.local_model) else self.cost_model

    def token_text(self, local: int, model: int | None) -> str:
        """Image tokens in words, the count under the compile's cost model first (what the target
        bills) and the local model's after it; the local count alone when no other cost model is
        shown (:attr:`shown_model`).

        Example:
            >>> ProgramImages((), {}, "openai:gpt-4.1-mini").token_text(176, 28)
            '28 openai:gpt-4.1-mini (176 local)'
            >>> ProgramImages((), {}, None).token_text(176, None)
            '176 local'
        """
        shown = self.shown_model
        if shown is None:
            return f"{local} {self.local_model}"
        return f"{model} {shown} ({local} {self.local_model})"

    @property
    def text_only(self) -> bool:
        """Whether the demos hold image fields but send no image: every one was dropped (text-only demos)."""
        return bool(self.rows) and all(r.kind == "dropped" for r in self.rows)

    def tokens(self, predictor: str | None = None) -> tuple[int, int | None]:
        """``(local, model)`` image tokens of one prompt of ``predictor`` (default: all predictors)."""
        rows = [r for r in self.rows if predictor is None or r.predictor == predictor]
        local = sum(r.local_tokens for r in rows)
        model = None if self.cost_model is None else sum(r.model_tokens or 0 for r in rows)
        return local, model

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: per predictor its demos count and tokens, the rows and the totals."""
        local, model = self.tokens()
        return {
            "cost_model": self.cost_model,
            "local_model": self.local_model,
            "predictors": {
                name: dict(zip(("local_tokens", "model_tokens"), self.tokens(name), strict=True), demos=n)
                for name, n in self.demos.items()
            },
            "images": [r.to_dict() for r in self.rows],
            "local_tokens": local,
            "model_tokens": model,
        }

    def table(self) -> str:
        """A plain-text table per predictor and the totals of one prompt."""
        model = self.shown_model
        head = ["demo", "label", "field", "scheme", "kept bands", "sent", "source"]
        if model:
            head.append(model.split(":")[-1])  # what the target bills first
        head += [self.local_model, "source hash"]
        lines: list[str] = []
        for name, n in self.demos.items():
            rows = [r for r in self.rows if r.predictor == name]
            lines.append(f"predictor {name}: {n} demo(s), {len(rows)} image slot(s)")
            if rows:  # no column heads over no rows
                body = [head]
                for r in rows:
                    cells = [
                        str(r.demo),
                        r.label or "-",
                        r.field if r.item is None else f"{r.field}[{r.item}]",
                        r.scheme or "-",
                        r.kept_text(),
                        _size(r.sent_size),
                        _size(r.source_size),
                    ]
                    if model:
                        cells.append(str(r.model_tokens))
                    cells += [str(r.local_tokens), (r.source_hash or "-")[:12]]
                    body.append(cells)
                widths = [max(_display_width(row[i]) for row in body) for i in range(len(head))]
                for row in body:
                    lines.append("  " + "  ".join(_pad(c, w) for c, w in zip(row, widths, strict=True)).rstrip())
            lines.append(f"  image tokens per prompt: {self.token_text(*self.tokens(name))}")
        lines.append(f"total image tokens per prompt: {self.token_text(*self.tokens())}")
        if self.text_only:
            lines.append(f"no demo image is sent: all {len(self.rows)} were dropped (text-only demos)")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        model = self.shown_model
        head = [
            "label",
            "slot",
            "scheme",
            "kept bands",
            "sent",
            "source",
            *([model] if model else []),
            self.local_model,
        ]
        body = []
        for r in self.rows:
            cells = [
                r.label or "-",
                r.slot,
                r.scheme or "-",
                r.kept_text(),
                _size(r.sent_size),
                _size(r.source_size),
                *([str(r.model_tokens)] if model else []),
                str(r.local_tokens),
            ]
            body.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
        total = self.token_text(*self.tokens())
        return (
            "<table><thead><tr>"
            + "".join(f"<th>{html.escape(h)}</th>" for h in head)
            + "</tr></thead><tbody>"
            + "".join(body)
            + f"</tbody><caption>image tokens per prompt: {html.escape(total)}</caption></table>"
        )


def _size(size: tuple[int, int] | None) -> str:
    return "-" if size is None else f"{size[0]}x{size[1]}"


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


def _row(
    predictor: str, demo: int, field: str, item: int | None, value: Any, cost_model: str | None, local_model: str
) -> DemoImage | None:
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


def describe_program(
    program: dspy.Module | str | Path | Mapping[str, Any],
    *,
    cost_model: str | None = None,
    local_model: str | None = None,
) -> ProgramImages:
    """Every demo image of ``program`` with its scheme, kept bands, sizes and tokens.

    Args:
        program: a ``dspy.Module``, or a JSON file written by ``program.save`` (or its parsed
            dict), read without running any code.
        cost_model: also price each image with this :mod:`specprompt.cost` model (its ``detail``
            as sent; none counts as ``"auto"``). A SpectralImage is priced at its sent size, except
            under the ``local`` model, which prices its kept bands of the source as the search does
            (:func:`specprompt.cost.selection_tokens`).
        local_model: the local cost model of the ``local_tokens`` column (``"local:band-vlm-v2"``,
            ``"local:canvas-256"``); default ``cost_model`` when it is a local one (a search
            scored by band-vlm-v2 under the bare ``"local"`` prices with ``"local:band-vlm-v2"``),
            else ``"local"`` (band-vlm-v1).

    Returns:
        a :class:`ProgramImages`. A :data:`specprompt.types.DROPPED_IMAGE` value is listed as
        ``"dropped"`` (0 tokens), and so is a ``None`` value in a field where another demo of the
        same predictor holds an image (or that marker): a program whose search dropped every
        image lists every one of them.

    Raises:
        ConfigError: not a program state, or a bad JSON file. UnknownNameError: unknown cost model.
        ImageInputError: a corrupt or truncated image, a DSPy image marker that cannot be parsed,
            or SpectralImage metadata that names an unknown scheme or bands (the file, predictor,
            demo and field named).

    Example:
        >>> import dspy
        >>> describe_program(dspy.Predict("image: dspy.Image -> label")).tokens()
        (0, None)
    """
    import dspy

    from specprompt.cost import LocalCostModel, get_cost_model
    from specprompt.types import DROPPED_IMAGE

    chosen = None if cost_model is None else get_cost_model(cost_model)
    if local_model is None:
        local_model = cost_model if cost_model is not None and isinstance(chosen, LocalCostModel) else "local"
    elif not isinstance(get_cost_model(local_model), LocalCostModel):
        raise ConfigError(f"local_model must be a local cost model such as 'local:band-vlm-v2', got {local_model!r}")
    states = demos_of(program) if isinstance(program, dspy.Module) else read_program_state(program)
    source = "the program state" if isinstance(program, Mapping) else str(program)
    if isinstance(program, dspy.Module):
        source = "the program"

    def row(pname: str, di: int, fname: str, item: int | None, value: Any) -> DemoImage | None:
        try:
            return _row(pname, di, fname, item, value, cost_model, local_model)
        except SpecPromptError as exc:  # a corrupt image or metadata chunk: say which demo holds it
            at = f" item {item}" if item is not None else ""
            where = f"of predictor {pname!r}, demo {di}, field {fname!r}{at} in {source}"
            raise ImageInputError(where, exc.reason if isinstance(exc, ImageInputError) else str(exc)) from None

    rows: list[DemoImage] = []
    for pname, demos in states.items():
        per: list[tuple[int, str, DemoImage | None]] = []
        image_fields: set[str] = set()
        for di, demo in enumerate(demos):
            for fname, value in demo.items():
                if fname.startswith("dspy_") or fname == "augmented":
                    continue
                if isinstance(value, (list, tuple)):
                    for j, v in enumerate(value):
                        r = row(pname, di, fname, j, v)
                        if r is not None:
                            per.append((di, fname, r))
                            image_fields.add(fname)
                    continue
                r = row(pname, di, fname, None, value)
                if r is not None:
                    image_fields.add(fname)
                    per.append((di, fname, r))
                elif value == DROPPED_IMAGE:  # the search's own marker: an image, whatever the other demos hold
                    image_fields.add(fname)
                    per.append((di, fname, None))
                elif value is None:
                    per.append((di, fname, None))
        for di, fname, r in per:
            if r is not None:
                rows.append(r)
            elif fname in image_fields:
                dropped_tokens = None if cost_model is None else 0
                rows.append(
                    DemoImage(predictor=pname, demo=di, field=fname, kind="dropped", model_tokens=dropped_tokens)
                )
    labels = demo_labels(program)
    rows = [dataclasses.replace(r, label=labels.get((r.predictor, r.demo))) for r in rows]
    return ProgramImages(tuple(rows), {k: len(v) for k, v in states.items()}, cost_model, local_model)


def image_rows_by_demo(images: ProgramImages) -> dict[tuple[str, int], list[DemoImage]]:
    """Rows grouped by ``(predictor, demo)``, in order."""
    out: dict[tuple[str, int], list[DemoImage]] = {}
    for r in images.rows:
        out.setdefault((r.predictor, r.demo), []).append(r)
    return out
