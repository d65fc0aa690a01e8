"""Guarding a variant's map folders (``<output-dir>/NAME/pred/<part>``) when
``python -m pmgsam.ablate --evaluate`` predicts into them (used by :mod:`pmgsam.ablation.scoring`).

A folder with a manifest (:mod:`pmgsam.utils.outputs`) is guarded as evaluate.py guards its
own: a map changed since pmgsam wrote it (a hand-corrected map) or a file pmgsam did not write
there is refused, naming it, unless ``--overwrite``; a map whose time alone moved (same bytes)
is not changed. A folder without one (a variant scored by an older pmgsam.ablate, which wrote
no manifest) is the grid's own and written over, as before: it records nothing to tell an
edited map by.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Mapping

from pmgsam.evaluation.split_folders import check_split_folders
from pmgsam.utils.outputs import changed_maps, read_manifest


def overwrite_given(opts: argparse.Namespace) -> bool:
    """``--overwrite``; options built by hand without it (the scoring helpers' tests) have
    none."""
    return bool(getattr(opts, "overwrite", False))


def written_over(folder: Path, overwrite: bool) -> bool:
    """Whether ``folder``'s maps may be replaced without a check: with ``overwrite``, or when
    it has no manifest (module doc)."""
    return overwrite or not read_manifest(folder)


def holds_edited_maps(run_dir: Path, parts: Mapping[str, Any]) -> bool:
    """Whether a folder ``run_dir/pred/<part>`` of ``parts`` holds a map changed since pmgsam
    wrote it (:func:`~pmgsam.utils.outputs.changed_maps`)."""
    return any(changed_maps(run_dir / "pred" / part) for part in parts)


def check_map_folders(run_dir: Path, datasets: Mapping[str, Any], overwrite: bool) -> None:
    """Refuse, creating nothing, a ``run_dir/pred/<part>`` of ``datasets`` ({part: dataset})
    that holds maps changed since pmgsam wrote them, or files it did not write, unless
    ``overwrite`` or it has no manifest (:func:`written_over`): raises
    :class:`~pmgsam.utils.output_paths.OutputError` naming the folder, the maps and
    ``--overwrite``."""
    guarded = {
        p: d for p, d in datasets.items() if not written_over(run_dir / "pred" / p, overwrite)
    }
    check_split_folders(run_dir, guarded, overwrite=False)
