"""Crash-safe file writing, and file digests."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

TMP_SUFFIX = ".tmp"


def current_umask() -> int:
    """The process umask (``os.umask`` can only be read by setting it, so set it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def apply_umask(path: str | Path, directory: bool = False) -> None:
    """Give ``path`` the mode a plain ``open``/``mkdir`` would have given it.

    ``mkstemp``/``mkdtemp`` create private 0600/0700 entries; the files we rename into place
    must instead follow the user's umask like any other file they create.
    """
    os.chmod(path, (0o777 if directory else 0o666) & ~current_umask())


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it over ``path`` only on success.

    A crash mid-write leaves the previous file intact (rename is atomic on POSIX when both
    names are on the same file system, hence the temporary file in the same folder). A killed
    process can leave the hidden ``.<name>.*.tmp`` file behind; :func:`remove_stale_temporaries`
    clears them.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # After the write: some writers (safetensors) replace the file instead of reusing it.
        apply_umask(tmp_path)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def is_temporary(name: str) -> bool:
    """Whether a file name is one of :func:`atomic_path`'s hidden ``.<name>.*.tmp`` files."""
    return name.startswith(".") and name.endswith(TMP_SUFFIX)


def remove_stale_temporaries(folder: str | Path) -> list:
    """Delete the hidden ``.*.tmp`` files :func:`atomic_path` left in ``folder``; returns them."""
    removed = []
    folder = Path(folder)
    if folder.is_dir():
        for path in folder.glob(f".*{TMP_SUFFIX}"):
            if path.is_file():
                path.unlink()
                removed.append(path)
    return removed


def file_sha256(path: str | Path) -> str:
    """SHA-256 (hex) of the bytes of the file ``path``, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def path_under(path: str | Path, base: Path) -> str:
    """``path`` resolved, as a POSIX path relative to the resolved folder ``base`` when inside
    it (absolute otherwise): what data digests hash, so a dataset folder moved elsewhere whole
    digests the same."""
    path = Path(path).resolve()
    return (path.relative_to(base) if base in path.parents else path).as_posix()
