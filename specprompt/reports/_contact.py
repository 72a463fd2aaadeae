"""Contact sheets: one row per spectrum, one cell per selection, captioned with size and tokens."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from specprompt.errors import ConfigError
from specprompt.spectral import Selection, Spectrum

if TYPE_CHECKING:
    from PIL import Image as PILImage

__all__ = ["SHEET_COST_MODELS", "contact_sheet"]

#: Models priced under every cell by default: one that bills 32 px patches (its price follows the
#: pixels sent) and one that bills 512 px tiles (a 128 px and a 512 px image cost the same).
SHEET_COST_MODELS = ("openai:gpt-4.1-mini", "openai:gpt-4o")

_LINE = 13
_PAD = 6
_TITLE_W = 110


def _short(model: str) -> str:
    return model.split(":")[-1].split("/")[-1]


def _price(tokens: int, full: int, name: str) -> str:
    saved = f"  -{int(100 * (1 - tokens / full))}%" if full and tokens < full else ""  # floor: never -100% for > 0
    return f"{tokens} {name}{saved}"


def contact_sheet(
    rows: Sequence[tuple[str, Spectrum, Sequence[tuple[str, Selection]]]],
    *,
    cell: int = 192,
    cost_models: str | Sequence[str] = SHEET_COST_MODELS,
) -> PILImage.Image:
    """Draws a grid of renders: each row is ``(title, spectrum, [(label, selection), ...])``.

    Each cell shows ``spectrum.render(selection, "minimal")`` (transparency on white) scaled up
    (nearest neighbour, so the real pixel size stays visible) to fit ``cell`` pixels, captioned
    with the label, the size of that image (the image sent) and its price: one line per
    ``cost_models`` entry and one for ``local`` (the local band VLM reading that image), each as
    ``"<tokens> <model>  -<saving>%"`` where the saving is against sending the whole source image.
    A legend on top names the models.

    All prices are of the image sent, so identical pixels cost the same in every row, whatever the
    scheme. (The search prices a ``local`` selection by its kept bands of the source instead, see
    :func:`specprompt.cost.selection_tokens`.)

    Args:
        rows: the spectra and selections to show.
        cell: side of one cell in pixels (>= 32).
        cost_models: provider models priced under each cell (see ``specprompt.image_tokens``),
            one name or a sequence of names; default :data:`SHEET_COST_MODELS`, a patch-priced
            and a tile-priced model.

    Returns:
        an RGB PIL image.

    Raises:
        ConfigError: empty ``rows``, a row that is not ``(title, Spectrum, [(label, Selection),
            ...])`` (its index named), a ``cell`` that is not an int >= 32, or ``cost_models``
            that are not names. UnknownNameError: an unknown model.
    """
    from PIL import Image, ImageDraw

    from specprompt.cost import get_cost_model, image_tokens

    if isinstance(rows, (str, bytes)) or not isinstance(rows, Sequence):
        raise ConfigError(f"contact_sheet rows must be a sequence of rows, got {type(rows).__name__}")
    if not rows:
        raise ConfigError("contact_sheet needs at least one row")
    for r, row in enumerate(rows):
        _check_row(r, row)
    if not isinstance(cell, int) or isinstance(cell, bool) or cell < 32:
        raise ConfigError(f"cell must be an int >= 32 px, got {cell!r}")
    names = [cost_models] if isinstance(cost_models, str) else cost_models  # one name is one model
    if not isinstance(names, Sequence) or not all(isinstance(m, str) for m in names):
        raise ConfigError(f"cost_models must be a model name or a sequence of names, got {cost_models!r}")
    models = [*names, "local"]
    kinds = [_kind(get_cost_model(m)) for m in models]  # unknown names fail before drawing
    caption = (1 + len(models)) * _LINE + 4
    legend = [
        "image tokens of the image sent, per cell; -N%: saving against sending the whole image",
        ", ".join(f"{_short(m)} {k}" for m, k in zip(models, kinds, strict=True)),
    ]
    top = len(legend) * _LINE + _PAD
    ncols = max(len(sels) for _, _, sels in rows)
    width = _TITLE_W + ncols * (cell + _PAD) + _PAD
    height = top + len(rows) * (cell + caption + _PAD) + _PAD
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    for i, text in enumerate(legend):
        draw.text((_PAD, _PAD + i * _LINE), text, fill="black" if i == 0 else (90, 90, 90))
    for r, (title, spec, sels) in enumerate(rows):
        y = top + _PAD + r * (cell + caption + _PAD)
        draw.text((_PAD, y + cell // 2), title, fill="black")
        full = {m: image_tokens(m, *spec.size) for m in models}
        for c, (label, sel) in enumerate(sels):
            x = _TITLE_W + _PAD + c * (cell + _PAD)
            img = _on_white(spec.render(sel, "minimal"))
            scale = cell / max(spec.size)
            shown = img.resize(
                (max(1, round(spec.size[0] * scale)), max(1, round(spec.size[1] * scale))), Image.Resampling.NEAREST
            )
            sheet.paste(shown, (x, y))
            w, h = img.size
            kept = spec.kept(sel)
            draw.text((x, y + cell + 2), f"{label}  {w}x{h}", fill="black")
            for i, m in enumerate(models):
                tokens = image_tokens(m, w, h) if kept else 0
                colour = (0, 110, 0) if tokens < full[m] else (90, 90, 90)
                draw.text((x, y + cell + 2 + (i + 1) * _LINE), _price(tokens, full[m], _short(m)), fill=colour)
    return sheet


def _on_white(image: PILImage.Image) -> PILImage.Image:
    """``image`` in RGB as it is shown, transparency on white (:func:`specprompt.io.opaque_rgb`)."""
    from PIL import Image

    from specprompt.io import opaque_rgb

    if image.mode == "RGB":
        return image
    pixels = opaque_rgb(np.asarray(image, np.float32) / np.float32(255.0))
    return Image.fromarray(np.rint(pixels * np.float32(255.0)).astype(np.uint8), "RGB")


def _check_row(r: int, row: object) -> None:
    """Raises a ConfigError naming ``rows[r]`` unless it is ``(title, spectrum, [(label, selection), ...])``."""
    shape = "(title, Spectrum, [(label, Selection), ...])"
    if not isinstance(row, Sequence) or isinstance(row, (str, bytes)) or len(row) != 3:
        raise ConfigError(f"contact_sheet rows[{r}] must be {shape}, got {row!r}")
    title, spec, sels = row
    if not isinstance(title, str):
        raise ConfigError(f"contact_sheet rows[{r}] title must be a str, got {type(title).__name__}")
    if not isinstance(spec, Spectrum):
        raise ConfigError(f"contact_sheet rows[{r}] must hold a Spectrum second, got {type(spec).__name__}")
    if not isinstance(sels, Sequence) or isinstance(sels, (str, bytes)):
        raise ConfigError(f"contact_sheet rows[{r}] must end with a list of (label, Selection), got {sels!r}")
    for c, cell in enumerate(sels):
        if not (
            isinstance(cell, Sequence)
            and not isinstance(cell, (str, bytes))
            and len(cell) == 2
            and isinstance(cell[0], str)
            and (cell[1] is None or isinstance(cell[1], Selection))
        ):
            raise ConfigError(f"contact_sheet rows[{r}] cell {c} must be (label, Selection or None), got {cell!r}")


def _kind(model: object) -> str:
    """How a cost model bills, for the legend: ``"(32 px patches)"``, ``"(512 px tiles)"``."""
    from specprompt.cost import LocalCostModel

    if isinstance(model, LocalCostModel):
        return f"(band VLM, reads {model.canvas} px)"
    for attr, what in (("patch", "patches"), ("patch_size", "patches"), ("tile_size", "tiles")):
        size = getattr(model, attr, None)
        if isinstance(size, int):
            return f"({size} px {what})"
    return "(per pixel)" if hasattr(model, "pixels_per_token") else ""
