"""Per-trial seeds for the base sampler, so that a resumed study proposes what an uninterrupted one would.

A seeded Optuna sampler draws from one random stream per process: a study resumed after a kill
starts that stream again from the seed, so from the first trial of the new process on it proposes
other parameters than the uninterrupted run did. :class:`~specprompt.search._sampler.BandSampler`
therefore reseeds its base sampler before every trial with :func:`trial_seed` of the compile's
``seed`` and the trial's place in the study (how many trials had finished when it started), which
is the same in both runs. Pure functions; the sampler object is the only state touched.

Convention:
    Optuna's samplers keep their random state in ``LazyRandomState`` attributes (a lazily made
    ``numpy.random.RandomState``), their own or a wrapped sampler's (TPE's startup
    ``RandomSampler``, NSGA-II's strategies share the sampler's). :func:`reseed` seeds every
    such state it finds on the sampler and on samplers it holds, each from its own attribute
    path. Other state a sampler keeps between trials (``GPSampler`` caches its kernel fit) is
    not reset, so only samplers whose proposals follow from the study and the random state
    (TPE, the default; random; NSGA-II) resume exactly.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

__all__ = ["reseed", "trial_seed"]

#: How deep :func:`reseed` looks for random states inside a sampler.
_DEPTH = 3


def trial_seed(seed: int, place: int, *, salt: str = "") -> int:
    """A 32-bit seed for one trial: a hash of the compile's ``seed``, the trial's ``place`` and ``salt``.

    Example:
        >>> trial_seed(0, 3) == trial_seed(0, 3), trial_seed(0, 3) == trial_seed(0, 4)
        (True, False)
    """
    digest = hashlib.sha256(f"{seed}:{place}:{salt}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def _random_state(obj: Any) -> np.random.RandomState | None:
    if isinstance(obj, np.random.RandomState):
        return obj
    rng = getattr(type(obj), "rng", None)  # optuna's LazyRandomState exposes the state as a property
    if isinstance(rng, property):
        state = obj.rng
        if isinstance(state, np.random.RandomState):
            return state
    return None


def reseed(sampler: object, seed: int) -> int:
    """Seeds every random state of ``sampler`` (and of samplers it holds) from ``seed``; returns how many.

    A state reached by several attribute paths (one object shared by a sampler and its
    strategies) is seeded once, from the first path.
    """
    done: set[int] = set()

    def walk(obj: object, path: str, depth: int) -> int:
        n = 0
        for name, value in sorted(vars(obj).items()):
            if id(value) in done or isinstance(value, (type, str, bytes, int, float, bool)) or value is None:
                continue
            state = _random_state(value)
            if state is not None:
                done.add(id(value))
                state.seed(trial_seed(seed, 0, salt=f"{path}.{name}"))
                n += 1
            elif depth < _DEPTH and hasattr(value, "__dict__") and not callable(value):
                done.add(id(value))
                n += walk(value, f"{path}.{name}", depth + 1)
        return n

    return walk(sampler, type(sampler).__name__, 0)
