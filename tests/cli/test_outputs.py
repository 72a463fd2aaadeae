"""Output paths are checked before any work: compile, calibrate, train and finetune exit 2 naming the flag."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from specprompt import ConfigError
from specprompt._outputs import folder_lock
from specprompt.cli import main
from specprompt.cli._same_run import check_same_run


def _no_writes(*args: Any, **kwargs: Any) -> str:
    raise PermissionError(13, "Permission denied")


def _must_not_run(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("the expensive step ran before the output path was checked")


# -- the commands --------------------------------------------------------------------------------------


def _compile_args(program_file: Path, data: dict[str, Path], out: Path) -> list[str]:
    return [
        "compile",
        f"{program_file}:program",
        "--trainset",
        str(data["train_dir"]),
        "--budget",
        "100",
        "--cost-model",
        "local",
        "--trials",
        "2",
        "--out",
        str(out),
        "--no-progress",
    ]


def _error(capsys: pytest.CaptureFixture[str], command: str) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"specprompt {command}: error: ") and "\n" not in err, err
    return err


@pytest.mark.parametrize(
    ("out", "message"),
    [
        ("afile", r"--out '.*afile' is a file, not a folder"),
        ("afile/sub", r"--out '.*afile/sub': '.*afile' is a file, not a folder"),
        ("run", r"--out '.*run': '.*run/program.json' is a folder, but the command writes a file there"),
        ("res", r"--out '.*res': '.*res/old.result.json' is a folder, but the command writes a file there"),
    ],
)
def test_compile_checks_out_before_loading_anything(
    program_file: Path,
    tiny_data: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    out: str,
    message: str,
) -> None:
    import specprompt.cli._user_code as user_code

    (tmp_path / "afile").write_text("x")
    (tmp_path / "run" / "program.json").mkdir(parents=True)
    (tmp_path / "res" / "old.result.json").mkdir(parents=True)  # a resumed study's result goes there
    monkeypatch.setattr(user_code, "load_program_ref", _must_not_run)
    assert main(_compile_args(program_file, tiny_data, tmp_path / out)) == 2
    assert re.search(message, _error(capsys, "compile"))
    assert not (tmp_path / "run" / "study.db").exists()


def test_compile_checks_the_study_file_only_for_the_default_storage(
    program_file: Path, tiny_data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "run" / "study.db").mkdir(parents=True)
    args = _compile_args(program_file, tiny_data, tmp_path / "run")
    assert main(args) == 2
    assert "study.db' is a folder" in _error(capsys, "compile")
    assert main([*args, "--storage", "memory", "--lm", "nearest"]) == 0  # study.db is not written
    assert (tmp_path / "run" / "program.json").is_file()


def test_a_second_compile_into_the_same_out_fails_at_once(
    program_file: Path,
    tiny_data: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import specprompt.cli._user_code as user_code

    monkeypatch.setattr(user_code, "load_program_ref", _must_not_run)
    with folder_lock("--out", tmp_path / "run", "compile"):  # the first compile, still running
        assert main(_compile_args(program_file, tiny_data, tmp_path / "run")) == 2
        assert sorted(p.name for p in (tmp_path / "run").iterdir()) == []
    said = _error(capsys, "compile")
    assert re.search(r"--out '.*run' is in use by another compile run; wait for it", said)


@pytest.mark.parametrize(
    ("json_path", "message"),
    [
        ("emptydir", r"--json '.*emptydir' is a folder; give the path of a file"),
        ("afile/x.json", r"--json '.*afile/x.json': '.*afile' is a file, not a folder"),
    ],
)
def test_calibrate_checks_json_before_any_probe_call(
    program_file: Path,
    tiny_data: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    json_path: str,
    message: str,
) -> None:
    import specprompt.search

    (tmp_path / "emptydir").mkdir()
    (tmp_path / "afile").write_text("x")
    monkeypatch.setattr(specprompt.search, "calibrate", _must_not_run)
    args = ["calibrate", f"{program_file}:program", "--trainset", str(tiny_data["train_dir"]), "--lm", "nearest"]
    assert main([*args, "--json", str(tmp_path / json_path)]) == 2
    assert re.search(message, _error(capsys, "calibrate"))


def test_train_checks_out_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import specprompt.training

    afile = tmp_path / "afile"
    afile.write_text("x")
    monkeypatch.setattr(specprompt.training, "train", _must_not_run)
    assert main(["train", "--device", "cpu", "--out", str(afile)]) == 2
    assert re.search(r"--out '.*afile' is a file, not a folder$", _error(capsys, "train"))
    conf = tmp_path / "c.json"
    conf.write_text(f'{{"out": "{afile / "ck"}"}}')
    assert main(["train", "--device", "cpu", "--config", str(conf)]) == 2
    assert re.search(r"--config '.*c.json' field 'out' '.*afile/ck': '.*afile' is a file", _error(capsys, "train"))


def test_finetune_checks_out_before_reading_the_images(
    tiny_data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import specprompt.cli._finetune as finetune_cli

    (tmp_path / "afile").write_text("x")
    monkeypatch.setattr(finetune_cli, "examples_from", _must_not_run)
    args = ["finetune", "--trainset", str(tiny_data["train_dir"]), "--out", str(tmp_path / "afile" / "sub")]
    assert main(args) == 2
    assert re.search(r"--out '.*afile/sub': '.*afile' is a file, not a folder$", _error(capsys, "finetune"))


def test_a_compile_with_other_settings_does_not_replace_another_runs_outputs(
    compiled_out: Path,
    tiny_data: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import specprompt.search as search

    prog = compiled_out.parent / "prog.py"
    out = tmp_path / "out"
    shutil.copytree(compiled_out, out)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    args = ["compile", f"{prog}:program", "--trainset", str(tiny_data["train_dir"]), "--valset"]
    args += [str(tiny_data["val_jsonl"]), "--budget", "30", "--cost-model", "openai:gpt-4.1-mini", "--trials", "3"]
    args += ["--k-demos", "3", "--minibatch", "3", "--threads", "2", "--out", str(out), "--no-progress"]
    with monkeypatch.context() as m:
        m.setattr(search.BandOptimizer, "compile", _must_not_run)
        assert main([*args, "--budget", "20"]) == 2  # the last --budget counts
        said = _error(capsys, "compile")
        assert f"--out '{out}' holds the outputs of another compile (token_budget 30 there, 20 here); " in said
        assert said.endswith("pass --overwrite to replace them, or give another --out")
        assert main([*args, "--metric", f"{prog}:nope"]) == 2  # refused before the search, whatever the reason
        capsys.readouterr()
        assert main([*args, "--no-sharpen"]) == 2  # another search space
        assert "another compile (sharpen True there, False here); " in _error(capsys, "compile")
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    (out / ".pareto.json.ab12cd34.tmp").write_text("torn")  # left by a compile killed while writing
    (out / ".program.k2j3.json").write_text("torn")
    same = [*args, "--trainset", str(tiny_data["train_dir"]) + "/"]  # one folder, spelled another way
    assert main(same) == 0  # the same command resumes its study and rewrites its files
    assert not list(out.glob(".*.tmp")) and not list(out.glob(".program.*"))
    capsys.readouterr()
    assert main([*args, "--budget", "20", "--overwrite"]) == 0
    assert json.loads((out / "pareto.json").read_text())["config"]["token_budget"] == 20


def test_check_same_run_refuses_what_it_cannot_read(tmp_path: Path) -> None:
    (tmp_path / "pareto.json").write_text('{"config": ')
    with pytest.raises(ConfigError, match=r"holds a pareto.json that cannot be read .*; pass --overwrite"):
        check_same_run(tmp_path, {}, {}, ())
    (tmp_path / "pareto.json").write_text("[]")
    with pytest.raises(ConfigError, match=r"holds a pareto.json that is not a compile's; pass --overwrite"):
        check_same_run(tmp_path, {}, {}, ())
    (tmp_path / "pareto.json").write_text('{"config": {"seed": 1, "scheme_options": {}}, "run": {"lm": "a"}}')
    check_same_run(tmp_path, {"seed": 1, "scheme_options": {}}, {"lm": "a"}, ("seed", "scheme_options"))
    with pytest.raises(ConfigError, match=r"\(seed 1 there, 2 here; lm 'a' there, 'b' here\)"):
        check_same_run(tmp_path, {"seed": 2}, {"lm": "b"}, ("seed",))


def test_a_report_html_of_the_users_is_refused_before_the_search(
    program_file: Path,
    tiny_data: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import specprompt.cli._user_code as user_code

    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "report.html").write_text("my notes")
    monkeypatch.setattr(user_code, "load_program_ref", _must_not_run)
    assert main(_compile_args(program_file, tiny_data, tmp_path / "run")) == 2
    said = _error(capsys, "compile")
    assert f"--out '{tmp_path / 'run' / 'report.html'}' holds a file that is not a specprompt report" in said
    assert (tmp_path / "run" / "report.html").read_text() == "my notes"


def test_a_demo_does_not_replace_a_compiles_outputs(
    compiled_out: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    shutil.copytree(compiled_out, out)
    before = (out / "program.json").read_bytes()
    assert main(["demo", "--out", str(out), "--quick", "--size", "64", "--trials", "2", "--schemes", "laplacian"]) == 2
    assert "holds the outputs of a compile, which a demo does not replace" in _error(capsys, "demo")
    assert (out / "program.json").read_bytes() == before
