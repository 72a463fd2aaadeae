"""``specprompt compile --storage``: RDB URLs and Optuna journal files, resumed; bad values named."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import optuna
import pytest

from specprompt import ConfigError
from specprompt.cli import main
from specprompt.search._journal import journal_file
from specprompt.search._study_record import StudyRecord

from .test_compile import compile_args

#: optuna-dashboard cuts an attribute's JSON after this many characters (MAX_ATTR_LENGTH in its serializer).
DASHBOARD_LIMIT = 1024


def _trials(journal: Path, name: str) -> dict[int, tuple[dict[str, int], list[float] | None]]:
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    study = optuna.load_study(study_name=name, storage=storage)
    return {t.number: (t.params, t.values) for t in study.trials}


def test_a_journal_file_holds_the_study_and_resumes(
    program_file: Path, tiny_data: dict[str, Path], tmp_path: Path
) -> None:
    journal = tmp_path / "runs" / "study.log"
    journal.parent.mkdir()
    out = tmp_path / "out"
    args = compile_args(program_file, tiny_data, out, "--storage", str(journal))
    assert main(args) == 0
    first = json.loads((out / "pareto.json").read_text())
    assert journal.is_file() and not (out / "study.db").exists()
    before = _trials(journal, first["study_name"])  # Optuna's own journal reader opens it
    assert len(before) == 5 and first["n_trials"] == 5 and first["scorer_calls"] > 0

    # the same command again: nothing is scored, nothing added
    assert main(args) == 0
    again = json.loads((out / "pareto.json").read_text())
    assert again["scorer_calls"] == 0 and again["best"] == first["best"] and again["n_trials"] == 5
    assert _trials(journal, first["study_name"]) == before

    # more trials: the earlier ones are kept, only the missing ones run
    more_args = [*args, "--trials", "7"]
    assert main(more_args) == 0
    more = json.loads((out / "pareto.json").read_text())
    after = _trials(journal, first["study_name"])
    assert more["n_trials"] == 7 and len(after) == 7
    assert {n: t for n, t in after.items() if n in before} == before


def _sqlite_file(path: Path) -> Path:
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE t (x)")
    return path


def test_bad_storage_values_are_named_before_the_search(
    program_file: Path, tiny_data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_file = str(tiny_data["val_jsonl"])  # JSON lines, but no Optuna records
    (tmp_path / "notes.log").write_text("some text\n")
    cases = [
        (str(tmp_path), "is a folder; give a journal file in it"),
        (str(tmp_path / "study.txt"), "is neither an RDB URL (scheme://..., e.g. sqlite:///study.db) nor an Optuna"),
        ("sqlite:/study.db", "is neither an RDB URL"),
        (str(tmp_path / "missing" / "study.log"), "of the journal file does not exist"),
        (str(_sqlite_file(tmp_path / "s.db")), f"is a SQLite database: give it as an RDB URL, sqlite:///{tmp_path}"),
        (str(tmp_path / "notes.log"), "is not an Optuna journal file (one JSON object per line)"),
        (data_file, "is not an Optuna journal file that Optuna can replay: a line has no 'op_code'"),
    ]
    for value, reason in cases:
        assert main(compile_args(program_file, tiny_data, tmp_path / "o", "--storage", value)) == 2
        err = capsys.readouterr().err
        assert f"--storage {value!r}" in err and reason in err, err
    assert tiny_data["val_jsonl"].read_text().count("\n") == 6  # the data file was only read


def test_a_read_only_journal_or_folder_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ro.log").write_text("")
    (tmp_path / "shut").mkdir()
    shut = {str(tmp_path / "ro.log"), str(tmp_path / "shut")}
    real = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: str(path) not in shut and real(path, mode))  # not root
    with pytest.raises(ConfigError, match=r"ro\.log'.*the journal file is read-only"):
        journal_file(str(tmp_path / "ro.log"))
    with pytest.raises(ConfigError, match=r"the folder '.*shut' of the journal file is read-only"):
        journal_file(str(tmp_path / "shut" / "new.log"))
    assert journal_file(str(tmp_path / "new.log")) == tmp_path / "new.log"  # a new file, made at the first write
    assert not (tmp_path / "new.log").exists()


def _copy_in_the_old_format(src: str, dst: str, name: str) -> None:
    """The study ``name`` of ``src`` written into ``dst`` as a version before the split kept it."""
    study = optuna.load_study(study_name=name, storage=src)
    rec = StudyRecord.read(study)
    assert rec is not None
    copy = optuna.create_study(storage=dst, study_name=name, directions=study.directions)
    for key, value in study.user_attrs.items():
        if not key.startswith("specprompt"):
            copy.set_user_attr(key, value)
    for key, value in rec.replace(format=1).to_attrs().items():
        copy.set_user_attr(key, value)
    copy.add_trials(study.trials)


def test_a_compile_writes_short_attributes_and_resumes_a_study_of_the_old_format(
    program_file: Path, tiny_data: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / ("a-long-folder-name-" * 8) / "out"  # run_dir is in the record
    assert main(compile_args(program_file, tiny_data, out, "--baselines", "full,uniform,text_only")) == 0
    first = json.loads((out / "pareto.json").read_text())
    new_url = f"sqlite:///{out / 'study.db'}"
    study = optuna.load_study(study_name=first["study_name"], storage=new_url)
    long = {k: len(json.dumps(v)) for k, v in study.user_attrs.items() if len(json.dumps(v)) > DASHBOARD_LIMIT}
    assert not long, long  # optuna-dashboard shows every study attribute whole
    rec = StudyRecord.read(study)
    assert rec is not None and rec.format == 2 and rec.config["run_dir"] == str(out) and rec.valset == 6
    assert rec.config["token_budget"] == 36 and len(rec.slots) == 3 and rec.scored_with is not None

    old_url = f"sqlite:///{tmp_path / 'old.db'}"
    _copy_in_the_old_format(new_url, old_url, first["study_name"])
    again_out = tmp_path / "again"
    assert (
        main(
            compile_args(
                program_file, tiny_data, again_out, "--storage", old_url, "--baselines", "full,uniform,text_only"
            )
        )
        == 0
    )
    again = json.loads((again_out / "pareto.json").read_text())
    assert again["study_name"] == first["study_name"] and again["scorer_calls"] == 0 and again["baseline_calls"] == 0
    assert again["best"] == first["best"] and again["n_trials"] == 5
    old = optuna.load_study(study_name=first["study_name"], storage=old_url)
    assert [k for k in old.user_attrs if k.startswith("specprompt")] == ["specprompt"]  # kept in its format
    assert StudyRecord.read(old) == rec.replace(format=1, strategy=None)  # that format has no strategy
