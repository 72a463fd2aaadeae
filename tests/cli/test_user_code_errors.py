"""The user's own files failing: one error naming the file and the exception, the user's frames only.

A program or metric file that does not parse, imports a missing module, raises at import or calls
``sys.exit``, and a factory that raises, end ``specprompt compile`` with exit code 2 and a
``specprompt compile: error: ...`` line; what is printed above it holds no frame of specprompt.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dspy
import pytest

from specprompt import ConfigError
from specprompt.cli import main
from specprompt.cli._user_code import UserCodeError, load_metric, load_program_ref

BROKEN = {
    "syntax.py": 'import dspy\nprogram = dspy.Predict("image: dspy.Image -> label"\n',
    "missing.py": "import not_a_real_module_xyz\n",
    "raises.py": 'def helper():\n    raise ValueError("user module failed")\n\n\nhelper()\n',
    "exits.py": "import sys\nsys.exit(3)\n",
}
#: what the error line says for each file of BROKEN, after "program file '<name>' "
SAID = {
    "syntax.py": "has a syntax error at line 2: '(' was never closed",
    "missing.py": "raised ModuleNotFoundError: No module named 'not_a_real_module_xyz' (is it installed",
    "raises.py": "raised ValueError: user module failed",
    "exits.py": "called sys.exit(3) while specprompt ran it; it must not exit",
}
#: the user's source line shown above the error line
SHOWN = {
    "syntax.py": 'program = dspy.Predict("image: dspy.Image -> label"',
    "missing.py": "import not_a_real_module_xyz",
    "raises.py": 'raise ValueError("user module failed")',
    "exits.py": "sys.exit(3)",
}

FACTORIES = """
import dspy


def factory_raises():
    raise RuntimeError("boom in factory")


def factory_exits():
    raise SystemExit("bye")


class NeedsArgs(dspy.Module):
    def __init__(self, x):
        super().__init__()


class InitRaises(dspy.Module):
    def __init__(self):
        super().__init__()
        raise TypeError("bad setting inside __init__")
"""

METRICS = """
def returns_nan(example, pred, trace=None):
    return float("nan")


class Score:
    score = float("nan")


def nan_score(example, pred, trace=None):
    return Score()


def returns_str(example, pred, trace=None):
    return "yes"


def returns_none(example, pred, trace=None):
    return None


def returns_inf(example, pred, trace=None):
    return float("-inf")


def returns_one(example, pred, trace=None):
    return 1.0


def takes_one(example):
    return 1.0


class Callable:
    def __call__(self, example, pred, trace=None):
        return 1.0


as_object = Callable()
"""


def _compile(program: str, data: dict[str, Path], out: Path, *extra: str) -> list[str]:
    args = ["compile", program, "--trainset", str(data["train_dir"]), "--valset", str(data["val_jsonl"])]
    args += ["--budget", "36", "--cost-model", "local", "--lm", "nearest", "--trials", "2", "--k-demos", "3"]
    return [*args, "--minibatch", "3", "--threads", "1", "--out", str(out), "--no-progress", *extra]


def _no_specprompt_frames(err: str) -> None:
    assert "specprompt/cli" not in err and "importlib" not in err and "site-packages" not in err, err


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_broken_program_file_is_one_error_naming_it(
    name: str, tiny_data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / name
    path.write_text(BROKEN[name])
    assert main(_compile(f"{path}:program", tiny_data, tmp_path / "o")) == 2
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"specprompt compile: error: program file '{path}' {SAID[name]}"), err
    above = err.strip().splitlines()[:-1]
    assert any(SHOWN[name] in line for line in above), err  # the user's line, as Python shows it
    _no_specprompt_frames(err)
    assert f"specprompt_user_{path.stem}" not in sys.modules  # a failed load leaves no half module


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_broken_metric_file_is_one_error_naming_it(
    name: str, program_file: Path, tiny_data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / f"metric_{name}"
    path.write_text(BROKEN[name])
    args = _compile(f"{program_file}:make", tiny_data, tmp_path / "o", "--metric", f"{path}:metric")
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"specprompt compile: error: metric file '{path}' {SAID[name]}" in err, err
    _no_specprompt_frames(err)


def test_the_users_frames_are_printed_without_specprompts(tmp_path: Path) -> None:
    path = tmp_path / "raises.py"
    path.write_text(BROKEN["raises.py"])
    with pytest.raises(UserCodeError) as exc:
        load_program_ref(f"{path}:program")
    assert isinstance(exc.value, ConfigError)
    trace = exc.value.user_traceback
    assert trace.startswith("Traceback (most recent call last, frames of raises.py only):\n")
    assert f'File "{path}", line 5, in <module>' in trace and f'File "{path}", line 2, in helper' in trace
    assert trace.count("File ") == 2


def test_sys_exit_in_a_program_file_does_not_end_the_process(tmp_path: Path) -> None:
    path = tmp_path / "exits.py"
    path.write_text(BROKEN["exits.py"])
    cmd = [sys.executable, "-m", "specprompt", "inspect", str(tmp_path / "p.json"), "--program", f"{path}:program"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert f"specprompt inspect: error: program file '{path}' called sys.exit(3)" in done.stderr


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("factory_raises", "program factory {path}:factory_raises raised RuntimeError: boom in factory"),
        ("factory_exits", "program factory {path}:factory_exits called sys.exit('bye')"),
        ("InitRaises", "program class {path}:InitRaises raised TypeError: bad setting inside __init__"),
        ("NeedsArgs", "'{path}:NeedsArgs' must be callable with no arguments; its signature is (x)"),
    ],
)
def test_a_factory_that_raises_is_one_error_naming_it(
    name: str, message: str, tiny_data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "factories.py"
    path.write_text(FACTORIES)
    assert main(_compile(f"{path}:{name}", tiny_data, tmp_path / "o")) == 2
    err = capsys.readouterr().err
    assert f"specprompt compile: error: {message.format(path=path)}" in err, err
    _no_specprompt_frames(err)


def _console(*args: str) -> subprocess.CompletedProcess[str]:
    """The console command: Optuna's log handler writes to the process's stderr (pytest's capture
    of an earlier test would hold it in process)."""
    cmd = [sys.executable, "-m", "specprompt", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def test_a_nan_metric_names_itself_and_prints_no_optuna_traceback(
    program_file: Path, tiny_data: dict[str, Path], tmp_path: Path
) -> None:
    metrics = tmp_path / "metrics.py"
    metrics.write_text(METRICS)
    ref = f"{metrics}:returns_nan"
    done = _console(*_compile(f"{program_file}:make", tiny_data, tmp_path / "o", "--metric", ref))
    assert done.returncode == 2, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"specprompt compile: error: --metric {ref} returned NaN for the example {{label="), last
    assert last.endswith("}; return a number (e.g. 0.0 for an example it cannot score)"), last
    assert "Traceback" not in done.stderr
    assert "Trial 0 failed with parameters" in done.stderr and "(specprompt -vv shows the traceback)" in done.stderr
    verbose = _console("-vv", *_compile(f"{program_file}:make", tiny_data, tmp_path / "v", "--metric", ref))
    assert verbose.returncode == 2 and "Traceback (most recent call last)" in verbose.stderr


def test_a_metric_that_cannot_take_example_and_pred_is_refused_before_any_call(
    program_file: Path, tiny_data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    metrics = tmp_path / "metrics.py"
    metrics.write_text(METRICS)
    ref = f"{metrics}:takes_one"
    assert main(_compile(f"{program_file}:make", tiny_data, tmp_path / "o", "--metric", ref)) == 2
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert last == (
        f"specprompt compile: error: --metric {ref}: metric must be callable as metric(example, pred, "
        "trace=None); takes_one takes (example)"
    ), err
    assert "failed and scores 0.0" not in err and not (tmp_path / "o" / "study.db").exists()  # no trial ran


def test_metric_wrapper_keeps_the_name_and_refuses_values_that_are_not_finite_numbers(tmp_path: Path) -> None:
    metrics = tmp_path / "metrics.py"
    metrics.write_text(METRICS)
    ex = dspy.Example(image=None, label="a").with_inputs("image")
    pred = dspy.Prediction(label="a")
    one = load_metric(f"{metrics}:returns_one")
    assert one.__qualname__ == "returns_one" and one(ex, pred) == 1.0 and one(ex, pred, trace=None) == 1.0
    obj = load_metric(f"{metrics}:as_object")
    assert obj.__qualname__ == "Callable" and obj(ex, pred) == 1.0  # the study name reads the qualname
    for name, got in (("returns_str", r"'yes' \(a str\)"), ("returns_none", r"None \(a NoneType\)")):
        match = rf"--metric .*:{name} returned {got} for the example \{{label='a'\}}; return a number"
        with pytest.raises(ConfigError, match=match):
            load_metric(f"{metrics}:{name}")(ex, pred)
    for name in ("returns_nan", "nan_score"):
        with pytest.raises(ConfigError, match=rf"--metric .*:{name} returned NaN"):
            load_metric(f"{metrics}:{name}")(ex, pred)
    with pytest.raises(ConfigError, match=r"--metric .*:returns_inf returned -inf for the example .*; return a finite"):
        load_metric(f"{metrics}:returns_inf")(ex, pred)


def test_the_optuna_filter_drops_only_the_traceback() -> None:
    import logging

    from specprompt.cli._args import _NoTraceback

    try:
        raise ValueError("x")
    except ValueError:
        record = logging.LogRecord("optuna", logging.WARNING, "f.py", 1, "Trial %d failed", (0,), sys.exc_info())
    assert _NoTraceback().filter(record) and record.exc_info is None
    assert record.getMessage() == "Trial 0 failed (specprompt -vv shows the traceback)"
    plain = logging.LogRecord("optuna", logging.WARNING, "f.py", 1, "Trial %d finished", (1,), None)
    assert _NoTraceback().filter(plain) and plain.getMessage() == "Trial 1 finished"
