"""The async counterpart of the offline engines, and the ``dspy.LM`` that holds both.

DSPy's async paths (``await program.acall(...)``, ``LM.acall``) call an LM's ``async_engine``,
and an LM with a custom engine but none fails there ("This custom engine has no async
counterpart"). The offline engines compute on the CPU (or the local model's device) and hold no
connection, so the async engine is the sync one run in a worker thread.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator
from typing import Any

import dspy
from dspy.lm15 import Request, Response, response_to_events

from specprompt.errors import ConfigError
from specprompt.scorers._engine_base import ScorerEngine

__all__ = ["AsyncScorerEngine", "engine_lm"]


class AsyncScorerEngine:
    """The async counterpart of a :class:`ScorerEngine`, for ``dspy.LM(..., async_engine=...)``.

    DSPy's async paths (``await program.acall(...)``, ``LM.acall``) call an LM's async engine,
    and an LM with a custom engine but no async one fails there. The offline engines compute on
    the CPU (or the local model's device) and hold no connection, so this one runs the engine's
    own :meth:`~ScorerEngine.complete` in a worker thread (``asyncio.to_thread``): the same engine
    object answers both paths, with the same caches, :attr:`~ScorerEngine.calls` (one per request)
    and usage.

    Args:
        engine: the sync engine (shared, not copied).

    Convention:
        - :meth:`aclose` releases nothing: the engine is borrowed (DSPy closes no custom engine).
        - DSPy saves the pair apart (:meth:`dump_state`) and loads each on its own: a loaded LM's
          async engine wraps a second engine built from the same state, with its own caches and
          ``calls`` (the same answers).

    Example:
        >>> import asyncio
        >>> from specprompt.scorers import NearestBandEngine
        >>> engine = NearestBandEngine()
        >>> AsyncScorerEngine(engine).engine is engine, asyncio.run(AsyncScorerEngine(engine).aclose())
        (True, None)
    """

    def __init__(self, engine: ScorerEngine) -> None:
        if not isinstance(engine, ScorerEngine):
            raise ConfigError(f"AsyncScorerEngine wraps a ScorerEngine, got {type(engine).__name__}")
        self.engine = engine

    async def complete(self, request: Request) -> Response:
        """:meth:`ScorerEngine.complete` of the shared engine, in a worker thread."""
        return await asyncio.to_thread(self.engine.complete, request)

    async def stream(self, request: Request) -> AsyncIterator[Any]:
        """The answer of :meth:`complete` as stream events."""
        for event in response_to_events(await self.complete(request)):
            yield event

    async def aclose(self) -> None:
        """Nothing to release (the engine is borrowed)."""

    def dump_state(self) -> dict[str, Any]:
        """JSON-ready state for ``dspy.LM.dump_state``: the engine's class path and its own state.

        Raises:
            TypeError: the engine has no ``dump_state`` (as DSPy's own refusal of such an engine).
        """
        dump = getattr(self.engine, "dump_state", None)
        if not callable(dump):
            raise TypeError(f"{type(self.engine).__name__} cannot be saved: it has no dump_state()")
        cls = type(self.engine)
        return {"engine": f"{cls.__module__}:{cls.__qualname__}", "state": dump()}

    @classmethod
    def load_state(cls, state: dict[str, Any]) -> AsyncScorerEngine:
        """Inverse of :meth:`dump_state` (DSPy calls it only under ``allow_unsafe_lm_state``).

        Raises:
            ConfigError: the state names no importable :class:`ScorerEngine` subclass with ``load_state``.
        """
        path = state.get("engine") if isinstance(state, dict) else None
        module, _, qualname = str(path).partition(":")
        found: Any = None
        try:
            found = importlib.import_module(module)
            for part in qualname.split("."):
                found = getattr(found, part)
        except (ImportError, AttributeError, ValueError):
            found = None
        if not (isinstance(found, type) and issubclass(found, ScorerEngine) and hasattr(found, "load_state")):
            raise ConfigError(f"the async engine's state names no ScorerEngine class with load_state, got {path!r:.80}")
        return cls(found.load_state(state.get("state") or {}))


def engine_lm(engine: ScorerEngine, cache: bool) -> dspy.LM:
    """``dspy.LM`` served by ``engine``, sync and async (:class:`AsyncScorerEngine` over the same engine).

    Example:
        >>> from specprompt.scorers import NearestBandEngine
        >>> engine = NearestBandEngine()
        >>> lm = engine_lm(engine, cache=False)
        >>> lm.model, lm.engine is engine
        ('specprompt/nearest-v1', True)
    """
    return dspy.LM(engine.model_name, engine=engine, async_engine=AsyncScorerEngine(engine), cache=cache)
