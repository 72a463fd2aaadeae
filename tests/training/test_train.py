"""Training: config validation, learning, determinism, checkpoints."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from specprompt import ConfigError, UnknownNameError
from specprompt.training import TrainConfig, train
from specprompt.vlm import load_checkpoint
from specprompt.vlm._checkpoint import CONFIG_FILE, WEIGHTS_FILE, model_id_of, weights_hash

from ..conftest import TINY_MODEL, tiny_config


def test_loss_drops_in_a_short_run(tmp_path: Path) -> None:
    cfg = tiny_config(
        tmp_path / "c", steps=40, log_every=10, families=("position",), held_out=(), k_shot=2, lr=1e-2, dropout_prob=0.0
    )
    meta = json.loads((train(cfg) / CONFIG_FILE).read_text())
    hist = meta["metrics"]["history"]
    assert len(hist) == 4
    assert hist[-1]["loss"] < 0.5 * hist[0]["loss"]
    assert hist[-1]["aux"] < hist[0]["aux"]
    assert meta["metrics"]["steps_done"] == 40 and meta["metrics"]["stop_reason"] == "steps"


def test_same_seed_same_weights_other_seed_other_weights(tmp_path: Path, tiny_checkpoint: Path) -> None:
    again = train(tiny_config(tmp_path / "again"))
    other = train(tiny_config(tmp_path / "other", seed=1))
    h = [json.loads((p / CONFIG_FILE).read_text())["weights_sha256"] for p in (tiny_checkpoint, again, other)]
    assert h[0] == h[1] != h[2]


def test_a_finished_checkpoint_is_replaced_only_with_overwrite(tmp_path: Path, tiny_checkpoint: Path) -> None:
    out = tmp_path / "c"
    shutil.copytree(tiny_checkpoint, out)
    before = (out / WEIGHTS_FILE).read_bytes()
    with pytest.raises(ConfigError, match=r"^TrainConfig.out '.*c' already holds a checkpoint .*pass overwrite=True"):
        train(tiny_config(out, seed=1))
    assert (out / WEIGHTS_FILE).read_bytes() == before
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.png").write_bytes(b"x")
    with pytest.raises(ConfigError, match=r"holds files that are not part of a checkpoint \(cat.png\)"):
        train(tiny_config(tmp_path / "photos"), overwrite=True)
    assert [p.name for p in (tmp_path / "photos").iterdir()] == ["cat.png"]
    train(tiny_config(out, seed=1), overwrite=True)
    assert (out / WEIGHTS_FILE).read_bytes() != before
    # weights without config.json (written last) are a save cut short, not a checkpoint: replaced without overwrite
    (out / CONFIG_FILE).unlink()
    train(tiny_config(out, seed=2))
    assert json.loads((out / CONFIG_FILE).read_text())["train"]["seed"] == 2


def test_checkpoint_round_trip_and_model_id(tiny_checkpoint: Path) -> None:
    model, meta = load_checkpoint(tiny_checkpoint)
    assert weights_hash(model.state_dict()) == meta["weights_sha256"]
    assert meta["model_id"] == model_id_of(meta["weights_sha256"]) == "local-" + meta["weights_sha256"][:12]
    assert TrainConfig.from_dict(meta["train"]) == tiny_config(tiny_checkpoint)
    assert (tiny_checkpoint / WEIGHTS_FILE).read_bytes()[:8] != b"\x80\x04\x95"  # not a pickle
    assert set(meta["metrics"]["val"]) == {"colour", "position", "size"}


def test_tampered_or_missing_checkpoints_are_refused(tmp_path: Path, tiny_checkpoint: Path) -> None:
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(tiny_checkpoint, bad)
    meta = json.loads((bad / CONFIG_FILE).read_text())
    meta["weights_sha256"] = "0" * 64
    (bad / CONFIG_FILE).write_text(json.dumps(meta))
    with pytest.raises(ConfigError, match="hash to"):
        load_checkpoint(bad)
    with pytest.raises(ConfigError, match=r"config\.json is missing"):
        load_checkpoint(tmp_path / "nowhere")
    (bad / CONFIG_FILE).write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_checkpoint(bad)
    (bad / CONFIG_FILE).write_text(json.dumps({"format": "other"}))
    with pytest.raises(ConfigError, match="is not a specprompt-band-vlm"):
        load_checkpoint(bad)
    shutil.copy(tiny_checkpoint / CONFIG_FILE, bad / CONFIG_FILE)
    (bad / WEIGHTS_FILE).write_bytes(b"garbage")
    with pytest.raises(ConfigError, match="cannot read weights"):
        load_checkpoint(bad)


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("steps", 0, "steps must be an int >= 1"),
        ("n_way", 1, "n_way must be an int >= 2"),
        ("device", "tpu", "device must be"),
        ("minutes", -1, "minutes must be"),
        ("tile_dropout", 1.5, "tile_dropout must be"),
        ("families", "colour", "sequence of family names"),
        ("families", (), "at least one family"),
        ("held_out", ("colour",), "both trained on and held out"),
        ("n_way", 8, "fewer than n_way"),
        ("out", "", "out must be"),
        ("lr", 0.0, "lr must be > 0"),
        ("threads", 0, "threads must be"),
    ],
)
def test_train_config_validation(field: str, value: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        tiny_config(Path("x"), **{field: value})


def test_train_config_rejects_unknown_names_and_keys() -> None:
    with pytest.raises(UnknownNameError, match=r"unknown task family 'nope'; known: .*texture, photo-scene"):
        tiny_config(Path("x"), families=("nope",))  # photo families are names too
    with pytest.raises(UnknownNameError, match=r"held-out task family \(procedural\) 'photo-scene'"):
        tiny_config(Path("x"), held_out=("photo-scene",))
    with pytest.raises(ConfigError, match="unknown option"):
        TrainConfig.from_dict({"stepz": 3})
    with pytest.raises(ConfigError, match="expects a TrainConfig"):
        train({"steps": 3})  # type: ignore[arg-type]


def test_cuda_without_cuda_is_a_config_error(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ConfigError, match="no CUDA"):
        train(tiny_config(tmp_path / "c", device="cuda"))


def test_minutes_cap_stops_early(tmp_path: Path) -> None:
    meta = json.loads((train(tiny_config(tmp_path / "c", steps=500, minutes=1e-6)) / CONFIG_FILE).read_text())
    assert meta["metrics"]["stop_reason"] == "minutes" and meta["metrics"]["steps_done"] < 500


def _shm_blocks() -> set[str]:
    shm = Path("/dev/shm")
    return {p.name for p in shm.glob("psm_*")} if shm.is_dir() else set()


def test_workers_draw_the_same_run_for_any_count_and_transport(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from specprompt.training import _draws

    before = _shm_blocks()
    cfg = {"steps": 6, "families": ("photo-mark", "colour"), "held_out": ()}
    fine = {**TINY_MODEL.to_dict(), "canvas": 128}
    one = train(tiny_config(tmp_path / "one", workers=1, model=fine, **cfg))
    two = train(tiny_config(tmp_path / "two", workers=2, model=fine, **cfg))
    loop = train(tiny_config(tmp_path / "loop", model=fine, **cfg))
    monkeypatch.setattr(_draws, "_shm_room", lambda: 0)  # no room in /dev/shm: pixels go through the pipe
    pipe = train(tiny_config(tmp_path / "pipe", workers=2, model=fine, **cfg))
    h = [json.loads((p / CONFIG_FILE).read_text())["weights_sha256"] for p in (one, two, pipe, loop)]
    assert h[0] == h[1] == h[2] != h[3]  # per-step seeds: one run for every pool size, another than the loop's
    assert json.loads((two / CONFIG_FILE).read_text())["train"]["workers"] == 2
    assert _shm_blocks() <= before  # every block was freed


def test_draw_workers_leave_ctrl_c_to_the_training_process(tmp_path: Path) -> None:
    import signal

    from specprompt.training._draws import Draws

    draws = Draws(tiny_config(tmp_path / "c", workers=1, steps=2))
    try:
        assert draws.pool is not None
        # a Ctrl-C reaches every process of the terminal's group: the workers ignore it, print no traceback
        assert draws.pool.submit(signal.getsignal, signal.SIGINT).result(timeout=60) == signal.SIG_IGN
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the training process handles it
    finally:
        draws.close()


def test_a_run_stopped_early_frees_the_draws_never_taken(tmp_path: Path) -> None:
    before = _shm_blocks()
    out = train(tiny_config(tmp_path / "c", workers=2, steps=50, minutes=1e-9))
    assert json.loads((out / CONFIG_FILE).read_text())["metrics"]["stop_reason"] == "minutes"
    assert _shm_blocks() <= before


@pytest.mark.parametrize("bad", [-1, 1.5, True, "2"])
def test_workers_is_validated(tmp_path: Path, bad: object) -> None:
    with pytest.raises(ConfigError, match="workers"):
        tiny_config(tmp_path / "c", workers=bad)


def test_training_on_photo_families_needs_neither_dspy_nor_optuna(tmp_path: Path) -> None:
    """A GPU machine that trains the model has the array stack only: training must not import dspy."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from specprompt.training import TrainConfig, train\n"
        "from tests.conftest import tiny_config\n"
        f"train(tiny_config({str(tmp_path / 'c')!r}, families=('photo-mark', 'colour'), model={{**tiny_config"
        f"({str(tmp_path / 'c')!r}).model.to_dict(), 'canvas': 128}}, held_out=()))\n"
        "print(sorted(m for m in ('dspy', 'optuna', 'openai', 'litellm') if m in sys.modules))\n"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"
