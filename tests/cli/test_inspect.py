"""``specprompt inspect``: the table and JSON of a compiled program, from the JSON alone."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sys
from pathlib import Path

import dspy
import numpy as np
import pytest

from specprompt import Selection, decompose
from specprompt.cli import main
from specprompt.cli._inspect import default_cost_model, inspect_program
from specprompt.cost import image_tokens, selection_tokens
from specprompt.types import SpectralImage


def test_inspect_table_uses_the_run_cost_model(compiled_out: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(compiled_out / "program.json")]) == 0
    out = capsys.readouterr().out
    assert "predictor self: 3 demo(s), 3 image slot(s)" in out
    assert "kept bands" in out and "gpt-4.1-mini" in out and "laplacian" in out
    pareto = json.loads((compiled_out / "pareto.json").read_text())
    # the search's count under its cost model first, the local model's after it
    assert re.search(
        rf"total image tokens per prompt: {pareto['best']['tokens']} openai:gpt-4.1-mini \(\d+ local\)$", out
    )


def test_inspect_json_matches_the_search(compiled_out: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(compiled_out / "program.json"), "--json", "--cost-model", "anthropic"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["cost_model"] == "anthropic"
    pareto = json.loads((compiled_out / "pareto.json").read_text())
    selections = pareto["best"]["selections"]
    for img in data["images"]:
        sel = selections[img["slot"]]
        assert img["source_hash"].startswith(sel["source"])
        if img["kind"] == "dropped":
            assert sel["bands"] == [] and img["model_tokens"] == 0
            continue
        assert img["kind"] == "spectral" and img["scheme"] == "laplacian"
        assert img["kept"] == sel["bands"] or (img["kept"] is None and sel["bands"] is None)
        w, h = img["sent_size"]
        assert img["model_tokens"] == image_tokens("anthropic", w, h)
        assert set(img["kept"] or img["bands"]) <= set(img["bands"])
    assert data["model_tokens"] == sum(i["model_tokens"] for i in data["images"])


def test_inspect_with_program_runs_it(compiled_out: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prog = compiled_out.parent / "prog.py"
    assert main(["inspect", str(compiled_out / "program.json"), "--program", f"{prog}:make"]) == 0
    assert "predictor self" in capsys.readouterr().out
    assert main(["inspect", str(compiled_out / "program.json"), "--program", f"{prog}:Pipeline"]) == 2
    assert "does not fit the program" in capsys.readouterr().err


def test_inspect_reads_json_without_running_code(
    compiled_out: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No module of the user's is imported, even with a program file lying next to the JSON."""
    (tmp_path / "program.json").write_bytes((compiled_out / "program.json").read_bytes())
    (tmp_path / "prog.py").write_text("raise SystemExit('user code ran')\n")
    before = set(sys.modules)
    images = inspect_program(tmp_path / "program.json")
    assert not [m for m in set(sys.modules) - before if m.startswith("specprompt_user")]
    assert images.cost_model is None and len(images.rows) == 3  # no pareto.json here: local only


def test_inspect_dropped_plain_and_list_images(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(0)
    spec = decompose(rng.random((40, 48, 3), dtype=np.float32))
    kept = SpectralImage.from_spectrum(spec, Selection.of(["residual", "L1"]), detail="low")
    plain = dspy.Image(SpectralImage.from_spectrum(spec).to_pil())
    p = dspy.Predict("images: list[dspy.Image], image: dspy.Image -> label")
    p.demos = [
        dspy.Example(images=[kept, plain], image=None, label="a"),
        dspy.Example(images=[], image=kept, label="b"),
    ]
    p.save(str(tmp_path / "p.json"))
    assert main(["inspect", str(tmp_path / "p.json"), "--cost-model", "openai:gpt-4o"]) == 0
    out = capsys.readouterr().out
    assert "images[0]" in out and "images[1]" in out and "plain image" in out and "dropped" in out
    assert "residual, L1 (2 of 3)" in out  # coarsest band first
    images = inspect_program(tmp_path / "p.json", cost_model="openai:gpt-4o")
    kinds = [(r.slot, r.kind) for r in images.rows]
    assert kinds == [
        ("self/demo0/images[0]", "spectral"),
        ("self/demo0/images[1]", "image"),
        ("self/demo0/image", "dropped"),
        ("self/demo1/image", "spectral"),
    ]
    assert images.rows[0].model_tokens == 85 and images.rows[0].detail == "low"  # detail=low is priced as such
    assert images.rows[0].local_tokens == selection_tokens(spec, Selection.of(["residual", "L1"]), "local") == 28


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (None, "missing.json", "no such program file"),
        ("{not json", "p.json", "is not JSON"),
        ('{"metadata": {}}', "p.json", "not a DSPy program state: no predictor"),
        ("[1, 2]", "p.json", "expected a JSON object"),
        ('{"demos": [3], "signature": {}}', "p.json", "demo 0 of predictor 'self' is not a JSON object"),
        ("{}", "p.pkl", "is not a .json file"),
    ],
)
def test_inspect_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, name: str, message: str
) -> None:
    if content is not None:
        (tmp_path / name).write_text(content)
    assert main(["inspect", str(tmp_path / name)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("specprompt inspect: error:") and message in err


def test_default_cost_model(tmp_path: Path) -> None:
    assert default_cost_model(tmp_path / "program.json") is None
    (tmp_path / "pareto.json").write_text("not json")
    assert default_cost_model(tmp_path / "program.json") is None
    (tmp_path / "pareto.json").write_text('{"config": {"cost_model": "anthropic"}}')
    assert default_cost_model(tmp_path / "program.json") == "anthropic"


def test_a_pareto_json_of_another_run_is_not_used(
    compiled_out: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = json.loads((compiled_out / "pareto.json").read_text())
    program = (compiled_out / "program.json").read_bytes()
    assert data["program_sha256"] == hashlib.sha256(program).hexdigest()
    assert default_cost_model(compiled_out / "program.json") == "openai:gpt-4.1-mini"
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "pareto.json").write_text(json.dumps(data))
    (mixed / "program.json").write_bytes(program.replace(b'"demos"', b' "demos"', 1))  # another run's program
    with caplog.at_level(logging.WARNING, "specprompt.cli.inspect"):
        assert default_cost_model(mixed / "program.json") is None
    assert "describes another program than" in caplog.text and "pass --cost-model" in caplog.text
    (mixed / "pareto.json").write_text('{"config": ')  # torn
    with caplog.at_level(logging.WARNING, "specprompt.cli.inspect"):
        assert default_cost_model(mixed / "program.json") is None
    assert "cannot be read" in caplog.text


def test_inspect_refuses_a_program_whose_fields_do_not_fit(
    compiled_out: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other.py"
    other.write_text(
        "import dspy\n"
        "same_name = dspy.Predict('image: dspy.Image, question -> answer')\n"
        "chain = dspy.ChainOfThought('image: dspy.Image -> label')\n"
    )
    saved = str(compiled_out / "program.json")
    assert main(["inspect", saved, "--program", f"{other}:same_name"]) == 2  # DSPy itself would load it
    err = capsys.readouterr().err
    assert (
        "does not fit the program: predictor 'self' was saved with fields ['image', 'label'], the program's has " in err
    )
    assert main(["inspect", saved, "--program", f"{other}:chain"]) == 2
    assert "it holds predictor(s) ['self'], the program has ['predict']" in capsys.readouterr().err
