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
    hint = (
        f"specprompt compile --lm pixel:hist-hog --cost-model local --screen nearest --calibration {out} "
        "reuses it with no target call"
    )
    assert hint in text  # the target it measured: a compile with another --lm refuses the file
    assert re.search(r"target calls: (\d+) \(stated maximum: 15 = n_probes x n_examples\)", text)
    assert re.search(r"verdict: (trust the local judge|score with the target)", text)
    cal = Calibration.from_json(out.read_text())
    assert cal.target_calls == len(cal.probes) * len(cal.examples) <= 15
    assert f"target calls: {cal.target_calls} " in text
    assert all(p["tokens"] <= 200 for p in cal.probes)
    assert json.loads(out.read_text())["verdict"] == cal.verdict
    written = out.read_text()
    assert main(args) == 2  # the paid-for file is not replaced without --overwrite
    err = capsys.readouterr().err
    assert f"--json '{out}' already exists (a calibration's target calls are paid for); pass --overwrite" in err
    assert out.read_text() == written
    assert main([*args, "--overwrite"]) == 0 and Calibration.from_json(out.read_text()) == cal


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (["--lm", "pixel:nope"], "unknown pixel judge in --lm 'pixel:nope'"),
        (["--lm", "gpt"], "--lm must be 'local', 'nearest', 'pixel:<judge>'"),
        (["--threshold", "2"], r"threshold must be a number in \[-1, 1\], got 2"),
        (["--local", "foo"], "--local must be 'local', 'nearest', 'pixel:<judge>'"),
        (["--api-key", "k"], "--api-key is for remote LMs; --lm nearest runs locally"),
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
    printed = capsys.readouterr().out
    assert f"rank agreement (Spearman) of {cal.local} with specprompt/pixel-hist-hog-v1" in printed
    hint = (
        f"specprompt compile --lm pixel:hist-hog --cost-model local --screen local --calibration {out} "
        "reuses it with no target call"
    )
    assert hint in printed


@pytest.mark.parametrize("value", ["-1", "0", "2", "three"])
def test_calibrate_probes_say_the_flag_and_one_bound(
    program_file: Path, tiny_data: dict[str, Path], capsys: pytest.CaptureFixture[str], value: str
) -> None:
    args = ["calibrate", f"{program_file}:program", "--trainset", str(tiny_data["train_dir"]), "--lm", "nearest"]
    with pytest.raises(SystemExit) as exc:
        main([*args, "--probes", value])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"argument --probes: expected an int >= 3 (a rank agreement needs three prompts), got '{value}'" in err


def test_calibrate_without_valset_names_the_flags(
    program_file: Path, tiny_data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one = tmp_path / "one.jsonl"
    one.write_text(tiny_data["train_jsonl"].read_text().splitlines()[0] + "\n")
    (tmp_path / "train").symlink_to(tiny_data["root"] / "train")  # the line's image path is relative to the file
    args = ["calibrate", f"{program_file}:program", "--trainset", str(one), "--lm", "pixel:hist-hog"]
    assert main([*args, "--local", "nearest", "--probes", "3", "--examples", "1"]) == 2
    err = capsys.readouterr().err
    assert "pass --valset or a larger --trainset" in err and "valset=" not in err


def test_calibrate_without_an_api_key_names_the_flag_and_variables(
    program_file: Path, tiny_data: dict[str, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("SPECPROMPT_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    args = ["calibrate", f"{program_file}:program", "--trainset", str(tiny_data["train_dir"])]
    args += ["--valset", str(tiny_data["val_jsonl"]), "--lm", "openai/gpt-4o-mini", "--local", "nearest"]
    assert main([*args, "--probes", "3", "--examples", "1", "--k-demos", "4"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "specprompt calibrate: error: --lm openai/gpt-4o-mini needs an API key and none was found: "
        "pass --api-key or set $SPECPROMPT_API_KEY or $OPENAI_API_KEY"
    )


def test_the_reuse_hint_names_the_screen_that_measured_judge_matches() -> None:
    from argparse import Namespace

    from specprompt.cli._calibrate import _reuse_hint

    v1 = _reuse_hint(Namespace(local="local", adapter=None, checkpoint=None), "cal.json")
    assert v1.startswith("compile --screen local scores with band-vlm-v2, not this --local judge")
    assert v1.endswith("measure it with --local local --checkpoint band-vlm-v2")
    hint = _reuse_hint(
        Namespace(
            local="pixel:lbp-dct",
            adapter=None,
            checkpoint=None,
            lm="openai/gpt 4o",
            api_base="http://h/v1",
            cost_model="openai:gpt-4o",
        ),
        "c",
    )
    assert (
        "compile --lm 'openai/gpt 4o' --api-base http://h/v1 --cost-model openai:gpt-4o "
        "--screen pixel:lbp-dct --calibration c" in hint
    )
    assert "no --adapter" in _reuse_hint(Namespace(local="local", adapter="ad", checkpoint=None), "c")
