"""What the demo images of a program cost: one row per image, read from a program or its saved JSON.

Reading a saved program needs no code and runs none: the JSON file written by ``program.save`` is
parsed, each image marker string is turned back into a :class:`~specprompt.SpectralImage` (whose
PNG carries its scheme, kept bands and source hash) or a plain ``dspy.Image``, and sizes are read
from the PNG headers. Band lists come from the source's band layout
(:func:`specprompt.spectral.band_layout`: band layouts depend on shape and options only);
``local`` tokens, like every model's, are those of the image sent.
"""

from __future__ import annotations

import dataclasses
import html
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from specprompt.errors import ConfigError, ImageInputError, SpecPromptError
from specprompt.reports._demo_image import DemoImage, image_row
from specprompt.reports._state import demo_labels, demos_of, read_program_state

if TYPE_CHECKING:
    import dspy


__all__ = ["DemoImage", "ProgramImages", "describe_program", "image_rows_by_demo"]


def _display_width(text: str) -> int:
    """Columns ``text`` takes in a terminal: wide characters (CJK, East Asian width ``W``/``F``) take two,
    combining marks none; ``len`` would shift every column after a label such as ``猫``.

    Example:
        >>> _display_width("cat"), _display_width("猫"), _display_width("e\u0301")
        (3, 2, 1)
    """
    width = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def _pad(text: str, width: int) -> str:
    """``text`` padded with spaces to ``width`` display columns (:func:`_display_width`)."""
    return text + " " * max(0, width - _display_width(text))


@dataclass(frozen=True)
class ProgramImages:
    """Every demo image of a program, with its tokens.

    Attributes:
        rows: one :class:`DemoImage` per image (and per dropped image), in predictor, demo,
            field, item order.
        demos: predictor name -> number of demos (also those without images).
        cost_model: the cost model of ``model_tokens``, or ``None``.
        local_model: the local cost model of ``local_tokens``.
    """

    rows: tuple[DemoImage, ...]
    demos: Mapping[str, int]
    cost_model: str | None
    local_model: str = "local"

    @property
    def shown_model(self) -> str | None:
        """The cost model shown next to ``local`` tokens (``None`` when it is the local model itself)."""
        return None if self.cost_model in (None, "local", self.local_model) else self.cost_model

    def token_text(self, local: int, model: int | None) -> str:
        """Image tokens in words, the count under the compile's cost model first (what the target
        bills) and the local model's after it; the local count alone when no other cost model is
        shown (:attr:`shown_model`).

        Example:
            >>> ProgramImages((), {}, "openai:gpt-4.1-mini").token_text(176, 28)
            '28 openai:gpt-4.1-mini (176 local)'
            >>> ProgramImages((), {}, None).token_text(176, None)
            '176 local'
        """
        shown = self.shown_model
        if shown is None:
            return f"{local} {self.local_model}"
        return f"{model} {shown} ({local} {self.local_model})"

    @property
    def text_only(self) -> bool:
        """Whether the demos hold image fields but send no image: every one was dropped (text-only demos)."""
        return bool(self.rows) and all(r.kind == "dropped" for r in self.rows)

    def tokens(self, predictor: str | None = None) -> tuple[int, int | None]:
        """``(local, model)`` image tokens of one prompt of ``predictor`` (default: all predictors)."""
        rows = [r for r in self.rows if predictor is None or r.predictor == predictor]
        local = sum(r.local_tokens for r in rows)
        model = None if self.cost_model is None else sum(r.model_tokens or 0 for r in rows)
        return local, model

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: per predictor its demos count and tokens, the rows and the totals."""
        local, model = self.tokens()
        return {
            "cost_model": self.cost_model,
            "local_model": self.local_model,
            "predictors": {
                name: dict(zip(("local_tokens", "model_tokens"), self.tokens(name), strict=True), demos=n)
                for name, n in self.demos.items()
            },
            "images": [r.to_dict() for r in self.rows],
            "local_tokens": local,
            "model_tokens": model,
        }

    def table(self) -> str:
        """A plain-text table per predictor and the totals of one prompt."""
        model = self.shown_model
        head = ["demo", "label", "field", "scheme", "kept bands", "sent", "source"]
        if model:
            head.append(model.split(":")[-1])  # what the target bills first
        head += [self.local_model, "source hash"]
        lines: list[str] = []
        for name, n in self.demos.items():
            rows = [r for r in self.rows if r.predictor == name]
            lines.append(f"predictor {name}: {n} demo(s), {len(rows)} image slot(s)")
            if rows:  # no column heads over no rows
                body = [head]
                for r in rows:
                    cells = [
                        str(r.demo),
                        r.label or "-",
                        r.field if r.item is None else f"{r.field}[{r.item}]",
                        r.scheme or "-",
                        r.kept_text(),
                        r.sent_text(),
                        _size(r.source_size),
                    ]
                    if model:
                        cells.append(str(r.model_tokens))
                    cells += [str(r.local_tokens), (r.source_hash or "-")[:12]]
                    body.append(cells)
                widths = [max(_display_width(row[i]) for row in body) for i in range(len(head))]
                for row in body:
                    lines.append("  " + "  ".join(_pad(c, w) for c, w in zip(row, widths, strict=True)).rstrip())
            lines.append(f"  image tokens per prompt: {self.token_text(*self.tokens(name))}")
        lines.append(f"total image tokens per prompt: {self.token_text(*self.tokens())}")
        if self.text_only:
            lines.append(f"no demo image is sent: all {len(self.rows)} were dropped (text-only demos)")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        model = self.shown_model
        head = [
            "label",
            "slot",
            "scheme",
            "kept bands",
            "sent",
            "source",
            *([model] if model else []),
            self.local_model,
        ]
        body = []
        for r in self.rows:
            cells = [
                r.label or "-",
                r.slot,
                r.scheme or "-",
                r.kept_text(),
                r.sent_text(),
                _size(r.source_size),
                *([str(r.model_tokens)] if model else []),
                str(r.local_tokens),
            ]
            body.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
        total = self.token_text(*self.tokens())
        return (
            "<table><thead><tr>"
            + "".join(f"<th>{html.escape(h)}</th>" for h in head)
            + "</tr></thead><tbody>"
            + "".join(body)
            + f"</tbody><caption>image tokens per prompt: {html.escape(total)}</caption></table>"
        )


def _size(size: tuple[int, int] | None) -> str:
    return "-" if size is None else f"{size[0]}x{size[1]}"


def describe_program(
    program: dspy.Module | str | Path | Mapping[str, Any],
    *,
    cost_model: str | None = None,
    local_model: str | None = None,
) -> ProgramImages:
    """Every demo image of ``program`` with its scheme, kept bands, sizes and tokens.

    Args:
        program: a ``dspy.Module``, or a JSON file written by ``program.save`` (or its parsed
            dict), read without running any code.
        cost_model: also price each image with this :mod:`specprompt.cost` model (its ``detail``
            as sent; none counts as ``"auto"``). A SpectralImage is priced at its sent size, except
            under the ``local`` model, which prices its kept bands of the source as the search does
            (:func:`specprompt.cost.selection_tokens`).
        local_model: the local cost model of the ``local_tokens`` column (``"local:band-vlm-v2"``,
            ``"local:canvas-256"``); default ``cost_model`` when it is a local one (a search
            scored by band-vlm-v2 under the bare ``"local"`` prices with ``"local:band-vlm-v2"``),
            else ``"local"`` (band-vlm-v1).

    Returns:
        a :class:`ProgramImages`. A :data:`specprompt.types.DROPPED_IMAGE` value is listed as
        ``"dropped"`` (0 tokens), and so is a ``None`` value in a field where another demo of the
        same predictor holds an image (or that marker): a program whose search dropped every
        image lists every one of them.

    Raises:
        ConfigError: not a program state, or a bad JSON file. UnknownNameError: unknown cost model.
        ImageInputError: a corrupt or truncated image, a DSPy image marker that cannot be parsed,
            or SpectralImage metadata that names an unknown scheme or bands (the file, predictor,
            demo and field named).

    Example:
        >>> import dspy
        >>> describe_program(dspy.Predict("image: dspy.Image -> label")).tokens()
        (0, None)
    """
    import dspy

    from specprompt.cost import LocalCostModel, get_cost_model
    from specprompt.types import DROPPED_IMAGE

    chosen = None if cost_model is None else get_cost_model(cost_model)
    if local_model is None:
        local_model = cost_model if cost_model is not None and isinstance(chosen, LocalCostModel) else "local"
    elif not isinstance(get_cost_model(local_model), LocalCostModel):
        raise ConfigError(f"local_model must be a local cost model such as 'local:band-vlm-v2', got {local_model!r}")
    states = demos_of(program) if isinstance(program, dspy.Module) else read_program_state(program)
    source = "the program state" if isinstance(program, Mapping) else str(program)
    if isinstance(program, dspy.Module):
        source = "the program"

    def row(pname: str, di: int, fname: str, item: int | None, value: Any) -> DemoImage | None:
        try:
            return image_row(pname, di, fname, item, value, cost_model, local_model)
        except SpecPromptError as exc:  # a corrupt image or metadata chunk: say which demo holds it
            at = f" item {item}" if item is not None else ""
            where = f"of predictor {pname!r}, demo {di}, field {fname!r}{at} in {source}"
            raise ImageInputError(where, exc.reason if isinstance(exc, ImageInputError) else str(exc)) from None

    rows: list[DemoImage] = []
    for pname, demos in states.items():
        per: list[tuple[int, str, DemoImage | None]] = []
        image_fields: set[str] = set()
        for di, demo in enumerate(demos):
            for fname, value in demo.items():
                if fname.startswith("dspy_") or fname == "augmented":
                    continue
                if isinstance(value, (list, tuple)):
                    for j, v in enumerate(value):
                        r = row(pname, di, fname, j, v)
                        if r is not None:
                            per.append((di, fname, r))
                            image_fields.add(fname)
                    continue
                r = row(pname, di, fname, None, value)
                if r is not None:
                    image_fields.add(fname)
                    per.append((di, fname, r))
                elif value == DROPPED_IMAGE:  # the search's own marker: an image, whatever the other demos hold
                    image_fields.add(fname)
                    per.append((di, fname, None))
                elif value is None:
                    per.append((di, fname, None))
        for di, fname, r in per:
            if r is not None:
                rows.append(r)
            elif fname in image_fields:
                dropped_tokens = None if cost_model is None else 0
                rows.append(
                    DemoImage(predictor=pname, demo=di, field=fname, kind="dropped", model_tokens=dropped_tokens)
                )
    labels = demo_labels(program)
    rows = [dataclasses.replace(r, label=labels.get((r.predictor, r.demo))) for r in rows]
    return ProgramImages(tuple(rows), {k: len(v) for k, v in states.items()}, cost_model, local_model)


def image_rows_by_demo(images: ProgramImages) -> dict[tuple[str, int], list[DemoImage]]:
    """Rows grouped by ``(predictor, demo)``, in order."""
    out: dict[tuple[str, int], list[DemoImage]] = {}
    for r in images.rows:
        out.setdefault((r.predictor, r.demo), []).append(r)
    return out
