"""benchmarks/bench_vlm.py --real-photos: the finetuned judge of --finetune-steps, pixel-judge columns."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _bench() -> ModuleType:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location("bench_vlm", ROOT / "benchmarks" / "bench_vlm.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_finetuned_judge_answers_under_its_adapter_id(tmp_path: Path) -> None:
    pytest.importorskip("peft")
    bench = _bench()
    args = argparse.Namespace(finetune_steps=2, finetune_per_label=2, finetune_seed=7)
    lm, metrics = bench.finetuned_judge("band-vlm-v1", "photo-tint", args, tmp_path)
    assert metrics["steps"] == 2 and metrics["images"] == 2 * 4  # photo-tint has 4 labels
    adapter = tmp_path / "photo-tint-band-vlm-v1"
    assert (adapter / "adapter.json").is_file()
    assert lm.model.startswith("specprompt/local-") and "+" in lm.model


@pytest.fixture
def dspy_settings() -> Iterator[None]:
    """dspy's global settings as they were: the script configures them for its own process."""
    import dspy

    saved = dict(dspy.settings.config)
    yield
    dspy.configure(**saved)


@pytest.mark.usefixtures("dspy_settings")
def test_a_pixel_judge_column_is_compared_with_the_other_judges_only(capsys: pytest.CaptureFixture[str]) -> None:
    bench = _bench()
    rc = bench.main(
        [
            "--real-photos",
            "--locals",
            "pixel:lbp-dct",
            "--judges",
            "hist-hog,lbp-dct",
            "--tasks",
            "photo-tint",
            "--n-probes",
            "4",
            "--n-examples",
            "4",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0
    assert "photo-tint / hist-hog / pixel:lbp-dct: spearman" in out
    assert "photo-tint / lbp-dct / pixel:lbp-dct" not in out  # a judge against itself is not measured
    assert "| photo-tint | lbp-dct | - |" in out
    assert ": pixel:lbp-dct: Spearman >= 0.7 on every task and pixel judge (the other one)" in out
