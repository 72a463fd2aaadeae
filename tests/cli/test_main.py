"""The CLI entry point: specprompt warnings as one line, help of every subcommand."""

from __future__ import annotations

import io
import subprocess
import sys
import warnings
from pathlib import Path

from PIL import Image

from specprompt import SpecPromptWarning
from specprompt.cli._main import one_line_warnings


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
