"""specprompt.search.calibrate: rank agreement of a local judge with a target, within a call budget."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dspy
import pytest

from specprompt.errors import ConfigError, SpecPromptWarning, UnknownNameError
from specprompt.scorers import nearest_lm, pixel_lm
from specprompt.search import Calibration, calibrate
from specprompt.search._calibrate import probe_candidates
from specprompt.search._calibration import load_calibration
from specprompt.search._rank import bootstrap_interval, spearman
from specprompt.tasks import Task, get_task

from .conftest import exact


@pytest.fixture(scope="module")
def photo() -> Task:
    return get_task("photo-tint", n_train=6, n_val=4, n_test=0, size=64, seed=0)


def test_spearman_by_hand() -> None:
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == 1.0
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == -1.0
    # ties take average ranks: x ranks 0, 1.5, 1.5, 3; y ranks 0, 1, 2, 3 -> r = 4.5 / sqrt(4.5 * 5)
    assert spearman([0, 1, 1, 2], [0, 1, 2, 3]) == pytest.approx(4.5 / (4.5 * 5) ** 0.5)
    assert spearman([1, 1, 1], [1, 2, 3]) is None and spearman([1], [2]) is None
    with pytest.raises(ConfigError, match="equal-length"):
        spearman([1, 2], [1, 2, 3])


def test_bootstrap_interval_is_seeded_and_holds_the_estimate() -> None:
    a, b = [0.1, 0.4, 0.35, 0.8, 0.7, 0.9, 0.2], [0.2, 0.3, 0.5, 0.9, 0.6, 1.0, 0.1]
    lo, hi = bootstrap_interval(a, b, seed=3) or (9.0, 9.0)
    assert -1.0 <= lo <= (spearman(a, b) or 0.0) <= hi <= 1.0
    assert bootstrap_interval(a, b, seed=3) == (lo, hi)
    assert bootstrap_interval([1, 1, 1], [1, 2, 3]) is None


def test_a_judge_agrees_with_itself(photo: Task) -> None:
    judge = nearest_lm()
    cal = calibrate(
        dspy.Predict(photo.signature),
        exact,
        trainset=photo.trainset,
        valset=photo.valset,
        local=judge,
        target=judge,
        n_probes=6,
        n_examples=3,
        k_demos=3,
        n_bootstrap=200,
    )
    assert cal.local_scores == cal.target_scores
    if len(set(cal.local_scores)) > 1:
        assert cal.spearman == 1.0 and cal.interval == (1.0, 1.0) and cal.trusted
    assert cal.verdict in ("trust the local judge", "score with the target")


def test_local_vs_pixel_judge_within_the_stated_calls(photo: Task) -> None:
    target = pixel_lm("hist-hog")
    local = nearest_lm()
    cal = calibrate(
        dspy.Predict(photo.signature),
        exact,
        trainset=photo.trainset,
        valset=photo.valset,
        local=local,
        target=target,
        n_probes=7,
        n_examples=3,
        k_demos=3,
        n_bootstrap=200,
        seed=1,
    )
    assert cal.max_target_calls == 7 * 3
    assert 3 <= len(cal.probes) <= 7 and len(cal.examples) == 3
    # exactly one target call per (probe, example): counted by the target's own engine
    assert cal.target_calls == target.engine.calls == len(cal.probes) * len(cal.examples) <= cal.max_target_calls
    assert len({p["key"] for p in cal.probes}) == len(cal.probes)
    assert cal.probes[0]["name"] == "full"
    assert "stated maximum: 21" in cal.summary() and cal.verdict in cal.summary()
    # JSON round trip
    again = Calibration.from_json(cal.to_json())
    assert again == cal and again.to_dict() == cal.to_dict()


def test_probes_fit_the_budget_and_show_an_image(photo: Task) -> None:
    from specprompt.search._config import SearchConfig
    from specprompt.search._context import SearchContext
    from specprompt.search._demos import plan_demos

    cfg = SearchConfig(token_budget=300, cost_model="openai:gpt-4.1-mini", k_demos=3)
    prog = dspy.Predict(photo.signature)
    ctx = SearchContext(prog, plan_demos(prog, photo.trainset, 3, 0), cfg)
    probes = probe_candidates(ctx, 12, seed=0)
    assert probes and len(probes) <= 12
    text_only = ctx.key(ctx.dropped())
    for _, cand in probes:
        assert ctx.tokens(cand) <= 300 and ctx.key(cand) != text_only
    assert probe_candidates(ctx, 12, seed=0) == probes  # seeded


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_probes": 2}, "n_probes must be an int >= 3, got 2"),
        ({"n_examples": 0}, "n_examples must be an int >= 1, got 0"),
        ({"confidence": 1.5}, r"confidence must be a number in \[0.5, 0.999\], got 1.5"),
        ({"threshold": "high"}, "threshold must be a number"),
        ({"target": "gpt-4o"}, "target must be a dspy.LM, got 'gpt-4o'"),
        ({"local": 3}, "local must be a dspy.LM, got 3"),
        ({"n_bootstrap": 10}, "n_bootstrap must be an int >= 100, got 10"),
    ],
)
def test_bad_inputs_name_the_value(photo: Task, kwargs: dict[str, Any], match: str) -> None:
    args: dict[str, Any] = {"target": nearest_lm(), "local": nearest_lm(), "k_demos": 3, **kwargs}
    with pytest.raises(ConfigError, match=match):
        calibrate(dspy.Predict(photo.signature), exact, trainset=photo.trainset, valset=photo.valset, **args)


def test_a_budget_that_leaves_no_probe(photo: Task) -> None:
    with pytest.warns(SpecPromptWarning, match="token_budget 1 is below"):
        with pytest.raises(ConfigError, match=r"only 0 prompt\(s\) fit token_budget 1"):
            calibrate(
                dspy.Predict(photo.signature),
                exact,
                trainset=photo.trainset,
                target=nearest_lm(),
                local=nearest_lm(),
                token_budget=1,
                cost_model="openai:gpt-4o",
                k_demos=3,
            )


def test_bad_program_metric_and_json() -> None:
    with pytest.raises(ConfigError, match=r"program must be a dspy\.Module"):
        calibrate("prog", exact, trainset=[], target=nearest_lm())  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="calibrate: metric must be callable"):
        calibrate(dspy.Predict("image: dspy.Image -> label"), 3, trainset=[], target=nearest_lm())  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="calibrate: config must be a SearchConfig or None, got dict"):
        calibrate(dspy.Predict("image: dspy.Image -> label"), exact, trainset=[], target=nearest_lm(), config={})  # type: ignore[arg-type]
    with pytest.raises(UnknownNameError, match="nope"):
        calibrate(dspy.Predict("image: dspy.Image -> label"), exact, trainset=[], target=nearest_lm(), scheme="nope")
    with pytest.raises(ConfigError, match=r"calibrate: trainset\[1\] must be a dspy\.Example .*got str 'b'"):
        calibrate(
            dspy.Predict("image: dspy.Image -> label"), exact, trainset=[dspy.Example(), "b"], target=nearest_lm()
        )
    with pytest.raises(ConfigError, match=r"lacks the key 'target' \(and 'probes', .*'interval', .*'seed'\)"):
        Calibration.from_dict({"local": "x"})
    with pytest.raises(ConfigError, match="must be JSON"):
        Calibration.from_json("{nope")


def test_compile_calibrates_first_and_stores_it(photo: Task) -> None:
    import optuna

    from specprompt.reports import CompileReport, report_data
    from specprompt.search import BandOptimizer
    from specprompt.search._calibrate import CALIBRATION_ATTR

    from .conftest import options

    target = pixel_lm("hist-hog")
    storage = optuna.storages.InMemoryStorage()
    opts = options(n_trials=3, calibrate=True, calibration_probes=4, calibration_examples=2, cost_model="local")
    del opts["storage"]
    prog = dspy.Predict(photo.signature)
    opt = BandOptimizer(exact, storage=storage, target=target, **opts)
    with dspy.context(lm=nearest_lm()):
        compiled = opt.compile(prog, trainset=photo.trainset, valset=photo.valset)
    result = opt.last_result
    assert result is not None and result.calibration is not None
    cal = result.calibration
    assert cal.max_target_calls == 8 and cal.target_calls == target.engine.calls <= 8
    assert cal.local == "specprompt/nearest-v1" and cal.target == "specprompt/pixel-hist-hog-v1"
    assert result.study.user_attrs[CALIBRATION_ATTR] == cal.to_dict()
    assert result.to_dict()["calibration"] == cal.to_dict()
    table = result.pareto_table()
    assert "calibration:" in table and cal.verdict in table and "stated maximum: 8" in table
    page = CompileReport(report_data(result), compiled).html()
    assert "<h2>Calibration</h2>" in page and "pixel-hist-hog" in page
    # a resumed study reads it back: no target call
    calls = target.engine.calls
    again = BandOptimizer(exact, storage=storage, target=target, **opts)
    with dspy.context(lm=nearest_lm()):
        again.compile(prog, trainset=photo.trainset, valset=photo.valset)
    assert again.last_result is not None and again.last_result.calibration == cal
    assert target.engine.calls == calls


def test_compile_calibrate_needs_a_target() -> None:
    from specprompt.search import BandOptimizer

    with pytest.raises(ConfigError, match="calibrate=True needs target="):
        BandOptimizer(exact, calibrate=True)
    with pytest.raises(ConfigError, match=r"target must be a dspy\.LM, got 'gpt'"):
        BandOptimizer(exact, target="gpt")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="calibration_probes must be an int >= 3, got 1"):
        BandOptimizer(exact, calibration_probes=1)
    with pytest.raises(ConfigError, match="calibrate must be True or False, got 'yes'"):
        BandOptimizer(exact, calibrate="yes")


#: A calibration as ``specprompt calibrate --json`` writes it (three probes).
GOOD: dict[str, Any] = {
    "local": "nearest",
    "target": "pixel",
    "probes": [{"name": "full"}, {"name": "coarse-1"}, {"name": "random-0"}],
    "local_scores": [0.25, 0.5, 1.0],
    "target_scores": [0.5, 0.25, 1.0],
    "examples": [0, 3],
    "spearman": 0.5,
    "interval": [0.1, 0.9],
    "confidence": 0.95,
    "n_bootstrap": 2000,
    "target_calls": 6,
    "max_target_calls": 6,
    "threshold": 0.05,
    "seed": 0,
    "verdict": "trust the local judge",
}


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("spearman", 5.0, r"'spearman' must be a number in \[-1, 1\], got 5\.0"),
        ("spearman", "high", r"'spearman' must be a number in \[-1, 1\], got 'high'"),
        ("interval", [0.9, 0.6], r"'interval' must be ordered \[low, high\], got \[0\.9, 0\.6\]"),
        ("interval", [0.5], r"'interval' must be null or a list \[low, high\], got \[0\.5\]"),
        ("interval", [0.5, 1.5], r"'interval'\[1\] must be a number in \[-1, 1\], got 1\.5"),
        ("local_scores", [0.25, 0.5], r"'local_scores' holds 2 score\(s\) but 'probes' holds 3"),
        ("target_scores", [0.5, "x", 1.0], r"'target_scores'\[1\] must be a finite number, got 'x'"),
        ("probes", 5, r"'probes' must be a list, got int 5"),
        ("probes", ["full", {}, {}], r"'probes'\[0\] must be a JSON object, got str"),
        ("threshold", "x", r"'threshold' must be a number in \[-1, 1\], got 'x'"),
        ("confidence", 95, r"'confidence' must be a number in \[0, 1\], got 95"),
        ("n_bootstrap", 2000.5, r"'n_bootstrap' must be an int >= 0, got 2000\.5"),
        ("examples", [0, -1], r"'examples'\[1\] must be an int >= 0, got -1"),
        ("seed", True, r"'seed' must be an int >= 0, got True"),
        ("local", None, r"'local' must be a non-empty string \(a model string\), got None"),
    ],
)
def test_a_calibration_file_with_an_impossible_field_names_it(
    tmp_path: Path, field: str, value: Any, match: str
) -> None:
    path = tmp_path / "cal.json"
    path.write_text(json.dumps(GOOD))
    assert load_calibration(path).trusted  # the file as written is trusted
    path.write_text(json.dumps({**GOOD, field: value}))
    with pytest.raises(
        ConfigError, match=rf"the calibration file '.*cal\.json' is not a calibration: a calibration's {match}"
    ):
        load_calibration(path)


def test_a_calibration_with_an_undefined_correlation_has_no_interval() -> None:
    assert Calibration.from_dict({**GOOD, "spearman": None, "interval": None}).trusted is False
    with pytest.raises(ConfigError, match=r"'interval' is \[0\.1, 0\.9\] but 'spearman' is null"):
        Calibration.from_dict({**GOOD, "spearman": None})
    with pytest.raises(ConfigError, match=r"'spearman' must be a number in \[-1, 1\], got nan"):
        Calibration.from_json(json.dumps(GOOD).replace('"spearman": 0.5', '"spearman": NaN'))
