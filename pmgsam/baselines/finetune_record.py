"""The ``<stem>.finetune.json`` record that ``python -m pmgsam.baselines.finetune_sam`` writes
beside its output (``finetune_data.finetune_record`` reads it back)."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any, Dict, List, Tuple

import torch

from pmgsam.baselines.finetune_data import RECORD_FORMAT
from pmgsam.baselines.finetune_recipe import RECIPE
from pmgsam.utils.io import file_sha256

#: Why an image gets no point prompt, by target kind: its GT has no foreground pixel
#: (``object``), or no instance label covers a pixel (``instance``, whatever its binary GT).
SKIP_REASONS = {"object": "no_foreground", "instance": "no_instances"}


def skipped_images(
    targets: str, skipped: Dict[str, List[str]], splits: Tuple[str, str]
) -> Dict[str, List[str]]:
    """``{train,val}_skipped_{reason}`` for every reason of :data:`SKIP_REASONS`: the names
    ``skipped`` (by split) under the reason of ``targets``, none under the other (a fixed set
    of keys, each naming why its images were left out)."""
    entries: Dict[str, List[str]] = {}
    for role, split in zip(("train", "val"), splits):
        for kind, reason in SKIP_REASONS.items():
            entries[f"{role}_skipped_{reason}"] = list(skipped[split]) if kind == targets else []
    return entries


def make_record(
    run: Any, result: Dict[str, Any], output: Path, seconds: Dict[str, float]
) -> Dict[str, Any]:
    """The sidecar's record of ``run``: the recipe, the config, the data and targets, every
    epoch's losses, the best epoch, the source and output SHA-256.

    Arguments:
      run (finetune_sam.Run): the fine-tuning run.
      result (dict): what ``finetune_sam.train`` returned: ``epochs`` (each one's losses),
        ``best_epoch``, ``best_val_loss`` and ``skipped`` (image names by split).
      output (Path): the fine-tuned weights file, already written (it is hashed).
      seconds (dict): wall-clock seconds by key (``cache_seconds``, ``seconds``), recorded
        rounded to 3 decimals.
    """
    from pmgsam.utils.config import to_dict

    args, cfg, (train_split, val_split) = run.args, run.cfg, run.splits
    return {
        "format": RECORD_FORMAT,
        "output": str(output),
        "model_type": args.model_type,
        "model_image_size": run.side,
        "source_checkpoint": str(args.checkpoint),
        "source_checkpoint_resolved": str(Path(args.checkpoint).resolve()),
        "source_sha256": run.source_sha,
        "output_sha256": file_sha256(output),
        "config": str(args.config),
        "overrides": run.overrides,
        "config_values": to_dict(cfg),
        "recipe": RECIPE,
        "targets": run.targets,
        "data": {
            "dataset": cfg.data.dataset,
            "root": cfg.data.root,
            "train_split": train_split,
            "val_split": val_split,
            "train_images": run.counts[train_split],
            "val_images": run.counts[val_split],
            "limit": args.limit,
            **skipped_images(run.targets, result["skipped"], run.splits),
        },
        "epochs": result["epochs"],
        "best_epoch": result["best_epoch"],
        "best_val_loss": result["best_val_loss"],
        "trainable_parameters": sum(p.numel() for p in run.trainable),
        "device": str(run.device),
        "torch": torch.__version__,
        "python": platform.python_version(),
        **{key: round(value, 3) for key, value in seconds.items()},
    }
