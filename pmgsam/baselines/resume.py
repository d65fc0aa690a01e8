"""Resuming a stopped baseline run (``evaluate.py --baseline ... --skip-existing``).

A baseline's maps are kept by the same rules as PMG-SAM's (:func:`pmgsam.utils.outputs.
finished_maps`): the folder's manifest records what made them (:func:`baseline_producer`: the
checkpoint's SHA-256, the model input side and every setting that changes a map) and which files
each map was made from (:func:`baseline_sources`); a folder of another producer's maps is refused
naming both.

A map alone does not hold all a row needs: COS rows score each image's masks as COCO instances,
and every row counts masks, empty GTs and images without a mask. So each predicted image also
gets one line in :data:`RECORDS` (a hidden JSON-lines file beside the maps, listed in the
manifest): its counts, whether it was prompted, and its COCO instances. A resumed run keeps an
image only when both its map and its line are there, so its results, counts and scores are a
straight run's.

The file is strict JSON (jq and other languages read it): an instance score that is NaN or
infinite (the model's predicted IoU, :mod:`pmgsam.baselines.row_scores` ranks it last) is kept
as the string ``"NaN"``, ``"Infinity"`` or ``"-Infinity"`` and read back as that float, as is
the bare ``NaN`` token older files hold.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Union

from pmgsam.data.io import MASK_EXTENSIONS
from pmgsam.utils.io import write_text_atomic
from pmgsam.utils.map_producers import file_identity

RECORDS = ".pmgsam-baseline-records.jsonl"
#: What a baseline runs at: fp32 on every device (what its maps' manifest records as ``amp``).
BASELINE_AMP = "none"
PathLike = Union[str, Path]


def baseline_producer(
    checkpoint: PathLike, sha256: str, image_size: int, settings: Dict[str, Any]
) -> Dict[str, Any]:
    """What makes a baseline's maps, in the form of
    :func:`pmgsam.engine.predictor.map_producer` (what the manifests record and
    :func:`~pmgsam.utils.outputs.finished_maps` compares): the checkpoint and its ``sha256``,
    no frozen branches, the model input side ``image_size``, full precision, and ``settings``
    (baseline, model type and what changes the maps: generator settings, ``--reduce``)."""
    return {
        "weights": str(Path(checkpoint).resolve()),
        "weights_sha256": sha256,
        "frozen_sha256": None,
        "image_size": image_size,
        "amp": BASELINE_AMP,
        "maps": "final",
        "settings": settings,
    }


def baseline_sources(dataset: Any, count: int, reads_gt: bool) -> Dict[str, Any]:
    """``{<name>.png: identity}`` of the first ``count`` images of ``dataset``: the image file's
    (:func:`~pmgsam.utils.map_producers.file_identity`), with the GT mask's and the instance labels'
    when the map is made from the GT too (``reads_gt``: box prompts, the oracle reduction).

    Instance labels in a COCO file: that file's identity. In a folder of instance maps: the
    identity of the image's own map in it (the only file its prompts come from), since a
    folder's own size and mtime do not change when a file in it is edited in place. (Sources
    recorded by an older pmgsam held the folder's identity: those maps are predicted again.)"""
    instances = getattr(getattr(dataset, "instances", None), "path", None)
    names = dataset.names[:count]
    instance_files = _instance_files(Path(instances), names) if instances is not None else {}
    sources = {}
    for i, name in enumerate(names):
        image = file_identity(dataset.image_paths[i])
        if reads_gt:
            gt = [file_identity(dataset.mask_paths[i])]
            gt += [file_identity(instance_files[name])] if instances is not None else []
            sources[f"{name}.png"] = [image, *gt]
        else:
            sources[f"{name}.png"] = image
    return sources


def _instance_files(instances: Path, names: List[str]) -> Dict[str, Path]:
    """``{name: the file holding its instance labels}``: ``instances`` itself (a COCO file), or
    in a folder of instance maps the map of that stem (``<name>.png`` when there is none: its
    identity then says it is missing, and building the GT names it)."""
    if not instances.is_dir():
        return dict.fromkeys(names, instances)
    # As pmgsam.data.io.list_files pairs them, without its warnings and errors (the GT
    # build raises those): any mask extension, any case; hidden files passed over.
    by_stem = {
        path.stem: path
        for path in sorted(instances.iterdir())
        if not path.name.startswith(".") and path.suffix.lower() in MASK_EXTENSIONS
    }
    return {name: by_stem.get(name, instances / f"{name}.png") for name in names}


def read_records(
    pred_dir: PathLike, names: Iterable[str], sources: Dict[str, Any]
) -> Dict[str, Dict[str, Any]]:
    """``{map name: record}`` of :data:`RECORDS` in ``pred_dir`` for the maps ``names``, made
    from the files ``sources`` gives; a line a killed run left unfinished, or one not of a
    record's shape, is passed over (its image is predicted again)."""
    path = Path(pred_dir) / RECORDS
    wanted, found = set(names), {}
    if not path.is_file():
        return found
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = _read_scores(json.loads(line))
            name = record.get("name")
            kept = name in wanted and record.get("source") == sources.get(name)
        except (ValueError, TypeError, AttributeError):  # torn, or not a record's shape
            continue  # (a name that is not text, a list say, is unhashable: TypeError)
        if kept:
            found[name] = record
    return found


def write_records(pred_dir: PathLike, records: Dict[str, Dict[str, Any]]) -> None:
    """Replace :data:`RECORDS` in ``pred_dir`` by ``records`` (those of the kept maps), whole."""
    write_text_atomic(Path(pred_dir) / RECORDS, "".join(_line(r) for r in records.values()))


def append_record(pred_dir: PathLike, record: Dict[str, Any]) -> None:
    """Add one image's record (written after its map: a map without one is predicted again)."""
    with open(Path(pred_dir) / RECORDS, "a", encoding="utf-8") as f:
        f.write(_line(record))


def _line(record: Dict[str, Any]) -> str:
    """``record`` as one line of strict JSON: a non-finite instance score as its string."""
    instances = [
        dict(i, score=_non_finite_text(i["score"]))
        if isinstance(i.get("score"), float) and not math.isfinite(i["score"])
        else i
        for i in record.get("instances", [])
    ]
    return json.dumps(dict(record, instances=instances), allow_nan=False) + "\n"


def _non_finite_text(score: float) -> str:
    """The spelling Python's ``float`` reads back (and Python's json wrote bare)."""
    if math.isnan(score):
        return "NaN"
    return "Infinity" if score > 0 else "-Infinity"


def _read_scores(record: Dict[str, Any]) -> Dict[str, Any]:
    """``record`` (a parsed line) with each instance score a float again (:func:`_line`'s
    strings; an older file's bare ``NaN`` is one already); ValueError for another string."""
    instances = record.get("instances", [])
    for instance in instances:
        if isinstance(instance.get("score"), str):
            instance["score"] = float(instance["score"])
    return record


def image_record(
    name: str,
    source: Any,
    counts: Dict[str, int],
    prompted: bool,
    instances: Optional[list] = None,
) -> Dict[str, Any]:
    """One line of :data:`RECORDS`: the map's ``name``, its ``source`` files' identity, the
    image's ``counts``, whether the model was prompted, and its COCO ``instances``."""
    return {
        "name": name,
        "source": source,
        "counts": counts,
        "prompted": prompted,
        "instances": instances or [],
    }
