"""Times decompose + reconstruct of every registered scheme beside anchors measured in the same run.

Usage::

    python benchmarks/bench_spectral.py                      # 256^2, 1024^2, 4096^2 RGB float32
    python benchmarks/bench_spectral.py --quick              # 256^2 and 1024^2, fewer repeats
    python benchmarks/bench_spectral.py --sizes 512 --repeats 11 --markdown-out bench.md

Every method gets one warm-up call, then the methods of a size are run round-robin (each round:
each method once, right next to a call of its anchor, the anchor first every other round) so that
load from other processes hits them alike; the table shows the median time. Ratios compare a
method with its anchor from the same run (the median over rounds of the ratio of the two calls of
a pair), so they, not the absolute times, are what to read. See benchmarks/README.md for the
anchors and the targets.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/_common.py, next to this script
from _common import check_outputs

#: Anchor names.
OPENCV_LAP = "opencv pyrDown/pyrUp laplacian"
SCIPY_DCT = "scipy dctn/idctn 8x8 blocks"
NUMPY_FFT = "numpy fft2+ifft2"
PYWT = "pywt wavedec2+waverec2"

#: The anchor of each registered scheme (schemes not listed here get no ratio).
SCHEME_ANCHORS = {"laplacian": OPENCV_LAP, "dct": SCIPY_DCT, "fft": NUMPY_FFT, "wavelet": PYWT}

#: The issue's targets: (label, method, anchor, largest allowed ratio), evaluated at TARGET_SIZE.
TARGET_SIZE = 1024
TARGETS = [
    ("laplacian", "specprompt laplacian", OPENCV_LAP, 1.05),
    ("block DCT", "specprompt dct", SCIPY_DCT, 1.5),
    ("block DCT", "torch block_dct (cpu)", SCIPY_DCT, 1.5),
]


@dataclass
class Method:
    """One timed operation on one image size."""

    name: str
    fn: Callable[[], object]
    anchor: str | None = None
    sync: Callable[[], None] | None = None
    times: list[float] = field(default_factory=list)
    #: (own time, anchor time) of the calls made as a pair with the anchor
    pairs: list[tuple[float, float]] = field(default_factory=list)
    cold: bool = False
    error: str | None = None

    def call(self) -> float:
        if self.sync is not None:
            self.sync()
        start = time.perf_counter()
        self.fn()
        if self.sync is not None:
            self.sync()
        return time.perf_counter() - start

    @property
    def median_ms(self) -> float:
        return 1e3 * statistics.median(self.times)


def make_image(size: int) -> np.ndarray:
    """A seeded ``size x size`` RGB float32 image in [0, 1]: smooth gradients plus noise."""
    rng = np.random.default_rng(size)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    base = np.stack([xx, yy, 0.5 + 0.25 * np.sin(6.0 * (xx + yy))], axis=-1)
    noise = rng.standard_normal((size, size, 3), dtype=np.float32)
    return np.clip(0.8 * base + 0.05 * noise + 0.1, 0.0, 1.0).astype(np.float32)


# -- anchors -----------------------------------------------------------------------------------------


def opencv_laplacian(image: np.ndarray, levels: int) -> np.ndarray:
    """The pyramid and its inverse written directly with OpenCV, with the same allocations as the
    scheme: one new array per band (each difference is taken in place in its ``pyrUp`` output) and
    one per reconstructed level (the band is added in place)."""
    import cv2

    gauss = [image]
    for _ in range(levels):
        h, w = gauss[-1].shape[:2]
        gauss.append(cv2.pyrDown(gauss[-1], dstsize=((w + 1) // 2, (h + 1) // 2)))
    laps = []
    for g, g1 in itertools.pairwise(gauss):
        up = cv2.pyrUp(g1, dstsize=(g.shape[1], g.shape[0]))
        laps.append(cv2.subtract(g, up, dst=up))
    out = gauss[-1]
    for lap in reversed(laps):
        out = cv2.pyrUp(out, dstsize=(lap.shape[1], lap.shape[0]))
        cv2.add(out, lap, dst=out)
    return out


def pyrtools_laplacian(image: np.ndarray, levels: int) -> list[np.ndarray]:
    import pyrtools

    return [
        pyrtools.pyramids.LaplacianPyramid(image[:, :, c], height=levels + 1).recon_pyr() for c in range(image.shape[2])
    ]


def scipy_blocks(image: np.ndarray) -> np.ndarray:
    import scipy.fft

    h, w, c = image.shape
    bh, bw = -(-h // 8), -(-w // 8)
    padded = np.pad(image, ((0, bh * 8 - h), (0, bw * 8 - w), (0, 0)), mode="edge")
    blocks = padded.reshape(bh, 8, bw, 8, c).transpose(4, 0, 2, 1, 3)  # (c, bh, bw, 8, 8)
    coeffs = scipy.fft.dctn(blocks, axes=(-2, -1), norm="ortho")
    pixels = scipy.fft.idctn(coeffs, axes=(-2, -1), norm="ortho")
    return np.ascontiguousarray(pixels.transpose(1, 3, 2, 4, 0).reshape(bh * 8, bw * 8, c)[:h, :w])


def numpy_fft(image: np.ndarray) -> np.ndarray:
    return np.fft.ifft2(np.fft.fft2(image, axes=(0, 1)), axes=(0, 1)).real.astype(np.float32)


def pywt_roundtrip(image: np.ndarray, levels: int, config: Any) -> np.ndarray:
    import pywt

    dec = pywt.wavedec2(image, config.wavelet, mode=config.mode, level=levels, axes=(0, 1))
    return np.asarray(pywt.waverec2(dec, config.wavelet, mode=config.mode, axes=(0, 1)))


def pil_lanczos(image: np.ndarray) -> Callable[[], object]:
    from PIL import Image

    pil = Image.fromarray(np.rint(image * 255.0).astype(np.uint8), mode="RGB")
    w, h = pil.size

    def run() -> object:
        small = pil.resize(((w + 1) // 2, (h + 1) // 2), Image.Resampling.LANCZOS)
        return small.resize((w, h), Image.Resampling.LANCZOS)

    return run


# -- the methods of one size -------------------------------------------------------------------------


def _has(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def methods_for(image: np.ndarray, notes: list[str]) -> list[Method]:
    import specprompt

    methods: list[Method] = []
    lap_levels = len(specprompt.decompose(image, "laplacian").bands) - 1
    methods.append(Method(OPENCV_LAP, lambda: opencv_laplacian(image, lap_levels)))
    methods.append(Method(SCIPY_DCT, lambda: scipy_blocks(image)))
    methods.append(Method(NUMPY_FFT, lambda: numpy_fft(image)))
    methods.append(Method("PIL Lanczos /2 and back (uint8 RGB)", pil_lanczos(image)))

    for scheme in specprompt.available_schemes():
        anchor = SCHEME_ANCHORS.get(scheme)
        if scheme == "wavelet":
            spec = specprompt.decompose(image, "wavelet")
            levels = sum(1 for b in spec.bands if b.name.startswith("h"))
            if _has("pywt"):

                def pywt_call(config: Any = spec.config, n: int = levels) -> object:
                    return pywt_roundtrip(image, n, config)

                methods.append(Method(PYWT, pywt_call))
            else:
                anchor = None

        def roundtrip(name: str = scheme) -> object:
            return specprompt.decompose(image, name).reconstruct()

        methods.append(Method(f"specprompt {scheme}", roundtrip, anchor))

    # other implementations after the schemes, so that grouped() puts each scheme right by its anchor
    if _has("pyrtools"):
        methods.append(Method("pyrtools LaplacianPyramid", lambda: pyrtools_laplacian(image, lap_levels), OPENCV_LAP))
    else:
        notes.append("pyrtools not installed: its row is left out (pip install pyrtools)")
    if _has("torch"):
        methods.extend(torch_methods(image, notes))
    else:
        notes.append("torch not installed: the batched torch rows are left out")
    return methods


def torch_methods(image: np.ndarray, notes: list[str]) -> list[Method]:
    import torch

    from specprompt.spectral._torch import block_dct, block_idct, laplacian_pyramid, laplacian_reconstruct

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    if len(devices) == 1:
        notes.append("CUDA not available: torch rows are CPU only")
    out: list[Method] = []
    h, w = image.shape[:2]
    for dev in devices:
        x = torch.from_numpy(image).permute(2, 0, 1)[None].contiguous().to(dev)
        sync = torch.cuda.synchronize if dev == "cuda" else None

        def lap(x: torch.Tensor = x) -> object:
            return laplacian_reconstruct(laplacian_pyramid(x))

        def dct(x: torch.Tensor = x) -> object:
            return block_idct(block_dct(x), (h, w))

        out.append(Method(f"torch laplacian ({dev})", lap, OPENCV_LAP, sync))
        out.append(Method(f"torch block_dct ({dev})", dct, SCIPY_DCT, sync))
    return out


def grouped(methods: list[Method]) -> list[Method]:
    """``methods`` with each one that has an anchor moved right after that anchor (otherwise in order)."""
    names = {m.name for m in methods}
    out: list[Method] = []
    for m in methods:
        if m.anchor is None or m.anchor not in names:
            out.append(m)
            out.extend(x for x in methods if x.anchor == m.name)
    return out


def run_size(size: int, repeats: int, budget_s: float, notes: list[str]) -> list[Method]:
    """Times every method on a seeded ``size x size`` image (see :func:`time_methods`); at
    ``TARGET_SIZE`` the methods of ``TARGETS`` then get ``3 * repeats`` more pairs (:func:`more_pairs`)."""
    methods = time_methods(grouped(methods_for(make_image(size), notes)), repeats, budget_s)
    if size == TARGET_SIZE:
        more_pairs(methods, {method for _, method, _, _ in TARGETS}, 3 * repeats, budget_s)
    return methods


def more_pairs(methods: list[Method], names: set[str], n: int, budget_s: float) -> None:
    """Up to ``n`` more pairs (anchor first every other pair) for each method in ``names``, within
    ``budget_s`` of pair time each: the ratios of the TARGET methods then rest on more pairs."""
    by_name = {m.name: m for m in methods if m.error is None}
    for name in sorted(names & set(by_name)):
        m = by_name[name]
        anchor = by_name.get(m.anchor) if m.anchor is not None else None
        if anchor is None or not m.pairs:  # cold or without an anchor: nothing to pair
            continue
        spent = 0.0
        for _ in range(n):
            if spent > budget_s:
                break
            if len(m.pairs) % 2 == 0:  # continues the alternation of time_methods
                a, t = anchor.call(), m.call()
            else:
                t, a = m.call(), anchor.call()
            anchor.times.append(a)
            m.times.append(t)
            m.pairs.append((t, a))
            spent += t + a


def time_methods(methods: list[Method], repeats: int, budget_s: float) -> list[Method]:
    """Warm-up, then round-robin timing; a method gets at most ``budget_s`` of timed calls.

    In each round, every method with an anchor is called as a pair with its anchor, back to back,
    the anchor first in even rounds and second in odd ones: whichever goes first follows some other,
    possibly heavy, method (whose memory churn slows the next call's allocations), so neither of
    the two always pays for it. Methods without an anchor, and anchors without a method, run alone.
    """
    wanted: dict[str, int] = {}
    for m in methods:
        try:
            first = m.call()
        except Exception as exc:  # a broken scheme must not hide the other rows
            m.error = f"{type(exc).__name__}: {exc}"
            wanted[m.name] = 0
            continue
        if first > budget_s:  # too slow to repeat: report the single (cold) call
            m.times.append(first)
            m.cold = True
            wanted[m.name] = 0
        else:
            wanted[m.name] = max(1, min(repeats, int(budget_s / max(first, 1e-9))))
    by_name = {m.name: m for m in methods}
    paired = {m.anchor for m in methods if m.anchor in by_name}
    for rnd in range(max(wanted.values(), default=0)):
        for m in methods:
            anchor = by_name.get(m.anchor) if m.anchor is not None else None
            if anchor is not None and rnd < min(wanted[m.name], wanted[anchor.name]):
                if rnd % 2 == 0:
                    a, t = anchor.call(), m.call()
                else:
                    t, a = m.call(), anchor.call()
                anchor.times.append(a)
                m.times.append(t)
                m.pairs.append((t, a))
            elif rnd < wanted[m.name] and (m.name not in paired or anchor is not None):
                m.times.append(m.call())  # alone, or more calls than its anchor's budget allows
    return methods


# -- report ------------------------------------------------------------------------------------------


def machine_line() -> str:
    import cv2
    import scipy

    parts = [
        f"python {platform.python_version()}",
        f"{platform.machine()} {platform.processor() or platform.system()}",
        f"cpus {os.cpu_count()} (usable {len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else '?'})",
        f"numpy {np.__version__}",
        f"scipy {scipy.__version__}",
        f"opencv {cv2.__version__} ({cv2.getNumThreads()} threads)",
    ]
    if _has("torch"):
        import torch

        cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA"
        parts.append(f"torch {torch.__version__} ({torch.get_num_threads()} threads, {cuda})")
    if _has("pyrtools"):
        import pyrtools

        parts.append(f"pyrtools {pyrtools.__version__}")
    return "machine: " + ", ".join(parts)


def paired_ratio(method: Method, anchor: Method) -> float:
    """Median over ``method``'s pair calls (see :func:`run_size`) of its time over the anchor's.

    The two calls of a pair run back to back under the same load, which the two medians of the
    table need not. Without pairs (a cold single call on either side) it is the ratio of medians.
    """
    if not method.pairs:
        return method.median_ms / anchor.median_ms
    return statistics.median(t / a for t, a in method.pairs)


def table(results: dict[int, list[Method]]) -> list[str]:
    lines = ["| size | method | median ms | runs | ratio vs anchor | anchor |", "|---|---|---:|---:|---:|---|"]
    for size, methods in results.items():
        by_name = {m.name: m for m in methods if m.error is None}
        for m in methods:
            if m.error is not None:
                lines.append(f"| {size}^2 | {m.name} | failed | 0 |  | {m.error[:80]} |")
                continue
            ratio, anchor = "", "(anchor)" if m.name in SCHEME_ANCHORS.values() else "(reference)"
            if m.anchor is not None and m.anchor in by_name:
                ratio, anchor = f"{paired_ratio(m, by_name[m.anchor]):.2f}x", m.anchor
            runs = f"{len(m.times)}{' cold' if m.cold else ''}"
            lines.append(f"| {size}^2 | {m.name} | {m.median_ms:.2f} | {runs} | {ratio} | {anchor} |")
    return lines


def target_lines(results: dict[int, list[Method]]) -> list[str]:
    size = TARGET_SIZE if TARGET_SIZE in results else max(results)
    where = f"{size}^2 RGB" + ("" if size == TARGET_SIZE else f" (the target is defined at {TARGET_SIZE}^2)")
    by_name = {m.name: m for m in results[size] if m.error is None}
    lines = []
    for label, method, anchor, limit in TARGETS:
        head = f"TARGET {label}: {method} decompose+reconstruct at {where} vs {anchor}"
        if method not in by_name or anchor not in by_name:
            lines.append(f"{head}: not measured in this run (missing or failed, see the table) SKIP")
            continue
        ratio = paired_ratio(by_name[method], by_name[anchor])
        verdict = "PASS" if ratio <= limit else "FAIL"
        lines.append(f"{head}: {ratio:.3f}x (goal <= {limit}x) {verdict}")
    return lines


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", help="image sides (default 256 1024 4096; --quick: 256 1024)")
    parser.add_argument(
        "--repeats", type=int, help="timed calls per method (default 15, --quick 3; a third at >= 2048)"
    )
    parser.add_argument("--markdown-out", metavar="FILE", help="also write the machine line, table and targets here")
    parser.add_argument("--quick", action="store_true", help="smaller default sizes, fewer repeats, 1 s per method")
    parser.add_argument(
        "--torch-threads",
        type=int,
        metavar="N",
        help="torch.set_num_threads(N) for the torch CPU rows (default: torch's own choice); "
        "1 avoids OpenMP stalls when other processes load the cores",
    )
    args = parser.parse_args(argv)
    if args.sizes is not None and any(s < 1 for s in args.sizes):
        parser.error(f"--sizes must be positive, got {args.sizes}")
    if args.repeats is not None and args.repeats < 1:
        parser.error(f"--repeats must be >= 1, got {args.repeats}")
    if args.torch_threads is not None and args.torch_threads < 1:
        parser.error(f"--torch-threads must be >= 1, got {args.torch_threads}")
    check_outputs(parser, {"--markdown-out": args.markdown_out})
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = args.sizes or ([256, 1024] if args.quick else [256, 1024, 4096])
    repeats = args.repeats or (3 if args.quick else 15)
    budget_s = 1.0 if args.quick else 4.0
    if args.torch_threads is not None and _has("torch"):
        import torch

        torch.set_num_threads(args.torch_threads)
    print(machine_line(), flush=True)
    notes: list[str] = []
    results: dict[int, list[Method]] = {}
    for size in sizes:
        start = time.perf_counter()
        results[size] = run_size(size, repeats if size < 2048 else max(1, repeats // 3), budget_s, notes)
        print(f"timed {size}^2 in {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
    report = [machine_line(), "", *table(results), "", *target_lines(results)]
    report += [f"note: {n}" for n in dict.fromkeys(notes)]
    print("\n".join(report[1:]))
    if args.markdown_out:
        Path(args.markdown_out).parent.mkdir(parents=True, exist_ok=True)
        with open(args.markdown_out, "w", encoding="utf-8") as fh:
            fh.write("\n".join(report) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
