"""An exclusive lock on a folder, held while a file in it is read, merged into and replaced.

Several commands add their part to one file (a run's ``run.json``: a split's scores, a COS
column, efficiency figures), each by reading it, merging and renaming a new file over it. Two
at once would each read the old file, and the second rename would drop the first's part; under
:func:`locked_folder` the second waits until the first has renamed its file into place.

The lock is an ``flock`` on the folder's own descriptor. The file itself cannot carry it (the
rename replaces it, so a waiting writer would be left holding the lock of an unlinked file
while the next one locks the new one), and a lock file beside it would stay in the user's
results folder for good: it cannot be removed safely while another process may be waiting on
it. The lock is advisory and only as good as the file system's: where there is none, the
update runs unlocked rather than failing (see :func:`locked_folder`).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

try:
    import fcntl
except ImportError:  # pragma: no cover (Windows)
    fcntl = None  # type: ignore[assignment]


@contextlib.contextmanager
def locked_folder(folder: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` (which must exist) while the block runs, waiting
    for another holder to end its block first.

    Runs the block unlocked where the lock cannot be had: on Windows (no ``fcntl``; nor can a
    folder be opened there), and on file systems that cannot ``flock`` a folder (NFS without a
    lock daemon says "No locks available"; Linux's NFS client takes an exclusive lock only on a
    file opened for writing, which a folder never is). Refusing to write there would lose the
    scores a command has just computed for a race that needs two writers at the same moment.
    """
    fd = _open_folder(folder)
    if fd is None:
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:  # the file system cannot lock (ENOLCK, EBADF, EINVAL, ENOTSUP)
            pass
        yield  # closing the descriptor releases the lock, however the block ends
    finally:
        os.close(fd)


def _open_folder(folder: str | Path) -> int | None:
    """A read-only descriptor of ``folder`` to lock, or None where no lock can be had."""
    if fcntl is None:
        return None
    try:
        return os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # a missing or unreadable folder: the write that follows says why
        return None
