"""One compile's search context: spectra, spaces, candidates, their keys, tokens and programs.

Built once per ``compile`` (never stored on the optimizer). Everything here is deterministic
given the program, the trainset, the config and the seed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import dspy
import numpy as np

from specprompt.data import image_file
from specprompt.errors import ConfigError
from specprompt.io import as_array
from specprompt.search._budget import Pricer, fits
from specprompt.search._config import SearchConfig
from specprompt.search._coverage import budget_covers_classes, class_demos
from specprompt.search._crops import detail_box
from specprompt.search._demos import DemoPlan, ImageSlot
from specprompt.search._program import build_program
from specprompt.search._space import SIZE_DIM, ImageSpace, search_space_for, with_size
from specprompt.spectral import Selection, Spectrum, decompose
from specprompt.types import SpectralImage, content_hash

if TYPE_CHECKING:
    import optuna

__all__ = ["SHARPEN_DIM", "SHARPEN_LEVELS", "Candidate", "SearchContext"]

#: Optuna parameter name of the program-wide sharpening dimension.
SHARPEN_DIM = "sharpen"
#: Unsharp-mask percents (radius 1 pixel of the sent image) the ``sharpen`` dimension offers.
SHARPEN_LEVELS: tuple[int, ...] = (0, 50, 100, 200)

logger = logging.getLogger("specprompt.search")


@dataclass(frozen=True)
class Candidate:
    """One point of the search space.

    Attributes:
        values: slot id -> dimension values of its :class:`ImageSpace`.
        crops: slot ids that get an extra detail crop.
        excluded: demo ids left out of the prompt.
        overrides: slot id -> a replacement image (baselines only; not part of the space).
        sharpen: index into :data:`SHARPEN_LEVELS` of the unsharp mask applied to every image the
            prompt sends at a chosen size (0: none); the ``sharpen`` dimension of a context whose
            cost model prices pixels (:attr:`SearchContext.sharpens`).
    """

    values: Mapping[str, Mapping[str, int]]
    crops: frozenset[str] = frozenset()
    excluded: frozenset[str] = frozenset()
    overrides: Mapping[str, dspy.Image] = field(default_factory=dict)
    sharpen: int = 0

    def moved(
        self,
        values: Mapping[str, Mapping[str, int]] | None = None,
        *,
        crops: frozenset[str] | None = None,
        excluded: frozenset[str] | None = None,
    ) -> Candidate:
        """This candidate with other per-slot values, crops or excluded demos (each kept when not
        given) and the same program-wide choices (``sharpen``): a step of a move, a trim or a
        coarsening. ``overrides`` are dropped: they are a baseline's own images, no point of the
        space that a step moves."""
        return Candidate(
            self.values if values is None else values,
            self.crops if crops is None else crops,
            self.excluded if excluded is None else excluded,
            sharpen=self.sharpen,
        )


class SearchContext:
    """Decomposes every distinct demo image once and turns candidates into prompts.

    Args:
        student: the program whose demos are searched (never modified).
        plan: its demos and image slots (:func:`plan_demos`).
        config: the search options.
    """

    def __init__(self, student: dspy.Module, plan: DemoPlan, config: SearchConfig) -> None:
        self.student = student
        self.plan = plan
        self.config = config
        self.pricer = Pricer(config.cost_model, config.detail)
        self.detail = config.detail
        self.sources: dict[str, str] = {}
        self.spectra: dict[str, Spectrum] = {}
        by_url: dict[str, str] = {}
        for slot in plan.slots:
            img = plan.images[slot.id]
            h = by_url.get(img.url)
            if h is None:
                arr = as_array(img)
                h = content_hash(arr)
                by_url[img.url] = h
                if h not in self.spectra:
                    self.spectra[h] = decompose(arr, config.scheme, **config.options)
            self.sources[slot.id] = h
        from specprompt.cost import LocalCostModel, get_cost_model

        #: True when the cost model prices pixels: every image space gets a ``size`` dimension
        #: (under ``local`` images are sent at their minimal render size, priced by its pixels).
        self.sized = not isinstance(get_cost_model(config.cost_model), LocalCostModel)
        #: True when the search also chooses an unsharp mask of the sent images (``sharpen``).
        self.sharpens = self.sized and config.sharpen
        self.spaces: dict[str, ImageSpace] = {}
        for s in plan.slots:
            spec = self.spectra[self.sources[s.id]]
            space = search_space_for(spec)
            self.spaces[s.id] = with_size(space, spec.size) if self.sized else space
        self.crop_slots: tuple[str, ...] = ()
        if config.detail_crops:
            self.crop_slots = tuple(s.id for s in plan.slots if s.item is not None)
            skipped = [s.id for s in plan.slots if s.item is None]
            if skipped:
                logger.info("detail crops need list[dspy.Image] fields; no crop for %s", ", ".join(skipped))
        self.demo_dims: tuple[str, ...] = plan.demo_ids if config.search_demos else ()
        #: ids of the candidate demos added from the trainset (``search_demos``): every named
        #: candidate (full, dropped, the baselines, the warm starts that keep the program's demos)
        #: leaves them out, so the baselines show the program's own demos.
        self.pool: frozenset[str] = plan.pooled if config.search_demos else frozenset()
        self._lock = threading.Lock()
        self._renders: dict[tuple[str, str, tuple[int, int] | None, int], SpectralImage] = {}
        self._crop_cache: dict[str, tuple[SpectralImage, int]] = {}
        self._cheapest: dict[str, int] = {}
        #: class id (``"<predictor>:<answer>"``) -> ids of the image demos showing it.
        self.class_demos: dict[str, tuple[str, ...]] = class_demos(plan)
        #: True when the budget holds one image per class: then every class must keep one.
        self.must_cover = budget_covers_classes(
            config, plan, self.class_demos, {s.id: self.cheapest(s.id) for s in plan.slots}
        )
        logger.info(
            "%d demo image slot(s), %d distinct source(s), scheme %s", len(plan.slots), len(self.spectra), config.scheme
        )

    # -- the space as Optuna parameters ------------------------------------------------------
    def distributions(self) -> dict[str, optuna.distributions.IntDistribution]:
        """Optuna parameter name -> distribution, in a fixed order."""
        from optuna.distributions import IntDistribution

        out: dict[str, IntDistribution] = {}
        for demo_id in self.demo_dims:
            out[f"{demo_id}:include"] = IntDistribution(0, 1)
        for slot in self.plan.slots:
            for d in self.spaces[slot.id].dims:
                out[f"{slot.id}:{d.name}"] = IntDistribution(d.low, d.high, log=d.log)
            if slot.id in self.crop_slots:
                out[f"{slot.id}:crop"] = IntDistribution(0, 1)
        if self.sharpens:
            out[SHARPEN_DIM] = IntDistribution(0, len(SHARPEN_LEVELS) - 1)
        return out

    def suggest_params(self, trial: optuna.Trial) -> dict[str, int]:
        """Asks ``trial`` for every parameter of :meth:`distributions`, each on its own scale.

        The ``size`` dimension is log-scale: asking for it without ``log=True`` would clash with
        the distribution an enqueued or stored trial already has for that name.
        """
        return {name: trial.suggest_int(name, d.low, d.high, log=d.log) for name, d in self.distributions().items()}

    def from_params(self, params: Mapping[str, Any]) -> Candidate:
        """The candidate of stored Optuna parameters.

        A trial stored before the ``sharpen`` dimension existed reads as no sharpening.

        Raises:
            ConfigError: a parameter is missing or out of range (the study was made for
                another program or scheme).
        """
        dists = self.distributions()
        missing = sorted(set(dists) - set(params) - {SHARPEN_DIM})
        if missing:
            raise ConfigError(f"trial parameters lack {missing[:3]}...: the study was made for another program")
        values = {
            s.id: {d.name: int(params[f"{s.id}:{d.name}"]) for d in self.spaces[s.id].dims} for s in self.plan.slots
        }
        for sid, v in values.items():
            self.spaces[sid].check(v)
        crops = frozenset(sid for sid in self.crop_slots if int(params[f"{sid}:crop"]))
        excluded = frozenset(d for d in self.demo_dims if not int(params[f"{d}:include"]))
        sharpen = int(params.get(SHARPEN_DIM, 0)) if self.sharpens else 0
        if not 0 <= sharpen < len(SHARPEN_LEVELS):
            raise ConfigError(f"search value {SHARPEN_DIM}={sharpen!r} outside 0..{len(SHARPEN_LEVELS) - 1}")
        return Candidate(values, crops, excluded, sharpen=sharpen)

    def to_params(self, cand: Candidate) -> dict[str, int]:
        """Inverse of :meth:`from_params`."""
        out: dict[str, int] = {}
        for demo_id in self.demo_dims:
            out[f"{demo_id}:include"] = int(demo_id not in cand.excluded)
        for slot in self.plan.slots:
            for name, v in cand.values[slot.id].items():
                out[f"{slot.id}:{name}"] = int(v)
            if slot.id in self.crop_slots:
                out[f"{slot.id}:crop"] = int(slot.id in cand.crops)
        if self.sharpens:
            out[SHARPEN_DIM] = int(cand.sharpen)
        return out

    # -- named candidates ----------------------------------------------------------------------
    def full(self) -> Candidate:
        """Every band of every image of the program's demos (pooled demos left out)."""
        return Candidate({s.id: self.spaces[s.id].full() for s in self.plan.slots}, excluded=self.pool)

    def dropped(self) -> Candidate:
        """Every image removed (text-only demos; pooled demos left out)."""
        return Candidate({s.id: self.spaces[s.id].ladder()[-1] for s in self.plan.slots}, excluded=self.pool)

    def _shown_slots(self, excluded: frozenset[str]) -> list[ImageSlot]:
        return [s for s in self.plan.slots if s.demo_id not in excluded]

    def uniform_fit(self, budget: float | None, excluded: frozenset[str] | None = None) -> Candidate:
        """The uniform baseline: every demo image resized by one common factor, the largest that fits.

        With a ``size`` dimension (a cost model that prices pixels) every image keeps all its
        bands and is sent with longest side ``round(longest_i * n / N)`` (``N`` the longest side
        of any demo image, at least the space's smallest side), Lanczos-resampled: ``n`` is the
        largest integer whose prompt fits (a bisection assuming fewer pixels never cost more,
        then a downward scan in case the cost model is not monotone). Without one, every image
        is coarsened by the same number of ladder steps, the finest that fits. When nothing
        fits, every image is dropped.

        ``excluded``: the demos left out (default: the pooled demos, :attr:`pool`); the common
        factor is found for the images of the other demos.
        """
        out = self.pool if excluded is None else excluded
        if self.sized:
            return self._uniform_sized(budget, out)
        ladders = {s.id: self.spaces[s.id].ladder() for s in self.plan.slots}
        steps = max(len(v) for v in ladders.values())
        for i in range(steps):
            cand = Candidate({sid: lad[min(i, len(lad) - 1)] for sid, lad in ladders.items()}, excluded=out)
            if fits(self.tokens(cand), budget):
                return cand
        return self.dropped()  # pragma: no cover - the last rung drops every image: 0 tokens

    def uniform_resize(self, budget: float) -> tuple[Candidate, float] | None:
        """Every image resized by one common factor (PIL Lanczos), the largest that fits ``budget``.

        Returns ``(candidate, scale)``, or ``None`` when even 1-pixel images exceed the budget.
        With a ``size`` dimension this is :meth:`uniform_fit` (every band kept, a point of the
        band space). Without one the images are overrides (not points of the band space) and the
        candidate's values are those of :meth:`full`.
        """
        from PIL import Image

        from specprompt.io import load_image
        from specprompt.search._budget import uniform_sizes

        if self.sized:  # the same pixels as a point of the band space: all bands, Lanczos to one scale
            cand = self._uniform_sized(budget, self.pool)
            if not fits(self.tokens(cand), budget) or cand == self.dropped():
                return None
            shown = self._shown_slots(self.pool)
            longest = max(max(self.spectra[self.sources[s.id]].size) for s in shown)
            sides = [int(cand.values[s.id][SIZE_DIM]) for s in shown]
            return cand, max(sides) / longest
        slots = self._shown_slots(self.pool)
        pils = [load_image(self.plan.images[s.id]) for s in slots]
        found = uniform_sizes([p.size for p in pils], self.pricer, budget)
        if found is None:
            return None
        scale, sizes, _ = found
        overrides = {
            s.id: dspy.Image(p.resize(size, Image.Resampling.LANCZOS))
            for s, p, size in zip(slots, pils, sizes, strict=True)
        }
        return Candidate(self.full().values, excluded=self.pool, overrides=overrides), float(scale)

    def low_detail(self) -> Candidate:
        """Every image at full resolution, sent with OpenAI ``detail="low"`` (an override)."""
        full = self.full()
        overrides = {
            s.id: self.render(s.id, self.spaces[s.id].selection(full.values[s.id])).with_detail("low")
            for s in self._shown_slots(self.pool)
        }
        return Candidate(full.values, excluded=self.pool, overrides=overrides)

    def _uniform_sized(self, budget: float | None, excluded: frozenset[str]) -> Candidate:
        slots = self.plan.slots
        shown = self._shown_slots(excluded) or list(slots)
        longest = max(max(self.spectra[self.sources[s.id]].size) for s in shown)

        def at(n: int) -> Candidate:
            values: dict[str, Mapping[str, int]] = {}
            for s in slots:
                space = self.spaces[s.id]
                dim = space.size_dim
                if dim is None:  # pragma: no cover - every space of a sized context has one
                    raise ConfigError(f"the search space of {s.id} has no size dimension")
                side = min(dim.high, max(dim.low, round(dim.high * n / longest)))
                values[s.id] = {**space.full(), SIZE_DIM: side}
            return Candidate(values, excluded=excluded)

        if fits(self.tokens(at(longest)), budget):
            return at(longest)
        lo, hi = 1, longest  # invariant (under monotonicity): at(hi) does not fit
        if not fits(self.tokens(at(lo)), budget):
            return self.dropped()
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if fits(self.tokens(at(mid)), budget):
                lo = mid
            else:
                hi = mid
        n = lo
        while n > 1 and not fits(self.tokens(at(n)), budget):
            n -= 1  # pragma: no cover - only for a cost model that is not monotone
        return at(n)

    def greedy_fit(self, budget: float | None) -> Candidate:
        """Images in slot order at full resolution while they fit, then the finest rung that fits.

        The counterpart of :meth:`uniform_fit`: few sharp images instead of many coarse ones.
        Pooled demos are left out.
        """
        values = dict(self.dropped().values)
        for slot in self._shown_slots(self.pool):
            for rung in self.spaces[slot.id].ladder():
                trial = Candidate({**values, slot.id: rung}, excluded=self.pool)
                if fits(self.tokens(trial), budget):
                    values[slot.id] = rung
                    break
        return Candidate(values, excluded=self.pool)

    # -- per-slot rendering ----------------------------------------------------------------------
    def _slot_selection(self, cand: Candidate, slot: ImageSlot) -> Selection | None:
        """The kept bands, or ``None`` when the slot's demo is excluded."""
        if slot.demo_id in cand.excluded:
            return None
        return self.spaces[slot.id].selection(cand.values[slot.id])

    def render(
        self, slot_id: str, selection: Selection, size: tuple[int, int] | None = None, sharpen: int = 0
    ) -> SpectralImage:
        """The SpectralImage of ``selection`` of a slot's source sent at ``size`` (``None``: minimal).

        Cached per source, selection, size and sharpening. With a ``size`` the kept bands are
        reconstructed at full size and Lanczos-resampled to it (:meth:`SpectralImage.from_spectrum`),
        then sharpened by ``SHARPEN_LEVELS[sharpen]`` percent (only with a ``size``).
        """
        h = self.sources[slot_id]
        percent = SHARPEN_LEVELS[sharpen] if size is not None else 0
        key = (h, selection.to_json(), None if size is None else (int(size[0]), int(size[1])), percent)
        with self._lock:
            hit = self._renders.get(key)
        if hit is None:
            hit = SpectralImage.from_spectrum(
                self.spectra[h], selection, detail=self.detail, source_hash=h, size=key[2], sharpen=percent
            )
            with self._lock:
                self._renders[key] = hit
        return hit

    def crop(self, slot_id: str) -> tuple[SpectralImage, int]:
        """The sharp detail crop of a slot's source and its tokens (cached per source)."""
        h = self.sources[slot_id]
        with self._lock:
            hit = self._crop_cache.get(h)
        if hit is None:
            spec = self.spectra[h]
            top, left, ch, cw = detail_box(spec, float(self.config.crop_fraction))
            pixels = np.clip(spec.reconstruct()[top : top + ch, left : left + cw], 0.0, 1.0)
            cspec = decompose(pixels, self.config.scheme, **self.config.options)
            origin = {"box": (left, top, cw, ch), "source_size": spec.size, "source_hash": h}
            hit = (
                SpectralImage.from_spectrum(cspec, None, detail=self.detail, crop=origin),
                self.pricer.selection(f"{h}@{top},{left},{ch},{cw}", cspec, Selection.all()),
            )
            with self._lock:
                self._crop_cache[h] = hit
        return hit

    # -- classes: every class keeps an image ------------------------------------------------------
    def cheapest(self, slot_id: str) -> int:
        """Tokens of the cheapest way to still show the slot's image (its coarsest kept rung)."""
        hit = self._cheapest.get(slot_id)
        if hit is None:
            slot = next(s for s in self.plan.slots if s.id == slot_id)
            prices = [self.slot_tokens(Candidate({slot_id: rung}), slot) for rung in self.spaces[slot_id].ladder()]
            hit = self._cheapest[slot_id] = min((p for p in prices if p > 0), default=0)
        return hit

    def shown_demos(self, cand: Candidate) -> frozenset[str]:
        """Ids of the demos that show at least one image in ``cand``."""
        out: set[str] = set()
        for slot in self.plan.slots:
            sel = self._slot_selection(cand, slot)
            if sel is not None and (sel.bands != frozenset() or slot.id in cand.overrides or slot.id in cand.crops):
                out.add(slot.demo_id)
        return frozenset(out)

    def missing_classes(self, cand: Candidate) -> list[str]:
        """Classes none of whose demos shows an image in ``cand`` (always empty when the budget
        cannot hold one image per class, see :attr:`must_cover`)."""
        if not self.must_cover:
            return []
        shown = self.shown_demos(cand)
        return [c for c, demos in self.class_demos.items() if not shown.intersection(demos)]

    def covers_labels(self, cand: Candidate) -> bool:
        """The feasibility rule beside the budget: every class (label) keeps at least one demo image.

        Convention:
            Classes are the answers of the demos holding images (:attr:`DemoPlan.classes`); free-text
            answers are no classes. When the budget cannot hold the cheapest image of one demo
            per class, the rule is off (and a :class:`SpecPromptWarning` said so when the context
            was built).
        """
        return not self.missing_classes(cand)

    # -- tokens, keys, descriptions --------------------------------------------------------------
    def describe_slot(self, slot: ImageSlot) -> str:
        """The demo image of ``slot`` in words, for errors: its id, predictor, demo, field and,
        when a dataset read it (:func:`specprompt.data.image_file`), its file.

        ``demo image predict/demo0/image (predictor 'predict', demo 0, field 'image', file 'train/a/x.png')``
        """
        item = "" if slot.item is None else f", item {slot.item}"
        where = f"predictor {slot.predictor_name!r}, demo {slot.demo}, field {slot.field!r}{item}"
        path = image_file(self.plan.images[slot.id])
        return f"demo image {slot.id} ({where}{'' if path is None else f', file {path!r}'})"

    def _priced(self, slot: ImageSlot, price: Callable[[], int]) -> int:
        """``price()``; a cost model's refusal (Qwen2-VL's aspect ratio) names the demo image."""
        try:
            return price()
        except ConfigError as exc:
            raise ConfigError(
                f"{self.describe_slot(slot)} cannot be priced for {self.config.cost_model}: {exc}"
            ) from None

    def slot_tokens(self, cand: Candidate, slot: ImageSlot) -> int:
        """Tokens of the image ``cand`` sends for ``slot`` (its detail crop included).

        Raises:
            ConfigError: the cost model cannot price it (naming the demo image, :meth:`describe_slot`).
        """
        sel = self._slot_selection(cand, slot)
        if sel is None:
            return 0
        if slot.id in cand.overrides:
            img = cand.overrides[slot.id]
            w, h = _image_size(img)
            return self._priced(slot, lambda: self.pricer.image(w, h, getattr(img, "detail", None)))
        sid = self.sources[slot.id]
        sent = self.spaces[slot.id].sent_size(cand.values[slot.id])
        if sel.bands == frozenset():
            total = 0
        elif sent is not None:
            total = self._priced(slot, lambda: self.pricer.image(*sent))
        else:
            total = self._priced(slot, lambda: self.pricer.selection(sid, self.spectra[sid], sel))
        if slot.id in cand.crops:
            total += self._priced(slot, lambda: self.crop(slot.id)[1])
        return total

    def tokens(self, cand: Candidate) -> int:
        """Image tokens of all demo images of the candidate's prompt."""
        return sum(self.slot_tokens(cand, s) for s in self.plan.slots)

    def key(self, cand: Candidate) -> str:
        """A hash of what the prompt shows: per slot, the source hash and the kept bands.

        Two candidates with the same key render the same prompt, whatever their parameters.
        The scheme, its options, ``detail`` and the crop fraction are part of the key (they
        change the rendered images); the cost model is not (it only prices them).
        """
        cfg = self.config
        items: list[Any] = [[cfg.scheme, cfg.to_dict()["scheme_options"], cfg.detail, cfg.crop_fraction]]
        for slot in self.plan.slots:
            sel = self._slot_selection(cand, slot)
            if sel is None:
                items.append([slot.id, "excluded"])
                continue
            shown: Any = "drop" if sel.bands == frozenset() else sel.to_json()
            sent = self.spaces[slot.id].sent_size(cand.values[slot.id])
            if sent is not None and shown != "drop":
                shown = [shown, list(sent)]
                if SHARPEN_LEVELS[cand.sharpen]:  # absent when 0: keys of unsharpened prompts unchanged
                    shown.append({SHARPEN_DIM: SHARPEN_LEVELS[cand.sharpen]})
            if slot.id in cand.overrides:
                shown = "override:" + hashlib.sha256(repr(cand.overrides[slot.id].format()).encode()).hexdigest()
            items.append([slot.id, self.sources[slot.id], shown, slot.id in cand.crops])
        text = json.dumps(items, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def describe(self, cand: Candidate) -> dict[str, Any]:
        """JSON per slot: source hash, choice, kept bands (``null`` = all), sent size, sharpening
        (unsharp-mask percent, only when not 0), crop, tokens."""
        out: dict[str, Any] = {}
        for slot in self.plan.slots:
            sel = self._slot_selection(cand, slot)
            entry: dict[str, Any] = {"source": self.sources[slot.id][:16]}
            if sel is None:
                entry["choice"] = "excluded"
            else:
                entry["choice"] = self.spaces[slot.id].describe(cand.values[slot.id])
                entry["bands"] = None if sel.bands is None else sorted(sel.bands)
                sent = self.spaces[slot.id].sent_size(cand.values[slot.id])
                if sent is not None and sel.bands != frozenset():
                    entry["sent"] = list(sent)
                    if SHARPEN_LEVELS[cand.sharpen] and slot.id not in cand.overrides:
                        entry[SHARPEN_DIM] = SHARPEN_LEVELS[cand.sharpen]
                if slot.id in self.crop_slots:
                    entry["crop"] = slot.id in cand.crops
            entry["tokens"] = self.slot_tokens(cand, slot)
            out[slot.id] = entry
        return out

    # -- programs ---------------------------------------------------------------------------------
    def build(self, cand: Candidate) -> dspy.Module:
        """A deep copy of the student whose demos show the candidate's images.

        Convention:
            A dropped image of a single ``dspy.Image`` field becomes the text
            :data:`specprompt.types.DROPPED_IMAGE` (``"(no image: dropped to save tokens)"``): the demo still
            shows its labels, and the model reads plainly that no image was sent. A dropped item
            of a ``list[dspy.Image]`` field is removed from the list (a list left without any
            image becomes that text too), and a detail crop is inserted right after
            its whole image. Excluded demos are removed.
        """
        return build_program(self, cand)


def _image_size(img: dspy.Image) -> tuple[int, int]:
    arr = as_array(img)
    return int(arr.shape[1]), int(arr.shape[0])
