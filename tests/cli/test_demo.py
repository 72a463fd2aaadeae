"""``specprompt demo``: the band/cost tables and contact sheet, then the offline band search."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from specprompt.cli import main
from specprompt.cli._demo import DemoSettings


def test_demo_without_search(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--out", str(tmp_path), "--schemes", "laplacian", "fft", "--no-search"]) == 0
    out = capsys.readouterr().out
    assert "== laplacian: skimage.data.astronaut()" in out and "== fft:" in out and "gpt-4o" in out
    with Image.open(tmp_path / "contact_sheet.png") as sheet:
        assert sheet.size[0] > 200
    assert not (tmp_path / "program.json").exists()


def test_demo_search_quick(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["demo", "--out", str(tmp_path), "--schemes", "laplacian", "--quick", "--size", "64", "--trials", "4"]
    assert main([*args, "--budget", "10"]) == 0
    out = capsys.readouterr().out
    assert (
        "== band search: colour-position at 64 px, 4 demos, budget 10 openai:gpt-4.1-mini tokens, 4 trials, LM: local"
        in out
    )
    assert "full-resolution demos" in out and "chosen bands" in out and "text-only demos" in out
    assert "fewer image tokens" in out and "test accuracy" in out
    demos = out.split("chosen demos (by label):\n", 1)[1]
    assert demos.startswith("predictor self: 4 demo(s)") and "  demo  label  " in demos
    assert any(f"  {label}  " in demos for label in ("top-left", "top-right", "bottom-left", "bottom-right"))
    for name in ("contact_sheet.png", "program.json", "pareto.json", "report.html", "study.db"):
        assert (tmp_path / name).is_file(), name
    data = json.loads((tmp_path / "pareto.json").read_text())
    assert data["best"]["tokens"] <= 10 < data["baselines"]["full"]["tokens"]
    assert data["n_trials"] == 4 and set(data["baselines"]) == {"full", "uniform", "text_only"}
    assert data["run"]["lm"].startswith("specprompt/local-")
    assert "note:" not in out  # 64 px images: the local model sees every band


def test_demo_search_with_the_nearest_engine_and_a_note_for_large_images(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["demo", "--schemes", "laplacian", "--quick", "--trials", "2", "--budget", "60"]
    assert main([*base, "--out", str(tmp_path / "a"), "--size", "64", "--lm", "nearest"]) == 0
    out = capsys.readouterr().out
    assert "LM: nearest" in out and "note:" not in out
    assert json.loads((tmp_path / "a" / "pareto.json").read_text())["run"]["lm"].startswith("specprompt/nearest-v1")
    assert main([*base, "--out", str(tmp_path / "b"), "--size", "256"]) == 0
    out = capsys.readouterr().out
    assert "note: the local band VLM sees images at 64 px: band(s) L0, L1" in out


def test_demo_settings() -> None:
    quick = DemoSettings.quick(budget=5)
    assert quick.trials < DemoSettings().trials and quick.budget == 5 and quick.size == 256


def test_demo_without_an_optional_extra(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`pip install -e .` has no PyWavelets: the demo skips the wavelet scheme unless it is asked for."""
    import sys

    import numpy as np

    monkeypatch.setitem(sys.modules, "pywt", None)  # `import pywt` now raises ImportError
    image = tmp_path / "small.png"
    Image.fromarray(np.full((48, 64, 3), 128, np.uint8)).save(image)
    assert main(["demo", "--image", str(image), "--out", str(tmp_path), "--no-search"]) == 0
    out = capsys.readouterr().out
    assert "== wavelet: skipped, the wavelet scheme needs PyWavelets: pip install 'specprompt[wavelet]' ==" in out
    assert "== laplacian: " in out and (tmp_path / "contact_sheet.png").is_file()
    assert main(["demo", "--image", str(image), "--out", str(tmp_path), "--schemes", "wavelet", "--no-search"]) == 2
    assert "specprompt demo: error: the wavelet scheme needs PyWavelets" in capsys.readouterr().err
