"""The files an analysis writes (tables, figures, summaries) never replace a file of yours.

The analyses write fixed names (``table5.md``, ``qualitative_DIS-TE1.png``, ``ablation.md``,
...) into folders that may hold other things: a paper's figure folder, a run folder. Before any
work, :func:`check_output_files` refuses a folder where a file of one of those names exists that
pmgsam did not write (``--overwrite`` lets it be replaced); :func:`record_output_files` then lists
the names in the folder's hidden manifest (:data:`pmgsam.utils.outputs.MANIFEST`, as the
commands that write maps keep it) just before they are written, so that a re-run replaces its
own files without asking. Other files in the folder are never touched. Commands that write
files named by the user (``evaluate.py``'s scoring ``--out`` and its side file,
``python -m pmgsam.efficiency --json``) use :func:`check_output_paths` and
:func:`record_output_paths` the same way.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Dict, Iterable, List, Sequence, Union

from pmgsam.utils.messages import preview
from pmgsam.utils.outputs import (
    MANIFEST_FORMAT,
    OutputError,
    check_output_file,
    read_manifest,
    write_manifest,
    written_names,
)

PathLike = Union[str, Path]


def check_output_files(
    out_dir: PathLike, names: Iterable[str], option: str = "--out", overwrite: bool = False
) -> None:
    """:class:`OutputError` when ``out_dir`` cannot receive the files ``names``: it is not a
    folder, or (unless ``overwrite``) one of them exists there and pmgsam did not write it."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{option} '{out}' exists and is not a folder")
    if not out.exists():
        check_output_file(out, option)  # a file where one of its parent folders should be
        return
    ours = written_names(out)
    clash = sorted(n for n in set(names) if (out / n).exists() and n not in ours)
    if clash and not overwrite:
        raise OutputError(
            f"{option} '{out}' already holds {len(clash)} file(s) this command would replace "
            f"but did not write ({preview(clash, 5)}): move them away, choose another folder, "
            "or pass --overwrite to replace them"
        )


def record_output_files(out_dir: PathLike, names: Iterable[str], tool: str) -> Path:
    """Create ``out_dir`` and list ``names`` in its manifest as written by ``tool`` (call it
    right before writing them, after :func:`check_output_files`). Returns ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    record = read_manifest(out) or {"tool": tool}
    record.update(
        format=MANIFEST_FORMAT,
        updated=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        files=sorted(written_names(out) | set(names)),
    )
    write_manifest(out, record)
    return out


def check_output_paths(
    paths: Sequence[PathLike], option: str = "--out", overwrite: bool = False
) -> None:
    """:func:`check_output_files` for named files (a scores file and its side files, each
    checked in its own folder): :class:`OutputError` naming the existing ones pmgsam did not
    write, unless ``overwrite``."""
    for path in paths:
        check_output_file(path, option)
    clash = [
        str(p) for p in map(Path, paths) if p.exists() and p.name not in written_names(p.parent)
    ]
    if clash and not overwrite:
        raise OutputError(
            f"{option} '{paths[0]}': {len(clash)} file(s) this command would replace exist and "
            f"pmgsam did not write them ({preview(clash, 5)}): move them away, choose another "
            f"{option}, or pass --overwrite to replace them"
        )


def record_output_paths(paths: Sequence[PathLike], tool: str) -> None:
    """:func:`record_output_files` for named files, in each one's folder (call it after
    :func:`check_output_paths`, right before writing them)."""
    folders: Dict[Path, List[str]] = {}
    for p in map(Path, paths):
        folders.setdefault(p.parent, []).append(p.name)
    for folder, names in folders.items():
        record_output_files(folder, names, tool)
