"""specprompt finetune: a FourierFT adapter saved as safetensors + JSON, loaded by local_lm, with clear errors."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from specprompt import ConfigError
from specprompt._outputs import folder_lock
from specprompt.cli import main
from specprompt.scorers import local_lm
from specprompt.training import FinetuneConfig, _train, finetune
from specprompt.training._finetune import prepare_data
from specprompt.vlm._adapter_io import ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, adapter_targets, apply_adapter
from specprompt.vlm._checkpoint import load_checkpoint, save_checkpoint
from specprompt.vlm._config import ModelConfig
from specprompt.vlm._model import BandVLM

COLOURS = {"red": (0.9, 0.1, 0.1), "green": (0.1, 0.8, 0.2), "blue": (0.1, 0.2, 0.9)}
TINY = FinetuneConfig(steps=4, n_frequency=16, episodes_per_step=2, eval_episodes=2, seed=3)


def tiny_checkpoint(directory: Path, seed: int = 0) -> Path:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = BandVLM(ModelConfig(dim=16, depth=1, heads=2, slices=2, slice_dim=8, readout_tokens=2))
    return save_checkpoint(model, directory)


def colour_images(per_label: int = 3, size: int = 24) -> list[tuple[np.ndarray, str]]:
    rng = np.random.default_rng(0)
    return [
        (np.clip(np.array(rgb, np.float32) + rng.normal(0, 0.05, (size, size, 3)), 0, 1).astype(np.float32), name)
        for name, rgb in COLOURS.items()
        for _ in range(per_label)
    ]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny")


@pytest.fixture(scope="module")
def adapter(checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return finetune(colour_images(), tmp_path_factory.mktemp("ft") / "adapter", TINY, checkpoint=checkpoint)


def test_adapter_dir_holds_only_safetensors_and_json(adapter: Path, checkpoint: Path) -> None:
    # and the run's lock file, which is never a user's file
    assert sorted(p.name for p in adapter.iterdir()) == sorted([ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE])
    assert (adapter / ADAPTER_WEIGHTS_FILE).read_bytes()[8:9] == b"{"  # safetensors: u64 header size, JSON header
    meta = json.loads((adapter / ADAPTER_CONFIG_FILE).read_text())
    base = json.loads((checkpoint / "config.json").read_text())
    assert meta["base_weights_sha256"] == base["weights_sha256"]
    assert meta["labels"] == ["blue", "green", "red"] and meta["finetune"] == TINY.to_dict()
    assert meta["fourierft"]["target_modules"] == adapter_targets(load_checkpoint(checkpoint)[0])
    assert meta["metrics"]["trainable_parameters"] == 16 * len(meta["fourierft"]["target_modules"])


def test_trained_coefficients_are_not_zero_and_change_the_weights(adapter: Path, checkpoint: Path) -> None:
    tensors = load_file(str(adapter / ADAPTER_WEIGHTS_FILE))
    spectra = [t for name, t in tensors.items() if name.startswith("spectrum/")]
    assert spectra and all(t.shape == (16,) for t in spectra)
    assert sum(int((t != 0).sum()) for t in spectra) > len(spectra)  # training moved the zero init
    base, _ = load_checkpoint(checkpoint)
    merged, _ = load_checkpoint(checkpoint)
    merged, _ = apply_adapter(merged, adapter, json.loads((checkpoint / "config.json").read_text())["weights_sha256"])
    assert isinstance(merged, BandVLM)
    changed = [n for n, p in merged.state_dict().items() if not torch.equal(p, base.state_dict()[n])]
    assert "blocks.0.qkv.weight" in changed and "embed.4.weight" in changed
    assert "embed.0.weight" not in changed  # 24-px images create no L0 token: no gradient reached it
    assert not any(n.endswith(".bias") for n in changed)  # FourierFT adapts weights only


def test_loading_the_adapter_changes_the_model_id(adapter: Path, checkpoint: Path) -> None:
    plain, tuned = local_lm(checkpoint), local_lm(checkpoint, adapter_path=adapter)
    sha = json.loads((adapter / ADAPTER_CONFIG_FILE).read_text())["adapter_sha256"]
    assert tuned.model == f"{plain.model}+{sha[:12]}"


def test_same_seed_same_adapter_replacing_one_only_with_overwrite(
    adapter: Path, checkpoint: Path, tmp_path: Path
) -> None:
    shutil.copytree(adapter, tmp_path / "again")
    (tmp_path / "again" / ADAPTER_WEIGHTS_FILE).write_bytes(b"an earlier adapter")
    with pytest.raises(ConfigError, match=r"^out '.*again' already holds a FourierFT adapter .*pass overwrite=True"):
        finetune(colour_images(), tmp_path / "again", TINY, checkpoint=checkpoint)
    assert (tmp_path / "again" / ADAPTER_WEIGHTS_FILE).read_bytes() == b"an earlier adapter"
    again = finetune(colour_images(), tmp_path / "again", TINY, checkpoint=checkpoint, overwrite=True)
    first, second = load_file(adapter / ADAPTER_WEIGHTS_FILE), load_file(again / ADAPTER_WEIGHTS_FILE)
    assert first.keys() == second.keys()
    # same seed, same data: equal up to the order of multi-threaded float reductions
    for name, value in first.items():
        torch.testing.assert_close(second[name], value, rtol=1e-4, atol=1e-6)


def test_an_adapter_cut_short_is_replaced_and_a_torn_write_keeps_the_earlier_one(
    adapter: Path, checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "again"
    shutil.copytree(adapter, out)
    before = {name: (out / name).read_bytes() for name in (ADAPTER_WEIGHTS_FILE, ADAPTER_CONFIG_FILE)}

    def killed(*args: object) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(os, "replace", killed)  # killed as the new weights are renamed into place
        with pytest.raises(KeyboardInterrupt):
            finetune(colour_images(), out, dataclasses.replace(TINY, seed=4), checkpoint=checkpoint, overwrite=True)
    assert {name: (out / name).read_bytes() for name in before} == before  # the earlier adapter, whole
    assert sorted(p.name for p in out.iterdir()) == sorted([*before])  # no temporary left
    # weights without adapter.json (written last) are a save cut short, not an adapter: replaced without overwrite
    (out / ADAPTER_CONFIG_FILE).unlink()
    finetune(colour_images(), out, dataclasses.replace(TINY, seed=4), checkpoint=checkpoint)
    assert json.loads((out / ADAPTER_CONFIG_FILE).read_text())["finetune"]["seed"] == 4


def test_an_interrupted_finetune_says_nothing_was_saved(
    checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real, calls = _train.episode_forward, [0]

    def forward(*args: object, **kwargs: object) -> object:
        calls[0] += 1
        if calls[0] == 3:  # the accuracy before training, step 1, then Ctrl-C in step 2
            raise KeyboardInterrupt
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(_train, "episode_forward", forward)
    with pytest.raises(KeyboardInterrupt), caplog.at_level("WARNING", "specprompt.training"):
        finetune(colour_images(), tmp_path / "ad", TINY, checkpoint=checkpoint)
    assert (
        "finetune interrupted after step 1 of 4: nothing was saved (finetune keeps no snapshot); a new run starts "
        "from step 0" in caplog.text
    )
    assert not (tmp_path / "ad").exists()  # nothing saved, and no empty folder left behind


def test_a_second_finetune_on_the_same_out_is_refused(checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "ad"
    with folder_lock("out", out, "finetune"):
        with pytest.raises(ConfigError, match=r"^out '.*ad' is in use by another finetune run"):
            finetune(colour_images(), out, TINY, checkpoint=checkpoint)
        assert sorted(p.name for p in out.iterdir()) == []


def _broken(adapter: Path, tmp_path: Path) -> Path:
    out = tmp_path / "broken"
    shutil.copytree(adapter, out)
    return out


def test_bad_adapter_dirs_give_clear_errors(adapter: Path, checkpoint: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a directory"):
        local_lm(checkpoint, adapter_path=tmp_path / "missing")
    bad = _broken(adapter, tmp_path)
    (bad / ADAPTER_WEIGHTS_FILE).unlink()
    with pytest.raises(ConfigError, match=r"adapter\.safetensors is missing"):
        local_lm(checkpoint, adapter_path=bad)
    shutil.rmtree(bad)
    bad = _broken(adapter, tmp_path)
    (bad / ADAPTER_CONFIG_FILE).write_text("{oops")
    with pytest.raises(ConfigError, match="not valid JSON"):
        local_lm(checkpoint, adapter_path=bad)
    (bad / ADAPTER_CONFIG_FILE).write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ConfigError, match="is not a specprompt-fourierft-adapter config"):
        local_lm(checkpoint, adapter_path=bad)
    shutil.rmtree(bad)
    bad = _broken(adapter, tmp_path)
    tensors = load_file(str(bad / ADAPTER_WEIGHTS_FILE))
    name = next(n for n in tensors if n.startswith("spectrum/"))
    tensors[name] = tensors[name] + 1.0
    save_file(tensors, str(bad / ADAPTER_WEIGHTS_FILE))
    with pytest.raises(ConfigError, match="hash to"):
        local_lm(checkpoint, adapter_path=bad)
    (bad / ADAPTER_WEIGHTS_FILE).write_bytes(b"\x00" * 16)
    with pytest.raises(ConfigError, match="cannot read adapter weights"):
        local_lm(checkpoint, adapter_path=bad)
    with pytest.raises(ConfigError, match="was trained on base model local-"):
        local_lm(tiny_checkpoint(tmp_path / "other", seed=1), adapter_path=adapter)


def stripes(per_label: int = 3, size: int = 256) -> list[tuple[np.ndarray, str]]:
    """Grey images told apart only by fine stripes (period 2 px vertical or horizontal, or none)."""
    rng = np.random.default_rng(1)
    ramp = (np.arange(size) % 2).astype(np.float32)
    kinds = {"flat": np.zeros((size, size)), "vertical": ramp[None, :], "horizontal": ramp[:, None]}
    out = []
    for name, pattern in kinds.items():
        for _ in range(per_label):
            grey = 0.5 + 0.3 * (np.broadcast_to(pattern, (size, size)) - 0.5) + rng.normal(0, 0.02, (size, size))
            out.append((np.repeat(np.clip(grey, 0, 1)[:, :, None], 3, axis=2).astype(np.float32), name))
    return out


def test_a_checkpoint_with_fine_levels_is_finetuned_on_its_fine_tokens(tmp_path: Path) -> None:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        # as band-vlm-v2: 256 px, read out at the episode's scale with the raw fine readout
        config = ModelConfig(
            dim=16, depth=1, heads=2, slices=2, slice_dim=8, readout_tokens=2, canvas=256, readout_scale="episode"
        )
        model = BandVLM(dataclasses.replace(config, fine_readout=64.0))
    ckpt = save_checkpoint(model, tmp_path / "v2")
    data = prepare_data(stripes(), model.config)
    assert data.detail is not None and data.detail.shape == (9, 256, 256, 3)
    assert len(data.fine) == 2 and all(f.shape == (9, 16) for f in data.fine)
    assert data.sent is not None and data.sent.tolist() == [256] * 9
    assert data.fine[0].all()  # a 256 px image allows every token of the finest level
    adapter = finetune(stripes(), tmp_path / "adapter", TINY, checkpoint=ckpt)
    meta = json.loads((adapter / ADAPTER_CONFIG_FILE).read_text())
    assert "fine_embed.0.0" in meta["fourierft"]["target_modules"]
    # trained through the readout of pre-training: the episode scale gives a cross-entropy of about 60 here
    assert meta["metrics"]["loss_first"] < 5
    assert load_checkpoint(ckpt)[0].config.readout_scale == "episode"
    base, _ = load_checkpoint(ckpt)
    merged, _ = apply_adapter(load_checkpoint(ckpt)[0], adapter, meta["base_weights_sha256"])
    changed = {n for n, p in merged.state_dict().items() if not torch.equal(p, base.state_dict()[n])}
    assert "fine_embed.0.0.weight" in changed  # the finest level's tokens reached the loss
    small = prepare_data([(img[:64, :64], name) for img, name in stripes()], model.config)
    assert small.sent is not None and small.sent.tolist() == [64] * 9
    assert not any(f.any() for f in small.fine)  # a 64 px image creates no fine token
    tuned = local_lm(ckpt, adapter_path=adapter)
    # the id `specprompt finetune` prints is the one the adapted model answers as (readout suffixes kept)
    assert meta["base_model_id"].endswith("-episode-fine64")
    assert tuned.model == f"specprompt/{meta['base_model_id']}+{meta['adapter_sha256'][:12]}"


def test_bad_finetune_inputs(checkpoint: Path, tmp_path: Path) -> None:
    one_label = [(np.zeros((8, 8, 3), np.float32), "a")] * 3
    with pytest.raises(ConfigError, match="at least 2 labels"):
        finetune(one_label, tmp_path / "a", TINY, checkpoint=checkpoint)
    few = colour_images(per_label=1)
    with pytest.raises(ConfigError, match=r"at least k_shot \+ n_query = 2 images"):
        finetune(few, tmp_path / "b", TINY, checkpoint=checkpoint)
    with pytest.raises(ConfigError, match="labels must be non-empty strings"):
        finetune([(np.zeros((8, 8, 3), np.float32), 3)], tmp_path / "c", TINY, checkpoint=checkpoint)  # type: ignore[list-item]
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        finetune(colour_images(), tmp_path / "file", TINY, checkpoint=checkpoint)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match=r"^out '.*busy' holds files that are not part of a FourierFT adapter"):
        finetune(colour_images(), tmp_path / "busy", TINY, checkpoint=checkpoint)
    with pytest.raises(ConfigError, match=r"FinetuneConfig\.n_frequency must be an int >= 1"):
        FinetuneConfig(n_frequency=0)
    with pytest.raises(ConfigError, match=r"FinetuneConfig\.lr must be a number"):
        FinetuneConfig(lr=float("nan"))
    with pytest.raises(ConfigError, match="unknown option"):
        FinetuneConfig.from_dict({"stepz": 3})


def test_cli_finetune_on_a_folder_per_label(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for i, (arr, name) in enumerate(colour_images(per_label=2)):
        (tmp_path / "data" / name).mkdir(parents=True, exist_ok=True)
        Image.fromarray((arr * 255).astype(np.uint8)).save(tmp_path / "data" / name / f"{i}.png")
    args = [
        "finetune",
        "--trainset",
        str(tmp_path / "data"),
        "--out",
        str(tmp_path / "ad"),
        "--checkpoint",
        str(checkpoint),
    ]
    args += ["--steps", "2", "--n-frequency", "8", "--episodes-per-step", "1", "--seed", "5"]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["labels"] == ["blue", "green", "red"] and summary["adapter"] == str(tmp_path / "ad")
    assert local_lm(checkpoint, adapter_path=tmp_path / "ad").model == "specprompt/" + summary["model_id"]
    meta = json.loads((tmp_path / "ad" / ADAPTER_CONFIG_FILE).read_text())
    assert meta["finetune"]["seed"] == 5 and meta["fourierft"]["n_frequency"] == 8
    (tmp_path / "nope.csv").write_text("a,b\n")
    assert main(["finetune", "--trainset", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "x")]) == 2
    assert "must be a .jsonl file or a folder per label" in capsys.readouterr().err
