"""Listing dataset folders: which files a folder holds for a given kind (images, masks), paired
by stem, in natural order.

Nothing is read here; :mod:`pmgsam.data.io` reads the files. A folder is listed once while it
stays unchanged (:func:`folder_entries`), however many splits or commands of one process read it.
"""

from __future__ import annotations

import os
import re
import time
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Dict, List, Sequence, Tuple, Union

from pmgsam.utils.messages import preview

from .errors import DataError, DataNotFoundError

PathLike = Union[str, Path]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
MASK_EXTENSIONS = (".png", ".bmp", ".tif", ".tiff", ".jpg", ".jpeg")


def natural_key(name: str) -> Tuple[List[Union[int, str]], str]:
    """Sort key that orders ``2`` before ``10`` (NC4K and many folders use numeric stems), case
    aside. Names it cannot tell apart (``img1``, ``img01``, ``IMG1``) are ordered by their own
    text: left to the order they came in, a set's (which string hashing changes from one
    process to the next), the seeded train/val carve would differ between runs."""
    # Odd places hold the runs of \d+, which int() reads; str.isdigit() is also true of "²".
    parts = re.split(r"(\d+)", name)
    return [int(t) if i % 2 else t.lower() for i, t in enumerate(parts)], name


def folder_entries(folder: PathLike) -> List[Tuple[str, str]]:
    """``(name, kind)`` of each entry of ``folder`` (kind ``dir``, ``file``, ``link`` or
    ``other``: a FIFO, a socket), in the order the system lists them.

    One pass of :func:`os.scandir`, whose entries carry their kind: no ``stat`` per file (a
    round trip each on a network file system). A folder is listed once while it stays the
    same: the carved train, val and test splits of one folder, and a split each command
    builds again, read the listing kept from the first time (the list returned is that one:
    not to be changed). A folder whose modification time changed, or that is another folder
    now (renamed away and made again), is listed again; the listing of one modified less than
    ``_SETTLED_NS`` before is not kept: a file added in the same tick of the file system's
    clock would leave that time as it was.
    """
    state = os.stat(folder)
    # The path too: a file system without inode numbers (FAT on Windows) gives 0 for all.
    key = (os.path.abspath(folder), state.st_dev, state.st_ino)
    kept = _LISTINGS.get(key)
    if kept is not None and kept[0] == state.st_mtime_ns:
        _LISTINGS.move_to_end(key)
        return kept[1]
    started = time.time_ns()
    with os.scandir(folder) as scan:
        entries = [(entry.name, _kind(entry)) for entry in scan]
    if state.st_mtime_ns < started - _SETTLED_NS:
        _LISTINGS[key] = (state.st_mtime_ns, entries)
        while len(_LISTINGS) > _KEPT_LISTINGS:
            _LISTINGS.popitem(last=False)
    return entries


def _kind(entry: os.DirEntry) -> str:
    # A link's target can change without its folder changing: callers follow it each time.
    if entry.is_symlink():
        return "link"
    if entry.is_dir(follow_symlinks=False):
        return "dir"
    return "file" if entry.is_file(follow_symlinks=False) else "other"


# (path, st_dev, st_ino) of a folder -> (its st_mtime_ns when listed, its entries).
_LISTINGS: OrderedDict[Tuple[str, int, int], Tuple[int, List[Tuple[str, str]]]] = OrderedDict()
_KEPT_LISTINGS = 32  # folders: a dataset's image, mask, instance and skeleton folders by split
# File systems keep modification times in ticks of a few ms (ext4, NFS servers) up to 2 s
# (FAT); a listing younger than this may miss a change that left the time as it was.
_SETTLED_NS = 5_000_000_000


def _is_folder(folder: Path, name: str, kind: str) -> bool:
    return kind == "dir" or (kind == "link" and (folder / name).is_dir())


def list_files(
    folder: PathLike, extensions: Sequence[str], what: str, expected: Sequence[str] = ()
) -> Dict[str, Path]:
    """Map stem -> path for the files in ``folder`` with one of ``extensions``.

    Hidden files (``.DS_Store``, macOS ``._x.jpg`` resource forks) are skipped, and so are
    subfolders, with a warning naming them. Broken symbolic links are listed: reading one
    raises :class:`DataNotFoundError` naming it. Two files whose stems are equal, or equal but for
    case, are an error: pairing by stem would be ambiguous, and maps named by stem would
    overwrite each other on case-insensitive file systems (macOS, Windows). Subfolders named in
    ``expected`` (the caller's own output folder there) are skipped without a warning.
    """
    return scan_files(folder, extensions, what, expected, stacklevel=2)[0]


def scan_files(
    folder: PathLike,
    extensions: Sequence[str],
    what: str,
    expected: Sequence[str] = (),
    stacklevel: int = 2,
) -> Tuple[Dict[str, Path], List[str]]:
    """(:func:`list_files`, :func:`other_files`) of ``folder`` from one listing of it; the
    subfolder warning points where ``warnings.warn(..., stacklevel)`` called by the caller
    would (2: the caller's caller)."""
    folder = Path(folder)
    if not folder.is_dir():
        if folder.exists():
            raise DataError(f"{what} folder '{folder}' is not a folder")
        raise DataNotFoundError(f"{what} folder '{folder}' does not exist")
    found: Dict[str, Path] = {}
    by_folded: Dict[str, str] = {}
    subfolders, others = [], []
    # By name, as the paths sorted before (case aside on Windows): the first of two clashing
    # files is named first.
    for name, kind in sorted(folder_entries(folder), key=lambda e: os.path.normcase(e[0])):
        if name.startswith("."):
            continue
        if _is_folder(folder, name, kind):
            if name not in expected:
                subfolders.append(name)
            continue
        stem, suffix = _split_suffix(name)
        if suffix.lower() not in extensions:
            others.append(name)
            continue
        # A broken symbolic link is kept, so that reading it names it instead of the file
        # going missing without a word.
        if kind == "other":
            continue
        other = by_folded.get(stem.casefold())
        if other is not None:
            same = "" if other == stem else " (equal but for case)"
            raise DataError(
                f"{what} folder '{folder}' has two files with stem '{stem}'{same}: "
                f"'{found[other].name}' and '{name}'; rename one"
            )
        found[stem] = folder / name
        by_folded[stem.casefold()] = stem
    if subfolders:
        warnings.warn(
            f"{what} folder '{folder}' has {len(subfolders)} subfolder(s) "
            f"({preview(subfolders, 5)}): only the files directly in it are read",
            stacklevel=stacklevel + 1,
        )
    return found, sorted(others, key=natural_key)


def _split_suffix(name: str) -> Tuple[str, str]:
    # Path(name).stem and .suffix, without a Path per file (10000 of them cost 0.1 s).
    dot = name.rfind(".")
    return (name[:dot], name[dot:]) if 0 < dot < len(name) - 1 else (name, "")


def other_files(folder: PathLike, extensions: Sequence[str]) -> List[str]:
    """Names of the files in ``folder`` that :func:`list_files` leaves out for their extension
    (hidden files and subfolders aside), in natural order."""
    folder = Path(folder)
    found = [
        name
        for name, kind in folder_entries(folder)
        if not name.startswith(".")
        and _split_suffix(name)[1].lower() not in extensions
        and not _is_folder(folder, name, kind)
    ]
    return sorted(found, key=natural_key)
