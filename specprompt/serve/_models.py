"""The models ``specprompt serve --model NAME`` can serve: a registry of name -> engine factory.

This is the one place that registers the built-in servable models: ``specprompt/nearest-v1``
(:class:`~specprompt.scorers.NearestBandEngine`) and ``specprompt/local``
(:class:`~specprompt.scorers.LocalVLMEngine`, see :func:`local_servable`).

An engine is any object with DSPy's engine contract (``complete(request) -> Response``, see
``dspy/clients/engines/base.py``). A new local model (for example ``local-<weights hash>``)
becomes servable with one call::

    register_servable_model(ServableModel("local-1a2b3c", lambda: MyEngine(...), thread_safe=False))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from specprompt._registry import Registry
from specprompt.errors import ConfigError

if TYPE_CHECKING:
    from dspy.lm15 import Request, Response

__all__ = [
    "DEFAULT_MODEL",
    "LOCAL_MODEL",
    "NEAREST_MODEL",
    "Engine",
    "ServableModel",
    "get_servable_model",
    "local_servable",
    "register_servable_model",
    "servable_models",
]

#: The local band VLM (reports model id ``specprompt/local-<weights hash>[+<adapter hash>]``).
LOCAL_MODEL = "specprompt/local"
#: The offline nearest-demo scorer (deterministic, no weights): the stand-in for a remote VLM in tests.
NEAREST_MODEL = "specprompt/nearest-v1"
#: The model ``specprompt serve`` serves when ``--model`` is not given: the local band VLM.
DEFAULT_MODEL = LOCAL_MODEL


@runtime_checkable
class Engine(Protocol):
    """What the server needs of an engine: DSPy's ``complete(Request) -> Response``."""

    def complete(self, request: Request) -> Response: ...


@dataclass(frozen=True)
class ServableModel:
    """A model the CLI can serve.

    Attributes:
        name: the model id clients send (``"model": name``); lowercase ``[a-z0-9_.:/+-]``.
        factory: builds the engine (called once, when the server starts).
        thread_safe: whether the engine may answer several requests at once; otherwise the
            server runs its requests one at a time.
        description: one line for ``specprompt serve --list-models``.
    """

    name: str
    factory: Callable[[], Any] = field(repr=False)
    thread_safe: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        if not callable(self.factory):
            raise ConfigError(f"factory of servable model {self.name!r} must be callable, got {self.factory!r}")
        if not isinstance(self.thread_safe, bool):
            raise ConfigError(f"thread_safe must be a bool, got {self.thread_safe!r}")

    def build(self) -> Any:
        """Calls the factory and checks that the result has ``complete(request)``.

        Raises:
            ConfigError: the factory returned something that is not an engine.
        """
        engine = self.factory()
        if not callable(getattr(engine, "complete", None)):
            raise ConfigError(
                f"the factory of servable model {self.name!r} returned {type(engine).__name__}, "
                "which has no complete(request) method"
            )
        return engine


_MODELS: Registry[ServableModel] = Registry("servable model")


def register_servable_model(model: ServableModel, *, replace: bool = False) -> ServableModel:
    """Makes ``model`` servable by name.

    Raises:
        DuplicateNameError: the name is taken and ``replace`` is false.
        ConfigError: the name is not lowercase ``[a-z0-9_.:/+-]``.
    """
    if not isinstance(model, ServableModel):
        raise ConfigError(f"register_servable_model takes a ServableModel, got {type(model).__name__}")
    return _MODELS.register(model.name, model, replace=replace)


def get_servable_model(name: str) -> ServableModel:
    """The servable model named ``name``.

    Raises:
        UnknownNameError: no such model; the message lists the servable ones.

    Example:
        >>> get_servable_model("specprompt/nearest-v1").thread_safe
        True
    """
    return _MODELS.get(name)


def servable_models() -> list[str]:
    """Names of every servable model, sorted.

    Example:
        >>> "specprompt/nearest-v1" in servable_models()
        True
    """
    return _MODELS.names()


def _nearest() -> Any:
    from specprompt.scorers import NearestBandEngine

    return NearestBandEngine()


def local_servable(checkpoint: str | Path | None = None, adapter: str | Path | None = None) -> ServableModel:
    """The ``specprompt/local`` entry for a checkpoint (default: the shipped one) and an optional
    FourierFT adapter; ``specprompt serve --checkpoint/--adapter`` re-registers it with this.

    Example:
        >>> local_servable().description.startswith("local band VLM (the shipped checkpoint")
        True
    """

    def factory() -> Any:
        from specprompt.scorers import LocalVLMEngine

        return LocalVLMEngine(checkpoint, adapter)

    where = "the shipped checkpoint" if checkpoint is None else f"checkpoint {checkpoint}"
    extra = f" + adapter {adapter}" if adapter is not None else ""
    return ServableModel(
        LOCAL_MODEL,
        factory,
        thread_safe=True,  # the network runs under the engine's own lock; its caches are locked
        description=f"local band VLM ({where}{extra}; reports model id specprompt/local-<weights hash>): "
        "few-shot answers chosen among the demos' answers",
    )


register_servable_model(
    ServableModel(
        NEAREST_MODEL,
        _nearest,
        thread_safe=True,  # per-request state only; its caches and call counter are locked
        description="offline nearest-demo scorer: answers with the label of the most similar demo image",
    )
)
register_servable_model(local_servable())
