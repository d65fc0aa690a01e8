"""Writing probability maps beside the model: PNG encoding off the prediction's critical path.

Encoding a DIS-sized map as a PNG takes 12-300 ms of one CPU core (2-24 MP, BENCHMARKS.md
"Folder inference: image loading and map writing"), as long as or longer than a GPU takes to
predict it. Written one after the other by the process that drives the GPU, the maps would set
the pace of a folder's inference whatever the GPU's speed. :class:`MapWriter` quantises each
map on its device and starts the copy of the 8-bit levels to the host in the calling thread,
then encodes and writes them on a few threads (OpenCV's encoder and file writes release the
GIL) while the caller predicts the next batch. On a GPU the copy goes to pinned memory without
waiting: the writer thread waits for it, so the caller queues the next batch's work at once
instead of leaving the GPU idle for each map's transfer.
"""

from __future__ import annotations

import collections
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Deque, List, Optional, Tuple, Type

import torch

from pmgsam.engine.prediction_maps import (
    host_levels,
    note_nan_map,
    probability_levels,
    save_levels_png,
)
from pmgsam.utils.cpus import cpu_share

#: The most writer threads :func:`write_threads_for` chooses: at 30-150 ms per 12 MP map, four
#: write 25-130 maps/s, about what one GPU predicts; more would take the loader workers' CPUs.
MAX_WRITE_THREADS = 4

#: Maps waiting per writer thread before :meth:`MapWriter.write` waits: bounds the host memory
#: the queue holds (a 24 MP map is 24 MB of levels).
PENDING_PER_THREAD = 4


#: The most image-loading workers :func:`prediction_workers` chooses on a GPU.
MAX_AUTO_WORKERS = 16


def prediction_workers(device: torch.device, requested: Optional[int] = None) -> int:
    """Image-loading workers for a folder prediction on ``device``.

    ``requested`` (a user's choice) is kept. Otherwise 2 on the CPU, where the model takes the
    CPUs. On a GPU, decoding and resizing a 12 MP JPEG takes ~180 ms of one core (BENCHMARKS.md,
    "Folder inference: image loading and map writing"), so 2 workers would feed ~11 images/s
    to a GPU that predicts 30-55: the CPUs this process may use
    (:func:`~pmgsam.utils.cpus.cpu_share`) less one for itself and a quarter (1 to
    :data:`MAX_WRITE_THREADS`) for the map writer, at least 2 and at most
    :data:`MAX_AUTO_WORKERS`.
    """
    if requested is not None:
        return requested
    if device.type == "cpu":
        return 2
    share = cpu_share()
    writers = max(1, min(MAX_WRITE_THREADS, share // 4))
    return max(2, min(MAX_AUTO_WORKERS, share - 1 - writers))


def write_threads_for(device: torch.device, workers: int, requested: Optional[int] = None) -> int:
    """Writer threads for a prediction on ``device`` beside ``workers`` loader processes.

    ``requested`` (a user's choice, ≥ 0) is kept. Otherwise none on the CPU, where the model
    itself takes the CPUs (the maps are written in between, as they always were), and on a GPU
    the CPUs the workers leave (:func:`~pmgsam.utils.cpus.cpu_share`), at least 1 and at most
    :data:`MAX_WRITE_THREADS`.
    """
    if requested is not None:
        if requested < 0:
            raise ValueError(f"write threads must be 0 or more, got {requested}")
        return requested
    if device.type == "cpu":
        return 0
    return max(1, min(MAX_WRITE_THREADS, cpu_share() - max(0, workers)))


class LevelsInFlight:
    """A map's 0-255 levels and NaN count on their way to the host, started by the caller
    without waiting for the device: on CUDA into pinned memory, an event marking the copies'
    end; elsewhere computed at once.

    Arguments:
      prob (torch.Tensor): a [0, 1] probability map, on any device.
    """

    def __init__(self, prob: torch.Tensor) -> None:
        levels = probability_levels(prob)
        # On the device, all of it: a 12 MP map is a few microseconds of a GPU's bandwidth.
        nan = torch.isnan(prob).sum()
        self._done: Optional[torch.cuda.Event] = None
        if prob.device.type == "cuda":
            self._levels = torch.empty(levels.shape, dtype=torch.uint8, pin_memory=True)
            self._levels.copy_(levels, non_blocking=True)
            self._nan = torch.empty((), dtype=nan.dtype, pin_memory=True)
            self._nan.copy_(nan, non_blocking=True)
            self._done = torch.cuda.Event()
            self._done.record()
        else:
            self._levels, self._nan = levels.cpu(), nan.cpu()

    def wait(self) -> Tuple[torch.Tensor, int]:
        """The host levels and the NaN count, once the copies are done (releases the GIL)."""
        if self._done is not None:
            self._done.synchronize()
        return self._levels, int(self._nan)


def _save_in_flight(levels: LevelsInFlight, path: Path) -> int:
    host, nan = levels.wait()
    save_levels_png(host.numpy(), path)
    return nan


def _overlaps(prob: torch.Tensor) -> bool:
    """Whether :meth:`MapWriter.write` hands ``prob``'s copy to the host to a writer thread
    rather than waiting for it: on CUDA, where the wait would idle the GPU."""
    return prob.device.type == "cuda"


class MapWriter:
    """Writes probability maps as :func:`~pmgsam.engine.prediction_maps.write_probability_png`
    does (the same bytes), on ``threads`` background threads; with 0, in the calling thread.

    Use it as a context: leaving it waits for every map handed over. An error of a writer
    thread (a full disk, a folder removed) is raised by the next :meth:`write` or on leaving,
    naming the map. When the enclosed code raises (an unreadable image, an interruption), the
    maps not yet started are dropped and the ones being written finish (each is written whole
    or not at all), so the run stops within a map's time.

    Arguments:
      threads (int): writer threads; 0 writes in the calling thread.
      nan_maps (list of str, optional): where maps that held NaN are noted, as
        ``write_probability_png`` notes them (a warning per map without it).
      max_pending (int, optional): maps handed over but not yet written before :meth:`write`
        waits (default :data:`PENDING_PER_THREAD` per thread).
      overlap_copies (bool): with threads, a GPU map's copy to the host is waited for by the
        writer thread (:class:`LevelsInFlight`), and its NaN noted when the write is collected;
        False waits in :meth:`write`, as without threads (kept to measure the difference).
    """

    def __init__(
        self,
        threads: int,
        nan_maps: Optional[List[str]] = None,
        max_pending: Optional[int] = None,
        overlap_copies: bool = True,
    ) -> None:
        if threads < 0:
            raise ValueError(f"threads must be 0 or more, got {threads}")
        self.threads = threads
        self.nan_maps = nan_maps
        self.max_pending = max(1, max_pending or PENDING_PER_THREAD * max(1, threads))
        self._pool: Optional[ThreadPoolExecutor] = (
            ThreadPoolExecutor(threads, thread_name_prefix="pmgsam-map-writer") if threads else None
        )
        self.overlap_copies = overlap_copies
        # Each write's future (its result: NaN still to note, or None), map and pixel count.
        self._pending: Deque[Tuple[Future, Path, int]] = collections.deque()

    def write(self, prob: torch.Tensor, path: Path) -> None:
        """Quantise ``prob`` (a [0, 1] map, on any device) here and write it to ``path``."""
        # Here, not on a writer thread: the levels leave the device in the order the maps were
        # predicted, and the device tensor can go as soon as this returns (a copy still under
        # way reads it before any later work of the stream can reuse its memory).
        if self._pool is None:
            save_levels_png(host_levels(prob, path, self.nan_maps), path)
            return
        self._settle(self.max_pending - 1)
        if self.overlap_copies and _overlaps(prob):
            task = self._pool.submit(_save_in_flight, LevelsInFlight(prob), path)
        else:  # NaN noted here by host_levels: the task has none to report
            task = self._pool.submit(save_levels_png, host_levels(prob, path, self.nan_maps), path)
        self._pending.append((task, path, prob.numel()))

    def _settle(self, keep: int) -> None:
        # The oldest first: its error, if any, is raised before a later map's, and NaN maps
        # are noted in the order they were predicted.
        while self._pending and (len(self._pending) > keep or self._pending[0][0].done()):
            task, path, pixels = self._pending.popleft()
            note_nan_map(task.result() or 0, pixels, path, self.nan_maps, stacklevel=4)

    def close(self) -> None:
        """Wait for every map handed over; raise the first writer error."""
        try:
            self._settle(0)
        finally:
            self._shutdown(cancel=True)

    def _shutdown(self, cancel: bool) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=cancel)
            self._pool = None
        # The maps written stay (a run that stops early keeps them): so do their NaN notes.
        for task, path, pixels in self._pending:
            if not task.cancelled() and task.exception() is None:
                note_nan_map(task.result() or 0, pixels, path, self.nan_maps)
        self._pending.clear()

    def __enter__(self) -> MapWriter:
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        if exc_type is None:
            self.close()
        else:  # the enclosed error is the one to see; maps that were being written finish
            self._shutdown(cancel=True)
