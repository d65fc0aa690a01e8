"""What made a folder's maps, of which input image, and which files they are
(:mod:`pmgsam.utils.outputs` records all three).

A prediction folder's manifest names the maps' *producer* (weights and their SHA-256, the frozen
branches', image size, amp, kind of map, a baseline's settings) and, per map, the identity of
the image it is of (:func:`file_identity`); a resumed run keeps a map only when both still match.
Once written, each map's size and time (:func:`map_identity`) and bytes (:func:`map_digest`) tell
it apart from a file put in its place since.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, List, Optional

from pmgsam.utils.io import stream_sha256
from pmgsam.utils.output_paths import PathLike

PRODUCER_FIELDS = {
    "weights_sha256": "weights SHA-256",
    "frozen_sha256": "frozen branches' SHA-256",
    "image_size": "image size",
    "amp": "amp",
    "maps": "kind of map",
    "settings": "baseline settings",  # a baseline's (pmgsam.baselines.resume); None for PMG-SAM
}


def producer_changes(
    recorded: Optional[Dict[str, Any]], producer: Optional[Dict[str, Any]]
) -> List[str]:
    """What differs between two producers (:data:`PRODUCER_FIELDS`); everything when either is
    unknown (``None``)."""
    if recorded is None or producer is None:
        return list(PRODUCER_FIELDS.values())
    return [text for key, text in PRODUCER_FIELDS.items() if recorded.get(key) != producer.get(key)]


def describe_producer(producer: Dict[str, Any]) -> str:
    """One line naming a producer: weights file, its SHA-256 (12 digits) and settings."""
    frozen = producer.get("frozen_sha256")
    branches = ", ".join(f"{k} {str(v)[:12]}" for k, v in sorted((frozen or {}).items()))
    # A baseline has no frozen branches (None) but settings of its own.
    model = "" if frozen is None else f", frozen {branches or 'none'}"
    extra = producer.get("settings")
    settings = "; " + json.dumps(extra, sort_keys=True) if extra else ""
    return (
        f"'{producer.get('weights')}' (SHA-256 {str(producer.get('weights_sha256'))[:12]}"
        f"{model}; image size {producer.get('image_size')}, amp {producer.get('amp')}, "
        f"{producer.get('maps')} maps{settings})"
    )


def file_identity(path: PathLike) -> List[Any]:
    """What tells an input image apart for :func:`~pmgsam.utils.outputs.finished_maps`: its
    resolved path, size and modification time (``None`` for the last two when it cannot be
    read)."""
    # realpath, not Path.resolve(): before Python 3.13 that raises on a symbolic link loop,
    # which is one more unreadable image (reported with the others) here.
    resolved = os.path.realpath(path)
    try:
        stat = Path(path).stat()
    except OSError:
        return [resolved, None, None]
    return [resolved, stat.st_size, stat.st_mtime_ns]


def map_identity(path: PathLike) -> Optional[List[int]]:
    """What tells a written map apart from a file put there since: ``[size, st_mtime_ns]``
    (from the file's metadata: it is not read); ``None`` when there is no such file."""
    try:
        stat = Path(path).stat()
    except OSError:
        return None
    return [stat.st_size, stat.st_mtime_ns]


def map_digest(path: PathLike) -> Optional[str]:
    """The SHA-256 of the file at ``path`` (hex); ``None`` when it cannot be read. Not
    :func:`~pmgsam.utils.io.file_sha256`: its few remembered digests are for checkpoints, and a
    folder of maps would push them out."""
    try:
        with open(path, "rb") as handle:
            return stream_sha256(handle)
    except OSError:
        return None
