"""pareto_svg: well-formed SVG, markers per kind, budget line, log axis, errors."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pytest

from specprompt import ConfigError
from specprompt._pareto import Box, label_box
from specprompt.reports import PlotPoint, pareto_svg

NS = "{http://www.w3.org/2000/svg}"


def test_markers_and_budget() -> None:
    points = [
        PlotPoint(5, 0.25, "trial", "trial 1"),
        PlotPoint(8, 0.5, "front"),
        PlotPoint(12, 0.75, "chosen", "trial 3"),
        PlotPoint(40, 0.75, "baseline", "full <res>"),
    ]
    svg = pareto_svg(points, budget=20, title="t & t")
    root = ET.fromstring(svg)
    assert root.tag == f"{NS}svg" and root.get("width") == "560"
    titles = [t.text for t in root.iter(f"{NS}title")]
    assert "trial 3: score 0.75, 12 tokens" in titles and "full <res>: score 0.75, 40 tokens" in titles
    texts = [t.text for t in root.iter(f"{NS}text")]
    assert "budget 20" in texts and "t & t" in texts and "full <res>" in texts
    assert "image tokens per prompt" in texts  # linear axis: no log note
    chosen = [c for c in root.iter(f"{NS}circle") if c.get("r") == "9"]
    assert len(chosen) == 1
    steps = [p.get("d") for p in root.iter(f"{NS}path") if p.get("stroke") == "#1f6feb"]
    assert len(steps) == 1 and steps[0].count("V") == 1  # front 8 -> 12: one step up


def test_log_axis_and_score_range() -> None:
    svg = pareto_svg([PlotPoint(2, 3.0), PlotPoint(2000, -1.0, "baseline", "b")])
    root = ET.fromstring(svg)
    texts = [t.text for t in root.iter(f"{NS}text")]
    assert "image tokens per prompt (log scale)" in texts and "1000" in texts
    single = ET.fromstring(pareto_svg([PlotPoint(0, 0.5)]))  # one point, zero tokens: still drawn
    assert len(list(single.iter(f"{NS}circle"))) >= 1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"tokens": 1, "score": 0.5, "kind": "best"}, "kind must be one of"),
        ({"tokens": 1, "score": math.nan}, "score must be a finite number"),
        ({"tokens": -1, "score": 0.5}, "tokens must be >= 0"),
        ({"tokens": True, "score": 0.5}, "tokens must be a finite number"),
    ],
)
def test_point_errors(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        PlotPoint(**kwargs)  # type: ignore[arg-type]


def test_plot_errors() -> None:
    with pytest.raises(ConfigError, match="at least one point"):
        pareto_svg([])
    with pytest.raises(ConfigError, match="at least 200 x 120"):
        pareto_svg([PlotPoint(1, 1)], width=100)
    with pytest.raises(ConfigError, match=r"at least 200 x 120, got 300\.5 x 320"):
        pareto_svg([PlotPoint(1, 1)], width=300.5)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="points must be PlotPoint objects, got int 1 at index 0"):
        pareto_svg([1, 2, 3])  # type: ignore[list-item]
    with pytest.raises(ConfigError, match=r"got tuple \(1, 0\.5\) at index 1"):
        pareto_svg([PlotPoint(1, 1), (1, 0.5)])  # type: ignore[list-item]
    with pytest.raises(ConfigError, match="points must be a sequence of PlotPoint, got PlotPoint"):
        pareto_svg(PlotPoint(1, 1))  # type: ignore[arg-type]
    for budget in (-1, math.inf, "10"):
        with pytest.raises(ConfigError, match="budget must be a finite number >= 0 or None"):
            pareto_svg([PlotPoint(1, 1)], budget=budget)  # type: ignore[arg-type]


def _labels(svg: str) -> list[tuple[str, Box]]:
    """Every text of a baseline or the chosen point, with its estimated box."""
    out = []
    for t in ET.fromstring(svg).iter(f"{NS}text"):
        if t.get("fill") in ("#8250df", "#d1242f"):
            bold = t.get("font-weight") == "bold"
            box = label_box(float(t.get("x", 0)), float(t.get("y", 0)), t.text or "", t.get("text-anchor", ""), bold)
            out.append((t.text or "", box))
    return out


def test_labels_of_close_points_do_not_overlap() -> None:
    close = [("full", 28, 1.0), ("low_detail", 28, 1.0), ("uniform", 26, 0.98), ("random", 30, 0.97)]
    points = [PlotPoint(t, s, "baseline", name) for name, t, s in close]
    points += [PlotPoint(0, 0.25, "baseline", "text_only"), PlotPoint(23, 1.0, "front", "trial 7")]
    points += [PlotPoint(27, 0.99, "chosen", "chosen: trial 12 (neighbour:7)")]
    points += [PlotPoint(20 + i % 9, 0.9 + 0.01 * (i % 7)) for i in range(30)]
    svg = pareto_svg(points, budget=40)
    labels = _labels(svg)
    texts = [text for text, _ in labels]
    # the two baselines on one pixel share a label; every other labelled point has its own
    assert sorted(texts) == sorted(
        ["full, low_detail", "uniform", "random", "text_only", "chosen: trial 12 (neighbour:7)"]
    )
    plot = Box(56, 34, 560 - 16, 320 - 42)
    for i, (a, box) in enumerate(labels):
        assert plot.holds(box), a
        for b, other in labels[i + 1 :]:
            assert not box.hits(other), (a, b)
    # no label covers a labelled marker (their centres, and the front point's)
    root = ET.fromstring(svg)
    centres = [(float(c.get("cx", 0)), float(c.get("cy", 0))) for c in root.iter(f"{NS}circle") if c.get("r") != "3"]
    for text, box in labels:
        assert not any(box.x0 < x < box.x1 and box.y0 < y < box.y1 for x, y in centres), text
    budget = next(t for t in root.iter(f"{NS}text") if (t.text or "").startswith("budget"))
    assert not any(
        label_box(
            float(budget.get("x", 0)),
            float(budget.get("y", 0)),
            budget.text or "",
            budget.get("text-anchor", ""),
            False,
        ).hits(b)
        for _, b in labels
    )


def test_a_label_with_no_free_place_is_left_to_the_tooltip() -> None:
    # forty baselines a few pixels apart in one column: what does not fit is named by its marker's tooltip
    points = [PlotPoint(50, 0.025 * i, "baseline", f"baseline {i}") for i in range(40)]
    svg = pareto_svg(points, width=300, height=200)
    drawn = [text for text, _ in _labels(svg)]
    assert 0 < len(drawn) < 40
    titles = [t.text for t in ET.fromstring(svg).iter(f"{NS}title")]
    assert all(any((t or "").startswith(f"baseline {i}:") for t in titles) for i in range(40))
    boxes = [box for _, box in _labels(svg)]
    assert not any(a.hits(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])
