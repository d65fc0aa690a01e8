"""Which instance labels each COS row was scored against, for the COS table's notes.

A COS score's ``instance_labels`` (run.json, :meth:`~pmgsam.data.instance_labels.InstanceSource.
record`) says where its GT instances were read: a COCO JSON file (COD10K's
``CAM_Instance_<Split>.json``) or instance-map PNGs (NC4K, or COD10K's ``GT_Instance`` read as a
fallback without the JSON). The two are drawn separately and give other AP on the same
predictions, so rows of one column scored against different kinds are not comparable: the
table then names which rows used which, and marks no best there.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import Dict, List, Mapping, Sequence, Tuple

#: The source of a score written before pmgsam recorded it, or by another tool.
NOT_RECORDED = "not recorded"
KIND_TEXT = {"json": "COCO file", "png": "instance-map PNGs in", "none": "no instance labels"}


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
    text = " ".join([KIND_TEXT.get(kind, kind), *(f"'{n}'" for n in names)])
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
