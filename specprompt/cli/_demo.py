"""``specprompt demo``: decompose a real photo, price band selections per provider, draw a contact sheet."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import numpy as np

from specprompt.spectral import Selection, Spectrum, available_schemes, decompose

__all__ = ["PROVIDERS", "add_parser", "run", "sample_photo", "selections_for"]

log = logging.getLogger("specprompt.cli.demo")

#: Cost models priced in the demo's table, one per provider family.
PROVIDERS = ("openai:gpt-4o", "openai:gpt-4.1-mini", "anthropic:claude-sonnet-4", "gemini:gemini-2.5-flash", "qwen2-vl")


def sample_photo(name: str = "astronaut") -> np.ndarray:
    """A real photo shipped by scikit-image, as float32 ``(H, W, 3)`` in [0, 1]."""
    import skimage.data

    return np.asarray(getattr(skimage.data, name)(), np.float32)[..., :3] / 255.0


def selections_for(spec: Spectrum) -> list[tuple[str, Selection]]:
    """Full, coarse-half and coarsest selections, ordered from most to fewest bands (by frequency)."""
    order = sorted(spec.bands, key=lambda b: (b.freq_range[1], b.index))
    n = len(order)
    picks = [("all bands", Selection.all())]
    for label, keep in (("3/4 coarse", (3 * n + 3) // 4), ("1/2 coarse", (n + 1) // 2), ("coarsest", 1)):
        sel = Selection.of([b.name for b in order[:keep]])
        if all(sel != s for _, s in picks):
            picks.append((label, sel))
    return picks


def _band_table(spec: Spectrum) -> str:
    lines = [f"{'band':<12} {'level':>5} {'freq (x Nyquist)':>17} {'coeff shape':>16} {'tokens':>6} {'energy':>10}"]
    for row in spec.table():
        lo, hi = row["freq_range"]
        lines.append(
            f"{row['name']:<12} {row['level'] if row['level'] is not None else '-':>5} {lo:>8.3f}-{hi:<8.3f} "
            f"{'x'.join(map(str, row['coeff_shape'])):>16} {row['tokens']:>6} {row['energy']:>10.1f}"
        )
    return "\n".join(lines)


def _cost_table(spec: Spectrum, picks: list[tuple[str, Selection]]) -> str:
    from specprompt.cost import selection_tokens

    head = f"{'selection':<12} {'sent size':>10} {'local':>6} " + " ".join(f"{p.split(':')[-1]:>18}" for p in PROVIDERS)
    lines = [head]
    for label, sel in picks:
        h, w = spec.render_shape(sel)
        costs = " ".join(f"{selection_tokens(spec, sel, p):>18}" for p in PROVIDERS)
        lines.append(f"{label:<12} {f'{w}x{h}':>10} {spec.token_count(sel):>6} {costs}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Runs the demo; prints tables to stdout and writes the contact sheet."""
    from specprompt.io import as_array
    from specprompt.reports import contact_sheet

    image: Any = as_array(args.image) if args.image else sample_photo(args.photo)
    source = args.image or f"skimage.data.{args.photo}()"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for scheme in args.schemes or available_schemes():
        spec = decompose(image, scheme)
        picks = selections_for(spec)
        print(f"\n== {scheme}: {source}, {spec.size[0]}x{spec.size[1]} {spec.mode}, {len(spec.bands)} bands ==")
        print(_band_table(spec))
        print(f"\nimage tokens of the image sent for each selection (minimal lossless size):\n{_cost_table(spec, picks)}")
        rows.append((scheme, spec, picks))
    sheet_path = out / "contact_sheet.png"
    contact_sheet(rows, cost_model="openai:gpt-4o").save(sheet_path)
    print(f"\ncontact sheet: {sheet_path}")
    return 0


def add_parser(sub: Any) -> None:
    """Registers ``demo`` on the CLI's sub-parsers."""
    p = sub.add_parser("demo", help="decompose a sample photo, price band selections, draw a contact sheet")
    p.add_argument("--image", help="use this image instead of the bundled sample photo")
    p.add_argument("--photo", default="astronaut", help="scikit-image sample photo name (default: astronaut)")
    p.add_argument("--schemes", nargs="+", default=None, help=f"schemes to show (default: all of {available_schemes()})")
    p.add_argument("--out", default="specprompt-demo", help="output folder (default: ./specprompt-demo)")
    p.set_defaults(run=run)
