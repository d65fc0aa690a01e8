"""Fine-tune SAM's mask decoder for automatic mode: the paper's "fine-tuned SAM-H" row.

    python -m pmgsam.baselines.finetune_sam --model-type vit_h \\
        --checkpoint weights/sam_vit_h_4b8939.pth --config configs/sam_finetune/dis5k.yaml \\
        --output weights/sam_vit_h_dis5k_ft.pth [--epochs N] [--lr X] [--batch-size B] \\
        [--points P] [--device auto] [--limit N] [--overwrite] [key=value ...]

Recipe (SAM's own training, restricted to what automatic mode asks): image and prompt encoders
frozen, the mask decoder trained with AdamW; per image ``points`` single positive points drawn
uniformly in the GT foreground (one point per prompt, as the generator's grid prompts);
multimask output, per prompt the smallest of the 3 masks' 20 x focal + 1 x dice (logits
upsampled to SAM's input frame) plus the MSE of the IoU head against each mask's actual IoU.

The config holds a ``data`` section (as in the PMG-SAM configs: dataset, root, train/val splits)
and a ``finetune`` section (epochs, lr, ...; see ``pmgsam/baselines/finetune_recipe.py``, which
also states the recipe); ``--epochs``, ``--lr``, ``--batch-size`` and ``--points`` override it.
The validation loss is measured before training (epoch 0) and after every epoch; the mask
decoder of the lowest one is kept. ``--output`` receives the full segment-anything state dict
(every key, so ``evaluate.py --baseline sam-auto --model-type vit_h --checkpoint FILE`` loads it
strictly), written atomically; ``<stem>.finetune.json`` beside it records the recipe, the data,
every epoch's losses, the best epoch and the source checkpoint with its SHA-256.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import platform
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from pmgsam.baselines.finetune_recipe import (
    RECIPE,
    FinetuneConfig,
    SamFinetuneConfig,
    Sample,
    batch_losses,
    freeze_encoders,
    prepare,
    sample_points,
)
from pmgsam.baselines.settings import MODEL_TYPES
from pmgsam.utils.cli import (
    DEVICE_NAMES,
    HelpFormatter,
    device_name,
    positive_float,
    positive_int,
    run_cli,
)
from pmgsam.utils.outputs import OutputError, check_output_file

logger = logging.getLogger("pmgsam.baselines.finetune_sam")  # also when run as __main__
PROG = "python -m pmgsam.baselines.finetune_sam"
SIDECAR_SUFFIX = ".finetune.json"
RECORD_FORMAT = "pmgsam-sam-finetune"


def sidecar_path(output: str | Path) -> Path:
    output = Path(output)
    return output.with_name(output.stem + SIDECAR_SUFFIX)


def check_outputs(output: str | Path, checkpoint: str | Path, overwrite: bool) -> None:
    """Refuse, before any work, an ``--output`` that is the input checkpoint (``--overwrite``
    included), or that exists (or whose sidecar exists) without ``--overwrite``."""
    paths = (Path(output), sidecar_path(output))
    source = Path(checkpoint)
    for path in paths:
        check_output_file(path, "--output")
        same = path.resolve() == source.resolve() or (
            path.exists() and source.exists() and os.path.samefile(path, source)
        )
        if same:
            raise OutputError(
                f"--output '{output}' would replace the input --checkpoint '{checkpoint}' "
                f"('{path}'); write the fine-tuned weights to another file"
            )
    existing = [str(p) for p in paths if p.exists()]
    if existing and not overwrite:
        raise OutputError(
            f"--output: {', '.join(existing)} already exist(s); pass --overwrite to replace"
        )


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class PromptedImages(torch.utils.data.Dataset):
    """Items ``(name, Sample or None)`` of ``dataset`` images ``indices`` in that order; None
    for an image without GT foreground (no point can be sampled). The points of image ``i``
    are drawn from ``numpy.random.default_rng([*seed, i])``."""

    def __init__(
        self, dataset: Any, indices: Sequence[int], side: int, points: int, seed: Sequence[int]
    ) -> None:
        self.dataset, self.indices, self.side = dataset, list(indices), side
        self.points, self.seed = points, list(seed)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> Tuple[str, Optional[Sample]]:
        index = self.indices[i]
        image, mask = self.dataset.load(index)
        rng = np.random.default_rng([*self.seed, index])
        points = sample_points(mask, self.points, rng)
        name = self.dataset.names[index]
        return name, None if points is None else prepare(image, mask, points, self.side)


def run_epoch(
    sam: Any,
    items: PromptedImages,
    cfg: FinetuneConfig,
    device: torch.device,
    optimizer: Optional[torch.optim.Optimizer] = None,
    workers: int = 0,
    desc: str = "",
    progress: bool = True,
) -> Tuple[Dict[str, float], List[str], int]:
    """One pass over ``items`` (trains when ``optimizer`` is given): the image-weighted mean
    losses, the names skipped for lack of GT foreground, and the optimiser steps taken."""
    loader = DataLoader(items, batch_size=cfg.batch_size, num_workers=workers, collate_fn=list)
    sums: Dict[str, float] = {}
    skipped: List[str] = []
    used = steps = 0
    sam.mask_decoder.train(optimizer is not None)
    bar = tqdm(loader, desc=desc, unit="batch", disable=not progress)
    for batch in bar:
        samples = [s.to(device) for _, s in batch if s is not None]
        skipped += [name for name, s in batch if s is None]
        if not samples:
            continue
        with torch.set_grad_enabled(optimizer is not None):
            losses = batch_losses(sam, samples, cfg)
        if optimizer is not None:
            optimizer.zero_grad(set_to_none=True)
            losses["loss"].backward()
            optimizer.step()
            steps += 1
        for key, value in losses.items():
            sums[key] = sums.get(key, 0.0) + float(value.detach()) * len(samples)
        used += len(samples)
        bar.set_postfix(loss=f"{sums['loss'] / used:.4f}")
    sam.mask_decoder.eval()
    if not used:
        from pmgsam.data.io import DataError

        raise DataError(
            f"{desc}: none of the {len(items)} images has GT foreground; no point prompt can be "
            "sampled"
        )
    return {k: v / used for k, v in sums.items()}, skipped, steps


def _log_skipped(split: str, skipped: List[str], total: int) -> None:
    if skipped:
        from pmgsam.utils.messages import preview

        logger.warning(
            "%s: skipped %d of %d images without GT foreground (no point prompt can be "
            "sampled): %s",
            split,
            len(skipped),
            total,
            preview(sorted(skipped), 10),
        )


def finetune(args: argparse.Namespace) -> Dict[str, Any]:
    """Fine-tune, write ``args.output`` and its sidecar; returns the sidecar's record."""
    from pmgsam.baselines import sam as sam_family
    from pmgsam.data import build_dataset, train_val_split_names
    from pmgsam.engine.distributed import resolve_device
    from pmgsam.utils.config import load_config, to_dict
    from pmgsam.utils.io import atomic_path

    overrides = list(args.overrides)
    for option in ("epochs", "lr", "batch_size", "points"):
        if getattr(args, option) is not None:
            overrides.append(f"finetune.{option}={getattr(args, option)}")
    if args.data_root:
        overrides.append(f"data.root={args.data_root}")
    cfg = load_config(SamFinetuneConfig, args.config, overrides)
    ft = cfg.finetune
    check_outputs(args.output, args.checkpoint, args.overwrite)
    train_split, val_split = train_val_split_names(cfg.data)
    side = args.model_image_size or sam_family.RELEASED_IMAGE_SIZE
    datasets = {s: build_dataset(cfg.data, s, side, train=False) for s in (train_split, val_split)}
    counts = {s: min(len(d), args.limit or len(d)) for s, d in datasets.items()}
    if cfg.data.check_files:  # every pair decoded once, before the model loads
        from pmgsam.data.datasets import check_files

        check_files(list(datasets.values()), max(1, cfg.data.num_workers))
    device = resolve_device(args.device, option="--device")
    sam = sam_family.load(args.model_type, args.checkpoint, device, args.model_image_size)
    source_sha = file_sha256(args.checkpoint)
    trainable = freeze_encoders(sam)
    optimizer = torch.optim.AdamW(trainable, lr=ft.lr, weight_decay=ft.weight_decay)
    workers, progress = cfg.data.num_workers, not args.quiet
    logger.info(
        "fine-tuning the mask decoder of %s (%d trainable parameters) on %s %s (%d images), "
        "validating on %s (%d), %d epochs, device %s",
        sam_family.label(args.model_type), sum(p.numel() for p in trainable),
        cfg.data.dataset, train_split, counts[train_split], val_split, counts[val_split],
        ft.epochs, device,
    )  # fmt: skip
    val_items = PromptedImages(
        datasets[val_split], range(counts[val_split]), side, ft.points, (ft.seed, 1)
    )
    skipped_val: List[str] = []

    def validate(epoch: int) -> float:
        losses, skipped, _ = run_epoch(
            sam, val_items, ft, device, workers=workers, desc=f"val {epoch}", progress=progress
        )
        if epoch == 0:
            skipped_val.extend(skipped)
            _log_skipped(val_split, skipped, len(val_items))
        return losses["loss"]

    start = time.perf_counter()
    best_loss, best_epoch = validate(0), 0
    best_state = {k: v.detach().clone() for k, v in sam.mask_decoder.state_dict().items()}
    logger.info("epoch 0 (starting weights): val loss %.4f", best_loss)
    history: List[Dict[str, Any]] = [{"epoch": 0, "val_loss": best_loss}]
    skipped_train: List[str] = []
    for epoch in range(1, ft.epochs + 1):
        tic = time.perf_counter()
        order = np.random.default_rng([ft.seed, epoch]).permutation(counts[train_split])
        items = PromptedImages(datasets[train_split], order, side, ft.points, (ft.seed, 0, epoch))
        train, skipped_train, steps = run_epoch(
            sam, items, ft, device, optimizer, workers, f"epoch {epoch}/{ft.epochs}", progress
        )
        if epoch == 1:
            _log_skipped(train_split, skipped_train, len(items))
        seconds = time.perf_counter() - tic
        val_loss = validate(epoch)
        history.append(
            {"epoch": epoch, **{f"train_{k}": v for k, v in train.items()}, "val_loss": val_loss}
        )
        history[-1].update(steps=steps, train_seconds=round(seconds, 3))
        better = val_loss < best_loss
        if better:
            best_loss, best_epoch = val_loss, epoch
            best_state = {k: v.detach().clone() for k, v in sam.mask_decoder.state_dict().items()}
        logger.info(
            "epoch %d/%d: train loss %.4f, val loss %.4f%s (%.1f s, %d steps)",
            epoch, ft.epochs, train["loss"], val_loss, " (best)" if better else "", seconds, steps,
        )  # fmt: skip
    if best_epoch == 0:
        logger.warning(
            "no epoch lowered the validation loss below the starting weights' (%.4f): the "
            "written mask decoder is the original one",
            best_loss,
        )
    sam.mask_decoder.load_state_dict(best_state)
    state = {k: v.detach().cpu() for k, v in sam.state_dict().items()}
    output = Path(args.output)
    with atomic_path(output) as tmp:
        torch.save(state, tmp)
    record = {
        "format": RECORD_FORMAT,
        "output": str(output),
        "model_type": args.model_type,
        "model_image_size": side,
        "source_checkpoint": str(args.checkpoint),
        "source_checkpoint_resolved": str(Path(args.checkpoint).resolve()),
        "source_sha256": source_sha,
        "output_sha256": file_sha256(output),
        "config": str(args.config),
        "overrides": overrides,
        "config_values": to_dict(cfg),
        "recipe": RECIPE,
        "data": {
            "dataset": cfg.data.dataset,
            "root": cfg.data.root,
            "train_split": train_split,
            "val_split": val_split,
            "train_images": counts[train_split],
            "val_images": counts[val_split],
            "limit": args.limit,
            "train_skipped_no_foreground": sorted(skipped_train),
            "val_skipped_no_foreground": sorted(skipped_val),
        },
        "epochs": history,
        "best_epoch": best_epoch,
        "best_val_loss": best_loss,
        "trainable_parameters": sum(p.numel() for p in trainable),
        "device": str(device),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "seconds": round(time.perf_counter() - start, 3),
    }
    sidecar = sidecar_path(output)
    with atomic_path(sidecar) as tmp:
        tmp.write_text(json.dumps(record, indent=2) + "\n")
    logger.info("best epoch %d (val loss %.4f); wrote %s and %s", best_epoch, best_loss, output,
                sidecar)  # fmt: skip
    return record


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("--model-type", required=True, choices=MODEL_TYPES["sam"], help="SAM ViT-B/L/H")
    p.add_argument(
        "--checkpoint",
        required=True,
        help="segment-anything state dict of --model-type to start from (e.g. "
        "sam_vit_h_4b8939.pth); loaded strictly, never written",
    )
    p.add_argument(
        "--config",
        required=True,
        help="fine-tuning config YAML: data + finetune sections (configs/sam_finetune/*.yaml)",
    )
    p.add_argument(
        "--output",
        required=True,
        help="fine-tuned state dict to write (full segment-anything keys); "
        f"<stem>{SIDECAR_SUFFIX} is written beside it",
    )
    p.add_argument(
        "--epochs",
        type=positive_int,
        help="overrides finetune.epochs (12 in configs/sam_finetune/)",
    )
    p.add_argument(
        "--lr",
        type=positive_float,
        help="AdamW lr; overrides finetune.lr (1e-4 in configs/sam_finetune/)",
    )
    p.add_argument(
        "--batch-size", type=positive_int, help="images per step; overrides finetune.batch_size"
    )
    p.add_argument(
        "--points",
        type=positive_int,
        help="single positive point prompts sampled per image; overrides finetune.points",
    )
    p.add_argument("--data-root", help="dataset folder (overrides data.root)")
    p.add_argument(
        "--model-image-size",
        type=positive_int,
        help="model input side, a multiple of 16 (default 1024, the released checkpoints')",
    )
    p.add_argument(
        "--limit", type=positive_int, help="only the first N images of each split (a quick look)"
    )
    p.add_argument("--device", default="auto", type=device_name, help=DEVICE_NAMES)
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing --output and its sidecar (never the input --checkpoint)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("overrides", nargs="*", help="config overrides key=value, e.g. finetune.seed=1")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    side = args.model_image_size
    if side is not None and side % 16:
        parser.error(
            f"--model-image-size must be a multiple of 16 for SAM models (e.g. "
            f"{max(16, side // 16 * 16)}), got {side}"
        )
    finetune(args)
    return 0


if __name__ == "__main__":
    run_cli(main, PROG)
