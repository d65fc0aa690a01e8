"""Which ground truth a DIS or COS score was made against, so that one table column never holds
scores of two different sets of images.

A table column is a run.json entry name: a split's (``DIS-TE1``, ``test``) or a COS column's
(``COD10K``). Two folder datasets each with a split ``test``, or a cleaned copy of DIS-TE1
beside the official one, give entries of one name scored against other masks. So every writer
of a DIS or COS entry (benchmark and baseline modes, ``evaluate.py --pred-dir ... --run``,
``pmgsam.ablate``'s variants, the overlap analysis) records under :data:`GT_KEY` what identifies
its ground truth (:func:`mask_record`, :func:`coco_record`):

* ``fingerprint``: a content fingerprint that survives copying the data elsewhere (no path or
  time in it). DIS: every GT mask file's stem and bytes; COS: every image's file stem and size
  and its instances' masks (COCO RLE, after :func:`~pmgsam.evaluation.coco_gt.checked_coco_dict`
  made polygons RLE), so a COCO file scored against by a folder row and the GT benchmark mode
  built from the same labels agree. It is the sum, modulo 2**256, of one SHA-256 per image:
  independent of order, and the fingerprint of a set of splits (``DIS-TE1-4``, ``A+B``) is the
  sum of its parts', so a pooled group is checked as a stored one (:func:`pooled_record`);
* ``images``: how many images;
* ``source``: where it was read (a folder or file, for the messages only);
* ``skeletons`` (DIS with HCE): the skeletons HCE was measured against, the sum of one SHA-256
  per GT skeleton file (DIS5K's ``ske/``; its mask's stem and its bytes), where a skeleton
  computed from its mask (no file) adds nothing: HCE scored wholly from computed skeletons
  records :data:`COMPUTED_SKELETONS` (zero), which is the masks' own. HCE is the one column they
  change, and the masks' ``fingerprint`` is kept apart from it: a record without skeletons (an
  older pmgsam's, one scored with ``--no-hce``) stays comparable, and two rows are refused
  only when both record skeletons and they differ (official ``ske/`` files beside skeletons
  computed from the masks among them).

Names plus counts alone would pass two datasets of numbered files, or a cleaned copy of a split
whose masks were redrawn under the same names; the masks are read whole anyway by the scoring.
A mask re-saved in another format (same pixels, other bytes) counts as other ground truth.
For a baseline run with ``--limit`` it is the whole split's GT (its row is marked as a subset).

:func:`refuse_mixed_ground_truth` refuses a table whose column holds entries of two
fingerprints, naming the column, the rows and both sources; entries without the record (written
by an older pmgsam, or by hand) table as before, noted where other rows of their column have it
(:func:`unrecorded_notes`).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from pmgsam.evaluation.map_pairs import EvaluationInputError
from pmgsam.utils.command_names import command_name

#: The key of a DIS or COS run.json entry recording its ground truth.
GT_KEY = "ground_truth"
_MODULUS = 2**256
#: The ``skeletons`` record of HCE scored against skeletons all computed from the GT masks.
COMPUTED_SKELETONS = f"{0:064x}"
_CHUNK = 1 << 20


def _file_digest(stem: str, path: Path) -> int:
    # os.fsencode: UTF-8, and a name that is not UTF-8 (held as surrogates) as its bytes.
    digest = hashlib.sha256(os.fsencode(stem) + b"\0")
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return int.from_bytes(digest.digest(), "big")


def _hex(total: int) -> str:
    return f"{total % _MODULUS:064x}"


def _common_folder(paths: Sequence[Path]) -> str:
    try:
        return os.path.commonpath([str(Path(p).resolve().parent) for p in paths])
    except ValueError:  # paths on different drives: name the first one's
        return str(Path(paths[0]).resolve().parent)


def mask_record(
    mask_paths: Sequence[Path], skeleton_paths: Optional[Sequence[Optional[Path]]] = None
) -> Dict[str, Any]:
    """The :data:`GT_KEY` record of DIS scores made against the GT masks ``mask_paths``
    (keyed by file stem, as maps pair with them) and, for HCE, the skeleton files
    ``skeleton_paths`` (one per mask, None where HCE computes it from the mask; the argument
    None: no HCE, or skeletons of unknown source, recorded as none)."""
    total = sum(_file_digest(Path(p).stem, Path(p)) for p in mask_paths)
    source = _common_folder(mask_paths) if mask_paths else ""
    record = {"fingerprint": _hex(total), "images": len(mask_paths), "source": source}
    if skeleton_paths is not None:
        skeletons = [(Path(m).stem, Path(s)) for m, s in zip(mask_paths, skeleton_paths) if s]
        record["skeletons"] = _hex(sum(_file_digest(stem, s) for stem, s in skeletons))
    return record


def dataset_record(*datasets: Any, skeletons: bool = False) -> Dict[str, Any]:
    """:func:`mask_record` of the GT masks of ``datasets`` (a split, or the parts of a set of
    splits scored as one), with their skeleton files when ``skeletons`` (HCE was scored)."""
    masks = [Path(p) for ds in datasets for p in ds.mask_paths]
    skes = [
        s
        for ds in datasets
        for s in getattr(ds, "skeleton_paths", None) or [None] * len(ds.mask_paths)
    ]
    return mask_record(masks, skes if skeletons else None)


def coco_record(gt: Any, source: str) -> Dict[str, Any]:
    """The :data:`GT_KEY` record of COS scores made against the COCO GT ``gt`` (a dict or a
    file), read from ``source``."""
    from pmgsam.data.coco_annotations import read_coco_json
    from pmgsam.evaluation.coco_gt import checked_coco_dict

    where = f"COCO GT '{source}'"
    data = gt if isinstance(gt, Mapping) else read_coco_json(Path(gt), where)
    data = checked_coco_dict(data, where)
    masks: Dict[int, List[str]] = {}
    for ann in data["annotations"]:
        counts = ann["segmentation"]["counts"]
        counts = counts.decode("ascii") if isinstance(counts, bytes) else str(counts)
        masks.setdefault(int(ann["image_id"]), []).append(f"{int(ann['iscrowd'])}:{counts}")
    total = 0
    for image in data["images"]:
        instances = "\n".join(sorted(masks.get(int(image["id"]), [])))
        text = f"{Path(image['file_name']).stem}\0{image['height']}x{image['width']}\0{instances}"
        total += int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest(), "big")
    return {"fingerprint": _hex(total), "images": len(data["images"]), "source": str(source)}


def benchmark_records(
    dataset: str,
    splits: Iterable[str],
    datasets: Mapping[str, Any],
    cos_gt: Mapping[str, Any],
    dis: Mapping[str, Dict[str, Any]],
    cos: Mapping[str, Dict[str, Any]],
) -> None:
    """Add the :data:`GT_KEY` record to each entry benchmark mode scored (``dis`` and ``cos``
    by entry name; a split that was not scored has none): a DIS5K set of splits records its
    parts' masks together, a COS split the COCO GT it was scored against (``cos_gt`` by split),
    as does a folder dataset's split scored by instance AP too (its ``cos`` entry, of the
    split's name, beside its DIS one): one column never holds two GTs' AP."""
    from pmgsam.evaluation.combined import combined_name, is_combined, split_parts
    from pmgsam.evaluation.tables import COS_NAMES, cos_entry

    for split in splits:
        name = cos_entry(dataset, split)
        # COD10K / NC4K: every split scored has its GT; a folder dataset's, with its labels
        if name in cos and (dataset in COS_NAMES or split in cos_gt):
            source = datasets[split].instances.record().get("path") or split
            cos[name][GT_KEY] = coco_record(cos_gt[split], source)
        if dataset in COS_NAMES:
            continue
        combined = dataset == "dis5k" and is_combined(split)
        name = combined_name(split) if combined else split
        if name in dis:
            parts = split_parts(split) if combined else [split]
            hce = dis[name].get("HCE") is not None
            dis[name][GT_KEY] = dataset_record(*(datasets[p] for p in parts), skeletons=hce)


def recorded(entry: object) -> Optional[Mapping[str, Any]]:
    """An entry's :data:`GT_KEY` record, None when it has none (or a malformed one)."""
    record = entry.get(GT_KEY) if isinstance(entry, Mapping) else None
    if isinstance(record, Mapping) and isinstance(record.get("fingerprint"), str):
        return record
    return None


def _image_count(record: Mapping[str, Any]) -> Optional[int]:
    try:
        return int(record.get("images") or 0)
    except (TypeError, ValueError):
        return None


def pooled_record(parts: Sequence[Mapping[str, Any]]) -> Optional[Dict[str, Any]]:
    """The record of a group pooled from ``parts`` (entries): the sum of their fingerprints,
    as a set of those splits scored as one records; None unless every part has one."""
    records = [recorded(p) for p in parts]
    if not records or any(r is None for r in records):
        return None
    try:
        total = sum(int(str(r["fingerprint"]), 16) for r in records)  # type: ignore[index]
    except ValueError:  # a fingerprint written by hand: nothing to check the group with
        return None
    # The count is for the messages only: one edited by hand must not drop the check.
    counts = [_image_count(r) for r in records]  # type: ignore[arg-type]
    images = None if None in counts else sum(counts)  # type: ignore[arg-type]
    sources = " + ".join(str(r.get("source")) for r in records)  # type: ignore[union-attr]
    pooled = {"fingerprint": _hex(total), "images": images, "source": sources}
    skeletons = [r.get("skeletons") for r in records]  # type: ignore[union-attr]
    if all(isinstance(s, str) for s in skeletons):
        try:
            pooled["skeletons"] = _hex(sum(int(str(s), 16) for s in skeletons))
        except ValueError:
            pass
    return pooled


def _describe(record: Mapping[str, Any]) -> str:
    return f"{record.get('images')} images from '{record.get('source')}'"


def _describe_skeletons(record: Mapping[str, Any]) -> str:
    if record.get("skeletons") == COMPUTED_SKELETONS:
        return f"{_describe(record)}, skeletons computed from the masks"
    return f"{_describe(record)}, GT skeleton files"


def refuse_mixed_ground_truth(
    section: str,
    methods: Sequence[str],
    entries: Sequence[Mapping[str, object]],
    groups: Sequence[str],
) -> None:
    """Refuse the table when a shown group holds scores of two ground truths (:data:`GT_KEY`),
    naming the column, two such rows and their sources. ``entries``: per row (``methods``),
    {group: its scores}, pooled groups already pooled."""
    for group in groups:
        first: Optional[Tuple[str, Mapping[str, Any]]] = None
        for method, row in zip(methods, entries):
            record = recorded(row.get(group))
            if record is None:
                continue
            if first is None:
                first = (method, record)
                continue
            if record["fingerprint"] != first[1]["fingerprint"]:
                changed = (
                    " (one folder: its masks changed between the two scorings)"
                    if record.get("source") == first[1].get("source")
                    else ""
                )
                raise EvaluationInputError(
                    f"{section.upper()} column '{group}': rows '{first[0]}' and '{method}' were "
                    f"scored against different ground truth ({first[0]}: "
                    f"{_describe(first[1])}; {method}: {_describe(record)}){changed}, so "
                    "their scores cannot share one column. Report each dataset in a call of "
                    "its own (another --out), or score one row's maps again under a column "
                    f"name of its own: {command_name('evaluate')} --pred-dir <run>/pred/<split> "
                    "--gt-dir <its GT> --run NEW_DIR --split NEW_NAME --method <row> (COS: "
                    "--task cos --gt-json)"
                )
        _refuse_other_skeletons(group, methods, entries)


def _refuse_other_skeletons(
    group: str, methods: Sequence[str], entries: Sequence[Mapping[str, object]]
) -> None:
    """Refuse a group whose rows (of one set of masks) recorded different skeleton files:
    their HCE was measured against other skeletons."""
    first: Optional[Tuple[str, Mapping[str, Any]]] = None
    for method, row in zip(methods, entries):
        record = recorded(row.get(group))
        if record is None or not isinstance(record.get("skeletons"), str):
            continue
        if first is None:
            first = (method, record)
        elif record["skeletons"] != first[1]["skeletons"]:
            raise EvaluationInputError(
                f"DIS column '{group}': rows '{first[0]}' and '{method}' were scored against "
                "the same GT masks but different GT skeletons, which HCE is measured against "
                f"({first[0]}: {_describe_skeletons(first[1])}; {method}: "
                f"{_describe_skeletons(record)}), so their HCE cannot share one column. Score "
                "both with the same skeletons (the split's ske/ folder, "
                f"{command_name('evaluate')} --ske-dir), or report them in calls of their own "
                "(another --out)"
            )


def unrecorded_notes(
    methods: Sequence[str], entries: Sequence[Mapping[str, object]], groups: Sequence[str]
) -> List[str]:
    """One note per shown group where some rows record their ground truth and others (written
    by an older pmgsam) do not: those are not checked to be of the same images. Then one note
    more says how such a row gains the record: someone who upgraded pmgsam in the middle of a
    project has no other way to learn that scoring again (predicting nothing) makes the check."""
    notes = []
    for group in groups:
        scored = [(m, row.get(group)) for m, row in zip(methods, entries) if row.get(group)]
        unknown = [m for m, entry in scored if recorded(entry) is None]
        if unknown and len(unknown) < len(scored):
            notes.append(
                f"{group}: the ground truth of {', '.join(unknown)} is not recorded (scored by "
                "an older pmgsam, or its GT was unreadable when recorded), so it is not checked "
                "to be the same images as the others'."
            )
    if notes:
        notes.append(
            "Scoring such a row again with this pmgsam records its ground truth: benchmark or "
            "baseline mode's command again with --skip-existing (maps of the same weights and "
            "settings are kept), a --pred-dir row's command again, pmgsam.ablate --evaluate "
            "for an ablation variant."
        )
    return notes
