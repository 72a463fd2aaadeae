"""``specprompt compile`` end to end on tiny datasets: outputs, resume, exit codes."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import optuna
import pytest

from specprompt import ConfigError, SpecPromptWarning
from specprompt.cli import main
from specprompt.cli._compile import parse_baselines
from specprompt.cli._lm import make_lm
from specprompt.search import BASELINES


def compile_args(
    program_file: Path, data: dict[str, Path], out: Path, *extra: str, train: str = "train_dir"
) -> list[str]:
    return [
        "compile",
        f"{program_file}:make",
        "--trainset",
        str(data[train]),
        "--valset",
        str(data["val_jsonl"]),
        "--budget",
        "36",  # three labels: one 12-token (residual) image each
        "--cost-model",
        "local",
        "--trials",
        "5",
        "--k-demos",
        "3",
        "--minibatch",
        "3",
        "--threads",
        "2",
        "--out",
        str(out),
        "--no-progress",
        *extra,
    ]


def test_compile_writes_everything_and_resumes(
    program_file: Path, tiny_data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    args = compile_args(program_file, tiny_data, out, "--baselines", "full,text_only")
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "chosen: trial" in printed and "wrote" in printed and "baselines:" in printed
    for name in ("program.json", "pareto.json", "report.html", "study.db"):
        assert (out / name).is_file(), name
    first = json.loads((out / "pareto.json").read_text())
    assert first["n_trials"] == 5 and first["scorer_calls"] > 0
    assert first["best"]["tokens"] <= 36 and first["config"]["token_budget"] == 36
    assert set(first["baselines"]) == {"full", "text_only"}
    assert first["run"]["program"].endswith("prog.py:make") and first["run"]["lm"] == "local"
    html = (out / "report.html").read_text()
    assert "Pareto front" in html and "Baselines" in html and "<svg" in html
    study = optuna.load_study(study_name=first["study_name"], storage=f"sqlite:///{out / 'study.db'}")
    before = {t.number: (t.params, t.values) for t in study.trials}

    # the same command again: the study is found and nothing is scored twice
    assert main(compile_args(program_file, tiny_data, out)) == 0
    printed = capsys.readouterr().out  # no --baselines: full-resolution demos are still compared (stored score)
    full = first["baselines"]["full"]
    assert f"vs {full['score']:.4f}, {first['best']['tokens']} vs {full['tokens']} image tokens per prompt" in printed
    again = json.loads((out / "pareto.json").read_text())
    assert set(again["baselines"]) == {"full"} and again["baseline_calls"] == 0
    assert again["study_name"] == first["study_name"]
    assert again["n_trials"] == 5 and again["scorer_calls"] == 0
    assert again["best"] == first["best"]
    study = optuna.load_study(study_name=first["study_name"], storage=f"sqlite:///{out / 'study.db'}")
    assert {t.number: (t.params, t.values) for t in study.trials} == before

    # more trials: only the missing ones run, the earlier ones stay as they were
    assert main([*compile_args(program_file, tiny_data, out)[:-1], "--trials", "7", "--no-progress"]) == 0
    more = json.loads((out / "pareto.json").read_text())
    assert more["n_trials"] == 7 and more["study_name"] == first["study_name"]
    study = optuna.load_study(study_name=first["study_name"], storage=f"sqlite:///{out / 'study.db'}")
    assert {n: (t.params, t.values) for n, t in enumerate(study.trials) if n in before} == before


def test_compile_jsonl_module_class_and_options(
    program_file: Path, tiny_data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    args = compile_args(program_file, tiny_data, out, "--multi-objective", "--study-name", "mine", train="train_jsonl")
    args[1] = f"{program_file}:Classifier"
    args[args.index("--trials") + 1] = "4"
    args += ["--metric", f"{program_file}:metric", "--scheme", "dct", "--scheme-options", '{"groups": [1, 3, 64]}']
    assert main(args) == 0
    data = json.loads((out / "pareto.json").read_text())
    assert data["study_name"] == "mine" and data["config"]["multi_objective"] is True
    assert data["config"]["scheme"] == "dct" and data["config"]["scheme_options"] == {"groups": [1, 3, 64]}
    assert all(r["tokens"] <= 36 for r in data["front"])
    assert "predict/demo0/image" in json.dumps(data["best"]["selections"])
    storage = f"sqlite:///{out / 'study.db'}"
    assert [s.study_name for s in optuna.get_all_study_summaries(storage)] == ["mine"]


def test_compile_default_valset(program_file: Path, tiny_data: dict[str, Path], tmp_path: Path) -> None:
    args = compile_args(program_file, tiny_data, tmp_path / "o")
    i = args.index("--valset")
    del args[i : i + 2]
    args[args.index("--trials") + 1] = "2"
    assert main(args) == 0
    data = json.loads((tmp_path / "o" / "pareto.json").read_text())
    assert data["run"]["valset"] == "trainset minus demos"


def test_compile_calibrates_against_a_target(
    program_file: Path, tiny_data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = compile_args(program_file, tiny_data, tmp_path / "o", "--lm", "nearest")
    args += ["--target", "pixel:hist-hog", "--calibrate"]
    args[args.index("--trials") + 1] = "2"
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "calibration:" in text and "with specprompt/pixel-hist-hog-v1" in text
    assert "stated maximum: 192 = n_probes x n_examples" in text and "verdict: " in text
    data = json.loads((tmp_path / "o" / "pareto.json").read_text())
    cal = data["calibration"]
    assert data["calibration_given"] is False  # measured by this compile
    assert cal["target"] == "specprompt/pixel-hist-hog-v1" and cal["local"] == "specprompt/nearest-v1"
    assert cal["target_calls"] == len(cal["probes"]) * len(cal["examples"]) <= 192
    assert data["target_calls"]["calibration"] == cal["target_calls"]
    line = next(x for x in text.splitlines() if x.startswith("target calls outside the search: "))
    assert f"calibration {cal['target_calls']}" in line and int(line.split()[5]) == sum(data["target_calls"].values())
    assert "<h2>Calibration</h2>" in (tmp_path / "o" / "report.html").read_text()


def test_compile_screens_with_a_local_judge(
    program_file: Path, tiny_data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = compile_args(program_file, tiny_data, tmp_path / "o", "--lm", "pixel:hist-hog")
    args += ["--screen", "nearest", "--screen-keep", "0.5"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "screening with specprompt/nearest-v1:" in text and "scored by the target (keep 0.5)" in text
    data = json.loads((tmp_path / "o" / "pareto.json").read_text())
    screening = data["screening"]
    assert screening["judge"] == "specprompt/nearest-v1" and screening["active"] and screening["keep"] == 0.5
    assert data["run"]["lm"] == "pixel:hist-hog, screened by nearest"
    assert "<h2>Multi-fidelity screening</h2>" in (tmp_path / "o" / "report.html").read_text()


def test_compile_screen_local_is_band_vlm_v2(
    program_file: Path, tiny_data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from specprompt.scorers import local_lm
    from specprompt.search._screen import resolve_screen

    v2 = local_lm("band-vlm-v2").model
    assert resolve_screen("local").model == v2 != local_lm().model  # the Python API agrees
    args = compile_args(program_file, tiny_data, tmp_path / "o", "--lm", "pixel:hist-hog")
    args += ["--screen", "local", "--trials", "3"]
    assert main(args) == 0
    data = json.loads((tmp_path / "o" / "pareto.json").read_text())
    assert data["screening"]["judge"] == v2 and f"screening with {v2}" in capsys.readouterr().out


def test_compile_reuses_a_calibration_file(
    program_file: Path, tiny_data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cal = tmp_path / "cal.json"
    measure = ["calibrate", f"{program_file}:make", "--trainset", str(tiny_data["train_dir"])]
    measure += ["--valset", str(tiny_data["val_jsonl"]), "--lm", "pixel:hist-hog", "--local", "nearest"]
    measure += ["--probes", "4", "--examples", "2", "--k-demos", "3", "--json", str(cal)]
    assert main(measure) == 0
    args = compile_args(program_file, tiny_data, tmp_path / "o", "--lm", "pixel:hist-hog")
    args += ["--screen", "nearest", "--calibration", str(cal)]
    assert main(args) == 0
    data = json.loads((tmp_path / "o" / "pareto.json").read_text())
    assert data["calibration"] == json.loads(cal.read_text())  # the file's verdict, stored and reported
    assert data["calibration_given"] is True
    assert "Calibration given: measured before this compile" in (tmp_path / "o" / "report.html").read_text()
    assert data["screening"]["note"].startswith("rank agreement of specprompt/nearest-v1 vs")
    capsys.readouterr()
    bad = compile_args(program_file, tiny_data, tmp_path / "p", "--lm", "pixel:lbp-dct")
    assert main([*bad, "--screen", "nearest", "--calibration", str(cal)]) == 2
    assert "but this compile uses 'specprompt/nearest-v1' and 'specprompt/pixel-lbp-dct-v1'" in capsys.readouterr().err


def test_compile_calibration_mode_reaches_the_search(
    program_file: Path, tiny_data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = compile_args(program_file, tiny_data, tmp_path / "o", "--lm", "pixel:hist-hog")
    args += ["--screen", "nearest", "--calibrate", "--calibration-mode", "trials", "--screen-rule", "top"]
    assert main([*args, "--screen-tolerance", "0.125", "--screen-keep-min", "0.1"]) == 0
    data = json.loads((tmp_path / "o" / "pareto.json").read_text())
    assert data["config"]["calibration_mode"] == "trials" and data["calibration"] is None  # no probe
    assert data["config"]["screen_rule"] == "top" and data["config"]["screen_tolerance"] == 0.125
    assert data["config"]["screen_keep_min"] == 0.1
    # 5 trials are fewer than the 24 the verdict needs: every candidate went to the target
    assert "top agreement of" in data["screening"]["note"] and "not decided" in data["screening"]["note"]
    assert not data["screening"]["active"]
    bad = compile_args(program_file, tiny_data, tmp_path / "p", "--calibration-mode", "online")
    with pytest.raises(SystemExit):
        main(bad)
    assert "argument --calibration-mode: invalid choice: 'online'" in capsys.readouterr().err


def test_compile_calibration_probe_size_reaches_the_search(
    program_file: Path, tiny_data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = compile_args(program_file, tiny_data, tmp_path / "o", "--lm", "pixel:hist-hog")
    args += ["--screen", "nearest", "--calibrate", "--calibration-probes", "4", "--calibration-examples", "2"]
    assert main(args) == 0
    data = json.loads((tmp_path / "o" / "pareto.json").read_text())
    assert data["config"]["calibration_probes"] == 4 and data["config"]["calibration_examples"] == 2
    cal = data["calibration"]
    assert len(cal["probes"]) <= 4 and len(cal["examples"]) == 2
    assert cal["target_calls"] <= cal["max_target_calls"] == 4 * 2
    bad = compile_args(program_file, tiny_data, tmp_path / "p", "--calibration-probes", "2")
    with pytest.raises(SystemExit):
        main(bad)
    assert "argument --calibration-probes: expected an int >= 3" in capsys.readouterr().err


def test_compile_confirm_min_examples_is_a_count(
    program_file: Path, tiny_data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for bad in ("-1", "nan", "one"):
        with pytest.raises(SystemExit):
            main(compile_args(program_file, tiny_data, tmp_path / "o", "--confirm-min-examples", bad))
        assert f"argument --confirm-min-examples: expected a finite number >= 0, got '{bad}'" in capsys.readouterr().err


def test_compile_screen_keep_is_a_share(
    program_file: Path, tiny_data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = compile_args(program_file, tiny_data, tmp_path / "o", "--screen", "nearest", "--screen-keep", "1.5")
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2
    assert "argument --screen-keep: expected a share in (0, 1], got '1.5'" in capsys.readouterr().err
    args[-2:] = ["--screen-rule", "top", "--screen-keep-min", "0"]
    with pytest.raises(SystemExit):
        main(args)
    assert "argument --screen-keep-min: expected a number > 0, got '0'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1", "expected a number in [0, 1), got '1'"),
        ("-0.1", "expected a finite number >= 0, got '-0.1'"),
        ("nan", "expected a finite number >= 0, got 'nan'"),
        ("one", "expected a finite number >= 0, got 'one'"),
    ],
)
def test_compile_screen_tolerance_is_refused_at_parse_time(
    program_file: Path,
    tiny_data: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    value: str,
    message: str,
) -> None:
    # refused by argparse, naming the flag, before the program, metric or datasets are loaded
    args = compile_args(program_file, tiny_data, tmp_path / "o", "--trainset", "missing.jsonl")
    args += ["--screen", "nearest", "--screen-rule", "top", "--screen-tolerance", value]
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"argument --screen-tolerance: {message}" in err and "missing.jsonl" not in err


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"--trainset": "missing.jsonl"}, "dataset 'missing.jsonl' does not exist"),
        ({"--cost-model": "nope"}, "unknown cost model 'nope'"),
        ({"--scheme": "nope"}, "unknown scheme 'nope'"),
        ({"--scheme-options": "[1]"}, "--scheme-options must be a JSON object"),
        ({"--scheme-options": "{bad"}, "--scheme-options must be a JSON object"),
        ({"--lm": "gpt4"}, "--lm must be 'local', 'nearest', 'pixel:<judge>' or '<provider>/<model>'"),
        ({"--calibrate": ""}, r"--calibrate needs --target \(the LM that --lm is calibrated against\) or --screen"),
        ({"--target": "pixel:sift"}, "unknown pixel judge in --target 'pixel:sift'"),
        ({"--target": "gpt4"}, "--target must be 'local', 'nearest', 'pixel:<judge>' or '<provider>/<model>'"),
        ({"--screen": "nearest", "--target": "nearest"}, "give --screen or --target, not both"),
        ({"--screen": "pixel:sift"}, "unknown pixel judge in --screen 'pixel:sift'"),
        ({"--calibration": "cal.json"}, r"--calibration needs --screen \(or --target\)"),
        ({"--max-cost": "1"}, r"--max-cost needs --price-per-million-tokens"),
        ({"--screen-keep": "0.5"}, r"--screen-keep needs --screen"),
        ({"--screen-rule": "top"}, r"--screen-rule needs --screen"),
        ({"--screen-tolerance": "0.125"}, r"--screen-tolerance needs --screen"),
        ({"--screen-keep-min": "0.1"}, r"--screen-keep-min needs --screen"),
        ({"--calibration-mode": "trials"}, r"--calibration-mode needs --screen and --calibrate"),
        ({"--screen": "nearest", "--calibration-mode": "trials"}, r"--calibration-mode needs --screen and --calibrate"),
        ({"--target": "nearest", "--calibration-probes": "4"}, r"--calibration-probes needs --calibrate"),
        ({"--target": "nearest", "--calibration-examples": "2"}, r"--calibration-examples needs --calibrate"),
        ({"--detail": "low"}, r"--detail is OpenAI's image detail setting; --cost-model local prices images"),
        ({"--detail": "high", "--cost-model": "anthropic"}, r"--cost-model anthropic prices images without one"),
        ({"--api-base": "http://x/v1"}, "--api-base is for remote LMs"),
        ({"--api-key": "k"}, "--api-key is for remote LMs; --lm local runs locally"),
        ({"--lm": "nearest", "--api-key": "k"}, "--api-key is for remote LMs; --lm nearest runs locally"),
        ({"--lm": "pixel:hist-hog", "--api-key": "k"}, "--api-key is for remote LMs; --lm pixel:hist-hog runs"),
        ({"--baselines": "full,best"}, r"unknown baseline\(s\) \['best'\]"),
        ({"--metric": "nope.py:f"}, "metric file 'nope.py' does not exist"),
        ({"--storage": "study.db"}, r"--storage 'study.db' is neither an RDB URL \(scheme://"),
        ({"--demo-pool": "2"}, "--demo-pool needs --search-demos"),
    ],
)
def test_compile_errors_exit_2_with_one_line(
    program_file: Path,
    tiny_data: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    change: dict[str, str],
    message: str,
) -> None:
    args = compile_args(program_file, tiny_data, tmp_path / "o")
    for flag, value in change.items():
        if not value:
            args.append(flag)
        elif flag in args:
            args[args.index(flag) + 1] = value
        else:
            args += [flag, value]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("specprompt compile: error: ") and "\n" not in err
    import re

    assert re.search(message, err), err


def test_bad_program_reference_exit_2(
    tiny_data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = compile_args(Path("nope.py"), tiny_data, tmp_path / "o")
    assert main(args) == 2
    assert "program file 'nope.py' does not exist" in capsys.readouterr().err


def test_argument_types(program_file: Path, tiny_data: dict[str, Path], tmp_path: Path) -> None:
    for flag, value in (("--budget", "-1"), ("--trials", "0"), ("--budget", "ten")):
        args = compile_args(program_file, tiny_data, tmp_path / "o")
        args[args.index(flag) + 1] = value
        with pytest.raises(SystemExit) as exc:
            main(args)
        assert exc.value.code == 2
    for value in ("-1", "two"):
        with pytest.raises(SystemExit) as exc:
            main(compile_args(program_file, tiny_data, tmp_path / "o", "--search-demos", "--demo-pool", value))
        assert exc.value.code == 2


def test_compile_search_demos(program_file: Path, tiny_data: dict[str, Path], tmp_path: Path) -> None:
    args = compile_args(program_file, tiny_data, tmp_path / "o", "--search-demos", "--demo-pool", "1")
    args[args.index("--trials") + 1] = "4"
    assert main(args) == 0
    data = json.loads((tmp_path / "o" / "pareto.json").read_text())
    assert data["config"]["search_demos"] is True and data["config"]["demo_pool"] == 1
    assert data["best"]["tokens"] <= 36
    params = json.loads(data["best"]["params"]) if isinstance(data["best"]["params"], str) else data["best"]["params"]
    includes = [k for k in params if k.endswith(":include")]
    assert len(includes) > 3  # the three demos and pooled trainset examples can each be left out


def test_make_lm(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from specprompt.vlm import LocalVLM

    assert make_lm("local").model == f"specprompt/{LocalVLM.load().model_id}"
    with pytest.raises(ConfigError, match="--adapter is for --lm local"):
        make_lm("nearest", adapter=str(tmp_path))
    with pytest.raises(ConfigError, match="--api-base is for remote LMs; --lm local runs locally"):
        make_lm("local", api_base="http://127.0.0.1:9/v1")
    with pytest.raises(ConfigError, match="adapter"):
        make_lm("local", adapter=str(tmp_path / "missing"))
    assert make_lm("nearest").model == "specprompt/nearest-v1"
    assert make_lm("nearest", cost_model="openai:gpt-4o").model.startswith("specprompt/nearest-v1+")
    monkeypatch.delenv("SPECPROMPT_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "from-openai-env")
    lm = make_lm("openai/my-model", api_base="http://127.0.0.1:9/v1")
    assert lm.model == "openai/my-model"
    assert lm.kwargs["api_base"] == "http://127.0.0.1:9/v1" and lm.kwargs["api_key"] == "from-openai-env"
    monkeypatch.setenv("SPECPROMPT_API_KEY", "from-specprompt-env")
    assert make_lm("openai/m").kwargs["api_key"] == "from-specprompt-env"
    assert make_lm("openai/m", api_key="given").kwargs["api_key"] == "given"
    monkeypatch.delenv("SPECPROMPT_API_KEY")
    monkeypatch.delenv("OPENAI_API_KEY")
    assert "api_key" not in make_lm("openai/m").kwargs
    with pytest.raises(ConfigError, match="'local', 'nearest', 'pixel:<judge>' or '<provider>/<model>'"):
        make_lm("openai/")


def test_compile_with_checkpoint_prices_bare_local_as_that_checkpoint(
    program_file: Path, tiny_data: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    args = compile_args(program_file, tiny_data, out, "--checkpoint", "band-vlm-v2", "--baselines", "none")
    args[args.index("--trials") + 1] = "2"
    assert main(args) == 0
    data = json.loads((out / "pareto.json").read_text())
    assert data["config"]["cost_model"] == "local:band-vlm-v2"  # --cost-model local, the v2 checkpoint scores
    assert data["run"]["lm"] == "local band-vlm-v2"


def test_make_lm_checkpoint() -> None:
    from specprompt.vlm import LocalVLM

    assert make_lm("local", checkpoint="band-vlm-v2").model == f"specprompt/{LocalVLM.load('band-vlm-v2').model_id}"
    with pytest.raises(ConfigError, match="--checkpoint is for --lm local"):
        make_lm("nearest", checkpoint="band-vlm-v2")
    with pytest.raises(ConfigError, match="checkpoint"):
        make_lm("local", checkpoint="no-such-checkpoint")


def test_make_lm_pixel_judges() -> None:
    assert make_lm("pixel:hist-hog").model == "specprompt/pixel-hist-hog-v1"
    lm = make_lm("pixel:lbp-dct", cost_model="anthropic")
    assert lm.model == "specprompt/pixel-lbp-dct-v1" and lm.engine.config.cost_model == "anthropic"
    with pytest.raises(ConfigError, match=r"unknown pixel judge in --lm 'pixel:sift'; known: pixel:hist-hog"):
        make_lm("pixel:sift")
    with pytest.raises(ConfigError, match="--api-base is for remote LMs; --lm pixel:hist-hog runs locally"):
        make_lm("pixel:hist-hog", api_base="http://127.0.0.1:9/v1")
    with pytest.raises(ConfigError, match="--adapter is for --lm local"):
        make_lm("pixel:hist-hog", adapter="x")


def test_parse_baselines() -> None:
    assert parse_baselines(None) == () and parse_baselines("none") == () and parse_baselines(" ") == ()
    assert parse_baselines("all") == BASELINES
    assert parse_baselines("full,, uniform") == ("full", "uniform")
    with pytest.raises(ConfigError, match="known: all, none, full"):
        parse_baselines("fast")


@pytest.mark.parametrize(
    ("sampler", "pruner"), [("random", "median"), ("gp", "hyperband"), ("nsga2", "none"), ("tpe", "wilcoxon")]
)
def test_sampler_and_pruner_options(
    program_file: Path, tiny_data: dict[str, Path], tmp_path: Path, sampler: str, pruner: str
) -> None:
    out = tmp_path / "o"
    args = compile_args(program_file, tiny_data, out, "--sampler", sampler, "--pruner", pruner, "--timeout", "600")
    assert main(args) == 0
    data = json.loads((out / "pareto.json").read_text())
    assert (data["run"]["sampler"], data["run"]["pruner"]) == (sampler, pruner)
    assert data["n_trials"] == 5 and data["config"]["timeout"] == 600


def test_the_samplers_propose_the_search_trials(program_file: Path, tiny_data: dict[str, Path], tmp_path: Path) -> None:
    # their own marks in the study: CMA-ES its generation on each trial it proposed, QMC its sequence position
    for sampler in ("cmaes", "qmc"):
        out = tmp_path / sampler
        assert main(compile_args(program_file, tiny_data, out, "--sampler", sampler, "--trials", "8")) == 0
        data = json.loads((out / "pareto.json").read_text())
        assert data["run"]["sampler"] == sampler and data["n_trials"] == 8
        name = data["study_name"]
        study = optuna.load_study(study_name=name, storage=f"sqlite:///{out / 'study.db'}")
        proposed = [t for t in study.trials if t.user_attrs.get("origin") == "sampler"]
        assert proposed
        if sampler == "cmaes":
            assert all("cma:generation" in t.system_attrs for t in proposed)
        else:
            assert any(k.startswith("qmc:") for k in study._storage.get_study_system_attrs(study._study_id))


def test_bruteforce_stops_once_every_point_was_tried(
    program_file: Path, tiny_data: dict[str, Path], tmp_path: Path
) -> None:
    # one demo image, four levels to keep from: four prompts in all, so ten trials stop at four
    out = tmp_path / "o"
    args = compile_args(program_file, tiny_data, out, "--sampler", "bruteforce", "--trials", "10", "--k-demos", "1")
    args[args.index("--budget") + 1] = "100"
    assert main(args) == 0
    data = json.loads((out / "pareto.json").read_text())
    study = optuna.load_study(study_name=data["study_name"], storage=f"sqlite:///{out / 'study.db'}")
    keys = [t.user_attrs["key"] for t in study.trials]
    assert data["run"]["sampler"] == "bruteforce" and data["n_trials"] == 4 and len(set(keys)) == 4


def test_optuna_option_errors(
    program_file: Path, tiny_data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = compile_args(program_file, tiny_data, tmp_path / "o", "--multi-objective", "--pruner", "median")
    assert main(args) == 2
    assert "--pruner median needs a single-objective search" in capsys.readouterr().err
    args = compile_args(program_file, tiny_data, tmp_path / "o", "--multi-objective", "--sampler", "cmaes")
    assert main(args) == 2
    assert "--sampler cmaes needs a single-objective search" in capsys.readouterr().err
    for flag, value in (("--sampler", "cma"), ("--pruner", "patient"), ("--timeout", "0"), ("--timeout", "soon")):
        with pytest.raises(SystemExit) as exc:
            main(compile_args(program_file, tiny_data, tmp_path / "o", flag, value))
        assert exc.value.code == 2


def test_compile_testset_reports_held_out_scores(
    program_file: Path, tiny_data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    args = compile_args(program_file, tiny_data, out, "--testset", str(tiny_data["val_dir"]), "--baselines", "full")
    args[args.index("--trials") + 1] = "3"
    with warnings.catch_warnings():  # the CLI prints it: the testset is the --valset
        warnings.simplefilter("always", SpecPromptWarning)
        assert main(args) == 0
    printed, err = capsys.readouterr()
    assert "specprompt: warning: of the 6 test examples, 6 are validation examples the program was chosen on" in err
    data = json.loads((out / "pareto.json").read_text())
    assert 0.0 <= data["test_score"] <= 1.0 and data["test_calls"] > 0
    assert data["run"]["testset"] == str(tiny_data["val_dir"])
    assert set(data["baselines"]) == {"full"} and data["baselines"]["full"]["test_score"] is not None
    assert f"test {data['test_score']:.4f}" in printed
    calls = f"{data['scorer_calls']} search + {data['baseline_calls']} baselines + {data['test_calls']} test"
    assert f"scorer calls this run: {calls}\n" in printed, printed  # nothing to trim: no trim part


def test_the_calls_line_counts_the_trim_and_test_calls(
    program_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from specprompt.tasks import get_task

    from .conftest import write_split

    task = get_task("colour-position", n_train=6, n_val=6, n_test=4, size=128, seed=3)
    data_dirs = {
        split: write_split(tmp_path, split, getattr(task, f"{split}set"))[0] for split in ("train", "val", "test")
    }
    out = tmp_path / "out"
    args = [
        "compile",
        f"{program_file}:program",
        "--trainset",
        str(data_dirs["train"]),
        "--valset",
        str(data_dirs["val"]),
    ]
    args += ["--testset", str(data_dirs["test"]), "--budget", "40", "--cost-model", "openai:gpt-4.1-mini", "--lm"]
    args += ["nearest", "--trials", "3", "--k-demos", "3", "--minibatch", "3", "--threads", "2", "--out", str(out)]
    assert main([*args, "--no-progress"]) == 0
    printed = capsys.readouterr().out
    data = json.loads((out / "pareto.json").read_text())
    assert data["trim_calls"] > 0 and data["test_calls"] > 0, data["trim"]
    calls = f"{data['scorer_calls']} search + {data['baseline_calls']} baselines + {data['trim_calls']} trim"
    assert f"scorer calls this run: {calls} + {data['test_calls']} test\n" in printed, printed
    # a new study: the calls of the search, baselines and trim are what its spend records
    assert (
        data["scorer_calls"] + data["baseline_calls"] + data["trim_calls"] == data["spend"]["study"]["total"]["calls"]
    )


def test_compile_trims_by_default_and_no_trim_turns_it_off(
    program_file: Path, tiny_data: dict[str, Path], tmp_path: Path
) -> None:
    on, off = tmp_path / "on", tmp_path / "off"
    assert main(compile_args(program_file, tiny_data, on)) == 0
    assert main(compile_args(program_file, tiny_data, off, "--no-trim")) == 0
    trimmed = json.loads((on / "pareto.json").read_text())
    plain = json.loads((off / "pareto.json").read_text())
    assert trimmed["config"]["trim"] is True and plain["config"]["trim"] is False
    assert plain["trim"] is None and trimmed["trim"]["tokens_after"] == trimmed["best"]["tokens"]
    assert trimmed["trim"]["tokens_before"] == plain["best"]["tokens"] >= trimmed["best"]["tokens"]
    assert "<h2>Trim</h2>" in (on / "report.html").read_text()
    assert "<h2>Trim</h2>" not in (off / "report.html").read_text()
    assert trimmed["config"]["trim_baselines"] == "scale"
    both = tmp_path / "both"
    assert main(compile_args(program_file, tiny_data, both, "--trim-baselines", "tie")) == 0
    assert json.loads((both / "pareto.json").read_text())["config"]["trim_baselines"] == "tie"
    sized = tmp_path / "sized"
    assert main(compile_args(program_file, tiny_data, sized, "--trim-baselines", "scale")) == 0
    assert json.loads((sized / "pareto.json").read_text())["config"]["trim_baselines"] == "scale"
    assert trimmed["config"]["local_departures"] == "confirmed"
    anyway = tmp_path / "anyway"
    assert main(compile_args(program_file, tiny_data, anyway, "--local-departures", "always")) == 0
    assert json.loads((anyway / "pareto.json").read_text())["config"]["local_departures"] == "always"
    strict = tmp_path / "strict"
    assert main(compile_args(program_file, tiny_data, strict, "--confirm-min-examples", "1.5")) == 0
    assert json.loads((strict / "pareto.json").read_text())["config"]["confirm_min_examples"] == 1.5


def test_compile_searches_a_sharpening_by_default_and_no_sharpen_turns_it_off(
    program_file: Path, tiny_data: dict[str, Path], tmp_path: Path
) -> None:
    priced = ("--cost-model", "openai:gpt-4.1-mini", "--budget", "120")  # pixels priced: images get a size
    on, off = tmp_path / "on", tmp_path / "off"
    assert main(compile_args(program_file, tiny_data, on, *priced)) == 0
    assert main(compile_args(program_file, tiny_data, off, *priced, "--no-sharpen")) == 0
    sharp = json.loads((on / "pareto.json").read_text())
    plain = json.loads((off / "pareto.json").read_text())
    assert sharp["config"]["sharpen"] is True and plain["config"]["sharpen"] is False
    assert all("sharpen" in r["params"] for r in sharp["front"])  # the dimension of every trial
    assert not any("sharpen" in r["params"] for r in plain["front"])
    assert sharp["study_name"] != plain["study_name"]  # off names another study


@pytest.mark.parametrize(("flag", "bound"), [("--trials", 1), ("--calibration-probes", 3), ("--minibatch", 1)])
def test_int_flags_say_one_bound_for_every_bad_value(
    program_file: Path,
    tiny_data: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    flag: str,
    bound: int,
) -> None:
    for value in ("-1", "0"):
        args = compile_args(program_file, tiny_data, tmp_path / "o")
        args = [*args, flag, value] if flag not in args else args
        args[args.index(flag) + 1] = value
        with pytest.raises(SystemExit):
            main(args)
        assert f"argument {flag}: expected an int >= {bound}" in capsys.readouterr().err


def test_compile_without_valset_names_the_flags(
    program_file: Path, tiny_data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one = tmp_path / "one.jsonl"
    one.write_text(tiny_data["train_jsonl"].read_text().splitlines()[0] + "\n")
    (tmp_path / "train").symlink_to(tiny_data["root"] / "train")  # the line's image path is relative to the file
    args = compile_args(program_file, tiny_data, tmp_path / "o", "--lm", "nearest")
    i = args.index("--valset")
    del args[i : i + 2]
    args[args.index("--trainset") + 1] = str(one)
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == (
        "specprompt compile: error: no validation examples: all 1 trainset examples are demos; "
        "pass --valset or a larger --trainset"
    )


@pytest.mark.parametrize(
    ("judges", "said"),
    [
        (
            ["--lm", "openai/gpt-4o-mini"],
            "--lm openai/gpt-4o-mini needs an API key and none was found: pass --api-key or set "
            "$SPECPROMPT_API_KEY or $OPENAI_API_KEY",
        ),
        (
            ["--lm", "nearest", "--target", "openai/gpt-4o-mini", "--calibrate"],
            "--target openai/gpt-4o-mini needs an API key and none was found: set $SPECPROMPT_API_KEY or "
            "$OPENAI_API_KEY (--api-key is for --lm)",
        ),
    ],
)
def test_compile_without_an_api_key_names_the_cli_ways_to_give_one(
    program_file: Path,
    tiny_data: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    judges: list[str],
    said: str,
) -> None:
    for name in ("SPECPROMPT_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    args = compile_args(program_file, tiny_data, tmp_path / "o", *judges)
    args[args.index("--cost-model") + 1] = "openai:gpt-4.1-mini"
    args[args.index("--budget") + 1] = "400"
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == f"specprompt compile: error: {said}"
    assert "dspy.LM" not in err and "api_key=" not in err


def test_detail_is_kept_for_openai_cost_models(program_file: Path, tiny_data: dict[str, Path], tmp_path: Path) -> None:
    args = compile_args(program_file, tiny_data, tmp_path / "o", "--lm", "nearest", "--detail", "low")
    args[args.index("--cost-model") + 1] = "openai:gpt-4o"
    args[args.index("--budget") + 1] = "400"
    args[args.index("--trials") + 1] = "2"
    assert main(args) == 0
    assert json.loads((tmp_path / "o" / "pareto.json").read_text())["config"]["detail"] == "low"


def test_make_lm_names_the_flag_that_gave_the_lm() -> None:
    with pytest.raises(ConfigError, match=r"^--local must be 'local', 'nearest', 'pixel:<judge>'"):
        make_lm("foo", flag="--local")
    with pytest.raises(ConfigError, match=r"^--api-key is for remote LMs; --target nearest runs locally$"):
        make_lm("nearest", api_key="k", flag="--target")
    with pytest.raises(ConfigError, match=r"^--checkpoint is for --screen local .*, got --screen 'nearest'$"):
        make_lm("nearest", checkpoint="band-vlm-v2", flag="--screen")


def test_max_pixels_reaches_every_dataset_and_its_message_names_the_flag(
    program_file: Path, tiny_data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = compile_args(program_file, tiny_data, tmp_path / "out", "--max-pixels", "4095")  # 64x64 = 4,096
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("specprompt compile: error: cannot read image ") and "\n" not in err
    assert "64x64 = 4,096 pixels, more than max_pixels=4,095 (pass a larger --max-pixels, or none, to allow it)" in err
    assert not (tmp_path / "out" / "study.db").exists()


@pytest.mark.parametrize(
    ("text", "value"), [("none", None), ("None", None), ("100000000", 100_000_000), ("1_000", 1000)]
)
def test_max_pixels_option_values(text: str, value: int | None) -> None:
    from specprompt.cli._main import build_parser

    args = build_parser().parse_args(
        ["compile", "p.py:x", "--trainset", "t", "--budget", "9", "--cost-model", "local", "--max-pixels", text]
    )
    assert args.max_pixels == value


def test_a_bad_max_pixels_is_refused_when_parsing(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["compile", "p.py:x", "--trainset", "t", "--budget", "9", "--cost-model", "local", "--max-pixels", "0"])
    assert exc.value.code == 2
    assert "argument --max-pixels: expected an int >= 1 or 'none' (no limit), got '0'" in capsys.readouterr().err


INTERRUPTING_METRIC = """
from pathlib import Path

calls = 0


def metric(example, pred, trace=None):
    global calls
    calls += 1
    stop = Path(__file__).with_name("stop")
    if calls > 12 and stop.exists():  # Ctrl-C part way through the search, once
        stop.unlink()
        raise KeyboardInterrupt
    return float(example.label == pred.label)
"""


def test_compile_interrupted_says_how_to_resume(
    program_file: Path, tiny_data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    metric_file = tmp_path / "interrupting.py"
    metric_file.write_text(INTERRUPTING_METRIC)
    (tmp_path / "stop").touch()
    out = tmp_path / "out"
    args = [*compile_args(program_file, tiny_data, out), "--metric", f"{metric_file}:metric"]
    assert main(args) == 130
    err = capsys.readouterr().err
    assert f"the finished trials are kept in {out / 'study.db'}; re-run the same command to resume" in err
    assert "write program.json, pareto.json, report.html" in err and "specprompt compile: interrupted" in err
    assert (out / "study.db").is_file() and not (out / "pareto.json").exists()
    storage = f"sqlite:///{out / 'study.db'}"
    (summary,) = optuna.get_all_study_summaries(storage)
    trials = optuna.load_study(study_name=summary.study_name, storage=storage).trials
    kept = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert kept and not (tmp_path / "stop").exists()

    # the same command again resumes that study and writes the outputs
    assert main(args) == 0
    data = json.loads((out / "pareto.json").read_text())
    assert data["study_name"] == summary.study_name and data["n_trials"] == 5 and (out / "report.html").is_file()
