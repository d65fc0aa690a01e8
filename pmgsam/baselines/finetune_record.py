"""The ``<stem>.finetune.json`` record that ``python -m pmgsam.baselines.finetune_sam`` writes
beside its output (``finetune_data.finetune_record`` reads it back)."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any, Dict

import torch

from pmgsam.baselines.finetune_data import RECORD_FORMAT
from pmgsam.baselines.finetune_recipe import RECIPE
from pmgsam.utils.io import file_sha256


def make_record(run: Any, result: Dict[str, Any], output: Path, seconds: Dict[str, float]):
    """The sidecar's record of ``run`` (a ``finetune_sam.Run``): the recipe, the config, the
    data and targets, every epoch's losses, the best epoch, the source and output SHA-256."""
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
            "train_skipped_no_foreground": result["skipped"][train_split],
            "val_skipped_no_foreground": result["skipped"][val_split],
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
