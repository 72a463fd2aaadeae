"""The CLI entry point: specprompt warnings as one line; help and option names of every subcommand."""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from PIL import Image

from specprompt import SpecPromptWarning
from specprompt.cli._main import build_parser, one_line_warnings


def test_specprompt_warnings_print_as_one_line() -> None:
    out, others = io.StringIO(), []
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = lambda message, *rest: others.append(str(message))
        previous = warnings.showwarning
        with one_line_warnings(out):
            warnings.warn("bands L0, L1 are\n  invisible", SpecPromptWarning, stacklevel=1)
            warnings.warn("not ours", UserWarning, stacklevel=1)  # handed to the previous showwarning
        assert warnings.showwarning is previous  # restored
    assert out.getvalue() == "specprompt: warning: bands L0, L1 are invisible\n"
    assert others == ["not ours"]


def test_the_console_command_prints_a_warning_as_one_line(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (32, 32), c) for c in ("red", "blue")]
    gif = tmp_path / "anim.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:])
    cmd = [sys.executable, "-m", "specprompt", "demo", "--image", str(gif), "--no-search", "--schemes", "laplacian"]
    done = subprocess.run([*cmd, "--out", str(tmp_path / "o")], capture_output=True, text=True, check=True)
    assert done.stderr == f"specprompt: warning: {gif} has 2 frames; only the first frame is used\n"


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def test_every_subcommand_has_a_description_and_shows_its_defaults() -> None:
    subs = _subparsers()
    assert set(subs) == {"demo", "compile", "calibrate", "inspect", "serve", "train", "finetune"}
    for name, p in subs.items():
        assert p.description, f"{name} has no description"
        for a in p._actions:
            if not a.option_strings or a.help == argparse.SUPPRESS or a.required or a.default in (None, False):
                continue
            if isinstance(a, argparse._HelpAction):
                continue
            assert "(default: " in (a.help or ""), f"{name} {a.option_strings[0]} does not show its default"


def test_option_names_agree_across_subcommands() -> None:
    subs = _subparsers()
    options = {
        name: {s for a in p._actions for s in a.option_strings if a.help != argparse.SUPPRESS}
        for name, p in subs.items()
    }
    assert "--trainset" in options["compile"] and "--trainset" in options["finetune"]
    assert "--threads" in options["compile"] and "--threads" in options["serve"] and "--threads" in options["train"]
    # --workers means worker processes: compile's and train's (serve's old --workers for threads is a hidden alias)
    assert sorted(name for name, opts in options.items() if "--workers" in opts) == ["compile", "train"]
    device = {
        name: next(a.default for a in subs[name]._actions if "--device" in a.option_strings)
        for name in ("train", "finetune")
    }
    assert device == {"train": "auto", "finetune": "auto"}


def test_old_option_names_still_work_with_a_one_line_warning() -> None:
    with pytest.warns(SpecPromptWarning, match="--workers is deprecated, use --threads"):
        args = build_parser().parse_args(["serve", "--workers", "2"])
    assert args.workers == 2
    with pytest.warns(SpecPromptWarning, match="--train is deprecated, use --trainset"):
        args = build_parser().parse_args(["finetune", "--train", "data/", "--out", "ad"])
    assert args.trainset == "data/"
    with pytest.raises(SystemExit), pytest.warns(SpecPromptWarning):  # the old and the new name together
        build_parser().parse_args(["finetune", "--train", "a", "--trainset", "b", "--out", "ad"])


def test_choices_of_search_options_are_the_configs() -> None:
    from specprompt.search._config import BASELINE_TRIMS, CALIBRATION_MODES, LOCAL_DEPARTURES, SCREEN_RULES

    options = {a.dest: a for a in _subparsers()["compile"]._actions}
    # the parser names them literally (it loads no search code): they must not drift apart
    assert tuple(options["trim_baselines"].choices) == BASELINE_TRIMS
    assert tuple(options["local_departures"].choices) == LOCAL_DEPARTURES
    assert tuple(options["calibration_mode"].choices) == CALIBRATION_MODES
    assert tuple(options["screen_rule"].choices) == SCREEN_RULES


def test_a_reader_that_leaves_early_gets_no_traceback(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "specprompt", "demo", "--no-search", "--schemes", "laplacian"]
    proc = subprocess.Popen([*command, "--out", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()  # as `specprompt demo | head -1` does
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=120) == 141, err
    assert "Traceback" not in err and "BrokenPipeError" not in err
