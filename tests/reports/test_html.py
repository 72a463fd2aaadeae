"""CompileReport: a self-contained page with the expected sections and valid embedded images."""

from __future__ import annotations

import base64
import io
import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import dspy
import numpy as np
import pytest
from PIL import Image

from specprompt import ConfigError
from specprompt.errors import SpecPromptWarning
from specprompt.reports import CompileReport, describe_program, report_data
from specprompt.reports._demos import image_rows_by_demo
from specprompt.tasks import Task
from specprompt.types import SpectralImage


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.imgs: list[dict[str, str | None]] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "img":
            self.imgs.append(dict(attrs))


def parse(page: str) -> _Collect:
    c = _Collect()
    c.feed(page)
    c.close()
    return c


def decode(src: str) -> Image.Image:
    head, _, payload = src.partition(",")
    assert head == "data:image/png;base64", head[:40]
    im = Image.open(io.BytesIO(base64.b64decode(payload, validate=True)))
    im.load()
    return im


def _check_images(report: CompileReport, page: str) -> int:
    """Checks the embedded images and kept-band marks of a report page; returns the number of originals."""
    parsed = parse(page)
    assert parsed.imgs
    originals = sent = 0
    for img in parsed.imgs:
        im = decode(str(img["src"]))
        if img["alt"] == "original":
            originals += 1
            assert max(im.size) <= report.cell
        elif img["alt"] == "sent image at real size":
            sent += 1
            assert im.size == (int(str(img["width"])), int(str(img["height"])))
        else:
            assert img["alt"] == "sent image upscaled"
            assert int(str(img["width"])) % im.size[0] == 0
    n_images = len([r for r in report.images.rows if r.kind != "dropped"])
    assert sent == n_images and originals == len([r for r in report.images.rows if r.source_hash])
    kept_marks = page.count('<span class="kept">kept</span>')
    expected = sum(
        (len(r.kept) if r.kept is not None else len(r.bands or ())) - len(r.removed_by_resize)
        for r in report.images.rows
        if r.kind == "spectral"
    )
    assert kept_marks == expected
    removed = sum(len(r.removed_by_resize) for r in report.images.rows)
    assert page.count("<td>removed by the resize</td>") == removed
    return originals


def test_sections_and_images(searched: tuple[Any, Any], task: Task, tmp_path: Path) -> None:
    program, result = searched
    report = CompileReport(result, program, sources=task.trainset, run={"program": "a <test> program"})
    page = report.html()
    assert page.startswith("<!DOCTYPE html>")
    for heading in ("<h2>Run</h2>", "<h2>Pareto front</h2>", "<h2>Baselines</h2>", "<h2>Demos</h2>"):
        assert heading in page
    assert "a &lt;test&gt; program" in page and "<test>" not in page
    assert "<script" not in page and "<link" not in page and not re.search(r'(src|href)="https?:', page)
    assert f"<td>{result.config.token_budget}</td>" in page and f"<td>{result.scorer_calls}</td>" in page
    assert "Full-resolution demos: score" in page
    # 0/1 scores: Wilson intervals (never the empty-width [1, 1] of a bootstrap) and the n behind each score
    (lo, hi), (tlo, thi), n = result.interval, result.test_interval, len(task.valset)
    assert result.interval_method == result.test_interval_method == "wilson" and result.interval_n == result.test_n == n
    assert f"score <b>{result.best.score:.4f}</b> (full valset, n = {n}) with" in page
    assert f"Valset score 95% Wilson interval: [{lo:.4f}, {hi:.4f}]." in page and hi > lo
    assert (
        f"Held-out test score: <b>{result.test_score:.4f}</b> (n = {n}), 95% Wilson interval: [{tlo:.4f}, {thi:.4f}]."
        in page
    )
    assert f"<th>score (n = {n})</th><th>test score (n = {n})</th>" in page
    svg = page[page.index("<svg") : page.index("</svg>") + 6]
    ET.fromstring(svg)  # well-formed
    assert 'stroke="#d1242f"' in svg and f"budget {result.config.token_budget}" in svg
    _check_images(report, page)
    # a program of band renders (the chosen one may show images without a source, or none); under this
    # pixel-priced cost model the uniform baseline is one: every band, Lanczos-resampled to one size
    built = ((r, result._build(json.loads(r.params), r.origin)) for r in result.candidates if r.tokens > 0)
    shown = next(p for _, p in built if any(isinstance(d.image, SpectralImage) for d in p.demos))
    spectral = CompileReport(result, shown, sources=task.trainset)
    assert _check_images(spectral, spectral.html()) == len(spectral.images.rows) > 0
    path = report.save(tmp_path / "r.html")
    assert path.read_text(encoding="utf-8") == page
    assert report._repr_html_().startswith('<div class="spr"><style>')


def test_a_sent_image_as_large_as_a_cell_is_embedded_once(searched: tuple[Any, Any], task: Task) -> None:
    _, result = searched
    # full-resolution demos: 64 px task images, upscaled x3 in a 192 px cell, not in a 64 px one
    program = dspy.Predict(task.signature)
    program.demos = list(task.trainset[:3])
    once = 0
    for cell in (192, 64):
        report = CompileReport(result, program, sources=task.trainset, cell=cell)
        page = report.html()
        _check_images(report, page)
        sent = [r for r in report.images.rows if r.kind != "dropped"]
        assert sent
        for r in sent:
            upscaled = cell // max(r.sent_size) > 1
            assert page.count(r.image.url) == (2 if upscaled else 1)
            once += not upscaled
    assert once  # the 64 px cell shows some sent image at real size only, with its tokens
    assert "tokens" in page.split('alt="sent image at real size"', 1)[1].split("</figcaption>", 1)[0]


def test_without_sources_and_from_folder(searched: tuple[Any, Any], tmp_path: Path) -> None:
    program, result = searched
    program.save(str(tmp_path / "program.json"))
    data = report_data(result, {"lm": "nearest"})
    assert data["trials"] and all(set(t) == {"number", "tokens", "score", "full", "origin"} for t in data["trials"])
    (tmp_path / "pareto.json").write_text(json.dumps(data))
    with pytest.warns(SpecPromptWarning, match=r"the trainset it recorded \(None\) is not there"):
        report = CompileReport.from_folder(tmp_path)
    page = report.html()
    assert 'alt="original"' not in page and "<h2>Demos</h2>" in page and "<th>lm</th><td>nearest</td>" in page
    assert "<th>energy</th>" not in page  # no sources: band tables without energies
    direct = CompileReport(data, program)
    assert direct.images == report.images


def _write_trainset(task: Task, root: Path, as_jsonl: bool) -> Path:
    """The task's trainset as files: a folder per label, or a JSONL file of relative paths and data URIs."""
    from specprompt.io import as_array

    lines = []
    for i, ex in enumerate(task.trainset):
        pixels = (as_array(ex.image) * 255).round().astype("uint8")
        if as_jsonl and i % 2:  # every other image inline, as a data URI
            buf = io.BytesIO()
            Image.fromarray(pixels).save(buf, format="PNG")
            ref = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
        else:
            file = root / "images" / str(ex.label) / f"{i:02d}.png"
            file.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(file)
            ref = str(file.relative_to(root))
        lines.append(json.dumps({"image": ref, "label": ex.label}))
    (root / "images" / ".hidden.png").write_bytes(b"not an image")  # skipped, never decoded
    if not as_jsonl:
        return root / "images"
    (root / "train.jsonl").write_text("\n".join(["not json", *lines]) + "\n")
    return root / "train.jsonl"


@pytest.mark.parametrize("as_jsonl", [False, True], ids=["folder", "jsonl"])
def test_from_folder_finds_originals_in_the_recorded_trainset(
    task: Task, searched: tuple[Any, Any], tmp_path: Path, as_jsonl: bool
) -> None:
    program, result = searched
    out = tmp_path / "out"
    out.mkdir()
    program.save(str(out / "program.json"))
    trainset = _write_trainset(task, tmp_path, as_jsonl)
    (out / "pareto.json").write_text(json.dumps(report_data(result, {"trainset": str(trainset)})))
    report = CompileReport.from_folder(out)
    expected = CompileReport(report_data(result), program, sources=task.trainset)
    assert report._sources.keys() == expected._sources.keys() and report._sources
    page = report.html()
    assert 'alt="original"' in page and page.count('alt="original"') == expected.html().count('alt="original"')
    # an explicit sources= wins over the recorded trainset
    assert CompileReport.from_folder(out, sources=[])._sources == {}


def test_report_data_and_errors(searched: tuple[Any, Any], tmp_path: Path) -> None:
    _, result = searched
    data = report_data(result)
    assert report_data(data) == data and report_data(data) is not data
    assert report_data(data, {"x": 1})["run"] == {"x": 1}
    with pytest.raises(ConfigError, match="expected a CompileResult or its dict"):
        report_data(3)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="lacks 'front'"):
        report_data({"config": {}, "best": None})
    with pytest.raises(ConfigError, match=r"cell must be an int in 64 \.\. 512"):
        CompileReport(data, dspy.Predict("a -> b"), cell=10)
    with pytest.raises(ConfigError, match=r"no pareto\.json"):
        CompileReport.from_folder(tmp_path)
    (tmp_path / "pareto.json").write_text("{oops")
    with pytest.raises(ConfigError, match="is not JSON"):
        CompileReport.from_folder(tmp_path)


def test_demo_text_is_escaped(searched: tuple[Any, Any]) -> None:
    program, result = searched
    evil = program.deepcopy()
    for _, pred in evil.named_predictors():
        pred.demos = [d.copy(label="<script>alert(1)</script>") for d in pred.demos]
    page = CompileReport(result, evil).html()
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_dropped_images_show_their_source(searched: tuple[Any, Any], task: Task) -> None:
    program, result = searched
    dropped = program.deepcopy()
    for _, pred in dropped.named_predictors():
        pred.demos = [d.copy(image=None) if i == 0 else d for i, d in enumerate(pred.demos)]
    data = report_data(result)
    slot = "self/demo0/image"
    data["best"]["selections"][slot]["choice"] = {"keep_from": "drop"}
    report = CompileReport(data, dropped, sources=task.trainset)
    page = report.html()
    assert "image dropped: the demo is sent as text only" in page
    assert report.images.rows[0].kind == "dropped"
    first_demo = page[page.index("self / demo 0") : page.index("self / demo 1")]
    assert 'alt="original"' in first_demo


def test_each_demo_is_headed_by_its_label(searched: tuple[Any, Any]) -> None:
    program, result = searched
    page = CompileReport(result, program).html()
    for (pname, di), rows in image_rows_by_demo(describe_program(program)).items():
        assert f"<h3>{rows[0].label} <small>{pname} / demo {di}</small></h3>" in page
        assert f"{rows[0].slot} ({rows[0].label}): " in page  # the Pareto table's choices name the demo too


EMPTY = {"config": {"token_budget": 10, "cost_model": "local"}, "front": [], "best": None}
ROW = {"trial": 1, "score": 0.5, "tokens": 3, "full": True, "selections": {}}


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"front": [{"trial": "x"}]}, r"front\[0\]\['trial'\] must be an int, got 'x'"),
        ({"front": [{"trial": 1, "score": 0.5}], "best": ROW}, r"front\[0\] lacks 'tokens'"),
        ({"front": "x"}, r"'front' must be a list of rows, got str 'x'"),
        ({"front": [ROW]}, r"'best' is None, but 'front' has rows"),
        ({"best": {**ROW, "score": "high"}}, r"best\['score'\] must be a finite number, got 'high'"),
        ({"best": {**ROW, "score": float("nan")}}, r"best\['score'\] must be a finite number, got nan"),
        ({"best": {**ROW, "tokens": -1}}, r"best\['tokens'\] must be >= 0"),
        ({"best": {**ROW, "selections": "all"}}, r"best\['selections'\] must be a mapping"),
        ({"best": 3}, "best must be a mapping, got int 3"),
        ({"config": None}, "'config' must be a mapping"),
        ({"config": {"token_budget": "ten"}}, r"config\['token_budget'\] must be a finite number"),
        ({"config": {"token_budget": -1}}, r"config\['token_budget'\] must be >= 0"),
        ({"trials": {}}, "'trials' must be a list"),
        ({"trials": [{"number": 1, "score": 0.5}]}, r"trials\[0\] lacks 'tokens'"),
        ({"baselines": ["full"]}, "'baselines' must be a mapping"),
        ({"baselines": {"full": {"score": "x"}}}, r"baselines\['full'\]\['score'\] must be a finite number"),
        ({"run": "cli"}, "'run' must be a mapping"),
        ({"interval": [0.9, 0.1]}, r"'interval' must be \[low, high\] finite numbers or None, got list \[0.9, 0.1\]"),
        ({"test_interval": "wide"}, r"'test_interval' must be \[low, high\] finite numbers or None, got str"),
        ({"test_n": 0}, "'test_n' must be an int >= 1 or None, got int 0"),
        ({"interval_n": True}, "'interval_n' must be an int >= 1 or None"),
        ({"interval_method": "normal"}, "'interval_method' must be 'wilson', 'bootstrap' or None, got str 'normal'"),
        ({"when": object()}, "search result data is not JSON"),
    ],
)
def test_malformed_search_data_is_refused_where_it_enters(change: dict[str, Any], match: str) -> None:
    data = {**EMPTY, **change}
    with pytest.raises(ConfigError, match=match):
        report_data(data)
    with pytest.raises(ConfigError, match=match):
        CompileReport(data, dspy.Predict("image: dspy.Image -> label"))


def test_well_formed_minimal_data_is_shown() -> None:
    program = dspy.Predict("image: dspy.Image -> label")
    page = CompileReport({**EMPTY, "front": [ROW], "best": ROW, "baselines": {"full": {"score": None}}}, program).html()
    assert "<td>1 (chosen)</td>" in page
    # a pareto.json of an earlier version: an interval without n or method was a bootstrap one; no test interval
    old = {**EMPTY, "front": [ROW], "best": ROW, "interval": [0.25, 0.75], "test_score": 0.5}
    page = CompileReport(old, program).html()
    assert "(full valset) with" in page and "Valset score 95% bootstrap interval: [0.2500, 0.7500]." in page
    assert "Held-out test score: <b>0.5000</b>.<br>" in page
    with pytest.raises(ConfigError, match="run must be a mapping of metadata, got list"):
        report_data(EMPTY, ["x"])  # type: ignore[arg-type]


def test_save_replaces_a_report_but_not_another_file(tmp_path: Path) -> None:
    report = CompileReport(EMPTY, dspy.Predict("image: dspy.Image -> label"), title="first")
    path = report.save(tmp_path / "new" / "deeper" / "r.html")  # missing folders are created, as --out does
    assert path.read_text(encoding="utf-8") == report.html()
    second = CompileReport(EMPTY, dspy.Predict("image: dspy.Image -> label"), title="second")
    second.save(path)  # an earlier report is replaced
    assert "<title>second</title>" in path.read_text(encoding="utf-8")
    (tmp_path / "empty.html").write_text("")
    report.save(tmp_path / "empty.html")  # an empty file holds nothing to lose
    for name, content in (("notes.html", "<!DOCTYPE html>\n<html><body>mine</body></html>"), ("r.txt", "precious")):
        (tmp_path / name).write_text(content)
        with pytest.raises(ConfigError, match=rf"path '.*{name}' holds a file that is not a specprompt report"):
            report.save(tmp_path / name)
        assert (tmp_path / name).read_text() == content
    (tmp_path / "photo.png").write_bytes(bytes(range(256)))
    with pytest.raises(ConfigError, match="not a specprompt report"):
        report.save(tmp_path / "photo.png")
    with pytest.raises(ConfigError, match="is a folder; give the path of a file"):
        report.save(tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match=r"path '.*file/r\.html': '.*file' is a file, not a folder"):
        report.save(tmp_path / "file" / "r.html")
    with pytest.raises(ConfigError, match="path must be a file path, got NoneType"):
        report.save(None)  # type: ignore[arg-type]


def _row(trial: int, score: float, tokens: int, origin: str) -> dict[str, Any]:
    return {"trial": trial, "score": score, "tokens": tokens, "full": True, "origin": origin, "selections": {}}


# the demo's case: the low-detail baseline ties with a cheaper front point and wins the tie
OFF_FRONT = {
    "config": {"token_budget": 100, "cost_model": "openai:gpt-4.1-mini", "tie_confidence": 0.8},
    "front": [_row(1, 0.25, 0, "baseline:text_only"), _row(7, 1.0, 23, "neighbour:2")],
    "best": _row(0, 1.0, 28, "baseline:low_detail"),
    "trials": [{"number": n, "score": s, "tokens": t, "full": True} for n, s, t in ((0, 1.0, 28), (2, 1.0, 28))],
    "baselines": {"full": {"score": 1.0, "tokens": 28}},
    "leader": 7,
    "p_leader_better": 0.0,
}


def _svg_of(page: str) -> ET.Element:
    return ET.fromstring(page[page.index("<svg") : page.index("</svg>") + 6])


def test_a_chosen_program_off_the_front_is_marked_in_the_plot_and_the_table() -> None:
    page = CompileReport(OFF_FRONT, dspy.Predict("image: dspy.Image -> label")).html()
    svg = _svg_of(page)
    ns = "{http://www.w3.org/2000/svg}"
    rings = [c for c in svg.iter(f"{ns}circle") if c.get("r") == "9"]
    assert len(rings) == 1  # one chosen marker, at the baseline's point, not at the front's trial 7
    dots = {c.findtext(f"{ns}title"): (c.get("cx"), c.get("cy")) for c in svg.iter(f"{ns}circle")}
    chosen = dots["chosen: trial 0 (baseline:low_detail): score 1, 28 tokens"]
    assert (rings[0].get("cx"), rings[0].get("cy")) == chosen != dots["trial 7 (neighbour:2): score 1, 23 tokens"]
    assert "trial 0: score 1, 28 tokens" not in dots  # drawn once, as the chosen point
    assert "chosen: trial 0 (baseline:low_detail)" in [t.text for t in svg.iter(f"{ns}text")]
    rows = re.findall(r"<tr( class=chosen)?><td>([^<]*)</td><td>([^<]*)</td>", page)
    assert rows == [
        ("", "1", "baseline:text_only"),
        ("", "7", "neighbour:2"),
        (" class=chosen", "0 (chosen, not on the front)", "baseline:low_detail"),
    ]
    assert (
        "Chosen: trial 0 (baseline:low_detail), 28 image tokens, score 1.0000 on the full valset; not on the "
        "Pareto front: trial 7 scores as high with fewer tokens (1.0000, 23 tokens). Trial 7 led the full-valset "
        "scores; P(trial 7 beats trial 0) = 0.00 &lt; tie confidence 0.8: a tie, and a baseline that sends "
        "images wins a tie."
    ) in page


def test_a_chosen_front_point_and_what_overruled_the_leader() -> None:
    program = dspy.Predict("image: dspy.Image -> label")
    on_front = {**OFF_FRONT, "best": OFF_FRONT["front"][1], "leader": 7}
    page = CompileReport(on_front, program).html()
    assert re.findall(r"<tr class=chosen><td>([^<]*)</td>", page) == ["7 (chosen)"]
    assert "Trial 7 led the full-valset scores." in page and "not on the Pareto front" not in page
    assert len([c for c in _svg_of(page).iter("{http://www.w3.org/2000/svg}circle") if c.get("r") == "9"]) == 1
    confirmed = {**OFF_FRONT, "p_leader_better": 0.93, "confirmation": {"departed": False, "fallback": 0}}
    page = CompileReport(confirmed, program).html()
    assert (
        "P(trial 7 beats trial 0) = 0.93 &gt;= tie confidence 0.8: the check of leaving the best baseline "
        "returned the baseline (below)."
    ) in page
    trimmed = {**OFF_FRONT, "best": _row(9, 1.0, 12, "trim:1"), "trim": {"chosen": 0}}
    page = CompileReport(trimmed, program).html()
    assert "; trimmed from trial 0, the selection rule&#x27;s pick. Trial 7 led" in page
    assert "P(trial 7 beats trial 0) = 0.00 &lt; tie confidence 0.8: a tie." in page  # trial 0's origin unknown
    # the trimmed program's pick is a trial off the front: its origin is read from the trials
    trials = [{**t, "origin": "baseline:low_detail" if t["number"] == 0 else "sampler"} for t in OFF_FRONT["trials"]]
    page = CompileReport({**trimmed, "trials": trials}, program).html()
    assert "= 0.00 &lt; tie confidence 0.8: a tie, and a baseline that sends images wins a tie." in page
    assert "; trimmed from trial 0 (baseline:low_detail), the selection rule&#x27;s pick." in page


def test_token_counts_lead_with_the_compiles_cost_model(searched: tuple[Any, Any]) -> None:
    program, result = searched
    page = CompileReport(result, program).html()
    model = result.config.cost_model
    images = describe_program(program, cost_model=model)
    local, billed = images.tokens()
    assert billed == result.best.tokens != local  # the target's count, which the local one is not
    assert f"Its demo images: {billed} {model} ({local} local) tokens." in page
    for (_, _), rows in image_rows_by_demo(images).items():
        mine = sum(r.model_tokens or 0 for r in rows), sum(r.local_tokens for r in rows)
        assert f"<div>image tokens: {mine[0]} {model} ({mine[1]} local)</div>" in page
    for r in images.rows:
        if r.kind != "dropped":
            assert f"; {r.model_tokens} {model} ({r.local_tokens} local) tokens" in page
    table = images.table().splitlines()
    assert table[1].split()[-4:] == [model.split(":")[-1], "local", "source", "hash"]
    assert table[-1] == f"total image tokens per prompt: {billed} {model} ({local} local)"


def test_the_pareto_table_lists_demos_in_natural_order() -> None:
    slots = [f"self/demo{i}/image" for i in range(12)]
    selections = json.loads(json.dumps({s: {"choice": {"keep_from": i}} for i, s in enumerate(slots)}, sort_keys=True))
    best = {**ROW, "selections": selections}
    page = CompileReport({**EMPTY, "front": [best], "best": best}, dspy.Predict("image: dspy.Image -> label")).html()
    assert re.findall(r"(self/demo\d+/image): keep_from=", page) == slots


def test_bands_the_resize_removes_are_marked_in_the_band_tables(resized: tuple[Any, Any]) -> None:
    program, source = resized
    data = {"config": {"token_budget": 10, "cost_model": "local"}, "front": [], "best": None}
    report = CompileReport(data, program, sources=[source])
    page = report.html()
    _check_images(report, page)
    tables = re.findall(r"<table><tr><th>band</th>.*?</table>", page)
    half, partly, exact = tables
    assert "<td>L0</td><td>0</td><td>0.500-1.000</td>" in half
    assert re.search(r"<tr class=drop><td>L0</td>.*?<td>removed by the resize</td></tr>", half)
    assert page.count("sent at 32x32 of a 64x64 source (Lanczos): the image sent holds frequencies up to 0.500") == 1
    assert "Nyquist, so the resize removes 1 band the selection kept." in page
    assert re.search(r"<td>L0</td>.*?<td><span class=\"kept\">kept</span>, above 0.625 removed</td>", partly)
    assert "removed" not in exact and page.count("Lanczos") == 2  # the exact render has no resize note


def test_text_only_demos_are_said_plainly(searched: tuple[Any, Any], task: Task) -> None:
    _, result = searched
    data = report_data(result)
    text_only = result.baselines["text_only"]
    data["best"] = {**data["best"], "score": text_only.score, "tokens": 0}  # as if the text-only demos won
    report = CompileReport(data, text_only.program, sources=task.trainset)
    page = report.html()
    n = len(text_only.program.demos)
    said = f"<b>No demo image is sent</b>: the search dropped all {n} demo images; the demos are text-only."
    assert page.count(said) == 2  # in the summary and atop the demos
    assert "Its demo images:" not in page and "<th>band</th>" not in page and 'alt="sent image' not in page
    assert page.count("image dropped: the demo is sent as text only") == n
    assert "(the chosen program sends no image tokens)" in page


def test_a_detail_crop_shows_its_region_in_the_original(cropped: tuple[Any, Any]) -> None:
    program, source = cropped
    data = {"config": {"token_budget": 10, "cost_model": "local"}, "front": [], "best": None}
    page = CompileReport(data, program, sources=[source]).html()
    said = "detail crop: the 24x20 px box at left 16, top 8 (x 16..39, y 8..27) of the 64x48 source image"
    assert page.count(said) == 1 and "; sent at 24x20</div>" in page
    (img,) = [i for i in parse(page).imgs if i["alt"] == "original with the crop's region outlined"]
    pixels = np.asarray(decode(str(img["src"])).convert("RGB")).astype(int)
    scale = int(str(img["width"])) / 64
    red = (pixels[:, :, 0] > 200) & (pixels[:, :, 1] < 60) & (pixels[:, :, 2] < 60)
    rows, cols = np.nonzero(red)
    assert (cols.min(), rows.min()) == (round(16 * scale), round(8 * scale))  # the box's top-left corner
    assert (cols.max(), rows.max()) == (round(40 * scale) - 1, round(28 * scale) - 1)
    # its band table reads the crop's region of the original: energies are shown
    crop_slot = page[page.index(said) :]
    assert "<th>energy</th>" in crop_slot[: crop_slot.index("</table>")]


def test_a_sharpened_demo_image_says_so_beside_its_sent_size(sharpened: tuple[Any, Any]) -> None:
    program, source = sharpened
    data = {"config": {"token_budget": 10, "cost_model": "local"}, "front": [], "best": None}
    report = CompileReport(data, program, sources=[source])
    page = report.html()
    _check_images(report, page)
    assert page.count("<figcaption>sent, real size 32x32, sharpened 100%</figcaption>") == 1
    assert page.count("<figcaption>sent, real size 32x32</figcaption>") == 1
    assert page.count("sent at 32x32 of a 64x64 source (Lanczos, then sharpened 100%): the image sent") == 1
    assert page.count("sent at 32x32 of a 64x64 source (Lanczos): the image sent") == 1
