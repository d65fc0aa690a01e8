"""Fine-tune SAM's mask decoder for automatic mode: the paper's "fine-tuned SAM-H" row.

    python -m pmgsam.baselines.finetune_sam --model-type vit_h \\
        --checkpoint weights/sam_vit_h_4b8939.pth --config configs/sam_finetune/dis5k.yaml \\
        --output weights/sam_vit_h_dis5k_ft.pth [--epochs N] [--lr X] [--batch-size B] \\
        [--points P] [--embedding-cache memory|disk|none] [--cache-dir DIR] \\
        [--encoder-dtype fp32|bf16] [--targets auto|object|instance] [--device auto] \\
        [--limit N] [--overwrite] [key=value ...]

Recipe (SAM's own training, restricted to what automatic mode asks): image and prompt encoders
frozen, the mask decoder trained with AdamW; per image ``points`` single positive points drawn
uniformly in the GT foreground (one point per prompt, as the generator's grid prompts);
multimask output, per prompt the smallest of the 3 masks' 20 x focal + 1 x dice (logits
upsampled to SAM's input frame) plus the MSE of the IoU head against each mask's actual IoU.

Targets (``--targets``): a prompt's GT is the image's binary GT (``object``: DIS5K) or the
instance its point lies in (``instance``: the points are drawn among the instances' pixels).
Automatic mode is scored per instance on COD10K / NC4K (COCO AP) and SAM returns the object
under a click, so a point on one of several animals must not learn the union of all of them.
``auto`` (the default) picks ``instance`` when the splits have instance labels (COCO JSON or
instance PNGs, as evaluation reads them), else ``object``; the choice is logged and recorded.

The config holds a ``data`` section (as in the PMG-SAM configs: dataset, root, train/val splits)
and a ``finetune`` section (epochs, lr, ...; see ``pmgsam/baselines/finetune_recipe.py``, which
also states the recipe); ``--epochs``, ``--lr``, ``--batch-size``, ``--points``,
``--embedding-cache``, ``--cache-dir``, ``--encoder-dtype`` and ``--targets`` override it.

The frozen image encoder is most of a step's cost and an image's embedding never changes (no
augmentation), so each image is encoded once, before training, into the embedding cache
(``--embedding-cache``; ``pmgsam/baselines/finetune_cache.py``); its size is logged first, and
the losses are those without it.
The validation loss is measured before training (epoch 0) and after every epoch; the mask
decoder of the lowest one is kept. ``--output`` receives the full segment-anything state dict
(every key, so ``evaluate.py --baseline sam-auto --model-type vit_h --checkpoint FILE`` loads it
strictly), written atomically; ``<stem>.finetune.json`` beside it records the recipe, the
targets used, the data, every epoch's losses, the best epoch and the source checkpoint with
its SHA-256.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from pmgsam.baselines.finetune_cache import Embedder, check_encoder_dtype, check_plan, open_cache
from pmgsam.baselines.finetune_data import PromptedImages, check_outputs, sidecar_path
from pmgsam.baselines.finetune_options import build_parser as build_options
from pmgsam.baselines.finetune_options import load_settings
from pmgsam.baselines.finetune_recipe import SamFinetuneConfig, freeze_encoders, run_epoch
from pmgsam.baselines.finetune_record import make_record
from pmgsam.baselines.finetune_targets import (
    InstanceMasks,
    log_empty_gt,
    log_skipped,
    resolve_targets,
)
from pmgsam.modeling.checkpoint import load_hashed
from pmgsam.utils.cli import run_cli
from pmgsam.utils.cpus import loader_workers
from pmgsam.utils.loaders import command_worker_init, loader_batches
from pmgsam.utils.messages import counted

__all__ = ["PromptedImages", "check_outputs", "finetune", "main", "run_epoch", "sidecar_path"]
logger = logging.getLogger("pmgsam.baselines.finetune_sam")  # also when run as __main__
PROG = "python -m pmgsam.baselines.finetune_sam"


@dataclass
class Run:
    """What :func:`setup` prepares for the epochs: settings, data, model and optimiser.

    Arguments:
        args: the parsed command line.
        cfg: the config with its overrides and command-line settings applied.
        overrides: the ``key=value`` config overrides given.
        splits: the names of the training and the validation split.
        datasets: each split's dataset (no augmentation), by split name.
        counts: images used of each split (all, or ``--limit``), by split name.
        side: SAM's input side in pixels.
        device: where the model runs.
        sam: the segment-anything model, its image and prompt encoders frozen.
        trainable: the mask decoder's parameters (the only ones trained).
        optimizer: AdamW over ``trainable``.
        source_sha: the SHA-256 of ``--checkpoint`` (recorded; keys a disk cache).
        targets: ``object`` or ``instance`` (``auto`` resolved).
        instances: each split's :class:`InstanceMasks` with instance targets, else empty.
        workers: data loader workers: ``data.num_workers``, at most the CPUs available
            (``utils.cpus.loader_workers``).
    """

    args: argparse.Namespace
    cfg: SamFinetuneConfig
    overrides: List[str]
    splits: Tuple[str, str]  # train, val
    datasets: Dict[str, Any]
    counts: Dict[str, int]
    side: int
    device: torch.device
    sam: Any
    trainable: List[torch.nn.Parameter]
    optimizer: torch.optim.Optimizer
    source_sha: str
    targets: str  # object or instance
    instances: Dict[str, InstanceMasks]  # by split, with instance targets
    workers: int  # data.num_workers, at most the CPUs available (utils.cpus.loader_workers)

    def items(self, split: str, order: Sequence[int], seed: Sequence[int]) -> PromptedImages:
        ft, dataset = self.cfg.finetune, self.datasets[split]
        keyed, instances = ft.embedding_cache != "none", self.instances.get(split)
        return PromptedImages(dataset, order, self.side, ft.points, seed, keyed, instances)

    def val_items(self) -> PromptedImages:
        """The validation images, with the same points every epoch."""
        val = self.splits[1]
        return self.items(val, range(self.counts[val]), (self.cfg.finetune.seed, 1))

    def epoch(
        self,
        embed: Embedder,
        items: PromptedImages,
        desc: str,
        train: bool = False,
        gt_empty: Optional[List[str]] = None,
    ) -> Tuple[Dict[str, float], List[str], int]:
        """:func:`run_epoch` over ``items``: trains when ``train``, else validates."""
        optimizer = self.optimizer if train else None
        return run_epoch(self.sam, items, self.cfg.finetune, self.device, optimizer,
                         self.workers, desc, not self.args.quiet, embed, gt_empty)  # fmt: skip

    def decoder_state(self) -> Dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in self.sam.mask_decoder.state_dict().items()}


def setup(args: argparse.Namespace) -> Run:
    """Settings, outputs, data (checked before the model loads), the cache plan, the device,
    the model with frozen encoders and the decoder's optimiser."""
    from pmgsam.baselines import sam as sam_family
    from pmgsam.data import build_dataset, train_val_split_names
    from pmgsam.engine.distributed import make_current, resolve_device

    cfg, overrides = load_settings(args)
    ft = cfg.finetune
    check_outputs(args.output, args.checkpoint, args.overwrite)
    splits = train_val_split_names(cfg.data)
    side = args.model_image_size or sam_family.RELEASED_IMAGE_SIZE
    datasets = {s: build_dataset(cfg.data, s, side, train=False) for s in splits}
    counts = {s: min(len(d), args.limit or len(d)) for s, d in datasets.items()}
    targets = resolve_targets(ft.targets, datasets, cfg.data.root)
    instances = {s: InstanceMasks(d) for s, d in datasets.items()} if targets == "instance" else {}
    workers = loader_workers(cfg.data.num_workers)
    from pmgsam.data.datasets import check_files, warn_oriented_images

    if cfg.data.check_files:  # every pair (and its instances) decoded once, before the model
        readers = [instances.get(s) for s in datasets]
        check_files(list(datasets.values()), max(1, workers), readers)
    else:  # a square photo's mask drawn on its displayed view has the right size
        warn_oriented_images(list(datasets.values()))
    device = resolve_device(args.device, option="--device")
    make_current(device)  # the pinned cache and batches are then cuda:N's, not cuda:0's
    check_encoder_dtype(ft.encoder_dtype, device)
    images = sum(counts.values())
    check_plan(ft.embedding_cache, images, side, ft.cache_dir, pinned=device.type == "cuda")
    # The record's source_sha256 must be of the weights fine-tuned: a checkpoint replaced or
    # rewritten while SAM loads from it is refused.
    sam, source = load_hashed(
        lambda: sam_family.load(args.model_type, args.checkpoint, device, args.model_image_size),
        args.checkpoint,
    )
    trainable = freeze_encoders(sam)
    optimizer = torch.optim.AdamW(trainable, lr=ft.lr, weight_decay=ft.weight_decay)
    logger.info(
        "fine-tuning the mask decoder of %s (%d trainable parameters) on %s %s (%s), "
        "validating on %s (%d), epochs: %d, device %s, encoder %s, %s targets",
        sam_family.label(args.model_type), sum(p.numel() for p in trainable), cfg.data.dataset,
        splits[0], counted(counts[splits[0]], "image"), splits[1], counts[splits[1]], ft.epochs,
        device,
        ft.encoder_dtype, targets,
    )  # fmt: skip
    return Run(args, cfg, overrides, splits, datasets, counts, side, device, sam, trainable,
               optimizer, source.sha256, targets, instances, workers)  # fmt: skip


def make_embedder(run: Run) -> Embedder:
    """The embeddings of the epochs; with a cache, every image with GT foreground of both
    splits is encoded into it now (once; a disk cache keeps them for later runs)."""
    ft = run.cfg.finetune
    cache = open_cache(ft, run.args.model_type, run.side, run.source_sha, run.device)
    embedder = Embedder(run.sam, ft.encoder_dtype, cache)
    if cache is not None:
        tic = time.perf_counter()
        for split in run.splits:
            items = run.items(split, range(run.counts[split]), (ft.seed, 1))
            loader = DataLoader(items, ft.batch_size, num_workers=run.workers, collate_fn=list,
                                worker_init_fn=command_worker_init())  # fmt: skip
            with loader_batches(loader) as batches:
                bar = tqdm(batches, f"embedding {split}", len(loader), unit="batch",
                           disable=run.args.quiet)  # fmt: skip
                embedder.fill(bar)
        logger.info("embedding cache (%s): %s encoded in %.1f s", ft.embedding_cache,
                    counted(embedder.encoded, "image"), time.perf_counter() - tic)  # fmt: skip
    return embedder


def train(run: Run, embed: Embedder) -> Dict[str, Any]:
    """Validation of the starting weights (epoch 0), then the epochs, each validated; the mask
    decoder of the lowest validation loss is loaded back into ``run.sam``. Returns the history,
    the best epoch and loss, and the images skipped for lack of GT foreground (with instance
    targets: of instances)."""
    ft, (train_split, val_split) = run.cfg.finetune, run.splits
    val_items = run.val_items()
    # Named once: the first pass over each split (its images are the same every epoch).
    empty_val: List[str] = []
    val, skipped_val, _ = run.epoch(embed, val_items, "val 0", gt_empty=empty_val)
    log_skipped(val_split, skipped_val, len(val_items), run.targets)
    log_empty_gt(val_split, empty_val, len(val_items))
    best_loss, best_epoch, best_state = val["loss"], 0, run.decoder_state()
    logger.info("epoch 0 (starting weights): val loss %.4f", best_loss)
    history: List[Dict[str, Any]] = [{"epoch": 0, "val_loss": best_loss}]
    skipped_train: List[str] = []
    for epoch in range(1, ft.epochs + 1):
        tic = time.perf_counter()
        order = np.random.default_rng([ft.seed, epoch]).permutation(run.counts[train_split])
        items = run.items(train_split, order, (ft.seed, 0, epoch))
        empty_train: Optional[List[str]] = [] if epoch == 1 else None
        desc = f"epoch {epoch}/{ft.epochs}"
        losses, skipped_train, steps = run.epoch(embed, items, desc, True, empty_train)
        if empty_train is not None:
            log_skipped(train_split, skipped_train, len(items), run.targets)
            log_empty_gt(train_split, empty_train, len(items))
        seconds = time.perf_counter() - tic
        val_loss = run.epoch(embed, val_items, f"val {epoch}")[0]["loss"]
        _refuse_non_finite(epoch, {**losses, "val loss": val_loss})
        history.append({"epoch": epoch, **{f"train_{k}": v for k, v in losses.items()},
                        "val_loss": val_loss, "steps": steps,
                        "train_seconds": round(seconds, 3)})  # fmt: skip
        better = val_loss < best_loss
        if better:
            best_loss, best_epoch, best_state = val_loss, epoch, run.decoder_state()
        logger.info(
            "epoch %d/%d: train loss %.4f, val loss %.4f%s (%.1f s, %s)",
            epoch, ft.epochs, losses["loss"], val_loss, " (best)" if better else "", seconds,
            counted(steps, "step"),
        )  # fmt: skip
    if best_epoch == 0:
        logger.warning(
            "no epoch lowered the validation loss below the starting weights' (%.4f): the "
            "written mask decoder is the original one",
            best_loss,
        )
    run.sam.mask_decoder.load_state_dict(best_state)
    skipped = {train_split: sorted(skipped_train), val_split: sorted(skipped_val)}
    return {"epochs": history, "best_epoch": best_epoch, "best_val_loss": best_loss,
            "skipped": skipped}  # fmt: skip


def _refuse_non_finite(epoch: int, losses: Dict[str, float]) -> None:
    """Stop at the first epoch with a NaN or infinite loss: the decoder's weights are then
    not numbers either, and every later epoch would train and be validated on them."""
    bad = {k: v for k, v in losses.items() if not math.isfinite(v)}
    if bad:
        shown = ", ".join(f"{k} {v}" for k, v in bad.items())
        raise FloatingPointError(
            f"epoch {epoch}: non-finite fine-tuning loss ({shown}); stopped without writing "
            "weights: lower --lr (finetune.lr), or check the GT masks of the training split"
        )


def write_weights(run: Run) -> Path:
    """The full state dict of ``run.sam`` to ``--output``, atomically."""
    from pmgsam.utils.io import atomic_path

    state = {k: v.detach().cpu() for k, v in run.sam.state_dict().items()}
    output = Path(run.args.output)
    with atomic_path(output) as tmp:
        torch.save(state, tmp)
    return output


def finetune(args: argparse.Namespace) -> Dict[str, Any]:
    """Fine-tune, write ``args.output`` and its sidecar; returns the sidecar's record."""
    from pmgsam.utils.io import write_text_atomic

    run = setup(args)
    tic = time.perf_counter()
    embed = make_embedder(run)
    cached = time.perf_counter()
    result = train(run, embed)
    output = write_weights(run)
    seconds = {"cache_seconds": cached - tic, "seconds": time.perf_counter() - tic}
    record = make_record(run, result, output, seconds)
    sidecar = sidecar_path(output)
    write_text_atomic(sidecar, json.dumps(record, indent=2) + "\n")
    logger.info("best epoch %d (val loss %.4f); wrote %s and %s", record["best_epoch"],
                record["best_val_loss"], output, sidecar)  # fmt: skip
    return record


def build_parser() -> argparse.ArgumentParser:
    """The command's options (:mod:`pmgsam.baselines.finetune_options`)."""
    return build_options(PROG, __doc__)


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
