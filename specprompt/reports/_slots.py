"""The figures and band table of one demo image in the HTML report: the original (a detail crop's
region outlined), the image sent at real size and upscaled, and which bands it keeps."""

from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING, Any

import numpy as np

from specprompt.errors import ConfigError
from specprompt.reports._demo_image import DemoImage
from specprompt.reports._text import escape

if TYPE_CHECKING:
    from specprompt.spectral import Spectrum

__all__ = ["band_table", "crop_provenance", "sent_figures", "thumb"]


def _png_uri(pil: Any) -> str:
    buf = io.BytesIO()
    pil.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def thumb(pixels: np.ndarray, what: str, cell: int, box: tuple[int, int, int, int] | None = None) -> str:
    """A ``<figure>`` of ``pixels`` shrunk to fit ``cell`` px; ``box`` (``left, top, width, height`` in
    its pixels) is outlined."""
    from PIL import Image, ImageDraw

    from specprompt.spectral import to_pil

    pil = to_pil(pixels).convert("RGB") if box is not None else to_pil(pixels)
    w, h = pil.size
    pil.thumbnail((cell, cell), Image.Resampling.LANCZOS)
    tw, th = pil.size
    caption = f"{what}, {w}x{h}"
    alt = what
    if box is not None:
        left, top, bw, bh = box
        sx, sy = tw / w, th / h
        outline = (round(left * sx), round(top * sy), round((left + bw) * sx) - 1, round((top + bh) * sy) - 1)
        ImageDraw.Draw(pil).rectangle(outline, outline=(209, 36, 47))
        caption += ", the crop's region outlined"
        alt = f"{what} with the crop's region outlined"
    return (
        f'<figure><img src="{_png_uri(pil)}" width="{tw}" height="{th}" alt="{escape(alt)}">'
        f"<figcaption>{escape(caption)}</figcaption></figure>"
    )


def sent_figures(r: DemoImage, cell: int, tokens: str) -> str:
    """The image sent, at real size and upscaled (nearest) to about ``cell`` px, with ``tokens`` (its
    image tokens in words); one figure when it is as large as a cell already (the page holds each
    image's bytes once)."""
    url = getattr(r.image, "url", "")
    if not url.startswith("data:image/") or r.sent_size is None:
        return f"<div>image sent: <code>{escape(url[:80])}</code></div>"
    w, h = r.sent_size
    k = max(1, cell // max(w, h))
    src = escape(url)
    detail = "; detail " + escape(r.detail) if r.detail else ""
    size = escape(r.sent_text())  # "32x32", or "32x32, sharpened 100%"
    if k == 1:
        return (
            f'<figure><img class="px" src="{src}" width="{w}" height="{h}" alt="sent image at real size">'
            f"<figcaption>sent, real size {size}; {escape(tokens)} tokens{detail}</figcaption></figure>"
        )
    return (
        f'<figure><img class="px" src="{src}" width="{w}" height="{h}" alt="sent image at real size">'
        f"<figcaption>sent, real size {size}</figcaption></figure>"
        f'<figure><img class="px" src="{src}" width="{w * k}" height="{h * k}" alt="sent image upscaled">'
        f"<figcaption>sent, upscaled x{k} (nearest); {escape(tokens)} tokens{detail}</figcaption></figure>"
    )


def crop_provenance(r: DemoImage) -> str:
    """Where a detail crop was cut from, in words (HTML-escaped); ``""`` for an image that is not a crop."""
    if r.crop_box is None or r.crop_source_size is None:
        return ""
    left, top, w, h = r.crop_box
    sw, sh = r.crop_source_size
    sent = "" if r.sent_size is None else f"; sent at {r.sent_text()}"
    return escape(
        f"detail crop: the {w}x{h} px box at left {left}, top {top} (x {left}..{left + w - 1}, "
        f"y {top}..{top + h - 1}) of the {sw}x{sh} source image {str(r.crop_source_hash)[:12]}{sent}"
    )


def _bands_above(n: int) -> str:
    """``"so the resize removes 1 band the selection kept"``, ``"... 2 bands ..."``."""
    return f"so the resize removes {n} band{'' if n == 1 else 's'} the selection kept"


def band_table(r: DemoImage, source: np.ndarray | None) -> str:
    """The bands of a SpectralImage row: frequency range, tiles, energy (with ``source`` pixels) and
    whether each is kept, dropped, or removed by the resize to the sent size."""
    from specprompt.types import SpectralImage

    img = r.image
    spec: Spectrum | None = None
    if source is not None and isinstance(img, SpectralImage):
        from specprompt.spectral import decompose

        try:
            spec = decompose(source, img.scheme, **img.scheme_config)
        except ConfigError:  # pragma: no cover - the options came from a spectrum of this scheme
            spec = None
    if spec is not None:
        table = spec.table()
    elif isinstance(img, SpectralImage):  # no source pixels: the band layout, without energies
        from specprompt.reports._demo_image import _CHANNELS, _layout

        channels = _CHANNELS.get(img.to_pil().mode, 3)
        bands = _layout(img.scheme, img.scheme_options, tuple(img.source_size), channels)
        table = [{**b.to_dict(), "tiles": b.n_tiles, "energy": 0.0} for b in bands]
    else:  # pragma: no cover - only spectral rows get here
        return ""
    total = sum(row["energy"] for row in table) if source is not None else 0.0
    kept = None if r.kept is None else set(r.kept)
    head = "<tr><th>band</th><th>level</th><th>freq (x Nyquist)</th><th>tiles</th>"
    head += "<th>energy</th>" if total > 0 else ""
    head += "<th></th></tr>"
    body = []
    for row in table:
        lo, hi = row["freq_range"]
        cells = (
            f"<td>{escape(row['name'])}</td><td>{'-' if row['level'] is None else row['level']}</td>"
            f"<td>{lo:.3f}-{hi:.3f}</td><td class=num>{row['tiles']}</td>"
        )
        if total > 0:
            cells += f"<td class=num>{100 * row['energy'] / total:.1f}%</td>"
        if kept is not None and row["name"] not in kept:
            body.append(f"<tr class=drop>{cells}<td>dropped</td></tr>")
        elif row["name"] in r.removed_by_resize:
            body.append(f"<tr class=drop>{cells}<td>removed by the resize</td></tr>")
        elif r.cutoff is not None and lo < r.cutoff < hi:
            body.append(f'<tr>{cells}<td><span class="kept">kept</span>, above {r.cutoff:.3f} removed</td></tr>')
        else:
            body.append(f'<tr>{cells}<td><span class="kept">kept</span></td></tr>')
    note = ""
    if r.cutoff is not None and r.sent_size is not None and r.source_size is not None:
        (w, h), (sw, sh) = r.sent_size, r.source_size
        sharp = f", then sharpened {r.sharpen}%" if r.sharpen else ""
        note = (
            f"<div>sent at {w}x{h} of a {sw}x{sh} source (Lanczos{sharp}): the image sent holds frequencies up "
            f"to {r.cutoff:.3f} of the source&#39;s Nyquist"
            + (f", {_bands_above(len(r.removed_by_resize))}" if r.removed_by_resize else "")
            + ".</div>"
        )
    return f"{note}<table>{head}{''.join(body)}</table>"
