"""The ground truth a variant's kept scores were made against, for
:mod:`pmgsam.ablation.scoring`: whether they may be kept beside the GT found now.

The data digest of ``scored_with`` compares file names and sizes, so a GT mask (or skeleton)
redrawn under its name at the same size passes it; the scores file's ``ground_truth`` record
(:mod:`pmgsam.evaluation.table_gt`) tells such a mask apart, and the variant's run.json entry
must name the GT its scores were made against. Scores of a pmgsam older than that record are
scored again from their kept maps (nothing predicted) to record it, except in a ``--no-hce``
call on scores with HCE: scoring again there would drop their HCE column, so they are kept,
without a record (tabled as an older pmgsam's, noted where other rows record theirs), and a
call without ``--no-hce`` records it.

HCE scores whose record names no skeletons (a pmgsam older than the skeletons record, or, before
:data:`~pmgsam.evaluation.table_gt.COMPUTED_SKELETONS`, skeletons computed from the masks) are
kept when no skeleton file is found now: the data digest, which passed, names each skeleton
file, so there were none then either, and their run.json entry records the computed skeletons
(:func:`kept_record`). Found now, files may have been redrawn since: scored again, except in a
``--no-hce`` call, which keeps them without a skeletons record, as above.

A DIS5K variant's row holds the entries of one data root: :func:`check_same_data_root`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

logger = logging.getLogger("pmgsam.ablate")


def entry_gt(gt: Mapping[str, Any], summary: Mapping[str, Any]) -> Dict[str, Any]:
    """The GT record ``gt`` of scores ``summary``: its skeletons only with HCE."""
    hce = summary.get("HCE") is not None
    return {k: v for k, v in gt.items() if hce or k != "skeletons"}


def other_ground_truth(
    variant: str, kept: Mapping[str, Any], gt: Mapping[str, Any], no_hce: bool
) -> Optional[str]:
    """Why scores ``kept`` of ``variant`` are scored again against ``gt`` (module doc): their
    recorded masks or, with HCE, skeletons differ, or they record none; None to keep them."""
    from pmgsam.evaluation.table_gt import COMPUTED_SKELETONS, recorded

    then = recorded(kept)
    if then is None:
        if no_hce and kept.get("HCE") is not None:
            logger.info(
                "%s: its scores do not record the ground truth they were scored against "
                "(scored by an older pmgsam): kept without that record, since scoring them "
                "again with --no-hce would drop their HCE; a call without --no-hce scores its "
                "kept maps again to record it",
                variant,
            )
            return None
        return (
            "its scores do not record the ground truth they were scored against (scored by an "
            "older pmgsam; its kept maps are scored, not predicted, unless some are gone)"
        )
    if then["fingerprint"] != gt["fingerprint"]:
        return "its GT masks changed since it was scored (same names and sizes, other content)"
    if kept.get("HCE") is None:
        return None
    if "skeletons" not in then:
        if gt.get("skeletons") == COMPUTED_SKELETONS or no_hce:
            return None  # kept_record: the computed ones recorded, or (--no-hce) none
        return (
            "its scores do not record the GT skeletons their HCE was scored against (scored "
            "by an older pmgsam; its kept maps are scored, not predicted, unless some are gone)"
        )
    if then.get("skeletons") != gt.get("skeletons"):
        return "its GT skeletons (HCE) changed since it was scored"
    return None


def kept_record(kept: Mapping[str, Any], gt: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
    """The GT record the run.json entry of scores ``kept`` (kept: :func:`other_ground_truth`
    found no reason to score them again) gets: theirs, None when they have none, gaining the
    computed skeletons where their HCE records none and no skeleton file is found now (module
    doc); ``gt``: the record of the GT found now."""
    from pmgsam.evaluation.table_gt import COMPUTED_SKELETONS, recorded

    then = recorded(kept)
    if then is None:
        return None
    record = dict(then)
    computed = gt.get("skeletons") == COMPUTED_SKELETONS
    if kept.get("HCE") is not None and "skeletons" not in record and computed:
        record["skeletons"] = COMPUTED_SKELETONS
    return record


def check_same_data_root(
    variant: str, run_dir: Path, data: Any, splits: str, datasets: Mapping[str, Any]
) -> None:
    """Refuse, before predicting, to add ``splits`` read from ``data.root`` to a variant's row
    holding DIS5K entries read from another root (an earlier call with other ``--splits``):
    as benchmark mode refuses it, its Overall (TE1-4) would pool two copies of DIS5K. Other
    datasets' rows pool nothing, and their DIS entries are named by split, not by the COS
    columns benchmark mode compares: not recorded nor compared."""
    from pmgsam.evaluation.run_data import check_same_data

    if data.dataset != "dis5k":
        return
    way_out = (
        f"Score those splits again with data.root='{data.root}' (pmgsam.ablate --evaluate "
        f"--splits), or delete '{run_dir / 'run.json'}' (its scores stay in "
        f"'{run_dir / 'metrics'}') to start the variant's row anew"
    )
    where = f"variant {variant}'s folder"
    check_same_data(run_dir, "dis5k", [splits], data.root, datasets, {}, where, way_out)
