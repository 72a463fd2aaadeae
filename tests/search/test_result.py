"""CompileResult and ParetoRow without a search: front, tables, JSON, budget lookups."""

from __future__ import annotations

import dataclasses
import html
import json
import re
import xml.etree.ElementTree as ET
from typing import Any

import optuna
import pytest

from specprompt import ConfigError
from specprompt.search import BaselineResult, CompileResult, ParetoRow, SearchConfig
from specprompt.search._result import pareto


def row(trial: int, score: float, tokens: int, full: bool = True) -> ParetoRow:
    sel = {"p/demo0/image": {"choice": {"keep_from": 1}, "crop": True, "tokens": tokens}}
    return ParetoRow(trial, score, tokens, full, score, json.dumps(sel), json.dumps({"k": trial}), f"key{trial}")


def result(rows: list[ParetoRow], **kw: Any) -> CompileResult:
    front = kw.pop("front", tuple(pareto(rows)))
    kw.setdefault("candidates", tuple(rows))
    return CompileResult(
        study=optuna.create_study(),
        study_name="s",
        config=SearchConfig(),
        best=max(front, key=lambda r: r.score),
        front=front,
        scorer_calls=7,
        n_trials=len(rows),
        _build=lambda params, origin: params,  # type: ignore[arg-type, return-value]
        **kw,
    )


def test_pareto_keeps_the_non_dominated_rows() -> None:
    rows = [row(0, 0.5, 10), row(1, 0.9, 30), row(2, 0.4, 20), row(3, 0.9, 30), row(4, 0.2, 0), row(5, 0.9, 40)]
    assert [r.trial for r in pareto(rows)] == [4, 0, 1]
    assert pareto([]) == []


def test_program_for_budget_picks_the_best_fitting_row() -> None:
    res = result([row(0, 0.5, 10), row(1, 0.9, 30), row(2, 0.2, 4)])
    assert res.program_for_budget(30) == {"k": 1}
    assert res.program_for_budget(29.9) == {"k": 0}
    assert res.program_for_budget(4) == {"k": 2}
    message = "no candidate fits budget 3: the cheapest scored candidate is trial 2 with 4 tokens"
    with pytest.raises(ConfigError, match=message):
        res.program_for_budget(3)
    for bad in (-1, "10", float("nan"), True):
        with pytest.raises(ConfigError, match="budget must be a number >= 0"):
            res.program_for_budget(bad)  # type: ignore[arg-type]


def test_program_for_budget_looks_beyond_the_front() -> None:
    # the front of a single-objective run can hold ~2 points; every scored candidate counts
    rows = [row(0, 0.9, 400), row(1, 0.4, 0), row(2, 0.7, 180, full=False), row(3, 0.6, 150), row(4, 0.8, 390)]
    res = result(rows, front=(rows[1], rows[0]))
    assert res.program_for_budget(200) == {"k": 3}  # full-valset scores first: 0.6 on the full valset
    assert res.program_for_budget(170) == {"k": 3}
    assert res.program_for_budget(149) == {"k": 1}
    minibatch_only = result([row(0, 0.9, 400), row(2, 0.7, 180, full=False)], front=(rows[0],))
    assert minibatch_only.program_for_budget(200) == {"k": 2}  # no full-valset score fits: minibatch


def test_table_html_and_json() -> None:
    base = {
        "full": BaselineResult("full", 0.75, 84, False, "all bands"),
        "uniform": BaselineResult("uniform", None, None, True, "skipped: no token_budget to fit"),
    }
    res = result([row(0, 0.5, 10), row(1, 0.9, 30)], baselines=base)
    table = res.pareto_table()
    lines = table.splitlines()
    assert lines[0].split() == ["trial", "score", "on", "tokens", "choices"]
    assert lines[2].split()[:4] == ["0", "0.5000", "full", "10"]
    assert lines[3].startswith("1*")
    assert "p/demo0/image:keep_from=1+crop" in table
    assert "full       score 0.7500  tokens 84" in table and "uniform    score -" in table
    shown = res._repr_html_()
    front = shown[shown.index("<tbody>") : shown.index("</tbody>")]
    assert front.count("<tr>") == 2 and "s: 2 trials, 7 scorer calls" in shown
    data = json.loads(res.to_json())
    assert data["best"]["trial"] == 1 and data["scorer_calls"] == 7
    assert data["baselines"]["full"] == {
        "name": "full",
        "score": 0.75,
        "tokens": 84,
        "fits": False,
        "note": "all bands",
        "test_score": None,
    }
    assert data["front"][0]["selections"]["p/demo0/image"]["choice"] == {"keep_from": 1}
    assert row(0, 0.5, 10).choices() == "p/demo0/image:keep_from=1+crop"


def test_the_notebook_view_holds_the_plot_and_the_baselines() -> None:
    base = {
        "full": BaselineResult("full", 0.75, 84, False, "all bands"),
        "uniform": BaselineResult("uniform", None, None, True, "skipped: no token_budget to fit"),
    }
    rows = [row(0, 0.5, 10), row(1, 0.9, 30), row(2, 0.9, 40)]
    chosen = dataclasses.replace(rows[2], origin="baseline:uniform")  # a tie's pick, not on the front
    res = dataclasses.replace(result(rows, baselines=base), best=chosen, leader=rows[1])
    shown = res._repr_html_()
    svg = ET.fromstring(shown[shown.index("<svg") : shown.index("</svg>") + 6])
    ns = "{http://www.w3.org/2000/svg}"
    titles = [t.text for t in svg.iter(f"{ns}title")]
    assert "chosen: trial 2 (baseline:uniform): score 0.9, 40 tokens" in titles
    assert "full: score 0.75, 84 tokens" in titles and "trial 0 (sampler): score 0.5, 10 tokens" in titles
    assert len([c for c in svg.iter(f"{ns}circle") if c.get("r") == "9"]) == 1
    front = shown[shown.index("<tbody>") : shown.index("</tbody>")]
    assert re.findall(r"<tr><td>(\d+\*?)</td>", front) == ["0", "1", "2*"]  # the pick listed off the front
    baselines = shown[shown.index("<th>baseline</th>") :]
    assert "<tr><td>full</td><td class=num>0.7500</td><td class=num>-</td><td class=num>84</td><td>no</td>" in baselines
    assert "<tr><td>uniform</td><td class=num>-</td>" in baselines
    assert [line.split()[0] for line in res.pareto_table().splitlines()[2:5]] == ["0", "1", "2*"]


def test_summary_names_the_interval_test_score_and_a_tie() -> None:
    rows = [row(0, 0.9, 30), row(1, 0.85, 10)]
    res = result(rows, interval=(0.7, 0.95), test_score=0.8, leader=rows[0], p_leader_better=0.41, floor=0.5)
    res = dataclasses.replace(res, best=rows[1])
    line = res.summary()
    assert line.startswith("chosen: trial 1 (sampler), 10 tokens, valset 0.8500 [0.7000, 0.9500] 95% CI, test 0.8000")
    assert "ties with trial 0 (0.9000, 30 tokens): P(better) 0.41 < 0.8, the cheaper wins" in line
    assert line in res.pareto_table() and html.escape(line) in res._repr_html_()
    data = json.loads(res.to_json())
    assert (data["leader"], data["p_leader_better"], data["floor"], data["interval"]) == (0, 0.41, 0.5, [0.7, 0.95])
    # rule 4: a baseline that sends images wins a tie even when the leader is cheaper
    resized = dataclasses.replace(row(2, 0.85, 60), origin="baseline:uniform")
    tied = dataclasses.replace(res, best=resized, candidates=(*rows, resized), leader=rows[1])
    assert "ties with trial 1 (0.8500, 10 tokens)" in tied.summary()
    assert tied.summary().endswith("a baseline that sends images wins a tie")


def test_choices_list_demos_in_natural_order() -> None:
    slots = [f"self/demo{i}/image" for i in range(12)]
    stored = json.dumps({s: {"choice": {"keep_from": i}} for i, s in enumerate(slots)}, sort_keys=True)
    assert list(json.loads(stored))[:3] == ["self/demo0/image", "self/demo1/image", "self/demo10/image"]
    r = dataclasses.replace(row(0, 0.5, 10), selections=stored)
    assert [part.split(":")[0] for part in r.choices().split()] == slots
