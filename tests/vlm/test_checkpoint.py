"""Checkpoint files: bad arguments and bad folders get a ConfigError naming them, nothing is replaced
without ``overwrite``, and config.json is strict JSON."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from specprompt import ConfigError
from specprompt.vlm import CONFIG_FILE, WEIGHTS_FILE, BandVLM, load_checkpoint, resolve_device, save_checkpoint
from specprompt.vlm._checkpoint import CHECKPOINT_VERSIONS, read_config, resolve_checkpoint

from ..conftest import TINY_MODEL


@pytest.fixture(scope="module")
def model() -> BandVLM:
    torch.manual_seed(0)
    return BandVLM(TINY_MODEL).eval()


def _strict(path: Path) -> dict[str, object]:
    def refuse(constant: str) -> object:
        raise AssertionError(f"{path} holds {constant}, which is not JSON")

    meta: dict[str, object] = json.loads(path.read_text(), parse_constant=refuse)
    return meta


def test_an_existing_checkpoint_is_replaced_only_with_overwrite(model: BandVLM, tmp_path: Path) -> None:
    out = save_checkpoint(model, tmp_path / "a" / "b")  # missing parents are created
    before = (out / WEIGHTS_FILE).read_bytes()
    torch.manual_seed(1)
    other = BandVLM(TINY_MODEL).eval()
    with pytest.raises(ConfigError, match=r"^directory '.*b' already holds a checkpoint .*pass overwrite=True"):
        save_checkpoint(other, out)
    assert (out / WEIGHTS_FILE).read_bytes() == before
    save_checkpoint(other, out, overwrite=True)
    assert (out / WEIGHTS_FILE).read_bytes() != before
    assert load_checkpoint(out)[1]["weights_sha256"] == read_config(out)["weights_sha256"]


def test_a_torn_save_leaves_the_earlier_checkpoint_whole(
    model: BandVLM, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = save_checkpoint(model, tmp_path / "c")
    before = {name: (out / name).read_bytes() for name in (WEIGHTS_FILE, CONFIG_FILE)}
    torch.manual_seed(1)
    other = BandVLM(TINY_MODEL).eval()
    renamed: list[str] = []
    real = os.replace

    def killed_at_the_config(src: str, dst: str) -> None:
        if Path(dst).name == CONFIG_FILE:
            raise KeyboardInterrupt
        renamed.append(Path(dst).name)
        real(src, dst)

    def killed(*args: object) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(os, "replace", killed)  # killed as the new weights are renamed into place
        with pytest.raises(KeyboardInterrupt):
            save_checkpoint(other, out, overwrite=True)
    assert {name: (out / name).read_bytes() for name in before} == before
    assert sorted(p.name for p in out.iterdir()) == sorted(before)  # no temporary left
    assert load_checkpoint(out)[1]["weights_sha256"] == read_config(out)["weights_sha256"]
    with monkeypatch.context() as m:
        m.setattr(os, "replace", killed_at_the_config)
        with pytest.raises(KeyboardInterrupt):
            save_checkpoint(other, tmp_path / "new")
    assert renamed == [WEIGHTS_FILE]  # the weights first, config.json last
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == [WEIGHTS_FILE]  # no config: not finished
    save_checkpoint(other, tmp_path / "new")  # so the next save replaces it without overwrite
    assert load_checkpoint(tmp_path / "new")[1]["weights_sha256"] == read_config(tmp_path / "new")["weights_sha256"]


def test_folders_with_other_files_are_refused_unless_the_caller_keeps_them(model: BandVLM, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "cat.png").write_bytes(b"x")
    with pytest.raises(ConfigError, match=r"holds files that are not part of a checkpoint \(cat\.png\)"):
        save_checkpoint(model, photos, overwrite=True)
    assert [p.name for p in photos.iterdir()] == ["cat.png"]
    save_checkpoint(model, photos, keep=("cat.png",))
    assert sorted(p.name for p in photos.iterdir()) == sorted(["cat.png", WEIGHTS_FILE, CONFIG_FILE])
    with pytest.raises(ConfigError, match="keep must be a sequence of file names"):
        save_checkpoint(model, tmp_path / "k", keep="cat.png")


def test_bad_model_and_paths_are_refused(model: BandVLM, tmp_path: Path) -> None:
    (tmp_path / "ok.png").write_bytes(b"x")
    with pytest.raises(ConfigError, match=r"directory '.*ok\.png' is a file, not a folder"):
        save_checkpoint(model, tmp_path / "ok.png")
    with pytest.raises(ConfigError, match="expects a BandVLM model, got NoneType"):
        save_checkpoint(None, tmp_path / "none")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="directory must be a folder path, got 5"):
        save_checkpoint(model, 5)  # type: ignore[arg-type]
    assert not (tmp_path / "none").exists()


def test_non_finite_metrics_are_written_as_null(
    model: BandVLM, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    metrics = {"acc": float("nan"), "history": [{"loss": float("inf")}, {"loss": np.float32(0.5)}], "n": np.int64(3)}
    with caplog.at_level(logging.WARNING, logger="specprompt.vlm._checkpoint"):
        out = save_checkpoint(model, tmp_path / "m", metrics=metrics, train={"lr": 0.1})
    meta = _strict(out / CONFIG_FILE)
    assert meta["metrics"] == {"acc": None, "history": [{"loss": None}, {"loss": 0.5}], "n": 3}
    assert meta["train"] == {"lr": 0.1}
    assert "metrics['acc']" in caplog.text and "metrics['history'][0]['loss']" in caplog.text
    assert load_checkpoint(out)[1]["metrics"]["acc"] is None


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"metrics": {"when": object()}}, r"metrics\['when'\] is a object, which JSON cannot store"),
        ({"metrics": {1: 0.5}}, r"metrics has the key 1; JSON keys are strings"),
        ({"train": [1, 2]}, "train must be a dict of JSON values or None, got list"),
    ],
)
def test_values_json_cannot_store_are_refused_before_writing(
    model: BandVLM, tmp_path: Path, kwargs: dict[str, object], match: str
) -> None:
    with pytest.raises(ConfigError, match=match):
        save_checkpoint(model, tmp_path / "m", **kwargs)  # type: ignore[arg-type]
    assert not (tmp_path / "m").exists()


def test_unknown_config_versions_are_refused(model: BandVLM, tmp_path: Path) -> None:
    out = save_checkpoint(model, tmp_path / "v")
    meta = json.loads((out / CONFIG_FILE).read_text())
    assert meta["version"] == CHECKPOINT_VERSIONS[-1]
    for version in (99, None, True, "1"):
        meta["version"] = version
        (out / CONFIG_FILE).write_text(json.dumps(meta))
        with pytest.raises(
            ConfigError, match=rf"config\.json' has version {version!r}; this specprompt reads version 1"
        ):
            load_checkpoint(out)


@pytest.mark.parametrize("device", ["tpu", None, "cuda:x", "CPU", 0])
def test_bad_devices_are_refused(device: object) -> None:
    with pytest.raises(ConfigError, match=r"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got"):
        load_checkpoint(None, device=device)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="device must be"):
        resolve_device(device)  # type: ignore[arg-type]


def test_cuda_devices_torch_does_not_see_are_refused() -> None:
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    with pytest.raises(ConfigError, match="torch sees"):
        resolve_device(f"cuda:{count}")
    assert resolve_device("auto") in ("cpu", "cuda")


@pytest.mark.parametrize("checkpoint", [5, 1.5, ["band-vlm-v1"], b"band-vlm-v1"])
def test_checkpoints_that_are_not_paths_are_refused(checkpoint: object) -> None:
    with pytest.raises(
        ConfigError, match=r"checkpoint must be a checkpoint folder, a shipped checkpoint name \(band-vlm-v1"
    ):
        load_checkpoint(checkpoint)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="checkpoint must be"):
        resolve_checkpoint(checkpoint)  # type: ignore[arg-type]


def test_an_existing_adapter_is_replaced_only_with_overwrite(tmp_path: Path) -> None:
    pytest.importorskip("peft")
    from specprompt.vlm import ADAPTER_CONFIG_FILE, attach_fourierft, save_adapter

    wrapped, spec = attach_fourierft(BandVLM(TINY_MODEL), n_frequency=4, scaling=1.0, seed=0)
    out = save_adapter(wrapped, tmp_path / "ad", base_sha256="0" * 64, fourierft=spec)
    before = (out / ADAPTER_CONFIG_FILE).read_text()
    with pytest.raises(ConfigError, match=r"already holds an adapter \(adapter.json\); pass overwrite=True"):
        save_adapter(wrapped, out, base_sha256="1" * 64, fourierft=spec)
    assert (out / ADAPTER_CONFIG_FILE).read_text() == before
    save_adapter(wrapped, out, base_sha256="1" * 64, fourierft=spec, overwrite=True)
    assert '"base_weights_sha256": "' + "1" * 64 in (out / ADAPTER_CONFIG_FILE).read_text()
