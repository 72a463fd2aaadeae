"""Output paths are checked before the work: what each check refuses, and how it names the path."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from specprompt import ConfigError
from specprompt._outputs import (
    check_output_folder,
    check_writable_dir,
    check_writable_file,
    folder_lock,
    remove_temporaries,
    write_atomic,
)


def _no_writes(*args: Any, **kwargs: Any) -> str:
    raise PermissionError(13, "Permission denied")


def _photos(folder: Path, n: int = 5) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new("RGB", (8, 8), (40 * i, 0, 0)).save(folder / f"photo{i}.png")
    return folder


def test_check_writable_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert check_writable_dir("--out", tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    assert not (tmp_path / "new").exists()  # checked, not created
    assert check_writable_dir("--out", tmp_path, ["afile"]) == tmp_path  # an existing file is overwritten
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]  # the write probe left nothing
    with pytest.raises(ConfigError, match=rf"^--out '{re.escape(str(afile))}' is a file, not a folder$"):
        check_writable_dir("--out", afile)
    with pytest.raises(ConfigError, match=rf"^--out '.*afile/sub': '{re.escape(str(afile))}' is a file, not a folder"):
        check_writable_dir("--out", afile / "sub")
    (tmp_path / "d" / "program.json").mkdir(parents=True)
    with pytest.raises(ConfigError, match=r"program.json' is a folder, but the command writes a file there"):
        check_writable_dir("--out", tmp_path / "d", ["pareto.json", "program.json"])
    monkeypatch.setattr(tempfile, "mkdtemp", _no_writes)
    with pytest.raises(ConfigError, match=r"^--out '.*x': cannot write into '.*' \(Permission denied\)$"):
        check_writable_dir("--out", tmp_path / "x")


def test_check_writable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert check_writable_file("--json", afile) == afile
    assert check_writable_file("--json", tmp_path / "new" / "c.json") == tmp_path / "new" / "c.json"
    with pytest.raises(ConfigError, match=r"^--json '.*' is a folder; give the path of a file$"):
        check_writable_file("--json", tmp_path)
    with pytest.raises(ConfigError, match=r"^--json '.*afile/x.json': '.*afile' is a file, not a folder$"):
        check_writable_file("--json", afile / "x.json")
    monkeypatch.setattr(tempfile, "mkdtemp", _no_writes)
    with pytest.raises(ConfigError, match="cannot write into"):
        check_writable_file("--json", tmp_path / "c.json")


def test_check_output_folder(tmp_path: Path) -> None:
    outputs = ("model.safetensors", "config.json")
    assert check_output_folder("--out", tmp_path / "new", outputs, what="checkpoint") == tmp_path / "new"
    (tmp_path / "empty").mkdir()
    check_output_folder("--out", tmp_path / "empty", outputs, what="checkpoint")
    _photos(tmp_path / "photos")
    (tmp_path / "photos" / "sub").mkdir()
    with pytest.raises(ConfigError) as exc:
        check_output_folder("--out", tmp_path / "photos", outputs, what="checkpoint")
    assert str(exc.value) == (
        f"--out '{tmp_path / 'photos'}' holds files that are not part of a checkpoint (photo0.png, photo1.png, "
        "photo2.png and 3 more); give an empty or new folder"
    )
    run = tmp_path / "run"
    run.mkdir()
    (run / "snap").write_text("x")
    check_output_folder("--out", run, outputs, what="checkpoint", resumable=("snap",))  # a killed run's
    (run / "config.json").write_text("{}")
    with pytest.raises(ConfigError, match=r"already holds a checkpoint \(config.json\); pass --overwrite to replace"):
        check_output_folder("--out", run, outputs, what="checkpoint", resumable=("snap",), overwrite_flag="--overwrite")
    library = r"^TrainConfig.out '.*' already .*; pass overwrite=True to replace it, or give another TrainConfig.out$"
    with pytest.raises(ConfigError, match=library):
        check_output_folder("TrainConfig.out", run, outputs, what="checkpoint", resumable=("snap",))
    check_output_folder("--out", run, outputs, what="checkpoint", resumable=("snap",), overwrite=True)
    with pytest.raises(ConfigError, match="holds files that are not part of a checkpoint \\(snap\\)"):
        check_output_folder("--out", run, outputs, what="checkpoint", overwrite=True)  # not resumable here


def test_finished_by_tells_a_finished_result_from_a_save_cut_short(tmp_path: Path) -> None:
    outputs = ("model.safetensors", "config.json")
    torn = tmp_path / "torn"
    torn.mkdir()
    (torn / "model.safetensors").write_bytes(b"weights")
    (torn / ".config.json.k3j2x.tmp").write_bytes(b"{")  # write_atomic's temporary of a killed save
    with pytest.raises(ConfigError, match=r"already holds a checkpoint \(model.safetensors\)"):
        check_output_folder("--out", torn, outputs, what="checkpoint")  # without finished_by: any output
    assert check_output_folder("--out", torn, outputs, what="checkpoint", finished_by="config.json") == torn
    (torn / "config.json").write_text("{}")
    with pytest.raises(ConfigError, match=r"already holds a checkpoint \(model.safetensors, config.json\)"):
        check_output_folder("--out", torn, outputs, what="checkpoint", finished_by="config.json")
    (torn / ".notes.txt.abc.tmp").write_text("x")  # a temporary of another file is not the command's
    with pytest.raises(ConfigError, match=r"not part of a checkpoint \(.notes.txt.abc.tmp\)"):
        check_output_folder("--out", torn, outputs, what="checkpoint", finished_by="config.json", overwrite=True)
    with pytest.raises(ConfigError, match=r"finished_by must be one of the outputs .*, got 'x.json'"):
        check_output_folder("--out", torn, outputs, what="checkpoint", finished_by="x.json")


def test_remove_temporaries_deletes_only_the_named_files_temporaries(tmp_path: Path) -> None:
    for name in (".a.json.x1.tmp", ".a.json.x2.tmp", ".b.json.x1.tmp", "a.json", ".a.json.tmp.keep"):
        (tmp_path / name).write_text("x")
    assert remove_temporaries(tmp_path, ["a.json"]) == [".a.json.x1.tmp", ".a.json.x2.tmp"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".a.json.tmp.keep", ".b.json.x1.tmp", "a.json"]
    assert remove_temporaries(tmp_path / "missing", ["a.json"]) == []


def test_write_atomic_replaces_whole_files_and_keeps_their_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "pareto.json"
    write_atomic(target, "old")
    target.chmod(0o600)
    assert write_atomic(target, b"new") == target and target.read_bytes() == b"new"
    assert target.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pareto.json"]

    def killed(*args: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, "torn")
    assert target.read_text() == "new"  # the earlier file, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pareto.json"]  # no temporary file left


def test_folder_lock_refuses_a_second_run_until_the_first_ends(tmp_path: Path) -> None:
    out = tmp_path / "new" / "out"
    with folder_lock("--out", out, "compile") as held:
        assert held == out and list(out.iterdir()) == []  # no lock file in the folder
        script = (
            f"from specprompt._outputs import folder_lock\nwith folder_lock('--out', {str(out)!r}, 'compile'): pass"
        )
        other = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
        assert other.returncode == 1
        assert f"ConfigError: --out '{out}' is in use by another compile run; wait" in other.stderr
        check_output_folder("--out", out, ("config.json",), what="checkpoint")  # the lock is not a user's file
    other = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert other.returncode == 0, other.stderr


def test_write_atomic_writes_through_a_symlink_with_the_umask_mode(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_text("{}")
    (tmp_path / "link.json").symlink_to(real)
    write_atomic(tmp_path / "link.json", "new")
    assert (tmp_path / "link.json").is_symlink() and real.read_text() == "new"
    old = os.umask(0o027)
    try:
        fresh = write_atomic(tmp_path / "fresh.json", "x")
    finally:
        os.umask(old)
    assert fresh.stat().st_mode & 0o777 == 0o640


def test_folder_lock_goes_on_unlocked_where_a_filesystem_has_no_locks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import errno
    import fcntl

    def no_locks(fd: int, op: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    with caplog.at_level(logging.WARNING, "specprompt"), folder_lock("--out", tmp_path / "o", "compile") as held:
        assert held == tmp_path / "o"
    assert "cannot be locked" in caplog.text and "No locks available" in caplog.text


def test_a_folder_the_lock_made_goes_again_when_the_run_left_it_empty(tmp_path: Path) -> None:
    with pytest.raises(ConfigError), folder_lock("--out", tmp_path / "new", "train"):
        raise ConfigError("too few images per label")  # a run that fails before writing anything
    assert not (tmp_path / "new").exists()
    with folder_lock("--out", tmp_path / "kept", "train") as out:
        (out / "config.json").write_text("{}")
    assert (tmp_path / "kept" / "config.json").is_file()
    (tmp_path / "mine").mkdir()
    with folder_lock("--out", tmp_path / "mine", "train"):
        pass
    assert (tmp_path / "mine").is_dir()  # the user's own empty folder stays
