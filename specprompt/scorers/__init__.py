"""Scorers: engines that answer DSPy requests so candidate demo selections can be judged.

:class:`NearestBandEngine` is offline and deterministic: it copies the answer of the demo whose
kept frequency bands best match the query (:func:`nearest_lm` wraps it in a ``dspy.LM``).
:class:`LocalVLMEngine` answers with the local band VLM (:mod:`specprompt.vlm`); :func:`local_lm`
wraps it in a ``dspy.LM``. Besides one request at a time (``complete``), it answers many chats
read with :func:`parse_messages` together (``respond``: one encoder pass), as the band search does.
:class:`PixelJudgeEngine` (:func:`pixel_lm`) sees only the pixels a remote API would receive and
answers with the nearest demo under its own image descriptor (``"hist-hog"`` or ``"lbp-dct"``):
a stand-in for a remote VLM. The ``*_lm`` functions give each LM an :class:`AsyncScorerEngine` over
the same engine, so DSPy's async calls (``await program.acall(...)``) work too.
"""

from specprompt.scorers._async import AsyncScorerEngine
from specprompt.scorers._engine_base import (
    ParsedChat,
    ScorerEngine,
    parse_chat,
    parse_messages,
    text_tokens,
    with_query,
)
from specprompt.scorers._local import LocalVLMEngine, answer_label, local_lm
from specprompt.scorers._nearest import (
    MODEL_NAME,
    NearestBandEngine,
    NearestConfig,
    band_signature,
    effective_levels,
    image_distance,
    nearest_lm,
    resample,
)
from specprompt.scorers._pixel import PIXEL_JUDGES, PixelJudgeConfig, PixelJudgeEngine, pixel_lm, sent_pixels

__all__ = [
    "AsyncScorerEngine",
    "LocalVLMEngine",
    "MODEL_NAME",
    "NearestBandEngine",
    "NearestConfig",
    "PIXEL_JUDGES",
    "ParsedChat",
    "PixelJudgeConfig",
    "PixelJudgeEngine",
    "ScorerEngine",
    "answer_label",
    "band_signature",
    "effective_levels",
    "image_distance",
    "local_lm",
    "nearest_lm",
    "parse_chat",
    "parse_messages",
    "pixel_lm",
    "resample",
    "sent_pixels",
    "text_tokens",
    "with_query",
]
