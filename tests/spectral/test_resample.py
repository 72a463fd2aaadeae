"""resize_lanczos (the sent-size render) and the rate-distortion benchmark script."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from specprompt import ConfigError, ShapeError
from specprompt.spectral import resize_lanczos

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


def test_rate_distortion_benchmark_runs() -> None:
    cmd = [sys.executable, str(ROOT / "benchmarks" / "bench_rate_distortion.py"), "--photos", "astronaut", "camera"]
    args = ["--pricings", "qwen2-vl", "--budgets", "0.5", "--max-side", "160"]
    proc = subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=240, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "| qwen2-vl | 50% | pil-lanczos | 2/2 |" in proc.stdout
    assert "| qwen2-vl | 50% | laplacian-minimal | 2/2 |" in proc.stdout
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("PASS: every scheme's render is at least as faithful as Lanczos at equal tokens (6 of 6")
