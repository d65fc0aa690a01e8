"""Scores of a baseline row's split: DIS metrics of its maps, COCO mask AP of its instances.

Written atomically to ``<out>/metrics/<split>.json`` (COS: with the COCO results in
``<split>.results.json`` and the GT of the predicted images in ``<split>.gt.json``; a folder
dataset's instance AP, beside its DIS metrics, in ``<split>.cos.json``, ``.cos.results.json``
and ``.cos.gt.json``);
``--limit`` runs are marked as part of the split (:func:`subset_mark`).

An instance whose score (the model's predicted IoU) is NaN or infinite is kept and ranked last,
with one :class:`NonFiniteScoreWarning` naming the images and instances: the COS protocol submits
every predicted instance, and COCOeval ranks them by score, which a NaN leaves unordered (and
strict JSON cannot hold). Its score becomes one below the lowest finite score of the split, in
the results file too; the scores record how many (``non_finite_scores``).
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from pmgsam.baselines.base import Baseline
from pmgsam.utils.io import write_text_atomic
from pmgsam.utils.messages import preview


class NonFiniteScoreWarning(UserWarning):
    """COCO instances whose score was NaN or infinite were ranked last; the message names them."""


def score_predicted_instances(
    baseline: Baseline,
    gt_images: Any,
    image_ids: List[int],
    results: List[Dict[str, Any]],
    out_dir: Path,
    summary: Dict[str, Any],
    stem: Optional[str] = None,
) -> Dict[str, Any]:
    """Write the GT of the predicted images to ``<stem>.gt.json`` and score ``results``
    against it: ``{"gt_json": its path, "cos": the scores}`` for ``summary``. ``stem``: the
    scores' file name in ``metrics/`` without ``.json``, the split's by default (a folder
    dataset's ``<split>.cos``: its ``<split>.json`` holds the DIS metrics)."""
    split = summary["split"]
    stem = stem or split
    # With --limit, AP is over the predicted images only: the GT keeps just those.
    gt_subset = gt_images.subset(image_ids)
    gt_json = out_dir / "metrics" / f"{stem}.gt.json"
    write_text_atomic(gt_json, json.dumps(gt_subset))
    source = (
        "one GT-instance box per instance, mask > 0.5, score = predicted IoU"
        if baseline.prompt == "box"
        else f"{baseline.mode} masks as instances, score = predicted IoU"
    )
    files = {im["id"]: im["file_name"] for im in gt_subset["images"]}
    results, extra = rank_non_finite_last(results, files, split)
    extra.update(subset_mark(summary))
    cos = score_instances(out_dir, stem, gt_subset, results, source, extra)
    return {"gt_json": str(gt_json), "cos": cos}


def rank_non_finite_last(
    results: List[Dict[str, Any]], files: Dict[int, str], split: str
) -> Tuple[List[Dict[str, Any]], Dict[str, Any]]:
    """``results`` with each NaN or infinite score set one below the lowest finite one (ranked
    last; -1 when none is finite), warning once naming each (``files``: image id -> file name),
    and ``{"non_finite_scores": how many}`` for the scores file when there were any."""
    bad = [i for i, r in enumerate(results) if not math.isfinite(r["score"])]
    if not bad:
        return results, {}
    finite = [r["score"] for r in results if math.isfinite(r["score"])]
    last = min(finite, default=0.0) - 1.0
    seen: Dict[int, int] = {}
    where = []
    for r in results:
        k = seen[r["image_id"]] = seen.get(r["image_id"], -1) + 1
        if not math.isfinite(r["score"]):
            where.append(f"{files.get(r['image_id'], r['image_id'])!s} instance {k} ({r['score']})")
    warnings.warn(
        f"{len(bad)} COCO instance(s) of {split} had a NaN or infinite score (predicted IoU), "
        f"ranked last with score {last:g}: {preview(where, 5)}; the model failed there (an "
        "overflow under mixed precision, or weights holding NaN)",
        NonFiniteScoreWarning,
        stacklevel=3,
    )
    out = [r if math.isfinite(r["score"]) else dict(r, score=last) for r in results]
    return out, {"non_finite_scores": len(bad)}


def score_instances(
    out_dir: Path,
    stem: str,
    gt: Dict[str, Any],
    results: List[Dict[str, Any]],
    source: str,
    extra: Optional[Dict[str, Any]] = None,
) -> Dict[str, Any]:
    """Write the COCO results JSON and return their COCO mask AP against ``gt`` (with
    ``extra`` entries, also in the written scores). ``stem``: the scores' file name in
    ``metrics/`` without ``.json``."""
    from pmgsam.evaluation.coco_gt import load_coco
    from pmgsam.evaluation.instances import coco_map

    metrics = out_dir / "metrics"
    write_text_atomic(metrics / f"{stem}.results.json", json.dumps(results))
    scores = coco_map(load_coco(gt), results)
    scores.update(
        protocol="all",
        # Instances of masks predicted at the image's size: nothing was resized to score them.
        resize_pred=False,
        source=source,
        num_images=len(gt["images"]),
        # COCOeval scores crowd regions as "ignore", not as instances to find
        num_gt_instances=sum(1 for a in gt["annotations"] if not a.get("iscrowd", 0)),
        num_results=len(results),
        results_file=f"{stem}.results.json",
        **(extra or {}),
    )
    write_text_atomic(metrics / f"{stem}.json", json.dumps(scores, indent=2) + "\n")
    return scores


def score_dis_maps(
    dataset: Any, summary: Dict[str, Any], out_dir: Path, workers: int = 1
) -> Dict[str, Any]:
    """DIS metrics of the predicted maps (the first ``num_images`` of the split)."""
    from pmgsam.evaluation.dis_results import write_dis_results
    from pmgsam.evaluation.scoring import evaluate_dis_pairs

    split, pred_dir = summary["split"], Path(summary["pred_dir"])
    out = out_dir / "metrics" / f"{split}.json"
    skes = dataset.skeleton_paths or [None] * len(dataset)
    names = dataset.names[: summary["num_images"]]
    pairs = [(s, pred_dir / f"{s}.png", g, k) for s, g, k in zip(names, dataset.mask_paths, skes)]
    # Baseline mode has no --resize-pred: its maps are written at their image's size.
    metrics, per_image = evaluate_dis_pairs(
        pairs, workers=workers, progress=False, resize_option=None
    )
    write_dis_results(out, metrics, per_image, {"split": split, **subset_mark(summary)})
    return json.loads(out.read_text(encoding="utf-8"))


def subset_mark(summary: Dict[str, Any]) -> Dict[str, str]:
    """``{"subset": ...}`` for scores of only part of a split (``--limit``), which the tables
    note beside the row, else nothing."""
    n, total = summary["num_images"], summary["num_dataset_images"]
    return {"subset": f"first {n} of {total} images (--limit)"} if n < total else {}
