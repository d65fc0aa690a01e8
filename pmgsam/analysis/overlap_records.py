"""What ground truth the overlap analysis's AP entries were scored against
(:mod:`pmgsam.evaluation.table_gt`): the full set's entry shares its COS column (``COD10K``)
with benchmark, baseline and ``--pred-dir`` rows, and the subset's (``COD10K overlap``) with
other runs' subsets, which another rule, ``--touch-distance`` or GT file makes of other images.
So both record theirs, and the tables refuse a column of two."""

from __future__ import annotations

import warnings
from typing import Any, Dict, Mapping

from pmgsam.evaluation.table_gt import GT_KEY, coco_record, recorded


def record_ground_truth(
    cos: Dict[str, Dict[str, Any]],
    name: str,
    data: Mapping[str, Any],
    subset: Mapping[str, Any],
    source: str,
    run_entry: object = None,
) -> None:
    """Add the :data:`GT_KEY` record to the full set's entry ``cos[name]`` (scored against
    ``data``, read from ``source``) and to the subset's ``cos["<name> overlap"]`` (``subset``,
    its source named after the set's, not after the folder it is written to). ``run_entry``:
    --run's own full-set entry, whose recorded GT, when it is not ``data``, is warned of: the
    subset is then of other images than that AP's."""
    full = coco_record(data, source)
    kept = recorded(run_entry)
    if kept is not None and kept["fingerprint"] != full["fingerprint"]:
        warnings.warn(
            f"the ground truth '{source}' ({full['images']} images) is not the one --run's "
            f"{name} AP was scored against ({kept.get('images')} images from "
            f"'{kept.get('source')}'): its overlap subset is drawn from other images than "
            "that AP's; give that GT (--gt-json, or the config it was scored with)",
            stacklevel=3,
        )
    if name in cos and recorded(cos[name]) is None:
        cos[name][GT_KEY] = full
    if f"{name} overlap" in cos:
        cos[f"{name} overlap"][GT_KEY] = coco_record(subset, f"overlap subset of {source}")
