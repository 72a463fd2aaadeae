"""``train`` and ``finetune`` write only into their own folders, and replace a result only with --overwrite.

A folder holding other files (a folder of photos) is refused, naming a few of them, before any
work; a finished checkpoint or adapter is replaced only with ``--overwrite``; a killed ``train``
run still resumes from its snapshot when the same command runs again.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from specprompt._outputs import folder_lock
from specprompt.cli import main
from specprompt.training import _train
from specprompt.training._snapshot import SNAPSHOT_FILE
from specprompt.vlm._adapter_io import ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE
from specprompt.vlm._checkpoint import CONFIG_FILE, WEIGHTS_FILE

from ..conftest import tiny_train_file


def _must_not_run(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("the expensive step ran before the output folder was checked")


def _error(capsys: pytest.CaptureFixture[str], command: str) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"specprompt {command}: error: ") and "\n" not in err, err
    return err


def _photos(folder: Path, n: int = 5) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new("RGB", (8, 8), (40 * i, 0, 0)).save(folder / f"photo{i}.png")
    return folder


# -- train ---------------------------------------------------------------------------------------------


def _train_args(tmp_path: Path, out: Path, *extra: str) -> list[str]:
    conf = tiny_train_file(tmp_path / "tiny.json", steps=4)
    return ["train", "--config", str(conf), "--device", "cpu", "--out", str(out), *extra]


def test_train_refuses_a_folder_of_other_files_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import specprompt.training

    monkeypatch.setattr(specprompt.training, "train", _must_not_run)
    photos = _photos(tmp_path / "photos")
    assert main(_train_args(tmp_path, photos)) == 2
    err = _error(capsys, "train")
    assert re.search(r"--out '.*photos' holds files that are not part of a checkpoint \(photo0.png, ", err)
    assert sorted(p.name for p in photos.iterdir()) == [f"photo{i}.png" for i in range(5)]  # nothing written


def test_train_replaces_a_finished_checkpoint_only_with_overwrite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "ck"
    assert main(_train_args(tmp_path, out, "--seed", "1")) == 0
    first = json.loads((out / CONFIG_FILE).read_text())
    capsys.readouterr()
    assert main(_train_args(tmp_path, out, "--seed", "2")) == 2
    err = _error(capsys, "train")
    assert err.endswith(
        f"--out '{out}' already holds a checkpoint (model.safetensors, config.json); pass --overwrite to replace "
        "it, or give another --out"
    )
    assert json.loads((out / CONFIG_FILE).read_text()) == first  # untouched
    assert main(_train_args(tmp_path, out, "--seed", "2", "--overwrite")) == 0
    second = json.loads((out / CONFIG_FILE).read_text())
    assert second["train"]["seed"] == 2 and second["weights_sha256"] != first["weights_sha256"]


def test_a_killed_train_run_resumes_with_the_same_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    args = _train_args(tmp_path, out, "--snapshot-every", "2")
    real, calls = _train.episode_forward, [0]

    def killed_at_step_3(*a: Any, **k: Any) -> Any:
        calls[0] += 1
        if calls[0] == 3:
            raise KeyboardInterrupt
        return real(*a, **k)

    with monkeypatch.context() as m:
        m.setattr(_train, "episode_forward", killed_at_step_3)
        assert main(args) == 130
    assert sorted(p.name for p in out.iterdir()) == sorted([SNAPSHOT_FILE])
    assert main(args) == 0  # no --overwrite: the run is unfinished, it resumes
    assert sorted(p.name for p in out.iterdir()) == sorted([CONFIG_FILE, WEIGHTS_FILE])
    assert json.loads((out / CONFIG_FILE).read_text())["metrics"]["steps_done"] == 4


def test_train_refuses_an_out_in_use_by_another_run_naming_the_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    with folder_lock("TrainConfig.out", out, "train"):  # another train run, still running
        assert main(_train_args(tmp_path, out)) == 2
        assert sorted(p.name for p in out.iterdir()) == []  # nothing written
    assert _error(capsys, "train").endswith(
        f"--out '{out}' is in use by another train run; wait for it to end or give another --out"
    )


# -- finetune ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def base_checkpoint(untrained_checkpoint: Path) -> Path:
    return untrained_checkpoint


def _finetune_args(tmp_path: Path, out: Path, checkpoint: Path, *extra: str) -> list[str]:
    data = tmp_path / "data"
    rng = np.random.default_rng(0)
    for name, rgb in (("red", (230, 20, 20)), ("blue", (20, 40, 230))):
        (data / name).mkdir(parents=True, exist_ok=True)
        for i in range(2):
            pixels = np.clip(np.array(rgb) + rng.normal(0, 10, (16, 16, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(data / name / f"{i}.png")
    args = ["finetune", "--trainset", str(data), "--out", str(out), "--checkpoint", str(checkpoint)]
    return [*args, "--steps", "1", "--n-frequency", "8", "--episodes-per-step", "1", *extra]


def test_finetune_refuses_a_folder_of_other_files_before_reading_images(
    tmp_path: Path, base_checkpoint: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import specprompt.cli._finetune as finetune_cli

    monkeypatch.setattr(finetune_cli, "examples_from", _must_not_run)
    photos = _photos(tmp_path / "photos", 2)
    assert main(_finetune_args(tmp_path, photos, base_checkpoint)) == 2
    err = _error(capsys, "finetune")
    assert err.endswith(
        f"--out '{photos}' holds files that are not part of a FourierFT adapter (photo0.png, photo1.png); "
        "give an empty or new folder"
    )


def test_finetune_replaces_an_adapter_only_with_overwrite(
    tmp_path: Path, base_checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "adapter"
    assert main(_finetune_args(tmp_path, out, base_checkpoint, "--seed", "1")) == 0
    first = (out / ADAPTER_CONFIG_FILE).read_text()
    capsys.readouterr()
    assert main(_finetune_args(tmp_path, out, base_checkpoint, "--seed", "2")) == 2
    assert _error(capsys, "finetune").endswith(
        f"--out '{out}' already holds a FourierFT adapter ({ADAPTER_WEIGHTS_FILE}, {ADAPTER_CONFIG_FILE}); "
        "pass --overwrite to replace it, or give another --out"
    )
    assert (out / ADAPTER_CONFIG_FILE).read_text() == first
    assert main(_finetune_args(tmp_path, out, base_checkpoint, "--seed", "2", "--overwrite")) == 0
    assert json.loads((out / ADAPTER_CONFIG_FILE).read_text())["finetune"]["seed"] == 2


def test_finetune_refuses_an_out_in_use_by_another_run_naming_the_flag(
    tmp_path: Path, base_checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "adapter"
    with folder_lock("out", out, "finetune"):
        assert main(_finetune_args(tmp_path, out, base_checkpoint)) == 2
    assert _error(capsys, "finetune").endswith(
        f"--out '{out}' is in use by another finetune run; wait for it to end or give another --out"
    )


def test_finetune_names_its_field_flags(
    tmp_path: Path, base_checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = tmp_path / "data.jsonl"
    lines.write_text(json.dumps({"image": "a.png", "label": "red"}) + "\n")
    base = ["finetune", "--trainset", str(lines), "--out", str(tmp_path / "o"), "--checkpoint", str(base_checkpoint)]
    assert main([*base, "--image-field", "img"]) == 2
    assert _error(capsys, "finetune").endswith(
        "data.jsonl:1: missing field(s) ['img']; finetune reads the image from --image-field 'img' and the label "
        "from --label-field 'label'"
    )
    assert main([*base, "--label-field", "1abel"]) == 2
    assert _error(capsys, "finetune").endswith(
        "--label-field must be a Python identifier (a JSONL field name), got '1abel'"
    )
