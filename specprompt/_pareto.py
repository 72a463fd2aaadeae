"""The Pareto plot and the baselines table of a band search, from its data (``CompileResult.to_dict()``).

An inline SVG plot of score against image tokens (trials, the Pareto front, the chosen point,
baselines) and an HTML table of the baselines, shared by the report
(:class:`~specprompt.reports.CompileReport`, which exports :func:`pareto_svg` and
:class:`PlotPoint`) and the notebook display of a :class:`~specprompt.search.CompileResult`, which
the reports read and so cannot be imported by it.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from specprompt.errors import ConfigError

__all__ = [
    "Box",
    "Mark",
    "PlotPoint",
    "baselines_table",
    "label_box",
    "natural_key",
    "pareto_points",
    "pareto_svg",
    "place_labels",
]

PointKind = Literal["trial", "front", "chosen", "baseline"]
_KINDS = ("trial", "front", "chosen", "baseline")
_COLOURS = {"trial": "#9aa5b1", "front": "#1f6feb", "chosen": "#d1242f", "baseline": "#8250df"}


@dataclass(frozen=True)
class PlotPoint:
    """One marker of :func:`pareto_svg`.

    Attributes:
        tokens: image tokens per prompt (x).
        score: validation score (y).
        kind: ``"trial"`` (a feasible candidate), ``"front"`` (on the Pareto front), ``"chosen"``
            (the returned program) or ``"baseline"`` (a labelled diamond).
        label: text next to baseline and chosen markers, and in the tooltip.
    """

    tokens: float
    score: float
    kind: PointKind = "trial"
    label: str = ""

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ConfigError(f"PlotPoint kind must be one of {', '.join(_KINDS)}, got {self.kind!r}")
        for name in ("tokens", "score"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
                raise ConfigError(f"PlotPoint {name} must be a finite number, got {v!r}")
        if self.tokens < 0:
            raise ConfigError(f"PlotPoint tokens must be >= 0, got {self.tokens!r}")


def _named(row: Mapping[str, Any]) -> str:
    """``"trial 7 (neighbour:2)"``; the trial alone when its origin is not recorded."""
    origin = row.get("origin")
    return f"trial {row['trial']}" + (f" ({origin})" if origin else "")


def pareto_points(data: Mapping[str, Any]) -> list[PlotPoint]:
    """The markers of a search's data (:func:`~specprompt.reports.report_data`): every scored trial,
    the front, the chosen program and the scored baselines.

    The chosen program (``data["best"]``) is marked ``"chosen"`` wherever it is: on the front, or
    off it (a baseline or a cheaper tie chosen by the selection rule over a front point); its label
    names its trial and origin.

    Example:
        >>> row = {"trial": 3, "score": 0.5, "tokens": 9, "origin": "baseline:uniform"}
        >>> data = {"front": [{**row, "trial": 1, "origin": "sampler"}], "best": row, "trials": []}
        >>> [(p.kind, p.label) for p in pareto_points(data)]
        [('front', 'trial 1 (sampler)'), ('chosen', 'chosen: trial 3 (baseline:uniform)')]
    """
    best = data.get("best") or {}
    chosen = best.get("trial")
    front = data.get("front") or []
    front_trials = {r["trial"] for r in front}
    points = [
        PlotPoint(t["tokens"], t["score"], "trial", f"trial {t['number']}")
        for t in data.get("trials") or []
        if t["number"] not in front_trials and t["number"] != chosen
    ]
    points += [PlotPoint(r["tokens"], r["score"], "front", _named(r)) for r in front if r["trial"] != chosen]
    for name, b in (data.get("baselines") or {}).items():
        if b.get("score") is not None and b.get("tokens") is not None:
            points.append(PlotPoint(b["tokens"], b["score"], "baseline", name))
    if best:
        points.append(PlotPoint(best["tokens"], best["score"], "chosen", "chosen: " + _named(best)))
    return points


#: Estimated advance of one character of an 11 px sans-serif label, bold and not, and a line's height:
#: the SVG carries no font metrics, so these err wide (a box that clears another on the estimate clears
#: it drawn).
_CHAR_W, _BOLD_W, _LINE_H = 6.4, 7.2, 12.0
#: Rings of places tried around a marker before its label is left to the tooltip.
_RINGS = 8


@dataclass(frozen=True)
class Box:
    """An axis-aligned rectangle in SVG pixels (``y`` grows downwards)."""

    x0: float
    y0: float
    x1: float
    y1: float

    def hits(self, other: Box) -> bool:
        """Whether the two boxes overlap (touching edges do not)."""
        return self.x0 < other.x1 and other.x0 < self.x1 and self.y0 < other.y1 and other.y0 < self.y1

    def holds(self, other: Box) -> bool:
        """Whether ``other`` lies inside this box."""
        return self.x0 <= other.x0 and other.x1 <= self.x1 and self.y0 <= other.y0 and other.y1 <= self.y1


@dataclass(frozen=True)
class Mark:
    """A labelled marker: its centre, radius, label text, kind and weight."""

    x: float
    y: float
    r: float
    text: str
    kind: PointKind
    bold: bool = False


def label_box(x: float, y: float, text: str, anchor: str, bold: bool = False) -> Box:
    """The estimated box of a label drawn at ``(x, y)`` (its baseline) with ``text-anchor`` ``anchor``,
    with a margin of 2 px on each side so that two labels never touch."""
    w = len(text) * (_BOLD_W if bold else _CHAR_W)
    x0 = x if anchor == "start" else x - w if anchor == "end" else x - w / 2
    return Box(x0 - 2, y - 10, x0 + w + 2, y + 4)


def _places(r: float) -> list[tuple[float, float, str]]:
    """Offsets ``(dx, dy, anchor)`` of a label's baseline from its marker, nearest first: beside it
    (right, left), above, below, then the same a line further each ring."""
    g = r + 6
    out: list[tuple[float, float, str]] = []
    for k in range(_RINGS):
        s = k * _LINE_H
        side = [(g, 3.0, "start"), (-g, 3.0, "end")] if k == 0 else []
        for dy in (3.0 - s, 3.0 + s) if k else ():
            side += [(g, dy, "start"), (-g, dy, "end")]
        out += [*side, (0.0, -g - 3 - s, "middle"), (0.0, g + 9 + s, "middle")]
    return out


def place_labels(marks: Sequence[Mark], area: Box, avoid: Sequence[Box] = ()) -> list[tuple[float, float, str] | None]:
    """Where each label goes, in order of ``marks`` (the first placed first): the baseline
    ``(x, y, anchor)`` of the nearest place whose box lies in ``area`` and overlaps no marker, no box
    of ``avoid`` (other markers) and no label placed before it, or ``None`` when no place within
    :data:`_RINGS` lines is free.

    Example:
        >>> marks = [Mark(100, 50, 6, "full", "baseline"), Mark(100, 50, 6, "uniform", "baseline")]
        >>> place_labels(marks, Box(0, 0, 300, 200))
        [(112, 53.0, 'start'), (88, 53.0, 'end')]
    """
    taken = [Box(m.x - m.r, m.y - m.r, m.x + m.r, m.y + m.r) for m in marks] + list(avoid)
    out: list[tuple[float, float, str] | None] = []
    for m in marks:
        spot = None
        for dx, dy, anchor in _places(m.r):
            box = label_box(m.x + dx, m.y + dy, m.text, anchor, m.bold)
            if area.holds(box) and not any(box.hits(t) for t in taken):
                spot = (m.x + dx, m.y + dy, anchor)
                taken.append(box)
                break
        out.append(spot)
    return out


def _marks(points: Sequence[PlotPoint], fx: Callable[[float], float], fy: Callable[[float], float]) -> list[Mark]:
    """The labelled markers: the chosen point first, then the baselines from left to right; baselines
    drawn on the same pixel share one label (``"full, low_detail"``)."""
    marks = [Mark(fx(p.tokens), fy(p.score), 9, p.label, "chosen", True) for p in points if p.kind == "chosen"]
    groups: dict[tuple[int, int], list[PlotPoint]] = {}
    for p in sorted((p for p in points if p.kind == "baseline"), key=lambda p: (p.tokens, -p.score)):
        groups.setdefault((round(fx(p.tokens)), round(fy(p.score))), []).append(p)
    for group in groups.values():
        text = ", ".join(p.label for p in group if p.label)
        marks.append(Mark(fx(group[0].tokens), fy(group[0].score), 6, text, "baseline"))
    return [m for m in marks if m.text]


def natural_key(text: str) -> tuple[tuple[int, int | str], ...]:
    """A sort key that orders the numbers inside names by value: ``demo2`` before ``demo10``.

    Slot ids and demo names are stored key-sorted (``json.dumps(sort_keys=True)``), which puts
    ``self/demo10/image`` before ``self/demo2/image``; every listing of demos sorts with this key.

    Example:
        >>> sorted(["self/demo10/image", "self/demo2/image", "self/demo1/image[3]"], key=natural_key)
        ['self/demo1/image[3]', 'self/demo2/image', 'self/demo10/image']
    """
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", text) if part)


def baselines_table(
    baselines: Mapping[str, Mapping[str, Any]] | None, *, val_n: int | None = None, test_n: int | None = None
) -> str:
    """An HTML table of the baselines of a search's data (name -> ``BaselineResult.to_dict()``):
    score, test score, tokens, whether it fits the budget and the note; ``""`` when there are none.
    ``val_n`` and ``test_n`` (the examples each score is over) go in the column heads when known.

    Example:
        >>> table = baselines_table({"full": {"score": 0.5, "tokens": 84, "fits": False, "note": "all bands"}})
        >>> "<tr><td>full</td><td class=num>0.5000</td><td class=num>-</td><td class=num>84</td>" in table
        True
    """
    if not baselines:
        return ""

    def score(v: object) -> str:
        return "-" if v is None else f"{float(v):.4f}"  # type: ignore[arg-type]

    e = html.escape
    head = (
        f"<tr><th>baseline</th><th>score{'' if val_n is None else f' (n = {val_n})'}</th>"
        f"<th>test score{'' if test_n is None else f' (n = {test_n})'}</th><th>tokens</th><th>fits budget</th>"
        "<th>note</th></tr>"
    )
    body = "".join(
        f"<tr><td>{e(str(name))}</td><td class=num>{score(b.get('score'))}</td>"
        f"<td class=num>{score(b.get('test_score'))}</td>"
        f"<td class=num>{'-' if b.get('tokens') is None else b['tokens']}</td>"
        f"<td>{'yes' if b.get('fits') else 'no'}</td><td>{e(str(b.get('note', '')))}</td></tr>"
        for name, b in baselines.items()
    )
    return f"<table>{head}{body}</table>"


def _nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.ceil(lo / step - 1e-9) * step
    out = []
    v = start
    while v <= hi + 1e-9 * step:
        out.append(round(v, 10))
        v += step
    return out


def _fmt(v: float) -> str:
    return f"{v:.0f}" if abs(v - round(v)) < 1e-9 and abs(v) >= 1 else f"{v:.3g}"


def pareto_svg(
    points: Sequence[PlotPoint],
    *,
    budget: float | None = None,
    width: int = 560,
    height: int = 320,
    title: str = "",
    x_label: str = "image tokens per prompt",
    y_label: str = "score",
) -> str:
    """An ``<svg>`` element plotting score (up is better) against tokens (left is cheaper).

    ``front`` and ``chosen`` points are joined by a staircase (the best score reachable within
    each token count); ``budget`` draws a dashed vertical line. The x axis turns logarithmic
    (``log(1 + tokens)``) when the tokens span more than 1.5 decades.

    Args:
        points: the markers; at least one.
        budget: the token budget, or ``None``.
        width, height: size in pixels (>= 200 x 120).
        title, x_label, y_label: texts (escaped).

    Returns:
        SVG markup with no script and no external reference.

    Raises:
        ConfigError: no points, a point that is not a :class:`PlotPoint`, a ``budget`` that is not
            a finite number >= 0, or a size that is not an int or too small.

    Example:
        >>> svg = pareto_svg([PlotPoint(10, 0.5, "front"), PlotPoint(40, 0.9, "chosen")], budget=50)
        >>> svg.startswith("<svg") and "budget 50" in svg
        True
    """
    if isinstance(points, (str, bytes)) or not isinstance(points, Sequence):
        raise ConfigError(f"pareto_svg points must be a sequence of PlotPoint, got {type(points).__name__}")
    if not points:
        raise ConfigError("pareto_svg needs at least one point")
    bad = next((i for i, p in enumerate(points) if not isinstance(p, PlotPoint)), None)
    if bad is not None:
        raise ConfigError(
            f"pareto_svg points must be PlotPoint objects, got {type(points[bad]).__name__} "
            f"{points[bad]!r} at index {bad}; build them as PlotPoint(tokens, score, kind, label)"
        )
    if budget is not None and (
        not isinstance(budget, (int, float)) or isinstance(budget, bool) or not math.isfinite(budget) or budget < 0
    ):
        raise ConfigError(f"pareto_svg budget must be a finite number >= 0 or None, got {budget!r}")
    sizes_ok = all(isinstance(v, int) and not isinstance(v, bool) for v in (width, height))
    if not sizes_ok or width < 200 or height < 120:
        raise ConfigError(f"pareto_svg size must be ints of at least 200 x 120, got {width!r} x {height!r}")
    left, right, top, bottom = 56, 16, 34, 42
    pw, ph = width - left - right, height - top - bottom
    xs = [p.tokens for p in points] + ([budget] if budget is not None else [])
    ys = [p.score for p in points]
    x_hi = max(xs) * 1.05 or 1.0
    positive = [x for x in xs if x > 0]
    log = bool(positive) and max(xs) / min(positive) > 10**1.5 and max(xs) > 30

    def fx(v: float) -> float:
        t = math.log1p(v) / math.log1p(x_hi) if log else v / x_hi
        return left + t * pw

    y_lo, y_hi = (0.0, 1.0) if min(ys) >= 0 and max(ys) <= 1 else (min(ys), max(ys))
    if y_hi - y_lo < 1e-9:
        y_lo, y_hi = y_lo - 0.5, y_hi + 0.5
    pad = 0.04 * (y_hi - y_lo)
    y_lo, y_hi = y_lo - pad, y_hi + pad

    def fy(v: float) -> float:
        return top + (1 - (v - y_lo) / (y_hi - y_lo)) * ph

    e = html.escape
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{e(title or "score against image tokens")}" '
        'font-family="sans-serif" font-size="11">',
        f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="#fbfbfc" stroke="#d0d7de"/>',
    ]
    if title:
        parts.append(f'<text x="{left}" y="{top - 18}" font-size="13" font-weight="bold">{e(title)}</text>')
    if log:
        ticks = [0.0] + [m * 10**k for k in range(0, 8) for m in (1, 3) if m * 10**k <= x_hi]
    else:
        ticks = _nice_ticks(0.0, x_hi)
    for t in ticks:
        x = fx(t)
        parts.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + ph}" stroke="#eaeef2"/>')
        parts.append(f'<text x="{x:.1f}" y="{top + ph + 14}" text-anchor="middle">{_fmt(t)}</text>')
    for t in _nice_ticks(y_lo, y_hi):
        y = fy(t)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + pw}" y2="{y:.1f}" stroke="#eaeef2"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{_fmt(t)}</text>')
    scale_note = " (log scale)" if log else ""
    parts.append(
        f'<text x="{left + pw / 2:.1f}" y="{height - 8}" text-anchor="middle">{e(x_label + scale_note)}</text>'
    )
    parts.append(
        f'<text x="14" y="{top + ph / 2:.1f}" text-anchor="middle" transform="rotate(-90 14 {top + ph / 2:.1f})">'
        f"{e(y_label)}</text>"
    )
    avoid: list[Box] = []  # what labels must not cover besides the labelled markers
    if budget is not None:
        x = fx(budget)
        parts.append(
            f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + ph}" stroke="#e16f24" stroke-dasharray="5 4"/>'
        )
        text, by = f"budget {_fmt(budget)}", top + ph - 5  # at the foot: points near the budget score high
        anchor, bx = ("start", x + 4) if label_box(x + 4, by, text, "start").x1 <= width else ("end", x - 4)
        avoid.append(label_box(bx, by, text, anchor))
        parts.append(f'<text x="{bx:.1f}" y="{by:.1f}" fill="#e16f24" text-anchor="{anchor}">{e(text)}</text>')
    front = sorted((p for p in points if p.kind in ("front", "chosen")), key=lambda p: (p.tokens, -p.score))
    if front:
        path = [f"M{fx(front[0].tokens):.1f},{fy(front[0].score):.1f}"]
        best = front[0].score
        for p in front[1:]:
            if p.score <= best:
                continue
            path.append(f"H{fx(p.tokens):.1f}V{fy(p.score):.1f}")
            best = p.score
        path.append(f"H{left + pw}")
        parts.append(f'<path d="{"".join(path)}" fill="none" stroke="#1f6feb" stroke-width="1.5" opacity="0.7"/>')
    order = {"trial": 0, "front": 1, "baseline": 2, "chosen": 3}
    for p in sorted(points, key=lambda p: order[p.kind]):
        x, y, c = fx(p.tokens), fy(p.score), _COLOURS[p.kind]
        tip = f"<title>{e(p.label or p.kind)}: score {p.score:.4g}, {_fmt(p.tokens)} tokens</title>"
        if p.kind == "baseline":
            d = 6
            parts.append(
                f'<path d="M{x:.1f},{y - d:.1f}L{x + d:.1f},{y:.1f}L{x:.1f},{y + d:.1f}L{x - d:.1f},{y:.1f}Z" '
                f'fill="{c}" opacity="0.85">{tip}</path>'
            )
        elif p.kind == "chosen":
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="9" fill="none" stroke="{c}" stroke-width="2.5"/>')
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4.5" fill="{c}">{tip}</circle>')
        else:
            r = 4.5 if p.kind == "front" else 3
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r}" fill="{c}" opacity="0.85">{tip}</circle>')
    marks = _marks(points, fx, fy)
    avoid += [Box(fx(p.tokens) - 5, fy(p.score) - 5, fx(p.tokens) + 5, fy(p.score) + 5) for p in front]
    spots = place_labels(marks, Box(left, top, left + pw, top + ph), avoid)
    for m, spot in zip(marks, spots, strict=True):
        if spot is None:  # no free place: the marker's tooltip names it
            continue
        tx, ty, anchor = spot
        c = _COLOURS[m.kind]
        if abs(ty - 3 - m.y) > m.r + _LINE_H:  # moved away from its marker: a leader line shows whose it is
            parts.append(
                f'<line x1="{m.x:.1f}" y1="{m.y:.1f}" x2="{tx:.1f}" y2="{ty - 3:.1f}" stroke="{c}" opacity="0.5"/>'
            )
        bold = ' font-weight="bold"' if m.bold else ""
        parts.append(f'<text x="{tx:.1f}" y="{ty:.1f}" fill="{c}" text-anchor="{anchor}"{bold}>{e(m.text)}</text>')
    legend = [("trial", "candidate"), ("front", "Pareto front"), ("chosen", "chosen"), ("baseline", "baseline")]
    present = {p.kind for p in points} | ({"front"} if front else set())
    items = [(kind, text) for kind, text in legend if kind in present]
    lx = left + pw - sum(18 + 6.5 * len(text) for _, text in items)
    for kind, text in items:
        parts.append(f'<circle cx="{lx:.1f}" cy="{top - 8}" r="4" fill="{_COLOURS[kind]}"/>')
        parts.append(f'<text x="{lx + 7:.1f}" y="{top - 4}">{text}</text>')
        lx += 18 + 6.5 * len(text)
    parts.append("</svg>")
    return "".join(parts)
