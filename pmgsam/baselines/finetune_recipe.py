"""The recipe of ``python -m pmgsam.baselines.finetune_sam``: config, prompts, losses, one pass.

The paper compares against a fine-tuned SAM-H in automatic mode without saying how it was
fine-tuned. This is SAM's own training recipe (Kirillov et al. 2023, §3 and appendix A)
restricted to what automatic mode asks of the model:

* the image encoder and the prompt encoder stay frozen (image embeddings under
  ``torch.no_grad()``, float32 or bf16 autocast: ``encoder_dtype``); only the mask decoder
  trains, with AdamW. With no augmentation an image's embedding never changes, so it can be
  computed once and reused every epoch (``embedding_cache``, ``finetune_cache.py``);
* automatic mode prompts with single foreground points on a grid, so every training image gets
  ``points`` single positive points drawn uniformly among its GT foreground pixels (seeded;
  with ``targets`` ``instance``, among the pixels of its instances), each given as the
  pixel's (column, row) index, as ``SamPredictor`` takes a click (SAM's prompt encoder adds
  the half pixel to reach the centre), and mapped into SAM's input frame with
  segment-anything's ``ResizeLongestSide`` (x, y order);
  images go through SAM's own preprocessing (``ResizeLongestSide`` + ``sam.preprocess``);
  SAM's interactive rounds (points sampled from error regions, mask prompts) are left out:
  the generator never uses them;
* ``multimask_output=True``; per prompt, the mask loss is the MINIMUM over the 3 masks of
  ``focal_weight * focal + dice_weight * dice``, computed on the low-res logits upsampled
  (bilinear) to SAM's input frame and cropped to the resized image, against the GT resized to
  that frame (bilinear with antialiasing, the filter PIL resizes the image with, > 0.5; an
  area average erodes it at non-integer scales): the frame where the generator thresholds
  its masks. A prompt's GT is its own target: the image's binary GT (``targets`` ``object``)
  or the instance its point lies in (``instance``: the object under a click, as SAM is
  trained and as COCO AP scores; ``finetune_targets.py``);
* plus ``iou_weight *`` the MSE between the IoU head's prediction and each of the 3 masks'
  actual IoU (logits > 0) with the GT.

The per-image steps (the sample in SAM's input frame, encoding, decoding, the losses) are in
``finetune_losses.py``; this module holds the settings, the batch losses and the epoch loop.
The loop's steps read nothing back from the GPU: batches come from pinned memory, and the
epoch's loss sums stay on the device (``engine.epoch_stats.EpochLosses``, in float64, so the
means equal a host-side sum of each step's losses) until the epoch ends; the progress bar
reads its running loss every ``POSTFIX_EVERY`` batches. The point prompts are embedded by
``point_prompts``: segment-anything's prompt encoder, whose boolean-mask indexing waits for the
GPU, gives the same embeddings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from pmgsam.baselines.finetune_losses import (
    Sample,
    decode,
    dice_loss,
    encode,
    focal_loss,
    image_key,
    input_frame,
    mask_iou,
    point_prompts,
    prepare,
    prompt_losses,
)
from pmgsam.baselines.finetune_targets import TARGET_KINDS
from pmgsam.data.config import DataConfig
from pmgsam.engine.epoch_stats import EpochLosses
from pmgsam.utils.config import ConfigError, check_positive, check_seed, non_blank_field
from pmgsam.utils.loaders import command_worker_init, loader_batches

if TYPE_CHECKING:
    from segment_anything.modeling import Sam

# The per-image steps (finetune_losses.py) are imported from here by the command and tests.
__all__ = [
    "CACHE_MODES",
    "ENCODER_DTYPES",
    "RECIPE",
    "FinetuneConfig",
    "SamFinetuneConfig",
    "Sample",
    "batch_losses",
    "decode",
    "dice_loss",
    "encode",
    "focal_loss",
    "freeze_encoders",
    "image_key",
    "input_frame",
    "mask_iou",
    "point_prompts",
    "prepare",
    "prompt_losses",
    "run_epoch",
]

CACHE_MODES = ("memory", "disk", "none")
# Batches between updates of the progress bar's running loss: each reads it back from the
# device, which waits for the GPU.
POSTFIX_EVERY = 10
ENCODER_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}

# The recipe as the fine-tuning record states it (the module doc says why).
RECIPE = {
    "trained": "mask decoder only (image and prompt encoders frozen, embeddings under no_grad, "
    "in encoder_dtype: fp32, or bf16 autocast)",
    "prompts": "per image and epoch, `points` single positive points uniform in the GT "
    "foreground, or with instance targets among the instances' pixels (a pixel's (column, "
    "row) index, as SamPredictor takes a click: the prompt encoder adds 0.5), "
    "ResizeLongestSide to the input frame; one point per prompt",
    "images": "ResizeLongestSide + sam.preprocess (SamPredictor's preprocessing); no augmentation",
    "mask_loss": "min over the 3 multimask outputs of focal_weight*focal(alpha 0.25, gamma 2) "
    "+ dice_weight*dice(smooth 1), on low-res logits upsampled bilinearly to the input frame "
    "and cropped to the resized image; GT resized to it bilinearly with antialiasing (> 0.5)",
    "iou_loss": "iou_weight * MSE(IoU head, IoU of each of the 3 masks (logits > 0) with GT)",
    "targets": "each prompt's GT: object = the image's binary GT; instance = the instance "
    "containing its point (the smallest if several; crowd regions get no point), each "
    "resized as the binary GT",
    "optimiser": "AdamW(lr, weight_decay), constant lr",
    "selection": "lowest validation loss (fixed points), the starting weights counting as epoch 0",
}


@dataclass
class FinetuneConfig:
    """Settings of the SAM fine-tuning (the ``finetune`` section).

    Arguments:
        epochs: passes over the training split; the epoch with the lowest validation loss is
            kept (the starting weights count as epoch 0).
        lr: AdamW learning rate of the mask decoder (decoder-only fine-tuning: 1e-5 .. 1e-4).
        weight_decay: AdamW weight decay (SAM: 0.1; 0.01 for a fine-tune of few images).
        batch_size: images per optimiser step (each with ``points`` prompts).
        points: single positive points sampled per image and epoch.
        seed: seed of the image order and of the points (validation points do not change
            between epochs, so validation losses compare).
        focal_weight: weight of the focal loss (SAM: 20).
        dice_weight: weight of the dice loss (SAM: 1).
        iou_weight: weight of the IoU-head MSE (SAM: 1).
        embedding_cache: where each image's embedding, computed once before training, is kept
            for every epoch: ``memory`` (float32 on the CPU, pinned with CUDA; 4 MiB per image
            for a 1024-px input, so about 14 GiB for DIS-TR + DIS-VD; refused when the
            machine has less memory available), ``disk`` (one file per image in ``cache_dir``,
            reused by later runs with the same checkpoint, model type, input side, encoder
            dtype and image) or ``none`` (the encoder runs on every image every epoch). The
            losses are the same either way.
        cache_dir: the folder of the ``disk`` cache (required with it, refused with the
            others: it would be ignored).
        encoder_dtype: ``fp32`` (SAM's own numbers) or ``bf16`` (autocast of the frozen image
            encoder; faster on GPUs with bf16, a different embedding). The decoder trains in
            float32 either way.
        targets: what a point prompt is trained to return: ``object`` (the image's binary
            GT), ``instance`` (the instance containing the point; needs instance labels) or
            ``auto`` (``instance`` when the splits have instance labels, as COD10K and NC4K:
            automatic mode is scored per instance there). See ``finetune_targets.py``.
    """

    epochs: int = 12
    lr: float = 1e-4
    weight_decay: float = 0.01
    batch_size: int = 4
    points: int = 8
    seed: int = 0
    focal_weight: float = 20.0
    dice_weight: float = 1.0
    iou_weight: float = 1.0
    embedding_cache: str = "memory"
    cache_dir: Optional[str] = non_blank_field("a folder", default=None)
    encoder_dtype: str = "fp32"
    targets: str = "auto"

    def validate(self) -> None:
        for name in ("epochs", "batch_size", "points"):
            check_positive(f"finetune.{name}", getattr(self, name))
        check_positive("finetune.lr", self.lr, at_most=1.0)
        for name in ("weight_decay", "focal_weight", "dice_weight", "iou_weight"):
            check_positive(f"finetune.{name}", getattr(self, name), allow_zero=True)
        check_seed("finetune.seed", self.seed)
        for name, choices in (
            ("embedding_cache", CACHE_MODES),
            ("encoder_dtype", ENCODER_DTYPES),
            ("targets", TARGET_KINDS),
        ):
            if getattr(self, name) not in choices:
                raise ConfigError(
                    f"config key 'finetune.{name}' must be one of {list(choices)}, "
                    f"got {getattr(self, name)!r}"
                )
        if self.embedding_cache == "disk" and not self.cache_dir:
            raise ConfigError(
                "finetune.embedding_cache=disk needs a folder: set finetune.cache_dir "
                "(or --cache-dir)"
            )
        if self.embedding_cache != "disk" and self.cache_dir is not None:
            # The folder would never be written or read: a run meant to fill it must not pass.
            raise ConfigError(
                f"finetune.cache_dir '{self.cache_dir}' would be ignored: it is the folder of "
                f"the disk cache, and finetune.embedding_cache is {self.embedding_cache}; set "
                "finetune.embedding_cache: disk, or leave finetune.cache_dir out (null)"
            )


@dataclass
class SamFinetuneConfig:
    """A fine-tuning config file.

    Arguments:
        data: the dataset section, as in the PMG-SAM configs (dataset, root, train/val
            splits); its ``augment`` section is not used (``load_settings`` of
            :mod:`~pmgsam.baselines.finetune_options` sets ``enabled`` false).
        finetune: the fine-tuning settings (:class:`FinetuneConfig`).
    """

    data: DataConfig = field(default_factory=DataConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)


def freeze_encoders(sam: Sam) -> List[torch.nn.Parameter]:
    """Freeze the image and prompt encoders (eval mode, no gradients); the mask decoder's
    parameters, the only ones to train, are returned."""
    for part in (sam.image_encoder, sam.prompt_encoder):
        part.eval()
        part.requires_grad_(False)
    sam.mask_decoder.requires_grad_(True)
    return list(sam.mask_decoder.parameters())


def batch_losses(
    sam: Sam,
    samples: Sequence[Sample],
    cfg: FinetuneConfig,
    embeddings: Optional[torch.Tensor] = None,
) -> Dict[str, torch.Tensor]:
    """Mean losses of a batch of samples (gradients reach the mask decoder only); their image
    ``embeddings`` are computed (:func:`encode`) when not given."""
    if embeddings is None:
        embeddings = encode(sam, [s.image for s in samples], cfg.encoder_dtype)
    totals: Dict[str, torch.Tensor] = {}
    for sample, embedding in zip(samples, embeddings):
        low_res, iou_pred = decode(sam, sample.points, embedding)
        logits = input_frame(sam, low_res, tuple(sample.targets.shape[-2:]))
        losses = prompt_losses(logits, iou_pred, sample.prompt_targets(), cfg)
        for key, value in losses.items():
            totals[key] = totals.get(key, 0) + value / len(samples)
    return totals


def run_epoch(
    sam: Any,
    items: Dataset,
    cfg: FinetuneConfig,
    device: torch.device,
    optimizer: Optional[torch.optim.Optimizer] = None,
    workers: int = 0,
    desc: str = "",
    progress: bool = True,
    embed: Optional[Callable[[Sequence[Sample]], torch.Tensor]] = None,
    gt_empty: Optional[List[str]] = None,
) -> Tuple[Dict[str, float], List[str], int]:
    """One pass over ``items`` of ``(name, Sample or None)`` (trains when ``optimizer`` is
    given): the image-weighted mean losses, the names skipped for lack of GT foreground (with
    instance targets: of instances), and the optimiser steps taken. ``embed(samples)`` gives
    the image embeddings (a cache); by default the encoder computes them. ``gt_empty``, when
    given, is extended with the names of the samples marked ``gt_empty`` (trained on
    instances although their binary GT is empty)."""
    # Pinned batches copy to the GPU without blocking the host (Sample.to).
    loader = DataLoader(items, batch_size=cfg.batch_size, num_workers=workers, collate_fn=list,
                        pin_memory=device.type == "cuda",
                        worker_init_fn=command_worker_init())  # fmt: skip
    # Summed on the device (reading a loss waits for the GPU), in float64: the means equal
    # a host-side sum of every step's loss read back.
    sums = EpochLosses(device, world_size=1, dtype=torch.float64)
    skipped: List[str] = []
    steps = 0
    means: Dict[str, float] = {}
    sam.mask_decoder.train(optimizer is not None)
    bar = tqdm(desc=desc, total=len(loader), unit="batch", disable=not progress)
    with bar, loader_batches(loader) as batches:
        for index, batch in enumerate(batches, 1):
            bar.update()
            samples = [s.to(device) for _, s in batch if s is not None]
            skipped += [name for name, s in batch if s is None]
            if gt_empty is not None:
                gt_empty += [name for name, s in batch if s is not None and s.gt_empty]
            if not samples:
                continue
            with torch.set_grad_enabled(optimizer is not None):
                losses = batch_losses(sam, samples, cfg, embed(samples) if embed else None)
            if optimizer is not None:
                optimizer.zero_grad(set_to_none=True)
                losses["loss"].backward()
                optimizer.step()
                steps += 1
            sums.add(losses, len(samples))
            if index % POSTFIX_EVERY == 0 and not bar.disable:
                bar.set_postfix(loss=f"{sums.loss_means()['loss']:.4f}")
        if sums.count:
            means = sums.loss_means()
            bar.set_postfix(loss=f"{means['loss']:.4f}")
    sam.mask_decoder.eval()
    if not means:
        from pmgsam.data.io import DataError

        raise DataError(
            f"{desc}: none of the {len(items)} images has GT foreground (with instance targets: "
            "an instance); no point prompt can be sampled"
        )
    return means, skipped, steps
