"""``specprompt calibrate`` on tiny data: agreement, CI, calls within the stated maximum, verdict."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from specprompt.cli import main
from specprompt.search import Calibration


def test_calibrate_prints_agreement_calls_and_verdict(
    program_file: Path, tiny_data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cal.json"
    args = [
        "calibrate",
        f"{program_file}:program",
        "--trainset",
        str(tiny_data["train_dir"]),
        "--valset",
        str(tiny_data["val_jsonl"]),
        "--lm",
        "pixel:hist-hog",
        "--local",
        "nearest",
        "--budget",
        "200",
        "--cost-model",
        "local",
        "--probes",
        "5",
        "--examples",
        "3",
        "--k-demos",
        "4",
        "--json",
        str(out),
    ]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "rank agreement (Spearman) of specprompt/nearest-v1 with specprompt/pixel-hist-hog-v1" in text
    assert re.search(r"target calls: (\d+) \(stated maximum: 15 = n_probes x n_examples\)", text)
    assert re.search(r"verdict: (trust the local judge|score with the target)", text)
    cal = Calibration.from_json(out.read_text())
    assert cal.target_calls == len(cal.probes) * len(cal.examples) <= 15
    assert f"target calls: {cal.target_calls} " in text
    assert all(p["tokens"] <= 200 for p in cal.probes)
    assert json.loads(out.read_text())["verdict"] == cal.verdict


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (["--lm", "pixel:nope"], "unknown pixel judge in --lm 'pixel:nope'"),
        (["--lm", "gpt"], "--lm must be 'local', 'nearest', 'pixel:<judge>'"),
        (["--threshold", "2"], r"threshold must be a number in \[-1, 1\], got 2"),
        (["--probes", "2"], "n_probes must be an int >= 3, got 2"),
        (["--cost-model", "nope"], "nope"),
        (["--local", "nearest", "--checkpoint", "band-vlm-v2"], "--checkpoint is for --local local"),
        (["--local", "nearest", "--adapter", "x"], "--adapter is for --local local"),
        (["--checkpoint", "no-such-model"], "no-such-model"),
    ],
)
def test_calibrate_errors_exit_2_naming_the_value(
    program_file: Path,
    tiny_data: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    change: list[str],
    message: str,
) -> None:
    args = ["calibrate", f"{program_file}:program", "--trainset", str(tiny_data["train_dir"]), "--lm", "nearest"]
    args += change
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("specprompt calibrate: error: ") and re.search(message, err), err


def test_calibrate_judges_with_the_checkpoint_given(
    program_file: Path, tiny_data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from specprompt.scorers import local_lm

    out = tmp_path / "cal.json"
    args = ["calibrate", f"{program_file}:program", "--trainset", str(tiny_data["train_dir"])]
    args += ["--valset", str(tiny_data["val_jsonl"]), "--lm", "pixel:hist-hog", "--checkpoint", "band-vlm-v2"]
    args += ["--probes", "3", "--examples", "2", "--k-demos", "4", "--json", str(out)]
    assert main(args) == 0
    cal = Calibration.from_json(out.read_text())
    assert cal.local == local_lm("band-vlm-v2").model != local_lm().model
    assert f"rank agreement (Spearman) of {cal.local} with specprompt/pixel-hist-hog-v1" in capsys.readouterr().out
