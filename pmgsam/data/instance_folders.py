"""The instance-map folder of a split (NC4K's ``Instance``, a folder dataset's
``data.instance_dir``), or why there is none: only COS scoring reads instance labels, so a
split without them still trains, and ``coco_gt`` gives the reason."""

from __future__ import annotations

from pathlib import Path

from .instance_labels import InstanceSource


def instance_folder(folder: Path, key: str = "") -> InstanceSource:
    """PNG instance maps in ``folder``; none, saying why, when it is missing or a file (``key``:
    the setting that names it, for the reason)."""
    if folder.is_dir():
        return InstanceSource("png", folder)
    setting = f" ({key})" if key else ""
    if folder.exists():
        why = (
            f"'{folder}'{setting} is a file, not a folder: a folder of instance maps is expected "
            "(one PNG per image, named as its image, each instance drawn in a value of its own)"
        )
    else:
        why = f"instance folder '{folder}' does not exist{setting}"
    return InstanceSource("none", reason=why)
