"""resize_lanczos (the sent-size render) and the rate-distortion benchmark script."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from specprompt import ConfigError, ShapeError
from specprompt.spectral import band_layout, decompose, removed_by_resize, resize_cutoff, resize_lanczos
from specprompt.types import SpectralImage

ROOT = Path(__file__).resolve().parents[2]


def test_resize_lanczos_matches_pil_on_float_pixels() -> None:
    img = np.random.default_rng(0).random((40, 60, 3), dtype=np.float32)
    out = resize_lanczos(img, (25, 17))
    assert out.shape == (17, 25, 3) and out.dtype == np.float32
    for c in range(3):
        ref = np.asarray(Image.fromarray(img[:, :, c], mode="F").resize((25, 17), Image.Resampling.LANCZOS))
        np.testing.assert_allclose(out[:, :, c], ref, atol=1e-6)
    assert np.array_equal(resize_lanczos(img, (60, 40)), img)  # same size: a copy, untouched
    grey = resize_lanczos(np.full((9, 9, 1), 0.3, np.float32), (3, 3))
    assert grey.shape == (3, 3, 1) and np.allclose(grey, 0.3, atol=1e-6)


def test_resize_lanczos_errors() -> None:
    with pytest.raises(ShapeError, match=r"has shape \(4, 4\), expected \(H, W, C\)"):
        resize_lanczos(np.zeros((4, 4), np.float32), (2, 2))
    for bad in ((0, 2), (2,), (2.0, 2), "22", (True, 2)):
        with pytest.raises(ConfigError, match="resize_lanczos size must be a"):
            resize_lanczos(np.zeros((4, 4, 3), np.float32), bad)  # type: ignore[arg-type]


def test_resize_cutoff_is_the_larger_axis_ratio_at_most_one() -> None:
    assert resize_cutoff((64, 64), (32, 32)) == 0.5
    assert resize_cutoff((64, 32), (16, 16)) == 0.5  # the height shrinks less: it holds up to half
    assert resize_cutoff((20, 20), (40, 40)) == 1.0
    for bad in ((0, 2), (2,), "22", (True, 2), (2.5, 2)):
        with pytest.raises(ConfigError, match="sent_size must be a"):
            resize_cutoff((4, 4), bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="source_size must be a"):
        resize_cutoff((0, 4), (2, 2))


def test_removed_by_resize_lists_bands_wholly_above_the_cutoff() -> None:
    lap = band_layout("laplacian", (64, 64), 3)  # L0 0.5-1, L1 0.25-0.5, residual 0-0.25
    assert removed_by_resize(lap, (64, 64), (64, 64)) == ()
    assert removed_by_resize(lap, (64, 64), (33, 33)) == ()  # L0 straddles 33/64: part of it is sent
    assert removed_by_resize(lap, (64, 64), (32, 32)) == ("L0",)
    assert removed_by_resize(lap, (64, 64), (8, 8)) == ("L0", "L1")
    fft = band_layout("fft", (64, 64), 3)  # r4 is the outer ring, 0.5 .. sqrt(2)
    assert removed_by_resize(fft, (64, 64), (64, 64)) == ()
    assert removed_by_resize(fft, (64, 64), (32, 32)) == ("r4",)


def test_a_band_counted_removed_is_gone_from_the_resized_render() -> None:
    """What the report calls removed is so: a sine at 0.7 of Nyquist (inside L0) is gone at half size
    (cutoff 0.5), and mostly there at 7/8 (cutoff 0.875, L0 straddles it)."""
    x = np.arange(64)
    img = np.tile((0.5 + 0.3 * np.sin(2 * np.pi * 0.35 * x))[None, :, None], (64, 1, 1)).astype(np.float32)
    spec = decompose(img)
    full = float(img.std())
    for side, gone in ((32, True), (56, False)):
        assert removed_by_resize(spec.bands, spec.size, (side, side)) == (("L0",) if gone else ())
        sent = np.asarray(SpectralImage.from_spectrum(spec, None, size=(side, side)).to_pil(), np.float32) / 255
        assert (float(sent.std()) < 0.1 * full) is gone, (side, float(sent.std()), full)
        assert (float(sent.std()) > 0.5 * full) is not gone


def test_rate_distortion_benchmark_runs() -> None:
    cmd = [sys.executable, str(ROOT / "benchmarks" / "bench_rate_distortion.py"), "--photos", "astronaut", "camera"]
    args = ["--pricings", "qwen2-vl", "--budgets", "0.5", "--max-side", "160"]
    proc = subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=240, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "| qwen2-vl | 50% | pil-lanczos | 2/2 |" in proc.stdout
    assert "| qwen2-vl | 50% | laplacian-minimal | 2/2 |" in proc.stdout
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("PASS: every scheme's render is at least as faithful as Lanczos at equal tokens (6 of 6")
