"""Rate-distortion of demo renders at equal image tokens, on real photos shipped with scikit-image.

Usage::

    python benchmarks/bench_rate_distortion.py                 # 8 photos, 2 pricings, 3 budgets
    python benchmarks/bench_rate_distortion.py --quick         # 3 photos, smaller (a few seconds)
    python benchmarks/bench_rate_distortion.py --photos astronaut coffee --budgets 0.05 0.25 --max-side 512

For every photo, pricing (``openai:gpt-4.1-mini``: 32 px patches; ``qwen2-vl``: 28 px patches)
and budget (a fraction of the full-size photo's price), each method sends the best image whose
price under that pricing fits the budget; the image is brought back to full size with the same
upsampler for every method (Lanczos-3 on float pixels) and compared with the original: PSNR (dB)
and SSIM (``skimage.metrics``, data range 1). Everything sent is quantized to 8 bits, as a PNG is.

Methods:

- ``pil-lanczos``: ``PIL.Image.resize(..., LANCZOS)`` of the photo to the largest longest side
  that fits (the anchor).
- ``cv2-area``: ``cv2.resize(..., INTER_AREA)`` to the same size.
- ``<scheme>-minimal`` (laplacian, dct, fft): the scheme's exact minimal render of its finest
  band prefix that fits (the only sizes the search could send before the sent-size dimension:
  powers of two for the Laplacian pyramid, ``8/k`` for the DCT, ``R/r`` for the FFT).
- ``<scheme>+lanczos``: what the search sends now for an image that keeps all its bands: the
  scheme's 8-bit render of the kept bands resized with PIL's Lanczos to the largest size that fits
  (``SpectralImage.from_spectrum(spectrum, selection, size=...)``; with every band kept, the same
  pixels as ``pil-lanczos``).

The last line says PASS when every ``<scheme>+lanczos`` render is at least as faithful as PIL
Lanczos (PSNR within 0.01 dB, SSIM within 0.001, or better) in every cell; the ``-minimal`` rows
are shown for reference (they are what the pyramid's early low-pass costs).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "brick", "grass", "gravel", "camera")
QUICK_PHOTOS = ("astronaut", "coffee", "gravel")
PRICINGS = ("openai:gpt-4.1-mini", "qwen2-vl")
BUDGETS = (0.1, 0.25, 0.5)
SCHEMES = ("laplacian", "dct", "fft")
#: Tolerances of "at least as faithful" (float rounding and 8-bit quantization).
PSNR_TOL = 0.01
SSIM_TOL = 0.001


@dataclass(frozen=True)
class Cell:
    """One method's render for one photo, pricing and budget."""

    photo: str
    pricing: str
    budget: float
    method: str
    tokens: int
    size: tuple[int, int]
    psnr: float
    ssim: float


def load_photo(name: str, max_side: int) -> np.ndarray:
    """A scikit-image photo as float32 ``(H, W, C)`` in [0, 1], shrunk (INTER_AREA) to ``max_side``."""
    import cv2
    from skimage import data

    arr = np.asarray(getattr(data, name)())
    if arr.ndim == 2:
        arr = arr[:, :, None]
    arr = arr[:, :, :3]
    h, w = arr.shape[:2]
    if max(h, w) > max_side:
        s = max_side / max(h, w)
        arr = cv2.resize(arr, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
        if arr.ndim == 2:
            arr = arr[:, :, None]
    return np.ascontiguousarray(arr, np.float32) / 255.0


def sent_size(source: tuple[int, int], side: int) -> tuple[int, int]:
    """``(width, height)`` with longest side ``side``, aspect kept (as the search's ``size`` dimension)."""
    w, h = source
    if w >= h:
        return side, max(1, round(h * side / w))
    return max(1, round(w * side / h)), side


def largest_fit(source: tuple[int, int], price: Callable[[int, int], int], budget: float) -> tuple[int, int] | None:
    """The largest size (longest side, one pixel steps) whose price fits ``budget``."""
    for side in range(max(source), 0, -1):
        size = sent_size(source, side)
        if price(*size) <= budget:
            return size
    return None


def _hwc(pixels: np.ndarray) -> np.ndarray:
    return pixels[:, :, None] if pixels.ndim == 2 else pixels


def to_u8(pixels: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(pixels * 255.0), 0, 255).astype(np.uint8)


def quality(original: np.ndarray, sent: np.ndarray) -> tuple[float, float]:
    """PSNR and SSIM of ``sent`` (8-bit pixels) upsampled back to the original's size with Lanczos-3."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    from specprompt.spectral import resize_lanczos

    h, w = original.shape[:2]
    back = np.clip(resize_lanczos(sent.astype(np.float32) / 255.0, (w, h)), 0.0, 1.0)
    psnr = float(peak_signal_noise_ratio(original, back, data_range=1.0))
    if original.shape[2] == 1:
        ssim = float(structural_similarity(original[:, :, 0], back[:, :, 0], data_range=1.0))
    else:
        ssim = float(structural_similarity(original, back, channel_axis=2, data_range=1.0))
    return psnr, ssim


def pil_lanczos(original: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    u8 = to_u8(original)
    im = Image.fromarray(u8[:, :, 0] if u8.shape[2] == 1 else u8)
    out = np.asarray(im.resize(size, Image.Resampling.LANCZOS))
    return out[:, :, None] if out.ndim == 2 else out


def cv2_area(original: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2

    out = cv2.resize(to_u8(original), size, interpolation=cv2.INTER_AREA)
    return out[:, :, None] if out.ndim == 2 else out


def run_photo(name: str, original: np.ndarray, pricings: list[str], budgets: list[float]) -> list[Cell]:
    """Every method's cell for one photo."""
    from specprompt import Selection, SpectralImage, decompose, image_tokens
    from specprompt.cost import selection_tokens
    from specprompt.search import search_space_for

    h, w = original.shape[:2]
    spectra = {s: decompose(original, s) for s in SCHEMES}
    cells: list[Cell] = []
    for pricing in pricings:

        def price(width: int, height: int, _p: str = pricing) -> int:
            return int(image_tokens(_p, width, height))

        full = price(w, h)
        for frac in budgets:
            budget = frac * full
            size = largest_fit((w, h), price, budget)
            sent: list[tuple[str, np.ndarray, int]] = []
            if size is not None:
                sent.append(("pil-lanczos", pil_lanczos(original, size), price(*size)))
                sent.append(("cv2-area", cv2_area(original, size), price(*size)))
            for scheme, spec in spectra.items():
                if size is not None:
                    img = SpectralImage.from_spectrum(spec, Selection.all(), size=size)
                    sent.append((f"{scheme}+lanczos", _hwc(np.asarray(img.to_pil())), price(*size)))
                space = search_space_for(spec)
                for rung in space.ladder():
                    sel = space.selection(rung)
                    if not sel.bands:
                        break
                    tokens = selection_tokens(spec, sel, pricing)
                    if tokens <= budget:
                        sent.append((f"{scheme}-minimal", _hwc(np.asarray(spec.render(sel, "minimal"))), tokens))
                        break
            for method, pixels, tokens in sent:
                psnr, ssim = quality(original, pixels)
                shape = (int(pixels.shape[1]), int(pixels.shape[0]))
                cells.append(Cell(name, pricing, frac, method, tokens, shape, psnr, ssim))
    return cells


def method_order() -> list[str]:
    return ["pil-lanczos", "cv2-area", *(f"{s}+lanczos" for s in SCHEMES), *(f"{s}-minimal" for s in SCHEMES)]


def table(cells: list[Cell], pricings: list[str], budgets: list[float], n_photos: int) -> str:
    """Markdown: per pricing and budget, each method's mean tokens, PSNR and SSIM over the photos."""
    head = "| pricing | budget | method | photos | mean tokens | mean PSNR dB | mean SSIM "
    lines = [head + "| PSNR vs Lanczos | SSIM vs Lanczos |", "|---|---|---|---|---|---|---|---|---|"]
    for pricing in pricings:
        for frac in budgets:
            here = [c for c in cells if c.pricing == pricing and c.budget == frac]
            anchor = {c.photo: c for c in here if c.method == "pil-lanczos"}
            for method in method_order():
                rows = [c for c in here if c.method == method]
                if not rows:
                    lines.append(f"| {pricing} | {frac:.0%} | {method} | 0/{n_photos} | - | - | - | - | - |")
                    continue
                dp = [c.psnr - anchor[c.photo].psnr for c in rows if c.photo in anchor]
                ds = [c.ssim - anchor[c.photo].ssim for c in rows if c.photo in anchor]
                lines.append(
                    f"| {pricing} | {frac:.0%} | {method} | {len(rows)}/{n_photos} "
                    f"| {statistics.mean(c.tokens for c in rows):.1f} "
                    f"| {statistics.mean(c.psnr for c in rows):.2f} | {statistics.mean(c.ssim for c in rows):.4f} "
                    f"| {statistics.mean(dp) if dp else float('nan'):+.2f} "
                    f"| {statistics.mean(ds) if ds else float('nan'):+.4f} |"
                )
    return "\n".join(lines)


def verdict(cells: list[Cell], suffix: str) -> tuple[int, int, list[str]]:
    """``(cells at least as faithful as Lanczos, cells compared, failures)`` for methods ending in ``suffix``."""
    anchor = {(c.photo, c.pricing, c.budget): c for c in cells if c.method == "pil-lanczos"}
    ok, n, bad = 0, 0, []
    for c in cells:
        if not c.method.endswith(suffix):
            continue
        ref = anchor.get((c.photo, c.pricing, c.budget))
        if ref is None:
            continue
        n += 1
        if c.tokens <= ref.tokens and c.psnr >= ref.psnr - PSNR_TOL and c.ssim >= ref.ssim - SSIM_TOL:
            ok += 1
        else:
            bad.append(
                f"{c.method} on {c.photo}, {c.pricing}, {c.budget:.0%}: PSNR {c.psnr:.2f} vs {ref.psnr:.2f}, "
                f"SSIM {c.ssim:.4f} vs {ref.ssim:.4f}, tokens {c.tokens} vs {ref.tokens}"
            )
    return ok, n, bad


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", nargs="+", default=None, help=f"scikit-image photos (default: {' '.join(PHOTOS)})")
    parser.add_argument("--pricings", nargs="+", default=list(PRICINGS), help="cost models (default: %(default)s)")
    parser.add_argument("--budgets", nargs="+", type=float, default=list(BUDGETS), help="fractions of the full price")
    parser.add_argument("--max-side", type=int, default=384, help="photos are shrunk to this longest side first")
    parser.add_argument("--quick", action="store_true", help=f"photos {' '.join(QUICK_PHOTOS)} at 256 px")
    args = parser.parse_args(argv)
    photos = args.photos or list(QUICK_PHOTOS if args.quick else PHOTOS)
    max_side = 256 if args.quick and args.max_side == 384 else args.max_side
    start = time.perf_counter()
    cells: list[Cell] = []
    for name in photos:
        original = load_photo(name, max_side)
        cells.extend(run_photo(name, original, args.pricings, args.budgets))
        h, w = original.shape[:2]
        print(f"{name}: {w}x{h}x{original.shape[2]} done ({time.perf_counter() - start:.1f} s)", file=sys.stderr)
    print(f"photos: {', '.join(photos)} (longest side <= {max_side} px); upsampled back with Lanczos-3")
    print(table(cells, args.pricings, args.budgets, len(photos)))
    ok, n, bad = verdict(cells, "+lanczos")
    old_ok, old_n, _ = verdict(cells, "-minimal")
    print(f"\nminimal renders (the pre-size-dimension search): {old_ok} of {old_n} cells as faithful as Lanczos")
    for line in bad:
        print(f"  below Lanczos: {line}")
    status = "PASS" if n and ok == n else "FAIL"
    print(
        f"{status}: every scheme's render is at least as faithful as Lanczos at equal tokens "
        f"({ok} of {n} cells; PSNR tolerance {PSNR_TOL} dB, SSIM {SSIM_TOL}) in {time.perf_counter() - start:.1f} s"
    )
    return 0 if status == "PASS" else 1


if __name__ == "__main__":
    raise SystemExit(main())
