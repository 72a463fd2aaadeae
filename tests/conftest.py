"""Shared fixtures: a tiny band-VLM checkpoint trained for a few steps (vlm, training and scorer tests),
the test PostgreSQL database with its skip reason (search, CLI and benchmark tests), a loader of
the benchmark scripts (their tests call the scripts' functions), and an ICC profile of another colour
space than sRGB (image input and dataset tests)."""

from __future__ import annotations

import importlib.util
import struct
import sys
from pathlib import Path
from types import ModuleType

import pytest

from specprompt.training import TrainConfig
from specprompt.vlm import ModelConfig

#: Display P3's primaries adapted to D50 (the XYZ of R, G and B), as a phone photo's profile holds them.
_P3_COLORANTS = {
    b"rXYZ": (0.5151, 0.2412, -0.0011),
    b"gXYZ": (0.2919, 0.6922, 0.0419),
    b"bXYZ": (0.1572, 0.0666, 0.7841),
}


def display_p3_profile() -> bytes:
    """An ICC profile with Display P3's primaries: ImageCms's sRGB profile with its colorant tags replaced.

    Its name still says sRGB (``"sRGB built-in"``), so only a look at its colours tells it from sRGB;
    a skin tone (200, 150, 120) stored under it is about (209, 147, 115) in sRGB.
    """
    from PIL import ImageCms

    data = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    data[84:100] = bytes(16)  # the profile ID (an MD5 of the contents) no longer holds
    (count,) = struct.unpack_from(">I", data, 128)
    for i in range(count):
        sig, offset, _ = struct.unpack_from(">4sII", data, 132 + 12 * i)
        if sig in _P3_COLORANTS:  # an XYZType tag: 'XYZ ', 4 reserved bytes, then three s15Fixed16 numbers
            struct.pack_into(">3i", data, offset + 8, *(round(v * 65536) for v in _P3_COLORANTS[sig]))
    return bytes(data)


def load_script(path: Path) -> ModuleType:
    """The script at ``path`` imported as the module of its file name (its ``main`` is not run);
    its folder goes on ``sys.path`` first, as running it would put it, for the helpers it imports."""
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module  # dataclasses look the module up while the class is built
    spec.loader.exec_module(module)
    return module


#: The PostgreSQL database of the storage tests (trust auth on this machine and in CI).
PG_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"


def postgres_unreachable() -> str | None:
    """Why the PostgreSQL of :data:`PG_URL` cannot be used (a skip reason), or ``None`` when it can."""
    try:
        import psycopg2
    except ImportError:
        return "psycopg2 is not installed"
    try:
        psycopg2.connect("postgresql://postgres@127.0.0.1:5432/test", connect_timeout=3).close()
    except psycopg2.OperationalError as exc:
        return f"PostgreSQL at 127.0.0.1:5432/test is unreachable: {exc}".strip()
    return None


TINY_MODEL = ModelConfig(dim=16, depth=1, heads=2, readout_tokens=2, slices=8, slice_dim=4, text_dim=4)


def tiny_config(path: Path, **overrides: object) -> TrainConfig:
    """A training config that runs in about a second."""
    base: dict[str, object] = {
        "out": str(path),
        "seed": 0,
        "steps": 4,
        "device": "cpu",
        "threads": 1,
        "n_way": 2,
        "k_shot": 1,
        "episodes_per_step": 2,
        "families": ("colour", "position"),
        "held_out": ("size",),
        "eval_every": 0,
        "eval_episodes": 1,
        "log_every": 2,
        "model": TINY_MODEL,
    }
    base.update(overrides)
    return TrainConfig(**base)  # type: ignore[arg-type]


def tiny_train_file(path: Path, steps: int) -> Path:
    """``path``, written as the JSON of ``specprompt train --config`` for a run of about a second."""
    import json

    path.write_text(
        json.dumps(
            {
                "steps": steps,
                "n_way": 2,
                "k_shot": 1,
                "episodes_per_step": 1,
                "families": ["colour"],
                "held_out": [],
                "eval_episodes": 1,
                "threads": 1,
                "model": TINY_MODEL.to_dict(),
            }
        )
    )
    return path


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from specprompt.training import train

    return train(tiny_config(tmp_path_factory.mktemp("vlm") / "ckpt"))


@pytest.fixture(scope="module")
def untrained_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded, untrained band VLM of a few thousand weights, saved as a checkpoint (one per test module)."""
    import torch

    from specprompt.vlm import BandVLM
    from specprompt.vlm._checkpoint import save_checkpoint

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = BandVLM(ModelConfig(dim=16, depth=1, heads=2, slices=2, slice_dim=8, readout_tokens=2))
    return save_checkpoint(model, tmp_path_factory.mktemp("ckpt") / "tiny")
