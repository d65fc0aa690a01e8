"""Crash-safe file writing, reading the text files users edit, file digests, and paths as
messages and digests name them."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import secrets
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import BinaryIO, Iterator, Optional, Tuple

TMP_SUFFIX = ".tmp"
# Our temporaries are `.<name>.pmgsam-<12 hex digits>.tmp`: the fixed marker and the exact token
# shape keep a user's hidden file of a similar name (`.x.png.bak.tmp`, `.notes.tmp`) from ever
# being taken for our leftover and deleted. Leftovers in the format of earlier versions
# (`.<name>.<mkstemp's 8 characters>.tmp`) are no longer recognised and are left alone: they
# cannot be told apart from a user's file, so deleting them would risk the user's data.
TMP_MARKER = ".pmgsam-"
TOKEN_HEX = 12
_TEMPORARY = re.compile(
    rf"\.(?P<target>.+){re.escape(TMP_MARKER)}[0-9a-f]{{{TOKEN_HEX}}}{re.escape(TMP_SUFFIX)}"
)


_UMASK_LOCK = threading.Lock()
#: Where Linux shows the process umask (read by :func:`current_umask`).
PROCESS_STATUS = "/proc/self/status"


def current_umask() -> int:
    """The process umask, read without changing it where Linux shows it (``Umask:`` in
    ``/proc/self/status``, Linux 4.7+).

    Elsewhere ``os.umask`` can only read it by setting it, then setting it back, under a lock.
    Setting it is process-wide: beside other threads (the map writer's write maps
    concurrently), two such reads could interleave and leave the process with the temporary
    value, and a file another thread creates meanwhile would get it.
    """
    try:
        with open(PROCESS_STATUS, encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def apply_umask(path: str | Path, directory: bool = False) -> None:
    """Give ``path`` the mode a plain ``open``/``mkdir`` would have given it.

    Temporaries are created private (0600/0700, as ``mkstemp``/``mkdtemp`` do); the files we
    rename into place must instead follow the user's umask like any other file they create.
    """
    os.chmod(path, (0o777 if directory else 0o666) & ~current_umask())


def make_temporary(path: str | Path, directory: bool = False) -> Path:
    """Create (privately, never replacing anything) and return a new hidden temporary file, or
    folder, next to ``path``, named so that :func:`temporary_target` recognises it."""
    path = Path(path)
    for _ in range(100):
        tmp = path.with_name(
            f".{path.name}{TMP_MARKER}{secrets.token_hex(TOKEN_HEX // 2)}{TMP_SUFFIX}"
        )
        try:
            if directory:
                os.mkdir(tmp, 0o700)
            else:
                os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            continue
        return tmp
    raise FileExistsError(f"no free temporary name next to '{path}'")


def sync_file(path: str | Path) -> None:
    """Flush ``path``'s contents to disk: a rename is only as durable as the data it points at
    (after a power loss, not just a kill, an unsynced file renamed into place can read empty)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        _fsync_where_supported(fd)
    finally:
        os.close(fd)


def _fsync_where_supported(fd: int) -> None:
    # Some file systems cannot sync (EINVAL/ENOTSUP): nothing more can be done there.
    try:
        os.fsync(fd)
    except OSError as err:
        if err.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EBADF):
            raise


def sync_folder(folder: str | Path) -> None:
    """Flush ``folder``'s entries to disk, so that a rename done there survives a power loss.

    POSIX only: where a folder cannot be opened (Windows) or its file system does not sync
    folders, this does nothing; a real I/O error is raised."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        _fsync_where_supported(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | Path, sync: bool = True) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it over ``path`` only on success.

    A crash mid-write leaves the previous file intact (rename is atomic on POSIX when both
    names are on the same file system, hence the temporary file in the same folder). A killed
    process can leave the hidden temporary (:func:`make_temporary`) behind;
    :func:`remove_stale_temporaries` clears them. With ``sync`` the file is synced before the
    rename and its folder after it (:func:`sync_file`, :func:`sync_folder`: two fsyncs per
    file), so the new name and its contents survive a power loss; writers of many files in a
    loop may pass False (see the map writer's reason).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = make_temporary(path)
    try:
        yield tmp_path
        # After the write: some writers (safetensors) replace the file instead of reusing it.
        apply_umask(tmp_path)
        if sync:
            sync_file(tmp_path)
        os.replace(tmp_path, path)
        if sync:
            sync_folder(path.parent)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through :func:`atomic_path`: a command stopped
    mid-write (killed, disk full) leaves the earlier file whole, not a truncated one that no
    later command can read."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def read_user_text(path: str | Path) -> str:
    """The text of a UTF-8 file that a user may have written or edited (a run.json, a COCO
    file), a leading byte-order mark dropped: Windows Notepad saves UTF-8 with one, which
    ``json`` refuses ("Unexpected UTF-8 BOM") although the content is valid. pmgsam never
    writes one, so a file it rewrites after reading loses nothing but the mark."""
    return Path(path).read_text(encoding="utf-8-sig")


def temporary_target(name: str) -> Optional[str]:
    """The name of the file a temporary of :func:`make_temporary` named ``name`` was to
    replace; None when ``name`` is not one (a user's file, or an earlier version's leftover)."""
    match = _TEMPORARY.fullmatch(name)
    return match.group("target") if match else None


def is_temporary(name: str) -> bool:
    """Whether a file name is one of :func:`make_temporary`'s (see :func:`temporary_target`)."""
    return temporary_target(name) is not None


def remove_stale_temporaries(folder: str | Path) -> list:
    """Delete the temporary files :func:`atomic_path` left in ``folder``; returns them."""
    removed = []
    folder = Path(folder)
    if folder.is_dir():
        for path in folder.glob(f".*{TMP_MARKER}*{TMP_SUFFIX}"):
            if is_temporary(path.name) and path.is_file():
                path.unlink()
                removed.append(path)
    return removed


# The SHA-256 of files this process hashed, by (device, inode, size, mtime, ctime): a moved
# checkpoint is hashed to tell it is the model a run.json records, then again for the record
# (1.5 GB: over a second each time).
_DIGESTS: OrderedDict[Tuple[int, ...], str] = OrderedDict()
_DIGESTS_KEPT = 32
_DIGESTS_LOCK = threading.Lock()
# A file changed within this long before it was hashed is not remembered: a write in the same
# tick of the file system's clock (coarse: jiffies, 2 s on FAT) would leave its size and times
# as they were, so they could not tell the new bytes from the hashed ones ("racy git").
_SETTLED_NS = 5 * 10**9


def file_sha256(path: str | Path) -> str:
    """SHA-256 (hex) of the bytes of the file ``path``, read in 1 MiB blocks.

    Remembered for the process: a file hashed before is read again only if its size,
    modification or status-change time differ (any write, ``touch``, or a copy that keeps the
    old modification time changes one), or it is another file by now (new inode)."""
    identity = _identity(os.stat(path))
    with _DIGESTS_LOCK:
        if identity in _DIGESTS:
            _DIGESTS.move_to_end(identity)
            return _DIGESTS[identity]
    with open(path, "rb") as f:
        sha = stream_sha256(f)
        after = _identity(os.fstat(f.fileno()))
    # Not if it changed while read (or was replaced before it was opened).
    if after == identity and time.time_ns() - max(identity[3:]) >= _SETTLED_NS:
        with _DIGESTS_LOCK:
            _DIGESTS[identity] = sha
            while len(_DIGESTS) > _DIGESTS_KEPT:
                _DIGESTS.popitem(last=False)
    return sha


def stream_sha256(stream: BinaryIO) -> str:
    """SHA-256 (hex) of what is left to read in the binary ``stream``, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    for block in iter(lambda: stream.read(1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()


def _identity(st: os.stat_result) -> Tuple[int, ...]:
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def is_link_loop(path: str | Path) -> bool:
    """Whether ``path`` is a symbolic link that leads back to itself (directly or through other
    links): reading it fails with ELOOP, not as a missing or broken link."""
    path = Path(path)
    if not path.is_symlink():
        return False
    try:
        path.stat()
    except OSError as err:
        return err.errno == errno.ELOOP
    return False


def path_under(path: str | Path, base: Path) -> str:
    """``path`` resolved, as a POSIX path relative to the resolved folder ``base`` when inside
    it (absolute otherwise): what data digests hash, so a dataset folder moved elsewhere whole
    digests the same."""
    path = Path(path).resolve()
    return (path.relative_to(base) if base in path.parents else path).as_posix()


def folder_above(path: str | Path) -> Path:
    """The folder holding ``path``, named as given where that names it: ``Path('.').parent``
    is '.' again and ``a/..``'s is ``a``, below it, so those are resolved first (a command run
    from inside a run or dataset folder, given '.')."""
    path = Path(path)
    return path.parent if path.name not in ("", "..") else path.resolve().parent
