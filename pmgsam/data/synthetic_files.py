"""The files of the generator (:mod:`pmgsam.data.synthetic`): writing them, and the manifest
that tells them apart from a user's.

``synthetic_manifest.json`` in a generated dataset folder lists the files the generator wrote;
``--overwrite`` removes only those (:func:`remove_own_files`), so that a user's file in the
folder is never deleted. Which files an older manifest names is worked out by the generator
(its ``_own_files``), which knows the layouts; this module reads the manifest and removes the
files it names, and encodes the images and masks the generator draws (:func:`write_jpg`,
:func:`write_png`, :func:`write_palette_png`).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path, PurePosixPath
from typing import Dict, List, Optional, Set

import cv2
import numpy as np
from PIL import Image

from pmgsam.utils.messages import preview

from .io import DataError

MANIFEST = "synthetic_manifest.json"
# The generator's logger: its warnings read as the generator's, whichever module emits them.
log = logging.getLogger("pmgsam.data.synthetic")
# The colours of instance labels 1.. in the generated instance PNGs (palette and RGB alike).
INSTANCE_COLOURS = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48)]


def read_manifest(path: Path) -> Optional[Dict]:
    """The manifest at ``path`` (None when there is none); a DataError when it is unreadable."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise DataError(f"cannot read the generator's manifest '{path}': {err}") from None
    return data if isinstance(data, dict) else {}  # a manifest naming no files


def tree_entries(root: Path) -> Set[str]:
    """Every file and link under ``root`` (relative, posix); links to folders not followed."""
    found = set()
    for folder, dirs, names in os.walk(root):
        rel = Path(folder).relative_to(root)
        links = [d for d in dirs if os.path.islink(os.path.join(folder, d))]
        found.update((rel / n).as_posix() for n in names + links)
    return found


def in_data_folders(names: List[str], generated: Set[str]) -> List[str]:
    """The files of ``names`` (relative) that lie in a folder holding ``generated`` files (a
    dataset's image or mask folder), where a loader would take them for part of the data."""
    data_dirs = {PurePosixPath(f).parent for f in generated} - {PurePosixPath(".")}
    return [f for f in names if data_dirs.intersection(PurePosixPath(f).parents)]


def refuse_mixed_in(root: Path, own: Optional[Set[str]], files: List[str]) -> None:
    """Refuse to reuse the generated tree ``root`` (``own``: the files it recorded, relative;
    ``files``: those these parameters write) when its image or mask folders hold files the
    generator did not write: loaders would read them as part of the dataset asked for. Hidden
    files (a Finder's ``.DS_Store``) are skipped by every loader, so they may stay."""
    if own is None:  # an old manifest that cannot tell: the tree is reused as before
        return
    foreign = [
        f
        for f in sorted(tree_entries(root) - own)
        if not any(part.startswith(".") for part in PurePosixPath(f).parts)
    ]
    mixed = in_data_folders(foreign, own | set(files))
    if mixed:
        raise DataError(
            f"'{root}' holds the dataset generated with these parameters, and {len(mixed)} "
            f"file(s) the generator did not write in its folders: {preview(mixed, 5)}; they "
            f"would be read as part of the generated dataset. Move them out of '{root}' or "
            "choose another output folder"
        )


def remove_own_files(
    root: Path, own: Optional[Set[str]], new_files: List[str], option: str
) -> None:
    """Remove the files an earlier run wrote in ``root`` (``own``, relative) and nothing else.

    ``own`` is None when the earlier run's manifest does not tell them: refused. Refused too,
    before anything is removed, when ``root`` holds a file the generator did not write in one
    of the dataset's folders: one it would replace (same name), or one it would mix into the
    generated dataset (a photo in ``Train/Image`` would become a training image). Other such
    files (``root/NOTES.txt``) are left in place and named in a warning."""
    if own is None:
        raise DataError(
            f"cannot tell which files in '{root}' the generator wrote (its manifest "
            f"'{MANIFEST}' does not list them), so {option} removes nothing; remove the folder "
            "yourself or choose another output folder"
        )
    present = tree_entries(root)
    foreign = sorted(present - own)
    mixed = in_data_folders(foreign, own | set(new_files))
    if mixed:
        in_way = set(mixed).intersection(new_files)
        named = sorted(in_way) + [f for f in mixed if f not in in_way]
        clash = f", writing over {len(in_way)} (same name as a generated file)" if in_way else ""
        raise DataError(
            f"'{root}' holds {len(mixed)} file(s) the generator did not write in the dataset's "
            f"folders: {preview(named, 5)}; {option} would mix them into the generated dataset"
            f"{clash}. Nothing was removed: move them out of '{root}' or choose another folder"
        )
    for rel in sorted(present & own):
        (root / rel).unlink()
    if foreign:
        log.warning("left in place in '%s' %d file(s) the generator did not write: %s",
                    root, len(foreign), preview(foreign, 5))  # fmt: skip


def _write_encoded(path: Path, arr: np.ndarray, params: List[int]) -> None:
    # cv2.imwrite crashes (segfault) on a str path that is not UTF-8 (surrogate escapes, as
    # Linux names may be); Python writes any path, so encode in memory and write the bytes.
    ok, data = cv2.imencode(path.suffix, arr, params)
    if not ok:
        raise OSError(f"could not encode '{path}' as {path.suffix}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.tobytes())


def write_jpg(path: Path, rgb: np.ndarray) -> None:
    """Write an (H, W, 3) uint8 RGB image as a JPEG of quality 95."""
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    _write_encoded(path, bgr, [cv2.IMWRITE_JPEG_QUALITY, 95])


def write_png(path: Path, arr: np.ndarray) -> None:
    """Write a gray (H, W) or RGB (H, W, 3) uint8 array as a PNG."""
    _write_encoded(path, arr if arr.ndim == 2 else cv2.cvtColor(arr, cv2.COLOR_RGB2BGR), [])


def write_palette_png(path: Path, label: np.ndarray) -> None:
    """Write an instance label map as a palette PNG: label 0 black, labels 1 to 5 in
    :data:`INSTANCE_COLOURS`."""
    img = Image.fromarray(label.astype(np.uint8), mode="P")
    palette = [0, 0, 0] + [c for col in INSTANCE_COLOURS for c in col]
    img.putpalette(palette + [0] * (768 - len(palette)))
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
