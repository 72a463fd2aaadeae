"""``specprompt train`` argument parsing."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from specprompt import ConfigError
from specprompt.cli._train import add_train_parser, config_from_args, run_train

from ..conftest import TINY_MODEL, tiny_train_file


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="specprompt")
    add_train_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["train", *argv])


def test_flags_map_onto_the_train_config() -> None:
    flags = ["--device", "cpu", "--minutes", "30", "--out", "d", "--families", "colour, shape", "--seed", "3"]
    args = _parse([*flags, "--workers", "4", "--snapshot-every", "25"])
    cfg = config_from_args(args)
    assert (cfg.device, cfg.minutes, cfg.out, cfg.seed, cfg.workers, cfg.snapshot_every) == ("cpu", 30.0, "d", 3, 4, 25)
    assert cfg.families == ("colour", "shape")
    assert args.run is run_train


def test_config_file_then_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = tiny_train_file(tmp_path / "c.json", steps=2)
    args = _parse(["--config", str(conf), "--out", str(tmp_path / "ck"), "--device", "cpu"])
    cfg = config_from_args(args)
    assert cfg.steps == 2 and cfg.model == TINY_MODEL and cfg.out == str(tmp_path / "ck")
    assert run_train(args) == 0
    assert "local-" in capsys.readouterr().out
    assert (tmp_path / "ck" / "model.safetensors").is_file()


def test_bad_config_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read --config"):
        config_from_args(_parse(["--config", str(tmp_path / "missing.json")]))
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="JSON object"):
        config_from_args(_parse(["--config", str(bad)]))
    with pytest.raises(ConfigError, match="n_way"):
        config_from_args(_parse(["--n-way", "1"]))


def test_preset_then_config_then_flags(tmp_path: Path) -> None:
    cfg = config_from_args(_parse(["--preset", "v2", "--steps", "7", "--out", "o"]))
    assert cfg.model.canvas == 256 and cfg.steps == 7 and cfg.minutes == 30.0 and cfg.init_from == "band-vlm-v1"
    conf = tmp_path / "c.json"
    conf.write_text(json.dumps({"augment": 0.25, "lr": 0.5}))
    cfg = config_from_args(_parse(["--preset", "v2", "--config", str(conf), "--lr", "0.01"]))
    assert (cfg.augment, cfg.lr, cfg.model.canvas) == (0.25, 0.01, 256)
    with pytest.raises(SystemExit):
        _parse(["--preset", "v9"])
