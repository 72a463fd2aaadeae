"""Resumable training: a killed run, re-run with the same config, writes the uninterrupted run's weights."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from specprompt import ConfigError, _outputs
from specprompt._outputs import folder_lock
from specprompt.training import _train, train
from specprompt.training._snapshot import SNAPSHOT_FILE
from specprompt.vlm._checkpoint import CONFIG_FILE, WEIGHTS_FILE

from ..conftest import tiny_config


def _killed_at(monkeypatch: pytest.MonkeyPatch, call: int) -> None:
    """Makes the ``call``-th training step raise KeyboardInterrupt, as Ctrl-C or a lost machine would."""
    real, calls = _train.episode_forward, [0]

    def forward(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] == call:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(_train, "episode_forward", forward)


def _hash(out: Path) -> str:
    return str(json.loads((out / CONFIG_FILE).read_text())["weights_sha256"])


@pytest.mark.parametrize("workers", [0, 2])
def test_a_killed_run_resumes_to_the_uninterrupted_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, workers: int
) -> None:
    whole = train(tiny_config(tmp_path / "whole", steps=8, snapshot_every=3, workers=workers))
    assert not (whole / SNAPSHOT_FILE).exists()  # deleted once the checkpoint is written
    cfg = tiny_config(tmp_path / "killed", steps=8, snapshot_every=3, workers=workers)
    with monkeypatch.context() as m:
        _killed_at(m, 8)  # steps 1-7 ran, the snapshot holds step 6
        with pytest.raises(KeyboardInterrupt), caplog.at_level("WARNING", "specprompt.training"):
            train(cfg)
    assert "interrupted after step 7: run the same command again to resume from step 6" in caplog.text
    assert (tmp_path / "killed" / SNAPSHOT_FILE).is_file() and not (tmp_path / "killed" / CONFIG_FILE).exists()
    resumed = train(cfg)
    assert _hash(resumed) == _hash(whole)
    meta = json.loads((resumed / CONFIG_FILE).read_text())
    assert meta["metrics"]["steps_done"] == 8 and [r["step"] for r in meta["metrics"]["history"]] == [2, 4, 6, 8]
    assert not (resumed / SNAPSHOT_FILE).exists()


def test_a_snapshot_of_another_run_is_refused_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tiny_config(tmp_path / "c", steps=8, snapshot_every=2)
    with monkeypatch.context() as m:
        _killed_at(m, 4)
        with pytest.raises(KeyboardInterrupt):
            train(cfg)
    with pytest.raises(ConfigError, match=r"snapshot of a run with other lr, seed"):
        train(tiny_config(tmp_path / "c", steps=8, snapshot_every=2, lr=0.5, seed=3))
    # where and how fast it runs may change: another thread count resumes
    assert train(tiny_config(tmp_path / "c", steps=8, snapshot_every=2, threads=2)).is_dir()


def test_an_unreadable_snapshot_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / SNAPSHOT_FILE).write_bytes(b"not a safetensors file")
    with pytest.raises(ConfigError, match=r"unreadable.*delete it to start over"):
        train(tiny_config(tmp_path / "c"))


def test_snapshots_can_be_turned_off_and_are_validated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as m:
        _killed_at(m, 4)
        with pytest.raises(KeyboardInterrupt):
            train(tiny_config(tmp_path / "off", steps=8, snapshot_every=0))
    assert not (tmp_path / "off" / SNAPSHOT_FILE).exists()
    for bad in (-1, 1.5, True):
        with pytest.raises(ConfigError, match="snapshot_every"):
            tiny_config(tmp_path / "x", snapshot_every=bad)


def test_a_second_run_on_the_same_out_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "c"
    with folder_lock("TrainConfig.out", out, "train"):  # a run in progress holds the folder
        with pytest.raises(ConfigError) as exc:
            train(tiny_config(out))
        assert str(exc.value) == (
            f"TrainConfig.out '{out}' is in use by another train run; wait for it to end "
            "or give another TrainConfig.out"
        )
        assert sorted(p.name for p in out.iterdir()) == []  # nothing resumed from, nothing written
    assert train(tiny_config(out)).is_dir()  # once that run ends


def test_a_run_killed_while_saving_resumes_without_overwrite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    whole = train(tiny_config(tmp_path / "whole", steps=8, snapshot_every=3))
    cfg = tiny_config(tmp_path / "killed", steps=8, snapshot_every=3)
    real = _outputs.write_atomic

    def killed_before_the_config(path: Any, data: Any) -> Any:
        if Path(path).name == CONFIG_FILE:
            raise KeyboardInterrupt
        return real(path, data)

    with monkeypatch.context() as m:
        m.setattr(_outputs, "write_atomic", killed_before_the_config)
        with pytest.raises(KeyboardInterrupt):
            train(cfg)
    killed = tmp_path / "killed"
    assert sorted(p.name for p in killed.iterdir()) == sorted([SNAPSHOT_FILE, WEIGHTS_FILE])
    with caplog.at_level("INFO", "specprompt.training"):
        resumed = train(cfg)  # half a checkpoint is no finished one: no overwrite needed
    assert "resuming from step 6" in caplog.text
    assert _hash(resumed) == _hash(whole)
    assert sorted(p.name for p in killed.iterdir()) == sorted([CONFIG_FILE, WEIGHTS_FILE])


def test_leftover_temporaries_are_ignored_and_deleted(tmp_path: Path) -> None:
    out = tmp_path / "c"
    out.mkdir()
    for name in (SNAPSHOT_FILE + ".tmp", f".{SNAPSHOT_FILE}.a1b2.tmp", f".{WEIGHTS_FILE}.c3d4.tmp"):
        (out / name).write_bytes(b"torn")  # the fixed-name .tmp of earlier versions, and write_atomic's
    train(tiny_config(out))
    assert sorted(p.name for p in out.iterdir()) == sorted([CONFIG_FILE, WEIGHTS_FILE])


def test_a_torn_snapshot_write_keeps_the_earlier_snapshot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tiny_config(tmp_path / "c", steps=8, snapshot_every=2)
    with monkeypatch.context() as m:
        _killed_at(m, 4)  # the snapshot holds step 2
        with pytest.raises(KeyboardInterrupt):
            train(cfg)
    before = (tmp_path / "c" / SNAPSHOT_FILE).read_bytes()

    def killed(*args: Any) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(os, "replace", killed)  # killed as the step-4 snapshot is renamed into place
        with pytest.raises(KeyboardInterrupt):
            train(cfg)
    assert (tmp_path / "c" / SNAPSHOT_FILE).read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == sorted([SNAPSHOT_FILE])
