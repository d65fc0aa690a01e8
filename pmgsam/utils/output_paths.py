"""Refusing output paths that would write among a command's input files.

Each command names the folders and files it reads (images, GT masks, skeletons, a COCO GT file)
and where it writes; the checks here refuse an output that is, or lies inside, one of them, a
folder of per-image data the command was told of only by name, two outputs of one command that
would replace each other's files, or a file path that cannot be written. They create nothing:
:mod:`pmgsam.utils.outputs` builds on them to guard the folders that receive maps.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, List, Optional, Sequence, Set, Union

PathLike = Union[str, Path]


class OutputError(ValueError):
    """An output folder is refused because writing there could destroy a user's file."""


def _is_within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_output_file(path: PathLike, option: str) -> None:
    """:class:`OutputError` naming ``option`` when the file ``path`` cannot be written: it is a
    folder, or a file stands where one of its parent folders should be. Checked before any
    work, so a long run does not end in an OS error about a temporary file."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{option} '{path}' is a folder; give the path of a file to write")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputError(f"{option} '{path}': '{parent}' is a file, not a folder")
            break


def refuse_output_in_inputs(
    out: PathLike,
    inputs: Sequence[Optional[PathLike]],
    option: str,
    what: str = "the outputs",
    flat: bool = False,
) -> None:
    """:class:`OutputError` when ``out`` (a file or folder to write) is, or lies inside, one of
    ``inputs`` (folders or files the command reads; ``None`` entries are ignored). ``flat``:
    the command reads only the files directly in its input folders, not their subfolders, so
    ``out`` inside one is allowed (what is written there is never read as input); ``out``
    being one of them is still refused."""
    resolved = Path(out).resolve()
    for source in inputs:
        if source is None:
            continue
        source_resolved = Path(source).resolve()
        if flat and resolved != source_resolved:
            continue
        if _is_within(resolved, source_resolved):
            kind = "folder" if Path(source).is_dir() else "file"
            where = "is" if resolved == Path(source).resolve() else "lies inside"
            raise OutputError(
                f"{option} '{out}' {where} the input {kind} '{source}': {what} would be "
                f"written among (and could replace) your input files; choose another place"
            )


def refuse_output_in_data_folder(
    out: PathLike,
    names: Iterable[str],
    extensions: Sequence[str],
    option: str,
    what: str = "the outputs",
) -> None:
    """:class:`OutputError` when ``out``, or an existing folder it lies inside, holds files
    named after at least half of the data's images (``names``: file names or stems) with one
    of ``extensions``: a folder of per-image data (images, GT masks, instance maps).

    For commands told only of a file that names the images (a COCO GT file), not the folders
    they and their masks live in; the folder next to them stays allowed. Half, not one: a home
    folder holding a stray ``1.png`` is not NC4K's image folder. Folders that cannot be listed
    (an ancestor without read permission on a shared machine) are passed over.
    """
    stems = {Path(n).stem for n in names}
    suffixes = {e.lower() for e in extensions}
    resolved = Path(out).resolve()
    for folder in [resolved, *resolved.parents]:
        try:
            matches = [
                e.name
                for e in folder.iterdir()
                if e.suffix.lower() in suffixes and e.stem in stems and e.is_file()
            ]
        except OSError:  # not a folder (yet), or not readable
            continue
        images = {Path(m).stem for m in matches}  # x.jpg and x.png are one image
        if images and 2 * len(images) >= len(stems):
            where = "is" if folder == resolved else "lies inside"
            raise OutputError(
                f"{option} '{out}' {where} the data folder '{folder}' (it holds files of "
                f"{len(images)} of the data's images, e.g. '{sorted(matches)[0]}'): "
                f"{what} would be written among your input files; choose another place"
            )


def refuse_shared_output(first: PathLike, first_option: str, second: PathLike, option: str) -> None:
    """:class:`OutputError` when two output folders of one command are the same folder or one
    holds the other: maps of the same names would replace each other."""
    a, b = Path(first).resolve(), Path(second).resolve()
    if _is_within(a, b) or _is_within(b, a):
        where = "is" if a == b else "overlaps"
        raise OutputError(
            f"{option} '{second}' {where} {first_option} '{first}': both receive maps of the same "
            f"names, which would replace each other; give {option} a separate folder"
        )


def dataset_folders(dataset: Any) -> List[Path]:
    """The folders a dataset reads: parents of its image, mask and skeleton files (if any)."""
    folders: Set[Path] = set()
    for attr in ("image_paths", "mask_paths", "skeleton_paths"):
        paths = getattr(dataset, attr, None) or ()
        folders.update(Path(p).parent for p in paths if p is not None)
    return sorted(folders)
