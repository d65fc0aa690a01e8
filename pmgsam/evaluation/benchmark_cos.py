"""Benchmark mode's COS scoring: the instance AP of a split's maps against its instance labels.

COD10K and NC4K splits are scored by instance AP alone, into ``metrics/<split>.json`` under
their COS table column (``COD10K``, ``NC4K``, ``NC4K all``). A ``folder`` dataset (the user's
own data) is scored by the DIS metrics, and, when ``data.instance_dir`` is set, by instance AP
too: into ``metrics/<split>.cos.json`` (its ``<split>.json`` holds the DIS metrics) under the
split's own name in run.json's ``cos`` section, the COS table column that
``evaluate.py --task cos --run DIR --split <split>`` writes for the same maps. A folder split
without that folder (instance labels drawn for other splits) is scored by the DIS metrics
alone, with a warning naming it. Either way the COCO ground truth is built from the labels
before anything is predicted, written beside the scores (``<stem>.gt.json``), and recorded
in the entry as a fingerprint (:data:`~pmgsam.evaluation.table_gt.GT_KEY`, by
:func:`~pmgsam.evaluation.table_gt.benchmark_records`), so the AP and the
record equal those of exporting it (:mod:`~pmgsam.evaluation.export_cos_gt`) and scoring the
same maps with ``--task cos --gt-json``.
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Tuple

from pmgsam.evaluation.instances import evaluate_cos_folder
from pmgsam.evaluation.scoring import EvaluationInputError
from pmgsam.evaluation.tables import COS_NAMES
from pmgsam.utils.io import write_text_atomic
from pmgsam.utils.messages import preview

#: What a folder split's COS files add to its name in ``metrics/`` (beside its DIS files).
FOLDER_COS_SUFFIX = ".cos"


def cos_scores_file(run_dir: Path, dataset: str, split: str) -> Path:
    """Where ``split``'s COS scores go: ``metrics/<split>.json``, or for a folder dataset,
    whose ``<split>.json`` holds the DIS metrics, ``metrics/<split>.cos.json``."""
    suffix = "" if dataset in COS_NAMES else FOLDER_COS_SUFFIX
    return Path(run_dir) / "metrics" / f"{split}{suffix}.json"


def _cos_splits(args: argparse.Namespace, data_cfg: Any, datasets: Mapping[str, Any]) -> List[str]:
    """The splits scored by instance AP: every split of COD10K / NC4K; a folder dataset's
    splits that have its ``data.instance_dir`` folder, when that is set (the others warned
    of: instance AP of them is left out); none otherwise."""
    if args.dataset in COS_NAMES:
        return list(args.splits)
    if args.dataset != "folder" or not getattr(data_cfg, "instance_dir", None):
        return []
    unlabelled = [s for s in args.splits if datasets[s].instances.kind == "none"]
    if unlabelled:
        reasons = [f"{s}: {datasets[s].instances.reason}" for s in unlabelled]
        warnings.warn(
            f"data.instance_dir is '{data_cfg.instance_dir}', but {len(unlabelled)} split(s) "
            f"have no instance labels, so they are scored with the DIS metrics only, without "
            f"instance AP: {preview(reasons, 5)}",
            stacklevel=3,
        )
    labelled = [s for s in args.splits if s not in unlabelled]
    _refuse_file_clashes(args.splits, labelled)
    return labelled


def _refuse_file_clashes(splits: Iterable[str], labelled: Iterable[str]) -> None:
    """Refuse a folder split whose DIS scores file would be a COS file of another split
    (``x.cos`` beside ``x``): one would replace the other in ``metrics/``."""
    names = set(splits)
    for split in labelled:
        stem = f"{split}{FOLDER_COS_SUFFIX}"
        clash = sorted(names & {stem, f"{stem}.gt", f"{stem}.results"})
        if clash:
            raise EvaluationInputError(
                f"splits '{split}' and '{clash[0]}' would both write metrics/{clash[0]}.json "
                f"(the instance AP of '{split}' goes to metrics/{stem}.json beside its DIS "
                "metrics): score them into separate --output-dir folders, or rename one split"
            )


def cos_ground_truths(
    args: argparse.Namespace, data_cfg: Any, datasets: Mapping[str, Any]
) -> Tuple[Dict[str, Dict[str, Any]], Dict[str, Dict[str, str]]]:
    """(COCO GT by split, ``{split: {name: reason}}`` of the images left out of it) of the
    splits scored by instance AP (:func:`_cos_splits`); nothing for other data. An image whose
    header or instance map cannot be read stops the run, naming every such file, or with
    ``--keep-going`` is left out of its split's GT: that image is then not predicted and the
    split not scored (its AP would silently be over fewer images). Images without an instance
    map stop the run, naming them, with or without it."""
    from pmgsam.data.instance_labels import coco_gt_with_unreadable

    keep_going = getattr(args, "keep_going", False)
    cos_gt, left_out = {}, {}
    for split in _cos_splits(args, data_cfg, datasets):
        cos_gt[split], unreadable = coco_gt_with_unreadable(datasets[split], keep_going)
        if unreadable:
            left_out[split] = unreadable
    return cos_gt, left_out


def score_cos_split(
    args: argparse.Namespace, gt: Dict[str, Any], pred_dir: Path, out_json: Path
) -> Dict[str, Any]:
    """The instance AP of the maps in ``pred_dir`` against the COCO GT ``gt``, in ``out_json``,
    with ``gt`` beside it as ``<stem>.gt.json`` (as baseline mode writes it): NC4K's and a
    folder's instance PNGs have no COCO file, and other methods' maps are scored against this
    one with ``--task cos --gt-json``."""
    write_text_atomic(out_json.with_name(f"{out_json.stem}.gt.json"), json.dumps(gt))
    scores = evaluate_cos_folder(
        pred_dir,
        gt,
        threshold=args.threshold,
        min_area=args.min_area,
        protocol=args.protocol,
        resize_pred=args.resize_pred,
        results_out=out_json.with_name(f"{out_json.stem}.results.json"),
        progress=not args.quiet,
    )
    write_text_atomic(out_json, json.dumps(scores, indent=2) + "\n")
    return scores
