"""The hidden manifest (:data:`MANIFEST`) by which :mod:`pmgsam.utils.outputs` tells the maps
pmgsam wrote into a folder from the user's files there: its format and the records it keeps,
reading and writing it, the names it lists, and the temporaries of those maps that a killed
run left (see that module for what the records serve).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Set

from pmgsam.utils.io import TMP_MARKER, TMP_SUFFIX, temporary_target, write_text_atomic
from pmgsam.utils.output_paths import PathLike

MANIFEST = ".pmgsam-outputs.json"
MANIFEST_FORMAT = "pmgsam-outputs"
#: The manifest's ``{file name: [size, st_mtime_ns]}`` of the files a finished run wrote
#: (:func:`~pmgsam.utils.outputs.settle_output_dir`; none in manifests of older pmgsam versions).
IDENTITIES = "map_identities"
#: The manifest's ``{file name: SHA-256}`` of the same files, recorded with :data:`IDENTITIES`:
#: a map whose time alone moved (``touch``, a backup tool, ``cp -r``) but whose bytes are the
#: ones written is still the tool's (none in manifests of older pmgsam versions, whose maps
#: are then told apart by size and time alone).
DIGESTS = "map_digests"


def read_manifest(out_dir: PathLike) -> Dict[str, Any]:
    """The manifest of ``out_dir``; empty if none, or unreadable (it then vouches for nothing)."""
    path = Path(out_dir) / MANIFEST
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        return {}
    return data


def write_manifest(out_dir: PathLike, record: Dict[str, Any]) -> None:
    """Replace the manifest of ``out_dir`` with ``record``, atomically (a reader sees the old one
    or the new one, never half of it)."""
    write_text_atomic(Path(out_dir) / MANIFEST, json.dumps(record, indent=0) + "\n")


def written_names(out_dir: PathLike) -> Set[str]:
    """File names that the manifest of ``out_dir`` says this tool wrote (empty if none)."""
    return {str(n) for n in read_manifest(out_dir).get("files", [])}


def stale_map_temporaries(out_dir: PathLike) -> List[Path]:
    """The temporaries (:func:`pmgsam.utils.io.make_temporary`) of this tool's maps (see
    :func:`written_names`) that a run killed while writing left in ``out_dir`` (maps are renamed
    into place whole). A user's hidden file of a similar name is never one of them."""
    out, ours = Path(out_dir), written_names(out_dir)
    if not ours:
        return []
    ours.add(MANIFEST)
    found = out.glob(f".*{TMP_MARKER}*{TMP_SUFFIX}")
    return [p for p in found if temporary_target(p.name) in ours and p.is_file()]


def recorded_identities(record: Dict[str, Any], field: str = IDENTITIES) -> Dict[str, Any]:
    """A copy of ``record``'s :data:`IDENTITIES` (or ``field``: :data:`DIGESTS`); empty if
    none, or not of its shape."""
    identities = record.get(field)
    return dict(identities) if isinstance(identities, dict) else {}
