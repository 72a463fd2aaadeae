"""Each training step's draw (episodes, token keep masks, fine-token keep masks), made in the
training loop or ahead of it by a pool of processes.

With ``TrainConfig.workers = 0`` every draw comes from one generator in the loop: the stream the
shipped recipes were trained on. With ``workers = N`` spawned processes draw step ``i`` from its
own seed ``(seed, 1, i)``, ``2 N`` steps ahead of the optimizer, so a run is the same for every
``N``. A step of 16 photo episodes at a 256 px canvas is about 200 MB of float32 pixels, too much
to pickle through a pipe several times a second: the pixel arrays travel through POSIX shared
memory (``/dev/shm``) when it has room for every pending step, and through the pipe otherwise.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import multiprocessing
import os
import signal
from multiprocessing import shared_memory
from typing import TYPE_CHECKING, Any

import numpy as np

from specprompt.training._episodes import EpisodeBatch, fine_allowed, fine_keep_masks, keep_masks, sample_episodes

if TYPE_CHECKING:
    from specprompt.training._config import TrainConfig

__all__ = ["Draw", "Draws", "draw_step"]

#: One step's episodes, token keep masks and fine-token keep masks (``None`` for 64 px material).
Draw = tuple[EpisodeBatch, list[np.ndarray], list[np.ndarray] | None]
#: A shared-memory block holding an array: (block name, shape, dtype string).
_Ref = tuple[str, tuple[int, ...], str]
_SHM_DIR = "/dev/shm"


def draw_step(config: TrainConfig, rng: np.random.Generator) -> Draw:
    """One step's draw from ``rng``."""
    mcfg = config.model
    batch = sample_episodes(
        rng,
        config.families,
        config.episodes_per_step,
        n_way=config.n_way,
        k_shot=config.k_shot,
        n_query=config.n_query,
        text_dropout=config.text_dropout,
        generic_answers=config.generic_answers,
        canvas=mcfg.canvas,
        augment=config.augment,
    )
    masks = keep_masks(
        rng,
        batch.labels.size,
        dropout_prob=config.dropout_prob,
        tile_dropout=config.tile_dropout,
        band_dropout=config.band_dropout,
    )
    fine_masks = None
    if batch.sent is not None:
        fine_masks = fine_keep_masks(
            rng,
            fine_allowed(batch.sent, mcfg.canvas, mcfg.fine_grid),
            dropout_prob=config.dropout_prob,
            tile_dropout=config.tile_dropout,
            band_dropout=config.band_dropout,
        )
    return batch, masks, fine_masks


def _step_bytes(config: TrainConfig) -> int:
    """Pixel bytes of one step's batch (images, plus detail canvases above 64 px)."""
    per_image = 64 * 64 * 3 * 4 + (config.model.canvas**2 * 3 * 4 if config.model.canvas > 64 else 0)
    return config.episodes_per_step * config.n_way * (config.k_shot + config.n_query) * per_image


def _shm_room() -> int:
    """Free bytes of ``/dev/shm`` (0 where there is none)."""
    try:
        st = os.statvfs(_SHM_DIR)
    except OSError:
        return 0
    return st.f_bavail * st.f_frsize


def _to_shared(arr: np.ndarray) -> _Ref:
    block = shared_memory.SharedMemory(create=True, size=max(arr.nbytes, 1))
    try:
        np.ndarray(arr.shape, arr.dtype, buffer=block.buf)[...] = arr
    finally:
        block.close()
    return block.name, tuple(arr.shape), arr.dtype.str


def _from_shared(ref: _Ref) -> np.ndarray:
    name, shape, dtype = ref
    block = shared_memory.SharedMemory(name=name)
    try:
        return np.array(np.ndarray(shape, np.dtype(dtype), buffer=block.buf))
    finally:
        block.close()
        block.unlink()


_Shipped = tuple[EpisodeBatch, dict[str, _Ref], list[np.ndarray], list[np.ndarray] | None]
_WORKER: tuple[Any, bool] | None = None  # (TrainConfig, use shared memory) of this worker process


def _worker_init(config: dict[str, Any], shared: bool) -> None:
    """Sets up a worker process. It ignores Ctrl-C: the terminal sends SIGINT to the whole process
    group, and the training process alone handles it (and stops the pool), so a Ctrl-C prints no
    traceback per worker."""
    from specprompt.training._config import TrainConfig

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    global _WORKER
    _WORKER = (TrainConfig.from_dict(config), shared)


def _worker_draw(step: int) -> _Shipped:
    assert _WORKER is not None
    config, shared = _WORKER
    batch, masks, fine = draw_step(config, _step_rng(config, step))
    refs: dict[str, _Ref] = {}
    if shared:
        refs["images"] = _to_shared(batch.images)
        if batch.detail is not None:
            refs["detail"] = _to_shared(batch.detail)
        batch = dataclasses.replace(batch, images=np.empty(0, np.float32), detail=None)
    return batch, refs, masks, fine


def _step_rng(config: TrainConfig, step: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([config.seed, 1, step]))


def _received(shipped: _Shipped) -> Draw:
    batch, refs, masks, fine = shipped
    if refs:
        arrays = {k: _from_shared(r) for k, r in refs.items()}
        batch = dataclasses.replace(batch, images=arrays["images"], detail=arrays.get("detail"))
    return batch, masks, fine


class Draws:
    """The draws of a run, in step order from step ``start``: ``next()`` returns the next step's
    draw; ``close()`` stops the pool and frees the shared memory of draws never taken. A resumed
    run in the loop passes the generator state its snapshot recorded (``rng_state()``)."""

    def __init__(self, config: TrainConfig, start: int = 0, rng_state: dict[str, Any] | None = None) -> None:
        self.config = config
        self.rng = np.random.default_rng(np.random.SeedSequence([config.seed, 1]))
        if rng_state is not None:  # a resumed run: the loop's generator where the snapshot left it
            self.rng.bit_generator.state = rng_state
        self.pending: collections.deque[concurrent.futures.Future[_Shipped]] = collections.deque()
        self.pool: concurrent.futures.ProcessPoolExecutor | None = None
        self.submitted = start
        self.shared = False
        if config.workers:
            ahead = 2 * config.workers
            self.shared = _shm_room() > 2 * ahead * _step_bytes(config)
            self.pool = concurrent.futures.ProcessPoolExecutor(
                config.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_worker_init,
                initargs=(config.to_dict(), self.shared),
            )
            for _ in range(ahead):
                self._submit()

    def _submit(self) -> None:
        if self.pool is not None and self.submitted < self.config.steps:
            self.pending.append(self.pool.submit(_worker_draw, self.submitted))
            self.submitted += 1

    def rng_state(self) -> dict[str, Any] | None:
        """The loop's generator state (``None`` with workers, whose draws need only the step)."""
        return None if self.pool is not None else dict(self.rng.bit_generator.state)

    def next(self) -> Draw:
        if self.pool is None:
            return draw_step(self.config, self.rng)
        shipped = self.pending.popleft().result()
        self._submit()
        return _received(shipped)

    def close(self) -> None:
        if self.pool is None:
            return
        for fut in self.pending:
            fut.cancel()
        self.pool.shutdown(wait=True)
        for fut in self.pending:
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                _received(fut.result())  # unlinks its blocks
        self.pending.clear()
