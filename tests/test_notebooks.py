"""notebooks/inspect_bands.ipynb runs headless (nbclient) on small settings, both ways it can start."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "inspect_bands.ipynb"


def _kernel_or_skip() -> None:
    pytest.importorskip("nbclient")
    pytest.importorskip("nbformat")
    try:
        from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
    except ImportError:  # pragma: no cover - jupyter_client comes with nbclient
        pytest.skip("jupyter_client is not installed")
    try:
        KernelSpecManager().get_kernel_spec("python3")
    except NoSuchKernel:
        pytest.skip("no 'python3' Jupyter kernel: run `python -m ipykernel install --user --name python3`")


def run_notebook(cwd: Path) -> list[Any]:
    import nbclient
    import nbformat

    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(cwd)}})
    client.execute()
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]


def text_of(outputs: list[Any]) -> str:
    parts = []
    for o in outputs:
        if o.get("output_type") == "stream":
            parts.append(o["text"])
        elif "data" in o:
            parts.append(str(o["data"].get("text/plain", "")))
    return "\n".join(parts)


def test_notebook_compiles_then_inspects(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _kernel_or_skip()
    out = tmp_path / "run"
    monkeypatch.delenv("SPECPROMPT_PROGRAM", raising=False)
    monkeypatch.setenv("SPECPROMPT_NB_OUT", str(out))
    monkeypatch.setenv("SPECPROMPT_NB_TRIALS", "6")
    monkeypatch.setenv("SPECPROMPT_NB_SIZE", "64")
    outputs = run_notebook(tmp_path)
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = text_of(outputs)
    assert f"program: {out / 'program.json'}" in text and "cost model: openai:gpt-4.1-mini" in text
    assert "total image tokens per prompt" in text
    assert "  demo  label " in text  # demos are named by their label (top-left, ...), not only by slot
    assert "parameter importances" in text or "searched feasible trial(s): too few for importances" in text
    kinds = {k for o in outputs for k in o.get("data", {})}
    assert {"image/png", "image/svg+xml", "text/html"} <= kinds
    svgs = [str(o["data"]["image/svg+xml"]) for o in outputs if "image/svg+xml" in o.get("data", {})]
    assert any("chosen: trial" in s and "text_only" in s for s in svgs)  # the report's markers and labels
    html = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert any("<h2>Pareto front</h2>" in h for h in html)  # the CompileReport shown inline
    assert (out / "program.json").is_file() and (out / "study.db").is_file()
    pareto = json.loads((out / "pareto.json").read_text())
    assert pareto["n_trials"] == 6

    # the same notebook on that program via SPECPROMPT_PROGRAM: no compile, the same demos
    monkeypatch.setenv("SPECPROMPT_PROGRAM", str(out / "program.json"))
    monkeypatch.setenv("SPECPROMPT_NB_OUT", str(tmp_path / "unused"))
    again = text_of(run_notebook(tmp_path))
    assert not (tmp_path / "unused").exists()
    table = text.split("predictor self", 1)[1].split("total image tokens", 1)[0]
    assert table in again
