"""benchmarks/_common.py and _json_out.py: --json-out files resume, refuse other runs, survive torn lines and
Ctrl-C; output paths are checked before any work."""

from __future__ import annotations

import dataclasses
import gzip
import importlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from specprompt.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
RESULTS = BENCH / "results" / "realphoto-b29c481-seeds5-9.jsonl.gz"
JOBS = [(task, "hist-hog", seed) for task in ("photo-tint", "photo-texture") for seed in range(3)]


def _common() -> ModuleType:
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    return importlib.import_module("_common")


@dataclass
class Result:
    task: str
    judge: str
    seed: int
    value: float


class Counting:
    """A fake ``run``: two results per job; counts the jobs it ran; raises KeyboardInterrupt at job ``stop``."""

    def __init__(self, stop: int | None = None) -> None:
        self.ran: list[tuple[str, str, int]] = []
        self.stop = stop

    def __call__(self, job: tuple[str, str, int]) -> list[Result]:
        if len(self.ran) == self.stop:
            raise KeyboardInterrupt
        self.ran.append(job)
        return [Result(*job, value=0.25), Result(*job, value=0.75)]


def _load(data: dict[str, Any]) -> Result:
    return Result(**data)


def _run_jobs(json_out: Any, run: Counting, jobs: list[tuple[str, str, int]] = JOBS) -> list[Result]:
    return list(_common().run_jobs(jobs, run, 1, json_out, time.perf_counter(), load=_load))


def _out(path: Path, overwrite: bool = False, **settings: Any) -> Any:
    return _common().JsonOut.of(str(path), "bench_fake.py", {"n_trials": 3, "workers": 1, **settings}, overwrite)


def _keys(results: list[Result]) -> list[tuple[str, str, int, float]]:
    return sorted((r.task, r.judge, r.seed, r.value) for r in results)


def test_a_rerun_resumes_a_stopped_run_and_runs_only_the_missing_groups(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common, js = _common(), tmp_path / "out" / "r.jsonl"  # its folder is created
    with pytest.raises(common.Stopped) as stop:
        _run_jobs(_out(js), Counting(stop=2))
    assert str(stop.value) == f"stopped: 2 of 6 groups kept in {js}; the same command resumes"
    assert common.stopped(common.Stopped("stopped: x")) == 130 and capsys.readouterr().err.endswith("stopped: x\n")
    assert len(common.read_json_lines(str(js))) == 4
    rerun = Counting()
    results = _run_jobs(_out(js, workers=2), rerun)  # --workers may change
    assert rerun.ran == JOBS[2:]  # the two finished groups were not run again
    assert _keys(results) == _keys([r for job in JOBS for r in Counting()(job)])
    err = capsys.readouterr().err
    assert f"{js}: reused 2 of 6 groups finished by an earlier run" in err and "6/6 groups" in err
    again = Counting()
    assert _keys(_run_jobs(_out(js), again)) == _keys(results) and again.ran == []
    assert len(common.read_json_lines(str(js))) == 12  # every result once
    first = json.loads(js.read_text(encoding="utf-8").splitlines()[0])["_run"]
    assert first["script"] == "bench_fake.py" and first["settings"] == {"n_trials": 3} and first["groups"] == 6


def test_a_group_given_twice_runs_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = Counting()
    results = _run_jobs(_out(tmp_path / "r.jsonl"), run, [JOBS[0], JOBS[1], JOBS[0]])
    assert run.ran == [JOBS[0], JOBS[1]] and len(results) == 4
    assert "given more than once, run once: photo-tint hist-hog 0" in capsys.readouterr().err


def test_an_unfinished_group_and_a_torn_last_line_are_run_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    js = tmp_path / "r.jsonl"
    _run_jobs(_out(js), Counting(), JOBS[:2])
    finished = js.read_text(encoding="utf-8")
    unfinished = json.dumps({"task": "photo-tint", "judge": "hist-hog", "seed": 2, "value": 0.25})
    js.write_text(finished + unfinished + "\n" + '{"task": "photo-tint", "ju', encoding="utf-8")
    rerun = Counting()
    results = _run_jobs(_out(js), rerun)
    assert rerun.ran == JOBS[2:]
    err = capsys.readouterr().err
    assert f"warning: {js}: line 9 is torn (a run stopped while writing it); dropped" in err
    assert "reused 2 of 6 groups finished by an earlier run; 1 results of an unfinished group dropped" in err
    assert js.read_text(encoding="utf-8").startswith(finished)  # the kept lines, byte for byte
    assert _keys([_load(d) for d in _common().read_json_lines(str(js))]) == _keys(results) and len(results) == 12


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"n_trials": 20}, "holds a run with other settings (n_trials 20 here, 3 there)"),
        ({"n_val": 24}, "(n_val 24 here, null there)"),
        ({"script": "bench_other.py"}, "(script bench_other.py here, bench_fake.py there)"),
        ({"commit": "0" * 40}, f"(commit {'0' * 40} here, "),
    ],
)
def test_a_file_of_another_run_is_refused_and_kept(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    js = tmp_path / "r.jsonl"
    _run_jobs(_out(js), Counting(), JOBS[:2])
    before = js.read_bytes()
    other = _out(js)
    if "script" in change or "commit" in change:
        other = dataclasses.replace(other, **change)
    else:
        other = dataclasses.replace(other, settings={**other.settings, **change})
    with pytest.raises(ConfigError, match="pass --overwrite to start it afresh, or give another --json-out") as err:
        other.saved()
    assert message in str(err.value)
    run = Counting()
    with pytest.raises(ConfigError):
        _run_jobs(other, run)
    assert run.ran == [] and js.read_bytes() == before


def test_overwrite_starts_a_file_of_another_run_afresh_and_resumes_one_of_this_run(tmp_path: Path) -> None:
    js = tmp_path / "r.jsonl"
    common = _common()
    with pytest.raises(common.Stopped):
        _run_jobs(_out(js), Counting(stop=2))
    same = Counting()  # the same command, --overwrite and all, run again after Ctrl-C: resumed
    assert len(_run_jobs(_out(js, overwrite=True), same)) == 12 and same.ran == JOBS[2:]
    run = Counting()
    results = _run_jobs(_out(js, overwrite=True, n_trials=20), run)
    assert run.ran == JOBS and len(results) == 12
    assert len(_common().read_json_lines(str(js))) == 12
    assert json.loads(js.read_text(encoding="utf-8").splitlines()[0])["_run"]["settings"] == {"n_trials": 20}


def test_old_files_are_read_as_before_but_not_resumed(tmp_path: Path) -> None:
    common = _common()
    with gzip.open(RESULTS, "rt", encoding="utf-8") as fh:
        lines = [json.loads(line) for line in fh if line.strip()]
    assert common.read_json_lines(str(RESULTS)) == lines and len(lines) > 100
    old = tmp_path / "old.jsonl"
    old.write_text("".join(json.dumps(x) + "\n" for x in lines[:3]), encoding="utf-8")
    with pytest.raises(ConfigError, match="holds results without the settings of their run"):
        _out(old).saved()
    assert _out(old, overwrite=True).saved() is None
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    assert _out(empty).saved() is None  # nothing to keep: a new run starts it


def test_a_torn_last_line_is_dropped_with_a_warning_and_a_bad_line_elsewhere_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    read = _common().read_json_lines
    torn = tmp_path / "torn.jsonl"
    torn.write_text('{"a": 1}\n\n{"a": 2}\n{"a": 3, "b', encoding="utf-8")
    assert read(str(torn)) == [{"a": 1}, {"a": 2}]
    assert f"warning: {torn}: line 4 is torn" in capsys.readouterr().err
    packed = tmp_path / "torn.jsonl.gz"
    packed.write_bytes(gzip.compress(torn.read_bytes()))
    assert read(str(packed)) == [{"a": 1}, {"a": 2}]
    middle = tmp_path / "middle.jsonl"
    middle.write_text('{"a": 1}\n{"a": 2, "b\n{"a": 3}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=f"^{re.escape(str(middle))}: line 2 is not JSON"):
        read(str(middle))
    ended = tmp_path / "ended.jsonl"  # a complete last line (newline and all) that is not JSON: not torn
    ended.write_text('{"a": 1}\n{"a": \n', encoding="utf-8")
    with pytest.raises(ValueError, match=f"^{re.escape(str(ended))}: line 2 is not JSON"):
        read(str(ended))
    notes = tmp_path / "notes.txt"  # not a --json-out file at all: refused, not emptied
    notes.write_text("my notes", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"is not a --json-out file: .*line 1 is not JSON.*pass --overwrite"):
        _out(notes).saved()
    plain = tmp_path / "plain.jsonl.gz"  # a name that says gzip, text inside
    plain.write_text('{"a": 1}\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="is not a --json-out file: "):
        _out(plain).saved()


def test_partial_note_says_when_a_file_holds_part_of_its_run(tmp_path: Path) -> None:
    common, js = _common(), tmp_path / "r.jsonl"
    with pytest.raises(common.Stopped):
        _run_jobs(_out(js), Counting(stop=2))
    assert common.partial_note(str(js)) == f"{js}: a partial run, 2 of 6 groups finished (its command resumes it)"
    _run_jobs(_out(js), Counting())
    assert common.partial_note(str(js)) is None and common.partial_note(str(RESULTS)) is None


STOPPABLE = """
import sys, time
from dataclasses import dataclass
sys.path.insert(0, {bench!r})
import _common

@dataclass
class Result:
    task: str
    judge: str
    seed: int

def run(job):
    time.sleep(0.1 if job[2] < 2 else 60)
    return [Result(*job)]

if __name__ == "__main__":
    out = _common.JsonOut.of(sys.argv[1], "stoppable.py", {{}})
    jobs = [("t", "j", seed) for seed in range(6)]
    try:
        _common.run_jobs(jobs, run, 2, out, time.perf_counter(), load=lambda d: Result(**d))
    except KeyboardInterrupt as exc:
        sys.exit(_common.stopped(exc))
"""


def test_ctrl_c_stops_the_workers_keeps_finished_groups_and_prints_one_line(tmp_path: Path) -> None:
    script, js = tmp_path / "stoppable.py", tmp_path / "r.jsonl"
    script.write_text(STOPPABLE.format(bench=str(BENCH)), encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, str(script), str(js)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, which Ctrl-C in a terminal signals as a whole
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not js.exists() or js.read_text(encoding="utf-8").count('"_done"') < 2):
        time.sleep(0.05)
    time.sleep(0.2)  # both workers are in their 60 s jobs now
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert err.splitlines()[-1] == f"stopped: 2 of 6 groups kept in {js}; the same command resumes"
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    with pytest.raises(ProcessLookupError):  # no worker left running its job
        for _ in range(50):
            os.killpg(proc.pid, 0)
            time.sleep(0.1)
    assert len(_common().read_json_lines(str(js))) == 2


def _square(job: int) -> list[int]:
    return [job * job]


def test_ctrl_c_in_a_pool_waits_for_the_group_being_kept_and_restores_the_handler() -> None:
    # Ctrl-C landing while a finished group is handed over (or inside concurrent.futures' waiting)
    # only sets a flag: the group is kept whole, then the pool stops and KeyboardInterrupt propagates
    kept: list[tuple[tuple[Any, ...], list[Any], str]] = []

    def progress(key: tuple[Any, ...], found: list[Any]) -> None:
        kept.append((key, found, "started"))
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)  # the signal is delivered now, on the main thread
        kept[-1] = (key, found, "whole")

    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        _common()._run_pool([(n, (n,)) for n in range(4)], _square, 2, progress)
    assert kept and all(state == "whole" for _, _, state in kept)
    assert [found for _, found, _ in kept] == [[key[0] ** 2] for key, _, _ in kept]
    assert signal.getsignal(signal.SIGINT) is before


def _script(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BENCH / name), *args], capture_output=True, text=True, timeout=120, check=False, cwd=ROOT
    )


@pytest.mark.parametrize(
    ("script", "flag", "args"),
    [
        ("bench_realphoto.py", "--markdown-out", ["--quick"]),
        ("bench_realphoto.py", "--json-out", ["--quick"]),
        ("bench_search_efficiency.py", "--json-out", ["--quick"]),
        ("bench_search_efficiency.py", "--markdown-out", ["--quick"]),
        ("bench_multifidelity.py", "--json-out", ["--quick"]),
        ("bench_optimizer.py", "--markdown-out", ["--quick"]),
        ("bench_spectral.py", "--markdown-out", ["--quick"]),
        ("bench_vlm.py", "--json", []),
        ("probe_baseline_trims.py", "--json-out", []),
        ("probe_departures.py", "--json-out", [str(RESULTS)]),
        ("probe_demo_choice.py", "--json-out", []),
    ],
)
def test_an_output_path_that_cannot_be_written_fails_before_any_work(
    tmp_path: Path, script: str, flag: str, args: list[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    target = blocker / "out.txt"  # under a file: no user, root included, can write it
    started = time.perf_counter()
    proc = _script(script, *args, flag, str(target))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines()[-1].endswith(f"error: {flag} '{target}': '{blocker}' is a file, not a folder")
    assert "groups" not in proc.stderr and proc.stdout == "" and time.perf_counter() - started < 60


def test_a_bench_script_resumes_its_json_out_and_refuses_other_settings(tmp_path: Path) -> None:
    js = tmp_path / "r.jsonl"
    command = ("bench_realphoto.py", "--quick", "--tasks", "photo-tint", "--judges", "hist-hog", "--json-out", str(js))
    first = _script(*command)
    assert first.returncode == 0, first.stderr
    assert "1/1 groups: photo-tint hist-hog seed 0" in first.stderr
    again = _script(*command)
    assert again.returncode == 0, again.stderr
    assert f"{js}: reused 1 of 1 groups finished by an earlier run" in again.stderr and "1/1 groups" not in again.stderr
    tables = first.stdout[first.stdout.index("## Held-out") : first.stdout.index("total wall time")]
    assert tables in again.stdout
    before = js.read_bytes()
    other = _script(*command, "--n-trials", "4")
    assert other.returncode == 2 and other.stdout == ""
    assert "holds a run with other settings (n_trials 4 here, 3 there); pass --overwrite" in other.stderr
    assert js.read_bytes() == before
    fresh = _script(*command, "--n-trials", "4", "--overwrite")
    assert fresh.returncode == 0, fresh.stderr
    assert "1/1 groups" in fresh.stderr and len(_common().read_json_lines(str(js))) == 1
