"""Iterating a DataLoader so that its worker processes stop as soon as an error ends the loop.

An error raised in a DataLoader worker reaches the caller through frames of torch's iterator,
and the exception's traceback then holds the iterator in a reference cycle (torch's re-raising
frame keeps the exception in a local); an iterator wrapped by a progress bar held in a variable
is kept by the failed frame too. The garbage collector frees such cycles later, and by then the
iterator's queues are already closed by their own finalizers: its shutdown message never reaches
the workers, and it waits torch's worker-join timeout (5 s per worker) before killing them. Until
that collection the workers stay alive (in a notebook, which keeps the last traceback, until the
next error). :func:`loader_batches` stops them while the queues still work.

:func:`sigterm_stops_quietly` makes a worker take SIGTERM as it takes Ctrl-C's SIGINT, and
:class:`TimedBatches` measures how long a loop waits for its batches.
"""

from __future__ import annotations

import contextlib
import functools
import signal
import time
from typing import Any, Callable, Iterable, Iterator, Optional, TypeVar

from torch.utils.data import DataLoader

T = TypeVar("T")


@contextlib.contextmanager
def loader_batches(loader: DataLoader[T]) -> Iterator[Iterator[T]]:
    """An iterator over ``loader``'s batches, whose worker processes are stopped at once when an
    exception leaves the ``with`` block (an error in a worker or in the loop, an interrupt),
    rather than when the garbage collector frees the iterator::

        with loader_batches(loader) as batches:
            for batch in batches:
                ...

    A loader with ``persistent_workers`` starts new workers at its next iteration after that.
    """
    iterator = iter(loader)
    try:
        yield iterator
    except BaseException:
        stop_workers(loader, iterator)
        raise


class TimedBatches(Iterator[T]):
    """The batches of ``batches``, adding up how long the loop waited for each.

    ``first_wait_s`` is the wait for the first batch, which holds the workers' start-up and
    their first prefetch; ``wait_s`` sums the waits for all later ones. While the workers keep
    up, each batch is ready when asked for and ``wait_s`` stays near zero; when they do not,
    it is the time the loop stood still for data. On a GPU part of a wait may overlap work the
    device still has queued, so it bounds the device's idle time from above.

    Arguments:
      batches (iterable): what the loop iterates (a DataLoader or its iterator).
      clock (callable): seconds as a float (``time.perf_counter``; a test passes its own).
    """

    def __init__(self, batches: Iterable[T], clock: Callable[[], float] = time.perf_counter):
        self._batches = iter(batches)
        self._clock = clock
        self.batches = 0
        self.first_wait_s = 0.0
        self.wait_s = 0.0

    def __next__(self) -> T:
        start = self._clock()
        batch = next(self._batches)
        waited = self._clock() - start
        if self.batches == 0:
            self.first_wait_s = waited
        else:
            self.wait_s += waited
        self.batches += 1
        return batch


def stop_workers(loader: DataLoader, iterator: Iterator) -> None:
    """Stop the worker processes of ``iterator``, an iterator of ``loader`` (a no-op without
    workers, or when they have stopped already)."""
    # torch offers no public way: _shutdown_workers is what the iterator's own __del__ and its
    # end of data call (it runs once; single-process iterators have none).
    shutdown = getattr(iterator, "_shutdown_workers", None)
    if shutdown is not None:
        shutdown()
    if getattr(loader, "_iterator", None) is iterator:
        loader._iterator = None  # persistent workers: the next iter() must not reuse dead ones


def sigterm_stops_quietly(
    init_fn: Optional[Callable[[int], None]] = None,
) -> Callable[[int], None]:
    """A DataLoader ``worker_init_fn`` (running ``init_fn`` after) whose workers end on SIGTERM
    as on SIGINT: they leave their loop and exit with status 0, and the main process shuts
    them down as it does after Ctrl-C.

    SIGTERM often reaches every process of a job at once (Slurm's preemption and ``scancel``,
    ``kill -TERM -PGID``, systemd stopping a unit). torch's workers exit quietly on a SIGTERM
    from their parent alone; one sent by another process killed them, and torch's SIGCHLD
    handler then raised ``DataLoader worker ... is killed by signal: Terminated`` in the main
    process while it was stopping on its own SIGTERM: the run ended as a crash (a traceback,
    exit status 1, train.log asking to fix a cause) instead of as an interruption. Workers
    still end once the main process is gone (torch's workers watch their parent).
    """
    # A partial of a module-level function: spawned workers receive it pickled.
    return functools.partial(_init_worker, init_fn)


def command_worker_init() -> Callable[[int], None]:
    """The ``worker_init_fn`` of the loaders a command runs (training, prediction, the SAM
    fine-tune): its workers warn as the command does
    (:func:`~pmgsam.data.mask_warnings.worker_warnings_init`) and end quietly on a SIGTERM sent
    to the whole job (:func:`sigterm_stops_quietly`)."""
    from pmgsam.data.mask_warnings import worker_warnings_init

    return sigterm_stops_quietly(worker_warnings_init())


def _init_worker(init_fn: Optional[Callable[[int], None]], worker_id: int) -> None:
    signal.signal(signal.SIGTERM, _interrupt)
    if init_fn is not None:
        init_fn(worker_id)


def _interrupt(signum: int, frame: Any) -> None:
    # torch's worker loop ends quietly on a KeyboardInterrupt (the main process gets its own).
    raise KeyboardInterrupt
