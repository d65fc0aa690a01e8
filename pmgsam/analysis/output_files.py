"""The files an analysis writes (tables, figures, summaries) never replace a file of yours.

The analyses write fixed names (``table5.md``, ``qualitative_DIS-TE1.png``, ``ablation.md``,
...) into folders that may hold other things: a paper's figure folder, a run folder. Before any
work, :func:`check_output_files` refuses a folder where a file of one of those names exists that
pmgsam did not write (``--overwrite`` lets it be replaced); :func:`record_output_files` then lists
the names in the folder's hidden manifest (:data:`pmgsam.utils.outputs.MANIFEST`, as the
commands that write maps keep it) just before they are written, so that a re-run replaces its
own files without asking. Other files in the folder are never touched.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterable, Union

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
