"""The batched torch path: agreement with the numpy/OpenCV schemes and scipy, exact inverses, errors."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.fft

import specprompt
from specprompt.errors import ConfigError, ShapeError
from specprompt.spectral import block_dct, block_idct, laplacian_pyramid, laplacian_reconstruct
from specprompt.spectral._torch import _pyr_down, _pyr_up

torch = pytest.importorskip("torch")
F = pytest.importorskip("torch.nn.functional")

ROOT = Path(__file__).resolve().parents[2]
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA"))]
SIZES = [(1, 1), (1, 9), (9, 1), (2, 3), (7, 5), (16, 17), (45, 70), (64, 64), (100, 3)]


def _images(n: int, h: int, w: int, c: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, h, w, c), dtype=np.float32)


def _nchw(images: np.ndarray, dtype: torch.dtype = torch.float32, device: str = "cpu") -> torch.Tensor:
    return torch.from_numpy(images).permute(0, 3, 1, 2).to(device=device, dtype=dtype)


def _hwc(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().permute(1, 2, 0).numpy()


# -- Laplacian pyramid --------------------------------------------------------------------------------


@pytest.mark.parametrize(("h", "w"), SIZES)
@pytest.mark.parametrize("c", [1, 3])
def test_bands_match_the_numpy_laplacian_scheme(h: int, w: int, c: int) -> None:
    images = _images(2, h, w, c, seed=h * 100 + w)
    bands = laplacian_pyramid(_nchw(images), levels=None, min_size=2)
    for i in range(2):
        spec = specprompt.decompose(images[i], "laplacian", min_size=2)
        assert len(bands) == len(spec.bands)
        for band, name in zip(bands, spec.band_names, strict=True):
            np.testing.assert_allclose(_hwc(band[i]), spec.coefficients(name), atol=1e-5, rtol=0)


@pytest.mark.parametrize("levels", [0, 1, 3, 40])
def test_explicit_levels_follow_the_scheme_rule(levels: int) -> None:
    image = _images(1, 37, 50, 3)
    bands = laplacian_pyramid(_nchw(image), levels=levels)
    spec = specprompt.decompose(image[0], "laplacian", levels=levels)
    assert [tuple(b.shape[-2:]) for b in bands] == [b.coeff_shape[:2] for b in spec.bands]
    np.testing.assert_allclose(_hwc(bands[-1][0]), spec.coefficients("residual"), atol=1e-5, rtol=0)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(("dtype", "tol"), [(torch.float32, 1e-5), (torch.float64, 1e-12)])
def test_reconstruction_is_exact_and_keeps_device_and_dtype(device: str, dtype: torch.dtype, tol: float) -> None:
    x = _nchw(_images(3, 33, 20, 4), dtype, device)
    before = x.clone()
    bands = laplacian_pyramid(x, min_size=4)
    assert all(b.dtype == dtype and b.device.type == device for b in bands)
    out = laplacian_reconstruct(bands)
    assert out.shape == x.shape and out.dtype == dtype and out.device.type == device
    assert float((out - x).abs().max()) < tol
    assert torch.equal(x, before)  # the input is not modified


def test_zeroed_bands_reconstruct_like_the_numpy_selection() -> None:
    image = _images(1, 40, 56, 3)
    bands = laplacian_pyramid(_nchw(image), levels=3)
    bands[0] = torch.zeros_like(bands[0])
    spec = specprompt.decompose(image[0], "laplacian", levels=3)
    expected = spec.reconstruct(spec.select(["L1", "L2", "residual"]))
    np.testing.assert_allclose(_hwc(laplacian_reconstruct(bands)[0]), expected, atol=1e-5, rtol=0)


def test_residual_only_returns_a_copy() -> None:
    x = torch.rand(1, 1, 4, 4)
    bands = laplacian_pyramid(x)
    assert len(bands) == 1 and torch.equal(bands[0], x)
    out = laplacian_reconstruct(bands)
    out += 1.0
    assert torch.equal(bands[0], x)


def test_pyr_down_is_reflect101_pad_and_strided_separable_conv() -> None:
    x = torch.rand(2, 3, 21, 30, dtype=torch.float64)
    k = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], dtype=torch.float64) / 16
    y = F.pad(x.reshape(6, 1, 21, 30), (2, 2, 2, 2), mode="reflect")
    y = F.conv2d(F.conv2d(y, k.view(1, 1, 1, 5), stride=(1, 2)), k.view(1, 1, 5, 1), stride=(2, 1))
    torch.testing.assert_close(_pyr_down(x), y.reshape(2, 3, 11, 15), atol=1e-12, rtol=0)


@pytest.mark.parametrize(("h", "w"), [(21, 30), (20, 31), (1, 6), (2, 2)])
def test_pyr_up_is_zero_insertion_and_conv_with_opencv_borders(h: int, w: int) -> None:
    src = torch.rand(2, 3, (h + 1) // 2, (w + 1) // 2, dtype=torch.float64)
    m, n = src.shape[-2:]
    # OpenCV's borders: one sample before the first (reflect-101), one after the last (replicate)
    rows = [1 if m > 1 else 0, *range(m), m - 1]
    cols = [1 if n > 1 else 0, *range(n), n - 1]
    padded = src[..., rows, :][..., cols].reshape(6, 1, m + 2, n + 2)
    zeros = torch.zeros(6, 1, 2 * (m + 2), 2 * (n + 2), dtype=torch.float64)
    zeros[..., ::2, ::2] = padded  # zero insertion
    k = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], dtype=torch.float64) / 16
    full = F.conv2d(zeros, (4 * torch.outer(k, k)).view(1, 1, 5, 5))  # 4x kernel, "valid"
    expected = full[..., :h, :w].reshape(2, 3, h, w)
    torch.testing.assert_close(_pyr_up(src, (h, w)), expected, atol=1e-12, rtol=0)


def test_large_odd_sizes_match_opencv_directly() -> None:
    cv2 = pytest.importorskip("cv2")
    image = _images(1, 129, 255, 3)[0]
    down = cv2.pyrDown(image, dstsize=(128, 65))
    np.testing.assert_allclose(_hwc(_pyr_down(_nchw(image[None]))[0]), down, atol=1e-5, rtol=0)
    up = cv2.pyrUp(down, dstsize=(255, 129))
    np.testing.assert_allclose(_hwc(_pyr_up(_nchw(down[None]), (129, 255))[0]), up, atol=1e-5, rtol=0)


# -- block DCT ----------------------------------------------------------------------------------------


def _scipy_blocks(images: np.ndarray) -> np.ndarray:
    """scipy.fft.dctn(norm="ortho") of every edge-padded 8x8 block, as (N, C, bh, bw, 8, 8)."""
    n, h, w, c = images.shape
    bh, bw = -(-h // 8), -(-w // 8)
    padded = np.pad(images.astype(np.float64), ((0, 0), (0, bh * 8 - h), (0, bw * 8 - w), (0, 0)), mode="edge")
    blocks = padded.reshape(n, bh, 8, bw, 8, c).transpose(0, 5, 1, 3, 2, 4)
    return np.asarray(scipy.fft.dctn(blocks, axes=(-2, -1), norm="ortho"))


@pytest.mark.parametrize(("h", "w"), [(1, 1), (8, 8), (13, 21), (16, 40), (3, 17)])
@pytest.mark.parametrize(("dtype", "tol"), [(torch.float32, 1e-5), (torch.float64, 1e-12)])
def test_block_dct_matches_scipy_on_the_same_blocks(h: int, w: int, dtype: torch.dtype, tol: float) -> None:
    images = _images(2, h, w, 3, seed=h + w)
    coeffs = block_dct(_nchw(images, dtype))
    assert coeffs.shape == (2, 3, -(-h // 8), -(-w // 8), 8, 8) and coeffs.dtype == dtype
    np.testing.assert_allclose(coeffs.numpy(), _scipy_blocks(images), atol=tol, rtol=0)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(("dtype", "tol"), [(torch.float32, 1e-5), (torch.float64, 1e-12)])
def test_block_idct_inverts_block_dct(device: str, dtype: torch.dtype, tol: float) -> None:
    x = _nchw(_images(2, 19, 26, 4), dtype, device)
    coeffs = block_dct(x)
    out = block_idct(coeffs, (19, 26))
    assert torch.equal(block_idct(coeffs, [19, 26]), out)
    assert out.shape == x.shape and out.dtype == dtype and out.device.type == device
    assert float((out - x).abs().max()) < tol
    padded = block_idct(coeffs)
    assert padded.shape == (2, 4, 24, 32)
    # edge padding: the padded rows repeat the last image row
    assert float((padded[..., 19:, :26] - x[..., 18:19, :]).abs().max()) < tol


@pytest.mark.parametrize(("h", "w"), [(24, 40), (21, 30)])
def test_block_dct_agrees_with_the_dct_scheme_on_whole_grey_blocks(h: int, w: int) -> None:
    """The numpy ``dct`` scheme gives partial edge blocks their own smaller DCT (no padding), so
    only whole 8x8 blocks are compared."""
    if "dct" not in specprompt.available_schemes():
        pytest.skip("the numpy dct scheme is not registered")
    image = _images(1, h, w, 1)
    spec = specprompt.decompose(image[0], "dct")
    y_bands = [b for b in spec.bands if b.component == "y"]
    zig = np.concatenate([spec.coefficients(b.name) for b in y_bands], axis=-1)  # (bh, bw, 64), zigzag order
    ours = block_dct(_nchw(image))[0, 0].numpy()
    assert zig.shape == (-(-h // 8), -(-w // 8), 64) == (*ours.shape[:2], 64)
    # JPEG zigzag: anti-diagonal s = u + v, even s walked with v rising, odd s with u rising
    order = sorted(((u, v) for u in range(8) for v in range(8)), key=lambda p: (p[0] + p[1], p[1 - (p[0] + p[1]) % 2]))
    hb, wb = h // 8, w // 8
    for j, (u, v) in enumerate(order):
        np.testing.assert_allclose(zig[:hb, :wb, j], ours[:hb, :wb, u, v], atol=1e-5, rtol=0)


# -- errors -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fn", [laplacian_pyramid, block_dct])
def test_bad_images_are_refused(fn: Callable[[Any], object]) -> None:
    with pytest.raises(ConfigError, match=r"torch\.Tensor"):
        fn(np.zeros((1, 3, 8, 8), np.float32))
    with pytest.raises(ShapeError, match=r"\(3, 8, 8\)"):
        fn(torch.zeros(3, 8, 8))
    with pytest.raises(ShapeError, match="every dim >= 1"):
        fn(torch.zeros(1, 3, 0, 8))
    with pytest.raises(ConfigError, match=r"torch\.int64; allowed: torch\.float32, torch\.float64"):
        fn(torch.zeros(1, 3, 8, 8, dtype=torch.int64))


def test_bad_levels_are_refused() -> None:
    with pytest.raises(ConfigError, match="levels"):
        laplacian_pyramid(torch.zeros(1, 1, 8, 8), levels=-1)
    with pytest.raises(ConfigError, match="min_size"):
        laplacian_pyramid(torch.zeros(1, 1, 8, 8), min_size=0)


def test_bad_band_lists_are_refused() -> None:
    bands = laplacian_pyramid(torch.rand(2, 3, 20, 20), levels=2)
    with pytest.raises(ConfigError, match="non-empty sequence"):
        laplacian_reconstruct([])
    with pytest.raises(ConfigError, match="non-empty sequence"):
        laplacian_reconstruct(bands[0])  # a tensor, not a list of tensors
    with pytest.raises(ConfigError, match=r"bands\[1\] must be a torch.Tensor"):
        laplacian_reconstruct([bands[0], bands[1].numpy(), bands[2]])
    with pytest.raises(ConfigError, match=r"bands\[2\] is torch.float64"):
        laplacian_reconstruct([bands[0], bands[1], bands[2].double()])
    with pytest.raises(ShapeError, match=r"bands\[1\].*\(N, C\) = \(2, 3\)"):
        laplacian_reconstruct([bands[0], bands[1][:1], bands[2]])
    with pytest.raises(ShapeError, match=r"bands\[2\].*spatial size \(5, 5\)"):
        laplacian_reconstruct([bands[0], bands[1], torch.zeros(2, 3, 4, 5)])


def test_bad_block_coefficients_and_shapes_are_refused() -> None:
    coeffs = block_dct(torch.rand(1, 3, 12, 20))
    with pytest.raises(ConfigError, match=r"torch\.Tensor"):
        block_idct(coeffs.numpy())
    with pytest.raises(ShapeError, match=r"\(N, C, hb, wb, 8, 8\)"):
        block_idct(coeffs[..., :4])
    with pytest.raises(ShapeError, match=r"\(N, C, hb, wb, 8, 8\)"):
        block_idct(coeffs[0])
    with pytest.raises(ConfigError, match=r"torch\.float16"):
        block_idct(coeffs.half())
    for shape in [(17, 20), (12, 25), (8, 20), (12,), (12, 20, 1), (12.0, 20), (True, 20), (0, 20), "12x20"]:
        with pytest.raises(ConfigError, match=r"H in 9\.\.16, W in 17\.\.24"):
            block_idct(coeffs, shape)  # type: ignore[arg-type]


def test_missing_torch_gives_an_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ImportError, match="pip install torch"):
        laplacian_pyramid(np.zeros((1, 1, 4, 4), np.float32))  # type: ignore[arg-type]


# -- the benchmark script -----------------------------------------------------------------------------


def test_benchmark_script_runs_and_prints_the_table_and_targets(tmp_path: Path) -> None:
    out_md = tmp_path / "bench.md"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "bench_spectral.py"), "--quick", "--sizes", "64"]
    proc = subprocess.run(
        [*cmd, "--markdown-out", str(out_md)], capture_output=True, text=True, timeout=240, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert "| size | method | median ms |" in proc.stdout
    assert "| 64^2 | specprompt laplacian |" in proc.stdout
    assert "| 64^2 | torch laplacian (cpu) |" in proc.stdout
    for label in ("TARGET laplacian:", "TARGET block DCT:"):
        line = next(ln for ln in proc.stdout.splitlines() if ln.startswith(label))
        assert line.endswith(("PASS", "FAIL", "SKIP")), line
    assert "| failed |" not in proc.stdout
    assert proc.stdout.startswith("machine: ")
    assert "| size | method | median ms |" in out_md.read_text(encoding="utf-8")


def _conv_replicate(x: Any, gain: float, stride: int) -> Any:
    """The band VLM's filter by definition: replicate padding, then the separable 5-tap binomial kernel."""
    n, c, h, w = x.shape
    k = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], dtype=x.dtype, device=x.device) / 16 * gain**0.5
    y = F.pad(x.reshape(n * c, 1, h, w), (2, 2, 2, 2), mode="replicate")
    y = F.conv2d(F.conv2d(y, k.view(1, 1, 1, 5)), k.view(1, 1, 5, 1))
    return y.reshape(n, c, h, w)[..., ::stride, ::stride]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(("h", "w"), [(64, 64), (21, 30), (5, 4)])
def test_replicate_border_is_the_band_vlms_definition(h: int, w: int, device: str) -> None:
    x = torch.rand(2, 3, h, w, dtype=torch.float64, device=device)
    bands = laplacian_pyramid(x, levels=2, border="replicate")
    gauss = [x]
    for _ in range(2):
        g = gauss[-1]
        gauss.append(_conv_replicate(g, 1.0, 2))
    for k in range(2):
        g, coarse = gauss[k], gauss[k + 1]
        zeros = coarse.new_zeros(2, 3, 2 * coarse.shape[-2], 2 * coarse.shape[-1])
        zeros[..., ::2, ::2] = coarse  # zero insertion, then replicate padding of the zero-inserted signal
        up = _conv_replicate(zeros, 4.0, 1)[..., : g.shape[-2], : g.shape[-1]]
        torch.testing.assert_close(bands[k], g - up, atol=1e-12, rtol=0)
    torch.testing.assert_close(bands[2], gauss[2], atol=1e-12, rtol=0)
    torch.testing.assert_close(laplacian_reconstruct(bands, border="replicate"), x, atol=1e-12, rtol=0)


def test_bad_border_is_a_config_error() -> None:
    x = torch.rand(1, 1, 8, 8)
    with pytest.raises(ConfigError, match="border must be one of opencv, replicate, got 'reflect'"):
        laplacian_pyramid(x, border="reflect")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="border must be one of"):
        laplacian_reconstruct(laplacian_pyramid(x), border="nope")  # type: ignore[arg-type]
