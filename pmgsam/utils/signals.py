"""SIGTERM stops a command as Ctrl-C does.

torchrun stops the other processes of a job with SIGTERM when one fails, Slurm a preempted or
cancelled job (``scancel``), and ``kill -TERM -PGID`` a whole process group: Python's default
ends the process at once, mid-save too, without a word. Every command runs inside
:func:`sigterm_interrupts` (:func:`pmgsam.utils.cli.run_cli`), so the signal raises
:class:`Terminated`, a ``KeyboardInterrupt``: files being written are dropped whole, and the
command says ``interrupted`` and exits with status 130. Kept free of torch: every command
imports it.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised as Ctrl-C's KeyboardInterrupt is (see :func:`sigterm_interrupts`)."""


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Meanwhile, SIGTERM raises :class:`Terminated` in the main thread (once; a repeat is
    ignored while the first is handled), so that the command stops as on Ctrl-C: each file
    being written is dropped whole (training's checkpoint too, its rank 0 logging how to
    continue).

    Nested uses keep the outermost handler, so that a repeat stays ignored until the command
    has ended. torch replaces the handler in DataLoader workers; the loaders give them one that
    ends them quietly (:func:`pmgsam.utils.loaders.sigterm_stops_quietly`), and forked scoring
    workers restore the default (:func:`default_sigterm`). Outside the main thread, where Python
    cannot set handlers, nothing changes."""
    if threading.current_thread() is not threading.main_thread() or getattr(
        signal.getsignal(signal.SIGTERM), "raises_terminated", False
    ):
        yield
        return
    raised = []

    def interrupt(signum: int, frame: object) -> None:
        if not raised:
            raised.append(signum)
            raise Terminated(f"SIGTERM (signal {signum})")

    interrupt.raises_terminated = True  # type: ignore[attr-defined]
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def default_sigterm() -> None:
    """Give a forked worker process SIGTERM's default action back, and take it in again (a
    worker forked inside :func:`sigterm_held` starts with it held): it inherits the command's
    :func:`sigterm_interrupts` handler, which would turn the executor's own ``terminate()`` of
    its workers (after an error or Ctrl-C) into a ``Terminated`` traceback per worker."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if hasattr(signal, "pthread_sigmask"):  # POSIX; fork is Linux-only here anyway
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})


@contextmanager
def sigterm_held() -> Iterator[None]:
    """Meanwhile, SIGTERM is held back from this thread (delivered when this ends), and a
    process forked meanwhile starts with it held until it calls :func:`default_sigterm`: a
    worker stopped while still starting then ends quietly, not through the inherited handler
    with a traceback."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
