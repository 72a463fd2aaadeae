"""The prediction API of the local band VLM: :class:`LocalVLM` and :class:`LocalAnswer`.

What it can answer: few-shot *classification* of images. Given demonstrations ``(images, answer)``
and a query, it returns one of the answers seen in the demonstrations, with a probability per
answer. It decides from what distinguishes the demonstrations' classes (colour, position, coarse
shape, fine texture and stripe orientation, small glyphs, counts of small objects in training),
and reads the instruction and answer strings only as a hint of which attribute is asked about.

What it cannot answer: anything open-ended (it never writes new text, reads no text inside the
image beyond telling glyphs apart, cannot answer a question without demonstrations), attributes
finer than its 64-pixel working resolution, relations between several objects, or answers that
need world knowledge. Held-out attribute types (size, background colour, aspect ratio in the
benchmark) work only as far as the embedding happens to encode them.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from specprompt.errors import ConfigError, ImageInputError
from specprompt.spectral import Spectrum
from specprompt.vlm._prepare import PreparedImage, prepare_image

if TYPE_CHECKING:
    import torch

    from specprompt.vlm._model import BandVLM

__all__ = ["AnswerProbabilities", "LocalAnswer", "LocalVLM"]


@dataclass(frozen=True)
class LocalAnswer:
    """The model's answer: ``answer, scores = vlm.answer(...)`` unpacks the first two fields.

    Attributes:
        answer: the chosen answer (one of the demonstrations' answers).
        scores: probability of every distinct demonstration answer (sums to 1).
        image_tokens: band tokens created for all demo and query images together.
    """

    answer: str
    scores: dict[str, float]
    image_tokens: int

    def __iter__(self) -> Iterator[Any]:
        yield self.answer
        yield self.scores


class AnswerProbabilities(NamedTuple):
    """The readout of :meth:`LocalVLM.probabilities` (unpacks as ``answers, probs``).

    Attributes:
        answers: the distinct demo answers, in first-seen order.
        probs: float64 probability of each answer for the query (sums to 1).
    """

    answers: list[str]
    probs: np.ndarray


def _images_of(item: Any, what: str) -> list[Any]:
    """One example's images: a single image, a (Spectrum, Selection) pair, or a list of those."""
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], Spectrum):
        return [item]
    if isinstance(item, (list, tuple)):
        if not item:
            raise ImageInputError(what, "no image given")
        return list(item)
    return [item]


class LocalVLM:
    """A loaded band VLM checkpoint.

    Args:
        model: the network (eval mode).
        meta: the checkpoint's ``config.json`` contents.
        device: torch device string.

    Example:
        >>> import numpy as np
        >>> vlm = LocalVLM.load()
        >>> red, blue = np.zeros((32, 32, 3), np.float32), np.zeros((32, 32, 3), np.float32)
        >>> red[8:24, 8:24, 0] = 1.0; blue[8:24, 8:24, 2] = 1.0
        >>> vlm.answer([(red, "red"), (blue, "blue")], red.copy(), "Colour?").answer
        'red'
    """

    def __init__(self, model: BandVLM, meta: dict[str, Any], device: str = "cpu") -> None:
        self.model = model
        self.meta = meta
        self.device = device

    @classmethod
    def load(cls, path: str | Path | None = None, *, device: str = "cpu") -> LocalVLM:
        """Loads a checkpoint directory (default: the one shipped in ``specprompt/vlm/checkpoints``).

        Raises:
            ConfigError: missing/malformed checkpoint or a weights hash mismatch.
        """
        from specprompt.vlm._checkpoint import load_checkpoint, resolve_device

        dev = resolve_device(device)
        model, meta = load_checkpoint(path, device=dev)
        return cls(model, meta, dev)

    @property
    def weights_sha256(self) -> str:
        """Hex SHA-256 of the weights."""
        return str(self.meta["weights_sha256"])

    @property
    def model_id(self) -> str:
        """``local-<first 12 hex of the weights hash>``: use it as the DSPy model string. A model
        whose readout is not the ``"prior"`` one it was trained with answers differently with the
        same weights, so its id ends in ``-<readout_scale>`` (DSPy's cache keeps them apart)."""
        from specprompt.vlm._checkpoint import model_id_of

        return model_id_of(self.weights_sha256, self.model.config)

    # -- embedding --------------------------------------------------------------------------------
    def embed_prepared(self, items: Sequence[PreparedImage]) -> torch.Tensor:
        """Embeddings ``(n, D)`` of prepared images in one forward pass, on :attr:`device`.

        Convention:
            An image's embedding depends on the batch it is computed in only up to float
            rounding (about 1e-6): reuse embeddings within one scoring run, not across devices.
        """
        import torch

        from specprompt.vlm._pyramid import band_features, working_bands

        canv = torch.from_numpy(np.stack([p.canvas for p in items])).to(self.device).permute(0, 3, 1, 2)
        feats = band_features(working_bands(canv))
        keep = [
            torch.from_numpy(np.stack([p.layout.created[lv].ravel() for p in items])).to(self.device)
            for lv in range(len(feats))
        ]
        fine_feats: list[torch.Tensor] = []
        fine_keep: list[torch.Tensor] = []
        cfg = self.model.config
        levels = cfg.fine_levels
        if levels:
            from specprompt.vlm._pyramid import fine_bands, fine_features

            details = [p.detail for p in items]
            if any(d is None for d in details):
                raise ConfigError(f"a {cfg.canvas} px model needs prepared images with a detail canvas")
            det = torch.from_numpy(np.stack(details)).to(self.device).permute(0, 3, 1, 2)  # type: ignore[arg-type]
            fine_feats = fine_features(fine_bands(det, levels), cfg.fine_grid, cfg.fine_cells)
            fine_keep = [
                torch.from_numpy(np.stack([p.layout.fine[j].ravel() for p in items])).to(self.device)
                for j in range(levels)
            ]
        with torch.no_grad():
            return self.model.encode(feats, keep, fine_feats, fine_keep)

    def prepare(self, image: Any) -> PreparedImage:
        """One image as this model sees it (:func:`~specprompt.vlm._prepare.prepare_image` at the
        checkpoint's working resolution)."""
        cfg = self.model.config
        return prepare_image(image, canvas=cfg.canvas, fine_threshold=cfg.fine_threshold, fine_grid=cfg.fine_grid)

    def embed(self, images: Sequence[Any]) -> np.ndarray:
        """Image embeddings ``(n, D)`` of images (see :func:`prepare_image` for the accepted inputs).

        Raises:
            ImageInputError / SelectionError: unreadable images, metadata or selections.
        """
        prepared = [self.prepare(im) for im in images]
        if not prepared:
            cfg = self.model.config
            return np.zeros((0, cfg.embedding_dim + cfg.fine_readout_dim), np.float32)
        return self.embed_prepared(prepared).cpu().numpy()

    # -- answering --------------------------------------------------------------------------------
    def probabilities(
        self, groups: Sequence[Sequence[PreparedImage]], labels: Sequence[str], instruction: str = ""
    ) -> AnswerProbabilities:
        """The readout of one episode: probability of every distinct demo answer for the query.

        The shared scoring step of :meth:`answer` and :class:`~specprompt.scorers.LocalVLMEngine`: each
        group's images are embedded and averaged, the instruction and answers set the text gate, and
        the Fisher readout scores the last group (the query) against the demos.

        Args:
            groups: prepared images per example: one group per demo, then the query's group.
            labels: ``labels[i]`` is the answer of group ``i`` (one label per demo).
            instruction: the task text (a hint only).

        Returns:
            the distinct answers in first-seen order and their float64 probabilities (sum 1); a single
            distinct answer gets probability 1 without running the model.

        Raises:
            ConfigError: no demo, a label count that is not ``len(groups) - 1``, or an empty group.

        Example:
            >>> import numpy as np
            >>> from specprompt.vlm._prepare import prepare_image
            >>> vlm = LocalVLM.load()
            >>> red = np.zeros((32, 32, 3), np.float32); red[8:24, 8:24, 0] = 1.0
            >>> blue = red[:, :, ::-1].copy()
            >>> groups = [[prepare_image(red)], [prepare_image(blue)], [prepare_image(red.copy())]]
            >>> answers, probs = vlm.probabilities(groups, ["red", "blue"], "Colour?")
            >>> answers, bool(probs[0] > probs[1])
            (['red', 'blue'], True)
        """
        import torch

        if not labels or len(groups) != len(labels) + 1:
            raise ConfigError(
                f"probabilities needs one group per label plus the query's group and at least one label, "
                f"got {len(groups)} groups and {len(labels)} labels"
            )
        empty = [i for i, g in enumerate(groups) if not g]
        if empty:
            raise ConfigError(f"group(s) {empty} hold no image")
        if len(set(labels)) == 1:
            return AnswerProbabilities([labels[0]], np.ones(1))
        flat = [p for g in groups for p in g]
        bounds = np.cumsum([0] + [len(g) for g in groups])
        z = self.embed_prepared(flat)
        with torch.no_grad():
            ex = torch.stack([z[a:b].mean(0) for a, b in itertools.pairwise(bounds)])
        answers, probs = self.readout(ex[:-1], labels, ex[-1:], instruction)
        return AnswerProbabilities(answers, probs[0])

    def readout(
        self, demos: torch.Tensor, labels: Sequence[str], queries: torch.Tensor, instruction: str = ""
    ) -> tuple[list[str], np.ndarray]:
        """Probabilities of every distinct demo answer for each of several queries that share the demos.

        The step after the embeddings in :meth:`probabilities`; each query is scored on its own
        (a query never changes another's scores), so one call answers a batch of prompts that
        show the same demos.

        Args:
            demos: ``(S, D)`` embedding per demo (the mean over a demo's images).
            labels: ``labels[i]`` is the answer of demo ``i``.
            queries: ``(Q, D)`` embedding per query.
            instruction: the task text (a hint only).

        Returns:
            the distinct answers in first-seen order and float64 probabilities ``(Q, N)`` (rows sum to 1).

        Raises:
            ConfigError: no demo, or a label count or embedding shape that does not match.

        Shape:
            demos ``(S, D)``, queries ``(Q, D)`` -> probabilities ``(Q, N)``, ``N`` distinct answers.
        """
        import torch

        from specprompt.vlm._text import episode_text, text_ids

        if not labels or demos.ndim != 2 or len(labels) != demos.shape[0] or queries.ndim != 2:
            raise ConfigError(
                f"readout needs (S, D) demos with one label each and (Q, D) queries, got demos "
                f"{tuple(demos.shape)}, {len(labels)} labels, queries {tuple(queries.shape)}"
            )
        answers = list(dict.fromkeys(labels))
        if len(answers) == 1:
            return answers, np.ones((queries.shape[0], 1))
        ys = torch.tensor([answers.index(a) for a in labels], device=demos.device)
        with torch.no_grad():
            gate = self.model.text_gate_of([text_ids(episode_text(instruction, answers))])
            logits = self.model.episode_logits(demos[None], ys[None], len(answers), queries[None], gate)
            probs: np.ndarray = torch.softmax(logits[0], -1).cpu().numpy().astype(np.float64)
        return answers, probs

    def answer(self, demos: Sequence[tuple[Any, str]], query_images: Any, instruction: str = "") -> LocalAnswer:
        """Chooses the query's answer among the demonstrations' answers.

        Args:
            demos: ``(images, answer)`` pairs; ``images`` is one image, a ``(Spectrum, Selection)``
                pair, or a list of them (their embeddings are averaged). An image is anything
                :func:`~specprompt.vlm._prepare.prepare_image` accepts: a SpectralImage (or its PNG
                bytes, data URI or file) creates only the tokens of its kept bands.
            query_images: the query's image(s), same forms.
            instruction: the task text (optional; used as a hint only).

        Returns:
            a :class:`LocalAnswer` (unpacks as ``answer, scores``).

        Raises:
            ConfigError: no demos, a malformed demo, a non-string answer or instruction.
            ImageInputError / SelectionError: unreadable images, metadata or selections.
        """
        if not isinstance(instruction, str):
            raise ConfigError(f"instruction must be a str, got {type(instruction).__name__}")
        if isinstance(demos, (str, bytes)) or not isinstance(demos, Sequence) or not demos:
            raise ConfigError("demos must be a non-empty sequence of (images, answer) pairs")
        groups: list[list[Any]] = []
        labels: list[str] = []
        for i, demo in enumerate(demos):
            if not isinstance(demo, (tuple, list)) or len(demo) != 2:
                raise ConfigError(f"demo {i} must be an (images, answer) pair, got {type(demo).__name__}")
            if not isinstance(demo[1], str):
                raise ConfigError(f"demo {i}'s answer must be a str, got {type(demo[1]).__name__}")
            groups.append(_images_of(demo[0], f"<demo {i}>"))
            labels.append(demo[1])
        groups.append(_images_of(query_images, "<query>"))
        prepared = [[self.prepare(im) for im in g] for g in groups]
        tokens = sum(p.layout.n_tokens for g in prepared for p in g)
        answers, probs = self.probabilities(prepared, labels, instruction)
        scores = {a: float(p) for a, p in zip(answers, probs, strict=True)}
        return LocalAnswer(answers[int(np.argmax(probs))], scores, tokens)
