"""One training process per run folder.

Two processes writing one run folder (a ``--resume`` started while the run still trains, e.g.
in the background) would interleave their epochs in ``metrics.jsonl`` and overwrite each
other's checkpoints. The training process holds an exclusive ``flock`` on a file in the run
folder for its whole life; the operating system releases it when the process ends, however it
ends, so a killed run never leaves a stale lock (the pid it wrote in the file is replaced by
the next run's). The file names the holder, ``<pid> on <host>``: on a shared file system the
holder may run on another machine. Where ``fcntl`` is missing (Windows), or the file system
cannot lock (an NFS mount without a lock daemon says "No locks available"), there is no lock:
the latter with a warning.
"""

from __future__ import annotations

import errno
import os
import socket
import warnings
from pathlib import Path
from typing import IO, Optional

from pmgsam.utils.outputs import OutputError

try:
    import fcntl
except ImportError:  # pragma: no cover (Windows)
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = ".pmgsam-run.lock"
# What flock(LOCK_NB) fails with when another open file holds the lock; anything else means
# the file system cannot lock at all.
_HELD = {errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES}


class RunLock:
    """An exclusive lock on a run folder, held from :meth:`acquire` to :meth:`release`.

    Arguments:
      run_dir (str or Path): the run folder (it must exist).
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.path = Path(run_dir) / LOCK_FILE
        self._file: Optional[IO[str]] = None
        self._cannot_lock = False  # warned once: acquire() is called again on resume

    def acquire(self) -> None:
        """Take the lock, or raise :class:`OutputError` naming the process that holds it."""
        if fcntl is None or self._file is not None or self._cannot_lock:
            return
        # Decoded leniently: the holder is named from whatever the file holds.
        handle = open(self.path, "a+", encoding="utf-8", errors="replace")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            if err.errno not in _HELD:
                handle.close()
                self._cannot_lock = True
                warnings.warn(
                    f"run folder '{self.path.parent}' cannot be locked ({err.strerror}): its "
                    "file system does not support flock, so nothing stops a second training "
                    "process from writing there; make sure only one trains or resumes it",
                    stacklevel=2,
                )
                return
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise OutputError(
                f"run folder '{self.path.parent}' is in use by another training process "
                f"(pid {holder}); wait for it to end, or stop it, before starting or resuming "
                "a run there"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()} on {socket.gethostname()}\n")
        handle.flush()
        self._file = handle

    def release(self) -> None:
        """Give the lock up (the file stays: removing it could race with a waiting process)."""
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None
