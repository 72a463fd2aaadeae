"""The local band VLM as a DSPy engine: :class:`LocalVLMEngine` and :func:`local_lm`.

What it answers: DSPy programs (``ChatAdapter`` or ``JSONAdapter``; ``XMLAdapter`` works too) whose
signature has ``dspy.Image`` or ``list[dspy.Image]`` inputs and ``str`` or ``Literal`` outputs, with
few-shot demos. It is a few-shot *classifier*: the answer is always one of the answers seen in the
demos, chosen by the band VLM from the images (the instruction and the answer strings are only a
hint of which attribute matters), and returned as that demo's assistant message verbatim, so every
output field is in the adapter's own format.

What it cannot answer: no free-form generation (a new string, a number it has not seen in a demo,
a reasoning text); an answer that no demo shows can never be chosen, so give at least one demo per
answer; without any complete demo it returns placeholders (the first ``Literal`` option, else an
empty value), like :class:`~specprompt.scorers.NearestBandEngine`. Text inputs other than the
instruction are ignored; several output fields are copied together from one demo.

Images are read in one of two ways (``provider_data["specprompt"]["paths"]`` says which):

- ``"bands"``: a PNG carrying :class:`~specprompt.types.SpectralImage` metadata (scheme, options,
  selection, source size) is tokenized natively: only the working tokens that overlap the *kept*
  bands (and tiles) of the source are created (:func:`specprompt.vlm.metadata_layout`).
- ``"pixels"``: any other image (or a PNG whose metadata was stripped) is decomposed as it is.

:meth:`LocalVLM.answer <specprompt.vlm.LocalVLM.answer>` reads a SpectralImage (or its PNG) the same way,
and both score through :meth:`LocalVLM.probabilities <specprompt.vlm.LocalVLM.probabilities>`.

Convention:
    A band-limited demo rendered at its minimal size from a coarse-first Laplacian selection (finest
    levels dropped) holds exactly its kept bands, so both ways create the same tokens when the
    source sides are divisible by ``2 ** dropped levels`` (otherwise the rounding of the minimal
    size can move the image's edge by one working row or column). Selections that drop a coarse band
    but keep finer ones render at full size, and only the ``"bands"`` way knows what was dropped.
    Usage: ``input_tokens`` = text tokens (one per four characters) + the band tokens of every image
    in the request (demos and query), reported also as ``provider_data["specprompt"]["image_tokens"]``.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dspy
import numpy as np

from specprompt.errors import ConfigError
from specprompt.scorers._async import engine_lm
from specprompt.scorers._engine_base import (
    ChatImage,
    LRUCache,
    ParsedChat,
    ScorerEngine,
    default_answer,
    need_query_image,
)
from specprompt.vlm import LocalVLM, png_metadata, prepare_decoded

if TYPE_CHECKING:
    import torch

    from specprompt.vlm import PreparedImage

__all__ = ["LocalVLMEngine", "answer_label", "instruction_of", "load_local_vlm", "local_lm"]

_OBJECTIVE = re.compile(r"your objective is:\s*(.*)\Z", re.S)
_CHAT_FIELD = re.compile(r"\[\[ ## (\w+) ## \]\]\s*(.*?)\s*(?=\[\[ ## |\Z)", re.S)
_XML_FIELD = re.compile(r"<(\w+)>\s*(.*?)\s*</\1>", re.S)
_NOT_ANSWERS = ("completed", "reasoning")
#: Image embeddings an engine keeps (demo renders and validation queries repeat across a search).
_EMBEDDINGS = 8192


# -- reading the chat ------------------------------------------------------------------------------


def instruction_of(system: str) -> str:
    """The task instruction in a DSPy system message (the text after ``your objective is:``).

    Example:
        >>> instruction_of("... In adhering to this structure, your objective is: \\n    Name the colour.")
        'Name the colour.'
    """
    m = _OBJECTIVE.search(system)
    return " ".join(m.group(1).split()) if m else ""


def answer_label(text: str) -> str:
    """The answer values of an assistant message, whatever the adapter's format (ChatAdapter markers,
    a JSON object or XML tags), joined with ``" | "``; ``reasoning`` is left out.

    Example:
        >>> answer_label("[[ ## label ## ]]\\nred\\n\\n[[ ## completed ## ]]\\n"), answer_label('{"label": "red"}')
        ('red', 'red')
    """

    def join(pairs: Sequence[tuple[str, Any]]) -> str:
        values = [v if isinstance(v, str) else json.dumps(v) for k, v in pairs if k not in _NOT_ANSWERS]
        return " | ".join(v.strip() for v in values)

    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            obj = json.loads(stripped)
        except ValueError:
            obj = None
        if isinstance(obj, dict) and obj:
            return join(list(obj.items()))
    for pattern in (_CHAT_FIELD, _XML_FIELD):
        pairs = pattern.findall(stripped)
        if pairs and join(pairs):
            return join(pairs)
    return stripped


# -- the engine -----------------------------------------------------------------------------------------


def load_local_vlm(
    checkpoint: str | Path | None = None, adapter: str | Path | None = None, *, device: str = "cpu"
) -> tuple[LocalVLM, str]:
    """A loaded :class:`~specprompt.vlm.LocalVLM` (with the adapter merged in) and its model id:
    ``local-<12 hex of the weights hash>``, plus ``+<12 hex of the adapter hash>`` with an adapter.

    Raises:
        ConfigError: a missing or malformed checkpoint or adapter, or an adapter of other base weights.
        ImportError: an adapter is given and peft is not installed.
    """
    vlm = LocalVLM.load(checkpoint, device=device)
    if adapter is None:
        return vlm, vlm.model_id
    from specprompt.vlm import apply_adapter

    merged, meta = apply_adapter(vlm.model, adapter, vlm.weights_sha256)
    info = {**vlm.meta, "adapter": {k: meta[k] for k in ("adapter_sha256", "fourierft") if k in meta}}
    return LocalVLM(merged, info, vlm.device), f"{vlm.model_id}+{meta['adapter_sha256'][:12]}"


class LocalVLMEngine(ScorerEngine):
    """DSPy engine answering with the local band VLM (see the module docstring for what it can answer).

    Use it through :func:`local_lm`, or ``dspy.LM(engine.model_name, engine=engine,
    async_engine=AsyncScorerEngine(engine))`` (without ``async_engine``, ``acall`` fails).

    Args:
        checkpoint: checkpoint directory (default: the one shipped with specprompt).
        adapter: a FourierFT adapter directory written by ``specprompt finetune`` (optional).
        device: torch device (``"cpu"``, ``"cuda"``, ``"auto"``).
        cache_size: prepared images kept between requests (demos repeat across a band search).

    Convention:
        - ``model_name`` is ``specprompt/local-<weights hash>[+<adapter hash>]``, so DSPy's cache
          never mixes checkpoints or adapters.
        - The answer is the assistant message of the first demo whose answer (:func:`answer_label`)
          the model picks; ``provider_data["specprompt"]`` holds ``answer``, ``demo`` (its index),
          ``scores`` (probability per answer), ``paths`` (``"bands"`` or ``"pixels"`` per image,
          in request order), ``model_id`` and ``image_tokens``.
        - Thread-safe: the network runs under a lock; the caches are locked.
        - Two paths, the same answers: :meth:`complete` (``dspy.LM``, one request) runs the model
          on the request's demos and query; :meth:`respond` (the band search's batched scoring,
          :class:`~specprompt.search.BandOptimizer` with this engine as scorer) answers many parsed
          chats with one encoder pass, reusing image embeddings cached by content digest, and counts
          one call per chat with the usage :meth:`complete` reports. :attr:`forward_passes` counts
          the encoder passes of both.
        - Deterministic on CPU: DSPy's cache can be on; :func:`local_lm` turns it off by default
          because cache hits report no usage and skip :attr:`calls`.
    """

    def __init__(
        self,
        checkpoint: str | Path | None = None,
        adapter: str | Path | None = None,
        *,
        device: str = "cpu",
        cache_size: int = 256,
    ) -> None:
        if isinstance(cache_size, bool) or not isinstance(cache_size, int) or cache_size < 1:
            raise ConfigError(f"cache_size must be an int >= 1, got {cache_size!r}")
        super().__init__("local", cache_size)
        self.vlm, self.model_id = load_local_vlm(checkpoint, adapter, device=device)
        self.model_name = f"specprompt/{self.model_id}"
        self.checkpoint = None if checkpoint is None else str(checkpoint)
        self.adapter = None if adapter is None else str(adapter)
        self.device = device
        self._prepared: LRUCache[str, tuple[PreparedImage, str]] = LRUCache(cache_size)
        self._embeddings: LRUCache[str, torch.Tensor] = LRUCache(max(cache_size, _EMBEDDINGS))
        self._forward = threading.Lock()
        self._passes = 0

    @property
    def forward_passes(self) -> int:
        """Image-encoder passes run so far: one per :meth:`answer` that runs the model, at most one
        per :meth:`answer_batch` (none when every image's embedding is cached)."""
        with self._forward:
            return self._passes

    # DSPy saves an LM with a custom engine through these two (loading needs allow_unsafe_lm_state).
    def dump_state(self) -> dict[str, Any]:
        """JSON-ready state for ``dspy.LM.dump_state``."""
        return {"checkpoint": self.checkpoint, "adapter": self.adapter, "device": self.device}

    @classmethod
    def load_state(cls, state: dict[str, Any]) -> LocalVLMEngine:
        """Inverse of :meth:`dump_state`."""
        return cls(state.get("checkpoint"), state.get("adapter"), device=str(state.get("device", "cpu")))

    def prepare(self, image: ChatImage) -> tuple[PreparedImage, str]:
        """The model's view of one image part and how it was read (``"bands"`` or ``"pixels"``).

        Raises:
            ImageInputError: undecodable image or malformed metadata. SelectionError: a selection
                that keeps no token the model can see.
        """
        hit = self._prepared.get(image.key)
        if hit is not None:
            return hit
        meta = png_metadata(image.data, image.describe())
        cfg = self.vlm.model.config
        out = prepare_decoded(
            self.decode(image),
            meta,
            image.describe(),
            canvas=cfg.canvas,
            fine_threshold=cfg.fine_threshold,
            fine_grid=cfg.fine_grid,
        )
        self._prepared.put(image.key, out)
        return out

    def image_tokens(self, chat: ParsedChat) -> int:
        """Band tokens the model creates for every image of the request."""
        return sum(self.prepare(img)[0].layout.n_tokens for img in chat.images)

    def answer(self, chat: ParsedChat) -> tuple[str, dict[str, Any]]:
        need_query_image(chat)
        prepared = {img.key: self.prepare(img) for img in chat.images}
        paths = [prepared[img.key][1] for img in chat.images]
        details: dict[str, Any] = {"model_id": self.model_id, "paths": paths}
        if not chat.demos:
            return default_answer(chat), {**details, "answer": None, "demo": None, "scores": {}}
        labels = [answer_label(d.answer) for d in chat.demos]
        groups = [[prepared[i.key][0] for i in d.images] for d in chat.demos]
        groups.append([prepared[i.key][0] for i in chat.query])
        with self._forward:
            answers, probs = self.vlm.probabilities(groups, labels, instruction_of(chat.system))
            self._passes += len(answers) > 1
        return _chosen(chat, labels, answers, probs, details)

    def answer_batch(self, chats: Sequence[ParsedChat]) -> list[tuple[str, dict[str, Any]]]:
        """:meth:`answer` for several chats with one encoder pass: every image not seen before (demos
        and queries) is embedded in a single batch and cached by its content digest, and chats that
        show the same demos share one readout (:meth:`LocalVLM.readout <specprompt.vlm.LocalVLM.readout>`).

        Convention:
            The answers are :meth:`answer`'s; the probabilities agree with it up to float rounding
            (about 1e-6), since an image's embedding is computed in another batch.

        Raises:
            InvalidRequestError: a chat without any image (:func:`need_query_image`; nothing is answered).
            ImageInputError: a chat without a query image, or an unreadable image (nothing is answered).
        """
        import torch

        for chat in chats:
            need_query_image(chat)
        prepared = {img.key: self.prepare(img) for chat in chats for img in chat.images}
        episodes: dict[tuple[Any, ...], list[int]] = {}
        for i, chat in enumerate(chats):
            said = tuple(answer_label(d.answer) for d in chat.demos)
            if len(set(said)) > 1:
                demo_keys = tuple(tuple(img.key for img in d.images) for d in chat.demos)
                episodes.setdefault((demo_keys, said, instruction_of(chat.system)), []).append(i)
        wanted = {img.key: None for i in (j for js in episodes.values() for j in js) for img in chats[i].images}
        with self._forward:
            known: dict[str, torch.Tensor] = {}
            for k in wanted:
                hit = self._embeddings.get(k)
                if hit is not None:
                    known[k] = hit
            missing = [k for k in wanted if k not in known]
            if missing:
                z = self.vlm.embed_prepared([prepared[k][0] for k in missing])
                self._passes += 1
                for k, row in zip(missing, z, strict=True):
                    known[k] = row
                    self._embeddings.put(k, row)
            probs_of: dict[int, tuple[list[str], np.ndarray]] = {}
            for (demo_keys, shown, instruction), members in episodes.items():
                with torch.no_grad():
                    demos = torch.stack([torch.stack([known[k] for k in keys]).mean(0) for keys in demo_keys])
                    queries = torch.stack(
                        [torch.stack([known[img.key] for img in chats[i].query]).mean(0) for i in members]
                    )
                answers, probs = self.vlm.readout(demos, shown, queries, instruction)
                probs_of.update((i, (answers, p)) for i, p in zip(members, probs, strict=True))
        out = []
        for i, chat in enumerate(chats):
            details: dict[str, Any] = {
                "model_id": self.model_id,
                "paths": [prepared[img.key][1] for img in chat.images],
            }
            if not chat.demos:
                out.append((default_answer(chat), {**details, "answer": None, "demo": None, "scores": {}}))
                continue
            labels = [answer_label(d.answer) for d in chat.demos]
            answers, probs = probs_of.get(i, ([labels[0]], np.ones(1)))
            out.append(_chosen(chat, labels, answers, probs, details))
        return out


def _chosen(
    chat: ParsedChat, labels: list[str], answers: list[str], probs: np.ndarray, details: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """The answer text and details for the model's probabilities: the first demo showing the most
    probable answer (ties go to the earlier answer)."""
    best = answers[int(np.argmax(probs))]
    demo = labels.index(best)
    scores = {a: float(p) for a, p in zip(answers, probs, strict=True)}
    return chat.demos[demo].answer, {**details, "answer": best, "demo": demo, "scores": scores}


def local_lm(
    checkpoint: str | Path | None = None,
    adapter_path: str | Path | None = None,
    *,
    cache: bool = False,
    **options: Any,
) -> dspy.LM:
    """A ``dspy.LM`` served by a :class:`LocalVLMEngine`.

    Args:
        checkpoint: checkpoint directory (default: the shipped one).
        adapter_path: a FourierFT adapter directory from ``specprompt finetune`` (optional).
        cache: use DSPy's response cache (off by default: hits report no usage).
        **options: ``device``, ``cache_size`` of :class:`LocalVLMEngine`.

    Returns:
        ``dspy.LM("specprompt/local-<hash>", engine=..., async_engine=...)`` (an
        :class:`~specprompt.scorers.AsyncScorerEngine` over the same engine); the engine is ``lm.engine``.

    Raises:
        ConfigError: a bad checkpoint, adapter or option.

    Example:
        >>> lm = local_lm()  # doctest: +SKIP
        >>> lm.model  # doctest: +SKIP
        'specprompt/local-1a2b3c4d5e6f'
    """
    try:
        engine = LocalVLMEngine(checkpoint, adapter_path, **options)
    except TypeError as exc:
        raise ConfigError(f"bad local_lm option: {exc}; allowed: device, cache_size") from None
    return engine_lm(engine, cache)
