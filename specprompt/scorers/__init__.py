"""Scorers: engines that answer DSPy requests so candidate demo selections can be judged.

:class:`NearestBandEngine` is offline and deterministic: it copies the answer of the demo whose
kept frequency bands best match the query (:func:`nearest_lm` wraps it in a ``dspy.LM``).
:class:`LocalVLMEngine` answers with the local band VLM (:mod:`specprompt.vlm`); :func:`local_lm`
wraps it in a ``dspy.LM``.
"""

from specprompt.scorers._engine_base import ParsedChat, ScorerEngine, parse_chat
from specprompt.scorers._local import LocalVLMEngine, local_lm
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

__all__ = [
    "LocalVLMEngine",
    "MODEL_NAME",
    "NearestBandEngine",
    "NearestConfig",
    "ParsedChat",
    "ScorerEngine",
    "band_signature",
    "effective_levels",
    "image_distance",
    "local_lm",
    "nearest_lm",
    "parse_chat",
    "resample",
]
