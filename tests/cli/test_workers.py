"""``specprompt compile --workers N``: refused without a shared storage; two processes on PostgreSQL."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from pathlib import Path

import optuna
import pytest

from specprompt.cli import main

from ..conftest import PG_URL, postgres_unreachable
from .test_compile import compile_args


@pytest.mark.parametrize(
    ("extra", "flag"),
    [
        (("--workers", "2"), "--workers 2"),
        (("--search-only",), "--search-only"),
        (("--worker-index", "3"), "--worker-index 3"),
        (("--workers", "3", "--storage", "sqlite:///x.db"), "--workers 3"),
        (("--workers", "2", "--storage", "study.log"), "--workers 2"),
    ],
)
def test_workers_need_a_shared_storage(
    program_file: Path,
    tiny_data: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: tuple[str, ...],
    flag: str,
) -> None:
    assert main(compile_args(program_file, tiny_data, tmp_path / "out", *extra)) == 2
    err = capsys.readouterr().err
    assert f"specprompt compile: error: {flag} needs --storage" in err
    assert "postgresql+psycopg2://" in err and "SQLite does not take concurrent writers" in err
    if "study.log" in extra:
        assert "got --storage study.log (a journal file)" in err and "a journal file has no tables" in err
    assert not (tmp_path / "out" / "program.json").exists()


def test_two_workers_on_postgresql(
    program_file: Path, tiny_data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reason = postgres_unreachable()
    if reason is not None:
        pytest.skip(reason)
    from specprompt.search._claims import Claims

    name = f"test-cli-workers-{uuid.uuid4().hex}"
    out = tmp_path / "out"
    args = compile_args(program_file, tiny_data, out, "--storage", PG_URL, "--study-name", name, "--workers", "2")
    try:
        assert main(args) == 0
        printed = capsys.readouterr().out
        assert "workers: 2 on this machine (indices 0-1)" in printed and "chosen: trial" in printed
        assert json.loads((out / "pareto.json").read_text())["n_trials"] == 5
        study = optuna.load_study(study_name=name, storage=PG_URL)
        finished = study.get_trials(
            deepcopy=False, states=(optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
        )
        assert len(finished) == 5
        scored = Counter(
            t.user_attrs["key"] for t in finished if t.user_attrs.get("feasible") and "reused_from" not in t.user_attrs
        )
        assert max(scored.values()) == 1
    finally:
        Claims(PG_URL, name).clear()
        try:
            optuna.delete_study(study_name=name, storage=PG_URL)
        except KeyError:
            pass
