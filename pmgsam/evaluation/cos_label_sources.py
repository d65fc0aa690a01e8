"""Which instance labels each COS row was scored against, for the COS table's notes.

A COS score's ``instance_labels`` (run.json, :meth:`~pmgsam.data.instance_labels.InstanceSource.
record`) says where its GT instances were read: a COCO JSON file (COD10K's
``CAM_Instance_<Split>.json``) or instance-map PNGs (NC4K, or COD10K's ``GT_Instance`` read as a
fallback without the JSON). The two are drawn separately and give other AP on the same
predictions, so rows of one column scored against different kinds are not comparable: the
table then names which rows used which, and marks no best there.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePath
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from pmgsam.utils.io import read_user_text

#: The source of a score written before pmgsam recorded it, or by another tool.
NOT_RECORDED = "not recorded"
KIND_TEXT = {"json": "COCO file", "png": "instance-map PNGs in", "none": "no instance labels"}
#: How a COCO file pmgsam built from a split's instance labels names itself
#: (``info.description``, then the dataset and split): benchmark mode's ``<split>.gt.json``
#: and ``export_cos_gt``'s file (:func:`~pmgsam.data.instance_labels.coco_ground_truth`).
PMGSAM_GT = "pmgsam ground truth: "
#: Datasets whose instance labels exist only as instance-map PNGs.
PNG_ONLY_DATASETS = ("nc4k", "folder")


def coco_file_labels(gt_json: str | Path) -> Tuple[Dict[str, str], Optional[str]]:
    """(``instance_labels`` record, warning or None) of a COS score made against the COCO file
    ``gt_json`` (``evaluate.py --task cos --run``).

    A file pmgsam did not build holds instances of its own: ``json``, that file (COD10K's
    ``CAM_Instance_<Split>.json``, as benchmark mode records it). One it built records its
    source (``info.instance_labels``): its kind (and why a fallback was used), with
    ``coco_file`` naming the file the row read them from (``path`` empty): the instances and
    image ids a benchmark run reads from that source, the same AP. A file written before
    pmgsam recorded the source names its split's dataset: NC4K's and a folder dataset's labels
    are instance-map PNGs, so ``png``; a COD10K split's may be its JSON's or its
    ``GT_Instance`` PNGs', which such a file does not say: recorded without a kind, with the
    warning."""
    path = str(Path(gt_json).resolve())
    try:
        info = json.loads(read_user_text(gt_json)).get("info")  # Notepad's BOM too
    except (OSError, ValueError, AttributeError):  # scored already: not expected
        info = None
    described = info.get("description") if isinstance(info, Mapping) else None
    if not isinstance(described, str) or not described.startswith(PMGSAM_GT):
        return {"kind": "json", "path": path}, None
    source = info.get("instance_labels")  # a mapping: it holds the description
    if isinstance(source, Mapping) and source.get("kind") in ("json", "png"):
        record = {"kind": str(source["kind"]), "path": "", "coco_file": path}
        fallback = source.get("fallback")
        return ({**record, "fallback": fallback} if isinstance(fallback, str) else record), None
    dataset = described[len(PMGSAM_GT) :].split(" ")[0]
    if dataset in PNG_ONLY_DATASETS:
        return {"kind": "png", "path": "", "coco_file": path}, None
    return {"path": "", "coco_file": path}, (
        f"--gt-json '{gt_json}' is pmgsam's COCO file of '{described[len(PMGSAM_GT) :]}', "
        "which does not say whether its instances are the split's JSON file's or its "
        "instance-map PNGs' (they give other AP): the row records no instance-label source; "
        "score against the split's COCO file itself (COD10K's CAM_Instance_<Split>.json) to "
        "record it"
    )


def label_kind(scores: object) -> str:
    """The kind of instance labels a COS score was made against (:data:`NOT_RECORDED`
    when it names none)."""
    record = scores.get("instance_labels") if isinstance(scores, Mapping) else None
    kind = record.get("kind") if isinstance(record, Mapping) else None
    return NOT_RECORDED if kind is None else str(kind)


def _describe(kind: str, entries: Sequence[Mapping]) -> str:
    """``kind`` in words with the file or folder names its rows read (paths differ between
    machines; the names tell a COCO file from a fallback folder)."""
    if kind == NOT_RECORDED:
        return "source not recorded"
    records = [e["instance_labels"] for e in entries]
    names = sorted({PurePath(str(r["path"])).name for r in records if r.get("path")})
    # A folder-scored row's instances, read from pmgsam's COCO export of its source.
    files = sorted({PurePath(str(r["coco_file"])).name for r in records if r.get("coco_file")})
    quoted = [f"'{n}'" for n in names] + [f"'{n}' (pmgsam's COCO export)" for n in files]
    text = " ".join([KIND_TEXT.get(kind, kind), *quoted])
    return text + (" (fallback)" if any(r.get("fallback") for r in records) else "")


def label_source_notes(
    runs: Sequence[Mapping], datasets: Sequence[str]
) -> Tuple[List[str], List[str]]:
    """(notes, unranked datasets) for the COS table's shown ``datasets``.

    One note per dataset whose rows were not all scored against the same kind of instance
    labels, naming which rows used which (nothing where all agree, or none recorded it). Such
    a dataset is unranked when two recorded kinds differ; a row that did not record its source
    is named, but cannot tell that its labels differ.
    """
    notes: List[str] = []
    unranked: List[str] = []
    for dataset in datasets:
        by_kind: Dict[str, List[Tuple[str, Mapping]]] = {}
        for run in runs:
            scores = (run.get("cos") or {}).get(dataset)
            if scores is not None:
                by_kind.setdefault(label_kind(scores), []).append((str(run["method"]), scores))
        if len(by_kind) < 2:
            continue
        known = len(set(by_kind) - {NOT_RECORDED})
        if known > 1:
            unranked.append(dataset)
        parts = [
            f"{_describe(kind, [s for _, s in rows])}: {', '.join(m for m, _ in rows)}"
            for kind, rows in sorted(by_kind.items())
        ]
        consequence = (
            "AP not comparable across them, no best marked"
            if known > 1
            else "AP comparable only if they are the same"
        )
        notes.append(
            f"{dataset} rows were scored against different instance labels ({consequence}): "
            f"{'; '.join(parts)}."
        )
    return notes, unranked
