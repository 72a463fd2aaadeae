"""The checkpoint shipped inside the package."""

from __future__ import annotations

import json

import numpy as np

from specprompt.vlm import DEFAULT_CHECKPOINT, LocalVLM
from specprompt.vlm._checkpoint import CONFIG_FILE, MAX_CHECKPOINT_BYTES, WEIGHTS_FILE


def test_shipped_checkpoint_is_small_safetensors_with_a_recorded_recipe() -> None:
    weights = DEFAULT_CHECKPOINT / WEIGHTS_FILE
    assert weights.stat().st_size <= MAX_CHECKPOINT_BYTES
    header_len = int.from_bytes(weights.read_bytes()[:8], "little")  # safetensors: u64 header size, then JSON
    assert json.loads(weights.read_bytes()[8 : 8 + header_len])["__metadata__"]["format"] == "specprompt-band-vlm"
    meta = json.loads((DEFAULT_CHECKPOINT / CONFIG_FILE).read_text())
    assert {"seed", "steps", "families", "held_out"} <= set(meta["train"])
    assert meta["metrics"]["steps_done"] >= 1


def test_shipped_checkpoint_loads_and_tells_colours_apart() -> None:
    vlm = LocalVLM.load()
    assert vlm.model_id.startswith("local-") and len(vlm.model_id) == 18
    rng = np.random.default_rng(0)
    demos, colours = [], {"red": (0.9, 0.1, 0.1), "green": (0.1, 0.8, 0.2), "blue": (0.1, 0.2, 0.95)}
    for name, rgb in colours.items():
        for _ in range(2):
            img = np.full((64, 64, 3), 0.15, np.float32)
            y, x = rng.integers(8, 40, 2)
            img[y : y + 16, x : x + 16] = rgb
            demos.append((img, name))
    query = np.full((64, 64, 3), 0.15, np.float32)
    query[30:50, 10:30] = colours["green"]
    assert vlm.answer(demos, query, "What colour is the object?").answer == "green"
