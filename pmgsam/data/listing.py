"""Listing dataset folders: which files a folder holds for a given kind (images, masks), paired
by stem, in natural order.

Nothing is read here; :mod:`pmgsam.data.io` reads the files.
"""

from __future__ import annotations

import re
import warnings
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
    folder = Path(folder)
    if not folder.is_dir():
        if folder.exists():
            raise DataError(f"{what} folder '{folder}' is not a folder")
        raise DataNotFoundError(f"{what} folder '{folder}' does not exist")
    found: Dict[str, Path] = {}
    by_folded: Dict[str, str] = {}
    subfolders = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue
        if path.is_dir():
            if path.name not in expected:
                subfolders.append(path.name)
            continue
        # A broken symbolic link is kept, so that reading it names it instead of the file
        # going missing without a word.
        if path.suffix.lower() not in extensions or not (path.is_file() or path.is_symlink()):
            continue
        other = by_folded.get(path.stem.casefold())
        if other is not None:
            same = "" if other == path.stem else " (equal but for case)"
            raise DataError(
                f"{what} folder '{folder}' has two files with stem '{path.stem}'{same}: "
                f"'{found[other].name}' and '{path.name}'; rename one"
            )
        found[path.stem] = path
        by_folded[path.stem.casefold()] = path.stem
    if subfolders:
        warnings.warn(
            f"{what} folder '{folder}' has {len(subfolders)} subfolder(s) "
            f"({preview(subfolders, 5)}): only the files directly in it are read",
            stacklevel=2,
        )
    return found


def other_files(folder: PathLike, extensions: Sequence[str]) -> List[str]:
    """Names of the files in ``folder`` that :func:`list_files` leaves out for their extension
    (hidden files and subfolders aside), in natural order."""
    found = [p.name for p in Path(folder).iterdir() if p.suffix.lower() not in extensions]
    found = [n for n in found if not n.startswith(".") and not (Path(folder) / n).is_dir()]
    return sorted(found, key=natural_key)
