"""Guarding the folders that prediction commands write into, so that no user file is lost.

Every command that writes probability maps (``python -m pmgsam.engine.inference``,
``evaluate.py``'s benchmark mode, the SAM baselines) calls :func:`prepare_output_dir` before
writing. It refuses

* an output folder that is, or lies inside, one of the command's input folders (images, GT
  masks, skeletons): a map ``x.png`` would replace the user's ``x.png``; ``--overwrite`` does
  not lift this;
* an output folder that already holds files this tool did not write, unless ``overwrite``.

The tool's own files are told apart by a small manifest (:data:`MANIFEST`, hidden, so that
folder listings skip it) that lists every map name the tool wrote there. The names are
recorded *before* the maps are written, so a run that crashes half-way can be repeated into the
same folder without ``--overwrite``.
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path
from typing import Any, Iterable, List, Optional, Sequence, Set, Union

from pmgsam.utils.io import TMP_SUFFIX, atomic_path
from pmgsam.utils.messages import preview

PathLike = Union[str, Path]
MANIFEST = ".pmgsam-outputs.json"
MANIFEST_FORMAT = "pmgsam-outputs"


class OutputError(ValueError):
    """An output folder is refused because writing there could destroy a user's file."""


def _is_within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def written_names(out_dir: PathLike) -> Set[str]:
    """File names that the manifest of ``out_dir`` says this tool wrote (empty if none)."""
    path = Path(out_dir) / MANIFEST
    if not path.is_file():
        return set()
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return set()  # an unreadable manifest vouches for nothing
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        return set()
    return {str(n) for n in data.get("files", [])}


def stale_map_temporaries(out_dir: PathLike) -> List[Path]:
    """The hidden ``.<map>.<random>.tmp`` files of this tool's maps (see :func:`written_names`)
    that a run killed while writing left in ``out_dir`` (maps are renamed into place whole)."""
    out, ours = Path(out_dir), written_names(out_dir)
    if not ours:
        return []
    ours.add(MANIFEST)
    return [p for p in out.glob(f".*{TMP_SUFFIX}") if p.name[1:].rsplit(".", 2)[0] in ours]


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
    out: PathLike, inputs: Sequence[Optional[PathLike]], option: str, what: str = "the outputs"
) -> None:
    """:class:`OutputError` when ``out`` (a file or folder to write) is, or lies inside, one of
    ``inputs`` (folders or files the command reads; ``None`` entries are ignored)."""
    resolved = Path(out).resolve()
    for source in inputs:
        if source is None:
            continue
        if _is_within(resolved, Path(source).resolve()):
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


def check_output_dir(
    out_dir: PathLike,
    names: Iterable[str],
    inputs: Sequence[Optional[PathLike]] = (),
    overwrite: bool = False,
    option: str = "--out",
) -> None:
    """Check that ``out_dir`` may receive the files ``names``, creating nothing: for a command to
    call before its slow set-up (a model to load), then :func:`prepare_output_dir` once it is
    about to write. Arguments as there; raises :class:`OutputError` naming the folder and why."""
    out = Path(out_dir)
    refuse_output_in_inputs(out, inputs, option, "the maps")
    if out.exists() and not out.is_dir():
        raise OutputError(f"{option} '{out}' exists and is not a folder")
    if not out.exists():
        check_output_file(out, option)  # a file where one of its parent folders should be
    if not out.is_dir() or overwrite:
        return
    ours = written_names(out) | {p.name for p in stale_map_temporaries(out)}
    foreign = sorted(p.name for p in out.iterdir() if p.name != MANIFEST and p.name not in ours)
    if foreign:
        clash = sorted(set(foreign) & set(names))
        risk = (
            f"{len(clash)} of them would be replaced ({preview(clash, 5)})"
            if clash
            else "none would be replaced, but the folder would mix them with the maps"
        )
        raise OutputError(
            f"{option} '{out}' already holds {len(foreign)} file(s) this tool did not "
            f"write ({preview(foreign, 5)}); {risk}. Choose a new or empty folder, or pass "
            "--overwrite to write there anyway"
        )


def prepare_output_dir(
    out_dir: PathLike,
    names: Iterable[str],
    inputs: Sequence[Optional[PathLike]] = (),
    overwrite: bool = False,
    option: str = "--out",
    tool: str = "pmgsam",
) -> Path:
    """Check that ``out_dir`` may receive the files ``names``; create it and record them.

    Arguments:
      out_dir: the folder the maps go to.
      names: the file names that will be written there (e.g. ``x.png``).
      inputs: folders the command reads (images, GT); ``None`` entries are ignored.
      overwrite: allow a folder holding files this tool did not write.
      option: the command-line option that named ``out_dir``, for the messages.
      tool: which command writes (recorded in the manifest).
    Raises :class:`OutputError` naming the folder and the reason; warns naming the maps of an
    earlier run there that ``names`` does not replace. Returns ``out_dir``.
    """
    names = sorted(set(names))
    check_output_dir(out_dir, names, inputs, overwrite, option)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for leftover in stale_map_temporaries(out):
        leftover.unlink()
    earlier = sorted(n for n in written_names(out) - set(names) if (out / n).is_file())
    if earlier:
        warnings.warn(
            f"{option} '{out}' keeps {len(earlier)} map(s) of an earlier run that this run does "
            f"not replace ({preview(earlier, 5)}); they stay beside the new maps (use an empty "
            "folder to hold this run's maps only)",
            stacklevel=2,
        )
    record = {
        "format": MANIFEST_FORMAT,
        "tool": tool,
        "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "files": sorted(written_names(out) | set(names)),
    }
    with atomic_path(out / MANIFEST) as tmp:
        tmp.write_text(json.dumps(record, indent=0) + "\n")
    return out


def dataset_folders(dataset: Any) -> List[Path]:
    """The folders a dataset reads: parents of its image, mask and skeleton files (if any)."""
    folders: Set[Path] = set()
    for attr in ("image_paths", "mask_paths", "skeleton_paths"):
        paths = getattr(dataset, attr, None) or ()
        folders.update(Path(p).parent for p in paths if p is not None)
    return sorted(folders)
