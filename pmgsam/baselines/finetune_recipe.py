"""The recipe of ``python -m pmgsam.baselines.finetune_sam``: config, prompts, losses, one pass.

The paper compares against a fine-tuned SAM-H in automatic mode without saying how it was
fine-tuned. This is SAM's own training recipe (Kirillov et al. 2023, §3 and appendix A)
restricted to what automatic mode asks of the model:

* the image encoder and the prompt encoder stay frozen (image embeddings under
  ``torch.no_grad()``, float32 or bf16 autocast: ``encoder_dtype``); only the mask decoder
  trains, with AdamW. With no augmentation an image's embedding never changes, so it can be
  computed once and reused every epoch (``embedding_cache``, ``finetune_data.py``);
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
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from segment_anything.modeling import Sam
from segment_anything.utils.transforms import ResizeLongestSide
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from pmgsam.baselines.finetune_targets import TARGET_KINDS
from pmgsam.data.config import DataConfig
from pmgsam.utils.config import ConfigError, check_positive, check_seed
from pmgsam.utils.loaders import loader_batches

logger = logging.getLogger("pmgsam.baselines.finetune_sam")
FOCAL_ALPHA, FOCAL_GAMMA = 0.25, 2.0  # SAM's (and torchvision's sigmoid_focal_loss) defaults
DICE_SMOOTH = 1.0
CACHE_MODES = ("memory", "disk", "none")
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
        cache_dir: the folder of the ``disk`` cache (required with it).
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
    cache_dir: Optional[str] = None
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


@dataclass
class SamFinetuneConfig:
    """A fine-tuning config file: the dataset (``data``, as in the PMG-SAM configs; its
    ``augment`` section is not used) and the ``finetune`` settings."""

    data: DataConfig = field(default_factory=DataConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)


@dataclass
class Sample:
    """One image in SAM's input frame (what the data loader hands the training loop).

    Arguments:
        image: (3, h, w) uint8 RGB resized with ``ResizeLongestSide`` (not yet normalised or
            padded: :func:`batch_losses` applies ``sam.preprocess``).
        targets: (T, h, w) bool masks at that size: the binary GT (T = 1) or the instances.
        points: (P, 2) x, y prompts in that frame.
        owner: (P,) int64, the index in ``targets`` of each prompt's target.
        key: :func:`image_key` of ``image`` when an embedding cache is used, else "".
    """

    image: torch.Tensor
    targets: torch.Tensor
    points: torch.Tensor
    owner: torch.Tensor
    key: str = ""

    def to(self, device: torch.device) -> Sample:
        moved = (t.to(device) for t in (self.image, self.targets, self.points, self.owner))
        return Sample(*moved, key=self.key)

    def prompt_targets(self) -> torch.Tensor:
        """Float {0, 1} targets of the prompts: (h, w) when there is one target, which every
        prompt shares (no copy per prompt), else (P, h, w)."""
        if len(self.targets) == 1:
            return self.targets[0].float()
        return self.targets[self.owner].float()


def image_key(image: torch.Tensor) -> str:
    """SHA-256 of an encoder input (its shape and uint8 pixels): equal images, and only they,
    have equal embeddings under one model."""
    digest = hashlib.sha256(f"{tuple(image.shape)}:{image.dtype}\n".encode())
    digest.update(image.contiguous().cpu().numpy().tobytes())
    return digest.hexdigest()


def encode(sam: Sam, images: Sequence[torch.Tensor], dtype: str = "fp32") -> torch.Tensor:
    """The frozen image encoder's float32 (B, 256, side/16, side/16) embeddings of uint8
    (3, h, w) images in SAM's input frame (``sam.preprocess`` normalises and pads them), in
    ``torch.no_grad()``; ``dtype`` bf16 runs the encoder under bf16 autocast (the weights stay
    float32, so the written state dict does too)."""
    bf16 = dtype == "bf16"
    with torch.no_grad(), torch.autocast(sam.device.type, dtype=torch.bfloat16, enabled=bf16):
        inputs = torch.cat([sam.preprocess(image[None].float()) for image in images])
        return sam.image_encoder(inputs).float()


def prepare(
    image: np.ndarray,
    mask: np.ndarray,
    points: np.ndarray,
    side: int,
    owner: Optional[np.ndarray] = None,
) -> Sample:
    """An (H, W, 3) uint8 RGB image, its (H, W) {0, 1} mask or (T, H, W) target masks, (P, 2)
    x, y points in the original frame and each point's target index ``owner`` (default 0) -> a
    :class:`Sample` in the input frame of a SAM of input side ``side``, as
    ``SamPredictor.set_image`` and ``predict`` transform them; every target is resized as the
    binary GT is."""
    transform = ResizeLongestSide(side)
    resized = transform.apply_image(image)
    h, w = resized.shape[:2]
    masks = mask[None] if mask.ndim == 2 else mask
    targets = torch.empty((len(masks), h, w), dtype=torch.bool)
    for i, one in enumerate(masks):  # one float copy at a time
        gt = torch.as_tensor(one, dtype=torch.float32)[None, None]
        # Bilinear with antialiasing (PIL's filter, which resizes the image), not "area":
        # torch's area is adaptive average pooling, whose equal-weight 2-pixel windows at
        # non-integer scales give every boundary pixel 0.5 (eroded GT, 1-px structures gone).
        gt = F.interpolate(gt, (h, w), mode="bilinear", align_corners=False, antialias=True)
        targets[i] = gt[0, 0] > 0.5
    coords = transform.apply_coords(points, masks.shape[1:])
    owner = np.zeros(len(points), np.int64) if owner is None else owner
    return Sample(
        torch.as_tensor(resized).permute(2, 0, 1).contiguous(),
        targets,
        torch.as_tensor(coords, dtype=torch.float32),
        torch.as_tensor(owner, dtype=torch.int64),
    )


def focal_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Sigmoid focal loss (alpha 0.25, gamma 2) averaged over the last two (pixel) dims;
    ``target`` broadcasts against ``logits``."""
    target = target.expand_as(logits)
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p_t = p * target + (1 - p) * (1 - target)
    alpha_t = FOCAL_ALPHA * target + (1 - FOCAL_ALPHA) * (1 - target)
    return (alpha_t * ce * (1 - p_t) ** FOCAL_GAMMA).mean(dim=(-2, -1))


def dice_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``1 - (2 |p t| + 1) / (|p| + |t| + 1)`` with ``p = sigmoid(logits)``, per mask."""
    p = torch.sigmoid(logits)
    target = target.expand_as(p)
    inter = (p * target).sum(dim=(-2, -1))
    total = p.sum(dim=(-2, -1)) + target.sum(dim=(-2, -1))
    return 1 - (2 * inter + DICE_SMOOTH) / (total + DICE_SMOOTH)


def mask_iou(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """IoU of each mask (``logits > 0``, SAM's mask threshold) with the GT; 1 when both are
    empty. No gradient: it is the IoU head's target."""
    with torch.no_grad():
        pred = logits > 0
        gt = target.expand_as(pred) > 0.5
        inter = (pred & gt).sum(dim=(-2, -1)).float()
        union = (pred | gt).sum(dim=(-2, -1)).float()
        return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))


def prompt_losses(
    logits: torch.Tensor, iou_pred: torch.Tensor, gt: torch.Tensor, cfg: FinetuneConfig
) -> Dict[str, torch.Tensor]:
    """Losses of one image's prompts: ``logits`` (P, 3, h, w) in the GT's frame, ``iou_pred``
    (P, 3), ``gt`` (h, w), shared by every prompt, or (P, h, w), each prompt's own. ``loss`` =
    mean over prompts of the smallest of the 3 mask losses + ``iou_weight`` * the IoU-head MSE
    over all 3 masks."""
    target = gt[:, None] if gt.dim() == 3 else gt[None, None]
    per_mask = cfg.focal_weight * focal_loss(logits, target)
    per_mask = per_mask + cfg.dice_weight * dice_loss(logits, target)
    mask_loss = per_mask.min(dim=1).values.mean()
    iou_loss = F.mse_loss(iou_pred, mask_iou(logits, target))
    return {
        "loss": mask_loss + cfg.iou_weight * iou_loss,
        "mask_loss": mask_loss,
        "iou_loss": iou_loss,
    }


def freeze_encoders(sam: Sam) -> List[torch.nn.Parameter]:
    """Freeze the image and prompt encoders (eval mode, no gradients); the mask decoder's
    parameters, the only ones to train, are returned."""
    for part in (sam.image_encoder, sam.prompt_encoder):
        part.eval()
        part.requires_grad_(False)
    sam.mask_decoder.requires_grad_(True)
    return list(sam.mask_decoder.parameters())


def decode(
    sam: Sam, points: torch.Tensor, embedding: torch.Tensor
) -> Tuple[torch.Tensor, torch.Tensor]:
    """The mask decoder's (P, 3, side/4, side/4) low-res logits and (P, 3) IoU predictions for
    (P, 2) x, y single positive points in the input frame, one per prompt, on one image's
    (256, side/16, side/16) ``embedding``: ``SamPredictor.predict_torch`` with
    ``multimask_output=True``, as ``SamAutomaticMaskGenerator`` calls it (gradients reach the
    mask decoder only)."""
    points = points[:, None, :]  # (P, 1, 2): one point per prompt
    labels = torch.ones(points.shape[:2], dtype=torch.int, device=points.device)
    with torch.no_grad():
        sparse, dense = sam.prompt_encoder(points=(points, labels), boxes=None, masks=None)
        dense_pe = sam.prompt_encoder.get_dense_pe()
    return sam.mask_decoder(
        image_embeddings=embedding[None],
        image_pe=dense_pe,
        sparse_prompt_embeddings=sparse,
        dense_prompt_embeddings=dense,
        multimask_output=True,
    )


def input_frame(sam: Sam, low_res: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    """Low-res logits in the input frame of a resized image of ``size`` (h, w): upsampled
    (bilinear) to the padded input side and cropped, the first two steps of
    ``sam.postprocess_masks``."""
    side = sam.image_encoder.img_size
    logits = F.interpolate(low_res, (side, side), mode="bilinear", align_corners=False)
    return logits[..., : size[0], : size[1]]


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
) -> Tuple[Dict[str, float], List[str], int]:
    """One pass over ``items`` of ``(name, Sample or None)`` (trains when ``optimizer`` is
    given): the image-weighted mean losses, the names skipped for lack of GT foreground (with
    instance targets: of instances), and the optimiser steps taken. ``embed(samples)`` gives
    the image embeddings (a cache); by default the encoder computes them."""
    loader = DataLoader(items, batch_size=cfg.batch_size, num_workers=workers, collate_fn=list)
    sums: Dict[str, float] = {}
    skipped: List[str] = []
    used = steps = 0
    sam.mask_decoder.train(optimizer is not None)
    with loader_batches(loader) as batches:
        bar = tqdm(batches, desc=desc, total=len(loader), unit="batch", disable=not progress)
        for batch in bar:
            samples = [s.to(device) for _, s in batch if s is not None]
            skipped += [name for name, s in batch if s is None]
            if not samples:
                continue
            with torch.set_grad_enabled(optimizer is not None):
                losses = batch_losses(sam, samples, cfg, embed(samples) if embed else None)
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
            f"{desc}: none of the {len(items)} images has GT foreground (with instance targets: "
            "an instance); no point prompt can be sampled"
        )
    return {k: v / used for k, v in sums.items()}, skipped, steps
