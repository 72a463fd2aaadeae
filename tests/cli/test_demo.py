"""``specprompt demo``: the band/cost tables and contact sheet, then the offline band search."""

from __future__ import annotations

import json
import re
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
    saved = json.loads((tmp_path / "program.json").read_text())
    demos = saved["demos"]  # a single dspy.Predict: its state is the file's top level
    assert sorted(d["label"] for d in demos) == sorted(["top-left", "top-right", "bottom-left", "bottom-right"])
    data = json.loads((tmp_path / "pareto.json").read_text())
    assert data["best"]["tokens"] <= 10 < data["baselines"]["full"]["tokens"]
    assert data["n_trials"] == 4 and set(data["baselines"]) == {"full", "uniform", "text_only"}
    assert data["run"]["lm"].startswith("specprompt/local-")
    assert "note:" not in out  # 64 px images: the local model sees every band
    # the task's test split is held out by the compile: the chosen program and every baseline are scored on it
    test, base = data["test_score"], data["baselines"]
    assert test is not None and all(base[k]["test_score"] is not None for k in ("full", "uniform", "text_only"))
    names = ("full-resolution demos ", "chosen bands ", "text-only demos ")
    rows = {line[:22].strip(): line.split()[-1] for line in out.splitlines() if line.startswith(names)}
    assert rows == {
        "full-resolution demos": f"{base['full']['test_score']:.3f}",
        "chosen bands": f"{test:.3f}",
        "text-only demos": f"{base['text_only']['test_score']:.3f}",
    }
    assert "(val: 12 examples the search chose on; test: 16 held-out examples)" in out
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert f"Held-out test score: <b>{test:.4f}</b>" in page
    assert f"<td class=num>{base['full']['test_score']:.4f}</td>" in page


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


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--photo", "nope"], r"argument --photo: invalid choice: 'nope' \(choose from 'astronaut', "),
        (["--photo", "stereo_motorcycle"], "argument --photo: invalid choice: 'stereo_motorcycle'"),
        (["--photo", "download_all"], "argument --photo: invalid choice: 'download_all'"),
        (["--size", "100000"], r"argument --size: expected an int from 32 to 1024 \(px\), got '100000'"),
        (["--size", "0"], "argument --size: expected an int from 32 to 1024"),
        (["--trials", "0"], "argument --trials: expected an int >= 1, got '0'"),
        (["--budget", "-1"], "argument --budget: expected an int >= 0, got '-1'"),
    ],
)
def test_demo_rejects_bad_options_when_parsing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--out", str(tmp_path / "o"), *args])
    assert exc.value.code == 2
    assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cost-model", "zz"], "unknown cost model 'zz'; known: anthropic, "),
        (["--no-search", "--cost-model", "zz"], "unknown cost model 'zz'"),
        (["--schemes", "laplacian", "nope"], "unknown scheme 'nope'; known: dct, fft, laplacian, wavelet"),
        (["--out", "{tmp}/afile"], r"--out '.*afile' is a file, not a folder"),
        (["--out", "{tmp}/afile/sub"], r"--out '.*afile/sub': '.*afile' is a file, not a folder"),
        (["--no-search", "--out", "{tmp}/afile"], r"--out '.*afile' is a file, not a folder"),
        (["--out", "{tmp}/run"], r"'.*run/report.html' is a folder, but the command writes a file there"),
        (["--no-search", "--out", "{tmp}/sheet"], r"'.*sheet/contact_sheet.png' is a folder"),
    ],
)
def test_demo_checks_every_option_and_the_output_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    (tmp_path / "afile").write_text("x")
    (tmp_path / "run" / "report.html").mkdir(parents=True)
    (tmp_path / "sheet" / "contact_sheet.png").mkdir(parents=True)
    args = [a.format(tmp=tmp_path) for a in args]
    out = [] if "--out" in args else ["--out", str(tmp_path / "o")]
    assert main(["demo", *out, *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # no table printed, no contact sheet drawn
    err = captured.err.strip()
    assert err.startswith("specprompt demo: error: ") and "\n" not in err and re.search(message, err), err
    assert not (tmp_path / "o").exists() and not any((tmp_path / "run").glob("*.png"))


def test_demo_reads_a_grey_photo_whole(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--photo", "camera", "--out", str(tmp_path), "--schemes", "laplacian", "--no-search"]) == 0
    out = capsys.readouterr().out
    assert "== laplacian: skimage.data.camera(), 512x512 RGB, " in out
    assert re.search(r"all bands\s+512x512 ", out), out


def test_demo_names_an_image_a_demo_model_cannot_price(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import numpy as np
    from PIL import Image

    wide = tmp_path / "wide.png"
    Image.fromarray(np.zeros((1, 500, 3), np.uint8)).save(wide)
    assert main(["demo", "--image", str(wide), "--no-search", "--out", str(tmp_path / "o")]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # refused before the first table
    assert f"--image {str(wide)!r} cannot be priced for qwen2-vl" in captured.err
    assert "aspect ratio at most 200" in captured.err and "500x1" in captured.err


def test_demo_max_pixels_is_the_option_its_message_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import numpy as np
    from PIL import Image

    photo = tmp_path / "photo.png"
    Image.fromarray(np.zeros((50, 100, 3), np.uint8)).save(photo)
    args = ["demo", "--image", str(photo), "--no-search", "--schemes", "laplacian", "--out", str(tmp_path / "o")]
    assert main([*args, "--max-pixels", "4999"]) == 2
    err = capsys.readouterr().err
    assert "100x50 = 5,000 pixels, more than max_pixels=4,999 (pass a larger --max-pixels, or none, to allow it)" in err
    assert main([*args, "--max-pixels", "none"]) == 0
    assert "100x50" in capsys.readouterr().out
