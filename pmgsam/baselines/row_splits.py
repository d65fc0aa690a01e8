"""Each split of a baseline row (``evaluate.py --baseline``): predicted with
:func:`pmgsam.baselines.runner.run_baseline`, scored (DIS metrics or COS instance AP; a folder
dataset's split with instance labels both, its AP in ``metrics/<split>.cos.json`` under its own
name in run.json's ``cos``, as benchmark mode scores it), its scores printed and its summary
recorded in the row's run.json ``meta``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import torch


def predict_and_score_splits(
    args: argparse.Namespace,
    baseline: Any,
    datasets: Dict[str, Any],
    out_dir: Path,
    meta: Dict[str, Any],
    producer: Dict[str, Any],
    cos_gt: Dict[str, Any],
    device: torch.device,
    threads: Optional[int],
) -> Tuple[Dict[str, Any], Dict[str, Any], Optional[Tuple[Any, Any]]]:
    """Predict and score each split, printing its scores and recording its summary in
    ``meta``: (DIS scores by split, COS scores by table column, the (image, boxes) to time).
    ``cos_gt``: each split scored by instance AP, (COCO ground truth, ``{name: reason}`` of the
    images left out of it as unreadable). With ``--keep-going``, splits holding unreadable
    images are not scored, and the error listing those images is raised once every split is
    done.

    The model predicts on ``threads`` torch threads (the config's ``train.num_threads``); None:
    on the CPU, as many as the CPUs this process may use (never more than torch's default),
    on ``device`` CUDA torch's default (:func:`pmgsam.engine.predictor.prediction_threads`).
    torch's count is put back after each split."""
    from pmgsam.baselines.runner import run_baseline, score_dis_maps
    from pmgsam.engine.predictor import prediction_threads
    from pmgsam.engine.unreadable import split_failures_error
    from pmgsam.evaluation.benchmark_cos import cos_scores_file
    from pmgsam.evaluation.dis_results import dis_line
    from pmgsam.evaluation.tables import COS_NAMES, cos_entry

    cos_only = args.dataset in COS_NAMES
    dis_scores: Dict[str, Any] = {}
    cos_scores: Dict[str, Any] = {}
    failed: Dict[str, Dict[str, str]] = {}
    timing_input = None
    for split, dataset in datasets.items():
        instances = cos_only or split in cos_gt  # COS: run_baseline builds a GT not given
        stem = cos_scores_file(out_dir, args.dataset, split).stem
        # The images are read in this process: no loader worker needs a CPU of its own.
        with prediction_threads(device, 0, threads, "train.num_threads"):
            summary = run_baseline(
                baseline, dataset, out_dir, split, args.reduce, instances, args.limit,
                not args.quiet, args.overwrite, producer, getattr(args, "skip_existing", False),
                getattr(args, "keep_going", False), timing_input is None and args.speed_iters > 0,
                *cos_gt.get(split, (None, None)), cos_stem=stem,
            )  # fmt: skip
        first_prompted = summary.pop("timing_input")
        timing_input = timing_input or first_prompted
        if "failed" in summary:
            failed[split] = summary["failed"]
            continue
        meta[f"split {split}"] = {k: v for k, v in summary.items() if k != "cos"}
        if instances:
            name = cos_entry(args.dataset, split)
            # COD10K's COCO file and its GT_Instance PNGs give other AP: say which was read.
            cos_scores[name] = {**summary["cos"], "instance_labels": dataset.instances.record()}
            label = name if cos_only else f"{name} instances"  # its DIS line follows
            print(
                f"{label}: "
                + " ".join(f"{k}={summary['cos'][k]:.4f}" for k in ("AP", "AP50", "AP75"))
            )
        if not cos_only:
            dis_scores[split] = score_dis_maps(dataset, summary, out_dir, args.workers)
            # As benchmark mode prints a split's scores (4 decimals, the image count).
            line = dis_line({"num_images": summary["num_images"], **dis_scores[split]})
            print(f"{split}: {line}")
    if failed:
        raise split_failures_error(failed)
    return dis_scores, cos_scores, timing_input
