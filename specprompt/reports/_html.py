"""A self-contained HTML report of a band search: demos, kept bands, images sent, Pareto front, baselines.

One file, no script, no external reference: images are PNG data URIs, the plot is inline SVG and
the style is inline CSS (scoped under ``.spr`` so the report can sit inside a Jupyter notebook).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from specprompt._pareto import baselines_table, natural_key, pareto_points, pareto_svg
from specprompt.errors import ConfigError
from specprompt.reports._checks import REPORT_HEAD, check_report_data, check_report_path
from specprompt.reports._decisions import (
    calibration_section,
    chosen_text,
    confirmation_section,
    local_pick_section,
    screening_section,
    trim_section,
)
from specprompt.reports._demos import DemoImage, ProgramImages, describe_program, image_rows_by_demo
from specprompt.reports._slots import band_table, crop_provenance, sent_figures, thumb
from specprompt.reports._sources import find_sources, recorded_sources
from specprompt.reports._state import demo_texts
from specprompt.reports._text import escape, fmt_score

if TYPE_CHECKING:
    import dspy

    from specprompt.search import CompileResult

__all__ = ["CompileReport", "report_data"]

_CSS = """
.spr{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;font-size:14px;color:#1f2328;max-width:1100px}
.spr h1{font-size:22px;margin:8px 0}.spr h2{font-size:18px;margin:22px 0 8px;border-bottom:1px solid #d0d7de}
.spr h3{font-size:15px;margin:14px 0 6px}.spr h3 small{font-weight:normal;color:#57606a}
.spr table{border-collapse:collapse;margin:6px 0}.spr td,.spr th{border:1px solid #d0d7de;padding:3px 7px;
text-align:left;vertical-align:top}.spr th{background:#f6f8fa}.spr td.num{text-align:right}
.spr .demo{border:1px solid #d0d7de;border-radius:6px;padding:8px 10px;margin:10px 0}
.spr .slot{display:flex;flex-wrap:wrap;gap:14px;align-items:flex-start;margin:6px 0}
.spr figure{margin:0}.spr figcaption{font-size:12px;color:#57606a;max-width:260px}
.spr img.px{image-rendering:pixelated;border:1px solid #d0d7de}
.spr tr.drop td{color:#8c959f;text-decoration:line-through}.spr .kept{color:#1a7f37;font-weight:bold}
.spr tr.chosen td{background:#fff1f0;font-weight:bold}
.spr .summary{background:#f6f8fa;border-radius:6px;padding:8px 12px}.spr code{font-size:12px}
"""


def _interval_text(data: Mapping[str, Any], key: str, method_key: str) -> str:
    """``"95% Wilson interval: [0.8865, 1.0000]"`` of ``data[key]``; an interval of data that names
    no method is a bootstrap one (the reports of earlier versions)."""
    low, high = data[key]
    level = round(100 * float(data.get("interval_level") or 0.95))
    how = "Wilson" if data.get(method_key) == "wilson" else "bootstrap"
    return f"{level}% {how} interval: [{fmt_score(low)}, {fmt_score(high)}]"


def _all_dropped(n: int) -> str:
    """Why a program sends no demo image: ``"the search dropped all 3 demo images; the demos are text-only"``."""
    images = "the demo image" if n == 1 else f"all {n} demo images"
    return f"the search dropped {images}; the demos are text-only"


def _target_text(calls: Any) -> str | None:
    """``target_calls`` of ``pareto.json`` as ``"44 (pick check 24, trim check 20)"``; ``None`` when empty."""
    if not isinstance(calls, Mapping) or not calls:
        return None
    parts = ", ".join(f"{k} {v}" for k, v in calls.items())
    return f"{sum(int(v) for v in calls.values())} ({parts})"


def _spend_text(spend: Any) -> str | None:
    """One line of a ``SpendReport.to_dict()``: billed calls and tokens, failures, the repay point."""
    if not isinstance(spend, Mapping) or not isinstance(spend.get("search"), Mapping):
        return None
    s = spend["search"]
    text = (
        f"{s.get('calls', 0)} billed calls, {s.get('tokens', 0)} tokens; {s.get('failed', 0)} failed calls, "
        f"{s.get('retries', 0)} retries, {s.get('unparsed', 0)} unparsed answers"
    )
    if spend.get("cost") is not None:
        text += f"; cost {spend['cost']:.4g}"
    study = spend.get("study")
    if isinstance(study, Mapping) and isinstance(study.get("total"), Mapping):
        total = study["total"]
        text += f"; study total (all runs): {total.get('calls', 0)} billed calls, {total.get('tokens', 0)} tokens"
    test = spend.get("test")
    if isinstance(test, Mapping):
        calls, tokens = test.get("calls", 0), test.get("tokens", 0)
        text += f"; held-out test: {calls} billed calls, {tokens} tokens (outside the caps)"
    if spend.get("repays_after_calls") is not None:
        text += (
            f"; repaid after {spend['repays_after_calls']} production calls "
            f"({spend.get('saved_tokens_per_call')} image tokens saved per call vs full demos"
            + (f", at a valset score {spend['below_full']:.4f} below theirs)" if spend.get("below_full") else ")")
        )
    if spend.get("stopped_by"):
        text += f"; stopped early: {spend['stopped_by']}"
    return text


def report_data(result: CompileResult | Mapping[str, Any], run: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The JSON of a search for reports: ``result.to_dict()``, every scored trial and ``run``.

    Args:
        result: a :class:`~specprompt.search.CompileResult`, or a dict from an earlier call
            (e.g. a loaded ``pareto.json``), returned as a copy.
        run: extra metadata (program, datasets, LM, command) stored under ``"run"``.

    Returns:
        a JSON-ready dict with ``study_name``, ``config``, ``best``, ``front``, ``baselines``,
        ``calibration`` (``None`` unless the compile calibrated its scoring LM),
        ``screening`` (``None`` unless the compile screened, ``screen=``),
        ``confirmation`` (the check of leaving the best baseline; ``None`` when it did not run),
        ``local_pick`` (what became of a local judge's pick over the baselines; ``None`` when there was none),
        ``trim`` (the trim after the choice; ``None`` with ``trim=False``),
        ``scorer_calls``, ``n_trials``, ``trials`` (``number``, ``tokens``, ``score``, ``full``,
        ``origin`` of each complete feasible trial) and ``run``.

    Raises:
        ConfigError: ``result`` is neither, holds values JSON cannot store, or lacks a key or has
            a bad value that a report needs (named; see
            :func:`~specprompt.reports._checks.check_report_data`); ``run`` is not a mapping.
    """
    data: dict[str, Any]
    if run is not None and not isinstance(run, Mapping):
        raise ConfigError(f"run must be a mapping of metadata, got {type(run).__name__}")
    if isinstance(result, Mapping):
        try:
            data = json.loads(json.dumps(result))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"search result data is not JSON: {exc}") from None
    elif hasattr(result, "to_dict") and hasattr(result, "study"):
        data = result.to_dict()
        data["trials"] = _trial_points(result.study)
    else:
        raise ConfigError(f"expected a CompileResult or its dict, got {type(result).__name__}")
    for key in ("config", "best", "front"):
        if key not in data:
            raise ConfigError(f"search result data lacks {key!r}; expected CompileResult.to_dict() output")
    check_report_data(data)
    if run is not None:
        data["run"] = {**(data.get("run") or {}), **dict(run)}
    return data


def _trial_points(study: Any) -> list[dict[str, Any]]:
    import optuna

    out = []
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        a = t.user_attrs
        if not a.get("feasible") or "score" not in a or not math.isfinite(float(a["score"])):
            continue
        full = study.user_attrs.get("full:" + str(a.get("key")))
        score = float(a["score"]) if full is None else float(full["score"])
        point = {"number": t.number, "tokens": int(a["tokens"]), "score": score, "full": full is not None}
        out.append({**point, "origin": a.get("origin")})
    return out


def _choices(selections: Mapping[str, Any], labels: Mapping[str, str] | None = None) -> str:
    """``"self/demo0/image (top-left): keep_from=3; ..."``; ``labels`` maps slot ids to demo labels."""
    parts = []
    for slot in sorted(selections, key=natural_key):  # stored key-sorted: demo10 before demo2
        entry = selections[slot]
        choice = entry.get("choice")
        text = choice if isinstance(choice, str) else ",".join(f"{k}={v}" for k, v in (choice or {}).items())
        label = (labels or {}).get(slot)
        parts.append(f"{slot}{f' ({label})' if label else ''}: {text}")
    return "; ".join(parts)


class CompileReport:
    """The report of one band search, as a self-contained HTML page.

    Args:
        result: the :class:`~specprompt.search.CompileResult` (``optimizer.last_result``) or its
            :func:`report_data` dict (a loaded ``pareto.json``).
        program: the compiled program, or its saved JSON file (read without running code).
        sources: images the demo sources can be found among (e.g. the trainset: examples,
            ``dspy.Image`` s, arrays or paths), matched by content hash; without them the
            report shows no originals and band tables without energies.
        run: extra metadata shown in the run table (program, datasets, LM, command).
        title: the page title.
        cell: display size (px) of upscaled images and thumbnails (64 .. 512).

    Example:
        >>> import dspy
        >>> data = {"config": {"token_budget": 10, "cost_model": "local"}, "front": [], "best": None}
        >>> page = CompileReport(data, dspy.Predict("image: dspy.Image -> label")).html()
        >>> page.startswith("<!DOCTYPE html>") and "Pareto front" in page
        True
    """

    def __init__(
        self,
        result: CompileResult | Mapping[str, Any],
        program: dspy.Module | str | Path | Mapping[str, Any],
        *,
        sources: Iterable[Any] | None = None,
        run: Mapping[str, Any] | None = None,
        title: str = "specprompt band search",
        cell: int = 192,
    ) -> None:
        if not isinstance(cell, int) or isinstance(cell, bool) or not 64 <= cell <= 512:
            raise ConfigError(f"cell must be an int in 64 .. 512, got {cell!r}")
        self.data = report_data(result, run)
        self.program = program
        self.title = title
        self.cell = cell
        cost_model = (self.data.get("config") or {}).get("cost_model")
        self.images: ProgramImages = describe_program(program, cost_model=cost_model)
        self._texts = demo_texts(program)
        wanted = {h for r in self.images.rows for h in (r.source_hash, r.crop_source_hash) if h}
        for sel in ((self.data.get("best") or {}).get("selections") or {}).values():
            if isinstance(sel, Mapping) and isinstance(sel.get("source"), str):
                wanted.add(sel["source"])
        self._sources = find_sources(sources, wanted) if sources is not None else {}

    @classmethod
    def from_folder(cls, folder: str | Path, **kwargs: Any) -> CompileReport:
        """The report of a ``specprompt compile --out`` folder (``pareto.json`` + ``program.json``).

        Without ``sources=``, the original images are looked up in the trainset the compile
        recorded (``run.trainset``: its folder or JSONL file, read again); when that is gone, a
        :class:`~specprompt.errors.SpecPromptWarning` says so and the report shows no originals.

        Raises:
            ConfigError: a file is missing, cannot be read or is not JSON.
        """
        root = Path(folder)
        pareto = root / "pareto.json"
        if not pareto.is_file():
            raise ConfigError(f"no pareto.json in {str(root)!r}")
        try:
            data = json.loads(pareto.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read {str(pareto)!r}: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise ConfigError(f"{str(pareto)!r} is not JSON: {exc}") from None
        if "sources" not in kwargs:
            run = data.get("run") if isinstance(data, Mapping) else None
            trainset = run.get("trainset") if isinstance(run, Mapping) else None
            kwargs["sources"] = recorded_sources(trainset, root)
        return cls(data, root / "program.json", **kwargs)

    # -- output --------------------------------------------------------------------------------
    def fragment(self) -> str:
        """The report as one ``<div class="spr">`` with its ``<style>`` (for notebooks)."""
        sections = [
            f"<h1>{escape(self.title)}</h1>",
            self._summary(),
            self._run_table(),
            self._pareto(),
            self._baselines(),
            calibration_section(self.data),
            screening_section(self.data),
            confirmation_section(self.data),
            local_pick_section(self.data),
            trim_section(self.data),
            self._demos(),
        ]
        return f'<div class="spr"><style>{_CSS}</style>' + "".join(sections) + "</div>"

    def html(self) -> str:
        """A complete HTML page."""
        return f"{REPORT_HEAD}{escape(self.title)}</title></head><body>{self.fragment()}</body></html>\n"

    def save(self, path: str | Path) -> Path:
        """Writes :meth:`html` to ``path`` (UTF-8) and returns the path.

        Missing folders of ``path`` are created (as ``specprompt compile --out`` does). An earlier
        report at ``path`` is replaced; any other file is refused, since it may be the user's.

        Raises:
            ConfigError: ``path`` is a folder, cannot be written, or is a non-empty file that is
                not a specprompt report.
        """
        from specprompt._outputs import write_atomic

        page = self.html()
        return write_atomic(check_report_path(path), page)  # a killed run leaves the earlier report whole

    def _repr_html_(self) -> str:
        return self.fragment()

    # -- sections --------------------------------------------------------------------------------
    def _summary(self) -> str:
        d = self.data
        cfg = d.get("config") or {}
        best = d.get("best")
        model = cfg.get("cost_model", "?")
        local, tokens = self.images.tokens()
        lines = []
        if best:
            on = "full valset" if best.get("full") else "minibatch"
            if best.get("full") and d.get("interval_n") is not None:
                on += f", n = {d['interval_n']}"
            lines.append(
                f"Chosen program: score <b>{fmt_score(best.get('score'))}</b> ({on}) with <b>{best.get('tokens')}</b> "
                f"image tokens per prompt under <code>{escape(model)}</code> (trial {best.get('trial')})."
            )
            if d.get("interval") is not None:
                lines.append(f"Valset score {_interval_text(d, 'interval', 'interval_method')}.")
            if d.get("test_score") is not None:
                n = "" if d.get("test_n") is None else f" (n = {d['test_n']})"
                line = f"Held-out test score: <b>{fmt_score(d.get('test_score'))}</b>{n}"
                if d.get("test_interval") is not None:
                    line += f", {_interval_text(d, 'test_interval', 'test_interval_method')}"
                lines.append(line + ".")
        if self.images.text_only:
            lines.append(f"<b>No demo image is sent</b>: {_all_dropped(len(self.images.rows))}.")
        else:
            lines.append(f"Its demo images: {escape(self.images.token_text(local, tokens))} tokens.")
        full = (d.get("baselines") or {}).get("full")
        if full and full.get("tokens") is not None and best:
            ratio = full["tokens"] / best["tokens"] if best.get("tokens") else math.inf
            times = "the chosen program sends no image tokens" if math.isinf(ratio) else f"{ratio:.1f}x fewer tokens"
            lines.append(
                f"Full-resolution demos: score {fmt_score(full.get('score'))} with {full['tokens']} tokens ({times})."
            )
        return '<div class="summary">' + "<br>".join(lines) + "</div>"

    def _run_table(self) -> str:
        d = self.data
        cfg = d.get("config") or {}
        rows: list[tuple[str, Any]] = [
            ("token budget", cfg.get("token_budget")),
            ("cost model", cfg.get("cost_model")),
            ("scheme", f"{cfg.get('scheme')} {json.dumps(cfg.get('scheme_options') or {})}"),
            ("trials", f"{d.get('n_trials', '-')} finished (target {cfg.get('n_trials', '-')})"),
            ("scorer calls", d.get("scorer_calls", "-")),
            ("target calls outside the search", _target_text(d.get("target_calls"))),
            ("search spend", _spend_text(d.get("spend"))),
            ("multi-objective", cfg.get("multi_objective")),
            ("minibatch size", cfg.get("minibatch_size")),
            ("detail", cfg.get("detail")),
            ("seed", cfg.get("seed")),
            ("study", d.get("study_name")),
        ]
        rows += [(str(k), v) for k, v in (d.get("run") or {}).items()]
        body = "".join(f"<tr><th>{escape(k)}</th><td>{escape('-' if v is None else v)}</td></tr>" for k, v in rows)
        return f"<h2>Run</h2><table>{body}</table>"

    def _pareto(self) -> str:
        d = self.data
        cfg = d.get("config") or {}
        best = d.get("best") or {}
        front = d.get("front") or []
        points = pareto_points(d)
        out = ["<h2>Pareto front</h2>"]
        if points:
            out.append(
                pareto_svg(points, budget=cfg.get("token_budget"), title=f"score vs tokens ({cfg.get('cost_model')})")
            )
        else:
            out.append("<p>No scored candidate.</p>")
        head = "<tr><th>trial</th><th>origin</th><th>score</th><th>on</th><th>tokens</th><th>choices</th></tr>"
        labels = {r.slot: r.label for r in self.images.rows if r.label}
        rows = list(front)
        on_front = any(r["trial"] == best.get("trial") for r in front)
        if best and not on_front:  # chosen by the full-valset score or a tie rule, not by the front
            rows = sorted([*rows, best], key=lambda r: (r["tokens"], -r["score"]))
        body = []
        for r in rows:
            chosen = bool(best) and r["trial"] == best.get("trial")
            mark = "" if not chosen else " (chosen)" if on_front else " (chosen, not on the front)"
            body.append(
                f"<tr{' class=chosen' if chosen else ''}><td>{r['trial']}{mark}</td>"
                f"<td>{escape(r.get('origin') or '-')}</td>"
                f"<td class=num>{fmt_score(r['score'])}</td><td>{'full' if r.get('full') else 'minibatch'}</td>"
                f"<td class=num>{r['tokens']}</td>"
                f"<td><code>{escape(_choices(r.get('selections') or {}, labels))}</code></td></tr>"
            )
        out.append(f"<table>{head}{''.join(body)}</table>")
        if best:
            out.append(f"<p>{escape(chosen_text(d))}</p>")
        return "".join(out)

    def _baselines(self) -> str:
        table = baselines_table(
            self.data.get("baselines"), val_n=self.data.get("interval_n"), test_n=self.data.get("test_n")
        )
        return f"<h2>Baselines</h2>{table}" if table else ""

    def _demos(self) -> str:
        out = ["<h2>Demos</h2>"]
        groups = image_rows_by_demo(self.images)
        if not groups:
            out.append("<p>The program's demos hold no images.</p>")
        elif self.images.text_only:
            out.append(
                f"<p><b>No demo image is sent</b>: {_all_dropped(len(self.images.rows))}. "
                "Each demo below shows what it answers and, when its source was found, the image it left out.</p>"
            )
        for (pname, di), rows in groups.items():
            texts = self._texts.get((pname, di), {})
            label = rows[0].label
            caption = ", ".join(f"{k} = {v}" for k, v in texts.items() if v != label)  # the label heads the demo
            tokens = sum(r.local_tokens for r in rows)
            mtok = sum(r.model_tokens or 0 for r in rows)
            where = escape(f"{pname} / demo {di}") + (f" &mdash; {escape(caption)}" if caption else "")
            head = f"{escape(label)} <small>{where}</small>" if label else where
            tok = escape(self.images.token_text(tokens, mtok))
            out.append(f'<div class="demo"><h3>{head}</h3><div>image tokens: {tok}</div>')
            for r in rows:
                out.append(self._slot(r))
            out.append("</div>")
        return "".join(out)

    def _slot(self, r: DemoImage) -> str:
        label = r.field if r.item is None else f"{r.field}[{r.item}]"
        parts = [f'<div class="slot"><div><b>{escape(label)}</b><br>{escape(r.kept_text())}</div>']
        source = self._source_of(r)
        if r.crop_box is not None:
            whole = self._sources.get(r.crop_source_hash or "")
            parts.append(f"<div>{crop_provenance(r)}</div>")
            if whole is not None:
                parts.append(thumb(whole, "original", self.cell, box=r.crop_box))
                left, top, w, h = r.crop_box
                source = whole[top : top + h, left : left + w] if source is None else source
        elif source is not None:
            parts.append(thumb(source, "original", self.cell))
        if r.kind == "dropped":
            parts.append("<div>image dropped: the demo is sent as text only (0 tokens)</div></div>")
            return "".join(parts)
        parts.append(sent_figures(r, self.cell, self.images.token_text(r.local_tokens, r.model_tokens)))
        if r.kind == "spectral" and r.scheme is not None:
            parts.append(band_table(r, source))
        parts.append("</div>")
        return "".join(parts)

    def _source_of(self, r: DemoImage) -> np.ndarray | None:
        if r.source_hash:
            return self._sources.get(r.source_hash)
        if r.kind == "dropped":
            sel = ((self.data.get("best") or {}).get("selections") or {}).get(r.slot)
            if isinstance(sel, Mapping) and isinstance(sel.get("source"), str):
                prefix = sel["source"]
                for h, arr in self._sources.items():
                    if h.startswith(prefix):
                        return arr
        return None
