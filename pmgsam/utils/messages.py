"""Error-message helpers shared by the torch-free and the torch-using parts of the package."""

from __future__ import annotations

import multiprocessing
import re
import sys
import zlib
from contextlib import nullcontext
from multiprocessing.reduction import ForkingPickler
from typing import Any, Optional, Sequence


def preview(items: Sequence[str], limit: int = 10) -> str:
    """The first ``limit`` items, comma-separated, then how many were left out.

    Long lists of missing files or keys stay readable while the count still tells how bad it is.
    """
    shown = ", ".join(str(i) for i in items[:limit])
    if len(items) > limit:
        shown += f" ... and {len(items) - limit} more"
    return shown


def counted(n: int, noun: str, plural: Optional[str] = None) -> str:
    """``n`` and ``noun``, in the plural (``plural``, else ``noun`` + s) unless ``n`` is 1:
    ``counted(1, "pass", "passes")`` is "1 pass", ``counted(0, "step")`` "0 steps"."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def one_line(err: BaseException) -> str:
    """The cause of ``err`` as one line, also when a DataLoader worker raised it.

    PyTorch re-raises a worker's exception with the worker's whole traceback in the message
    ("Caught DataError in DataLoader worker process 0. Original Traceback ..."); its last line
    ("pmgsam.data.io.DataError: cannot read ...") holds the cause.
    """
    text = str(err).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines:
        return type(err).__name__
    if "Original Traceback" in text:
        head, sep, message = lines[-1].partition(": ")
        cause = message if sep and re.fullmatch(r"[\w.]+", head) else lines[-1]
        return f"{cause} (raised in a data-loading worker)"
    return " ".join(lines)


def in_dataloader_worker() -> bool:
    """True inside a PyTorch DataLoader worker process."""
    data = sys.modules.get("torch.utils.data")  # torch not imported: not a DataLoader worker
    return data is not None and data.get_worker_info() is not None


class FilesNamedOnce:
    """Which files a run has named in a warning, shared with its DataLoader worker processes.

    Python shows a warning once per process, but DataLoader workers are new processes every
    epoch (unless persistent), so a dataset stored as 0/1 masks would name each file again in
    every epoch, one line per file. The state lives in shared memory: one bit per file (a CRC
    of its name; a collision, about one in 500 000 per pair, leaves a file unnamed) and a
    count of the files named. Forked workers inherit it; workers started by ``spawn`` or
    ``forkserver`` (macOS, Windows, Linux from Python 3.14) receive it when an object holding
    it is sent to them at their start, e.g. the ``worker_init_fn`` of
    :func:`pmgsam.data.mask_warnings.worker_warnings_init`. Pickled at any other time, it arrives
    empty and unshared (shared memory can only be handed to a process being started).
    """

    BITS = 1 << 19

    def __init__(self) -> None:
        self._shared = multiprocessing.RawArray("B", 4 + self.BITS // 8)
        try:
            self._lock: Any = multiprocessing.Lock()
        except (OSError, ImportError):  # no POSIX semaphores: a rare race names a file twice
            self._lock = None
        self.inherited = False  # True in a worker that received the parent's state

    def __getstate__(self) -> tuple:
        from multiprocessing.context import get_spawning_popen

        if get_spawning_popen() is None:
            return ("fresh",)  # (a false state would skip __setstate__)
        try:
            ForkingPickler.dumps(self._lock)
        except RuntimeError:  # made under "fork"; a "spawn" lock goes to any new process
            self._lock = multiprocessing.get_context("spawn").Lock()
        return ("shared", self._shared, self._lock)

    def __setstate__(self, state: tuple) -> None:
        if state[0] == "fresh":
            self.__init__()
            return
        _, self._shared, self._lock = state
        self.inherited = True

    def first(self, name: str) -> Optional[int]:
        """How many files were named before ``name``, or None when ``name`` was named already."""
        bit = zlib.crc32(name.encode("utf-8", "surrogatepass")) % self.BITS
        byte, flag = 4 + bit // 8, 1 << (bit % 8)
        with self._lock or nullcontext():
            if self._shared[byte] & flag:
                return None
            self._shared[byte] |= flag
            count = int.from_bytes(bytes(self._shared[:4]), "little")
            self._shared[:4] = (count + 1).to_bytes(4, "little")
        return count
