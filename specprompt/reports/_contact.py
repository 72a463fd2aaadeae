"""Contact sheets: one row per spectrum, one cell per selection, captioned with size and tokens."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

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
    cost_models: Sequence[str] = SHEET_COST_MODELS,
) -> PILImage.Image:
    """Draws a grid of renders: each row is ``(title, spectrum, [(label, selection), ...])``.

    Each cell shows ``spectrum.render(selection, "minimal")`` scaled up (nearest neighbour, so the
    real pixel size stays visible) to fit ``cell`` pixels, captioned with the label, the size of
    that image (the image sent) and its price: one line per ``cost_models`` entry and one for
    ``local`` (the local band VLM reading that image), each as ``"<tokens> <model>  -<saving>%"``
    where the saving is against sending the whole source image. A legend on top names the models.

    All prices are of the image sent, so identical pixels cost the same in every row, whatever the
    scheme. (The search prices a ``local`` selection by its kept bands of the source instead, see
    :func:`specprompt.cost.selection_tokens`.)

    Args:
        rows: the spectra and selections to show.
        cell: side of one cell in pixels (>= 32).
        cost_models: provider models priced under each cell (see ``specprompt.image_tokens``);
            default :data:`SHEET_COST_MODELS`, a patch-priced and a tile-priced model.

    Returns:
        an RGB PIL image.

    Raises:
        ConfigError: empty ``rows`` or a too small ``cell``. UnknownNameError: an unknown model.
    """
    from PIL import Image, ImageDraw

    from specprompt.cost import get_cost_model, image_tokens

    if not rows:
        raise ConfigError("contact_sheet needs at least one row")
    if cell < 32:
        raise ConfigError(f"cell must be >= 32 px, got {cell}")
    models = [*cost_models, "local"]
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
            img = spec.render(sel, "minimal").convert("RGB")
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
