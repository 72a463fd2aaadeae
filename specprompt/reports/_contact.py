"""Contact sheets: one row per spectrum, one cell per selection, captioned with size and tokens."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from specprompt.errors import ConfigError
from specprompt.spectral import Selection, Spectrum

if TYPE_CHECKING:
    from PIL import Image as PILImage

__all__ = ["contact_sheet"]

_CAPTION = 30
_PAD = 6


def contact_sheet(
    rows: Sequence[tuple[str, Spectrum, Sequence[tuple[str, Selection]]]],
    *,
    cell: int = 192,
    cost_model: str | None = None,
) -> PILImage.Image:
    """Draws a grid of renders: each row is ``(title, spectrum, [(label, selection), ...])``.

    Each cell shows ``spectrum.render(selection, "minimal")`` scaled up (nearest neighbour, so the
    real pixel size stays visible) to fit ``cell`` pixels, captioned with the label, the minimal
    render size and its tokens (``local`` tokens: the local band VLM's tokens for the kept bands, see
    :func:`specprompt.cost.selection_tokens`; plus ``cost_model`` tokens when given).

    Args:
        rows: the spectra and selections to show.
        cell: side of one cell in pixels (>= 32).
        cost_model: an optional provider model name for the captions (see ``specprompt.image_tokens``).

    Returns:
        an RGB PIL image.

    Raises:
        ConfigError: empty ``rows`` or a too small ``cell``.
    """
    from PIL import Image, ImageDraw

    from specprompt.cost import selection_tokens

    if not rows:
        raise ConfigError("contact_sheet needs at least one row")
    if cell < 32:
        raise ConfigError(f"cell must be >= 32 px, got {cell}")
    ncols = max(len(sels) for _, _, sels in rows)
    title_w = 110
    width = title_w + ncols * (cell + _PAD) + _PAD
    height = len(rows) * (cell + _CAPTION + _PAD) + _PAD
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    for r, (title, spec, sels) in enumerate(rows):
        y = _PAD + r * (cell + _CAPTION + _PAD)
        draw.text((_PAD, y + cell // 2), title, fill="black")
        for c, (label, sel) in enumerate(sels):
            x = title_w + _PAD + c * (cell + _PAD)
            img = spec.render(sel, "minimal").convert("RGB")
            scale = cell / max(spec.size)
            shown = img.resize(
                (max(1, round(spec.size[0] * scale)), max(1, round(spec.size[1] * scale))), Image.Resampling.NEAREST
            )
            sheet.paste(shown, (x, y))
            tokens = f"{selection_tokens(spec, sel, 'local')} local"
            if cost_model is not None:
                tokens += f", {selection_tokens(spec, sel, cost_model)} {cost_model.split(':')[-1]}"
            w, h = img.size
            draw.text((x, y + cell + 2), f"{label}  {w}x{h}", fill="black")
            draw.text((x, y + cell + 15), tokens, fill=(90, 90, 90))
    return sheet
