"""One image of the SAM fine-tuning, from its points to its prompts' losses.

The image, its targets and its points in SAM's input frame (:class:`Sample`, :func:`prepare`),
the frozen encoder's embedding (:func:`encode`), the mask decoder's multimask outputs for
single positive points (:func:`decode`, :func:`input_frame`) and the losses of the prompts
(:func:`prompt_losses`): the per-image steps of the recipe that
:mod:`pmgsam.baselines.finetune_recipe` states and runs (its ``batch_losses`` and
``run_epoch``), which re-exports these names.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Dict, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from pmgsam.engine.losses import check_target_range

# segment-anything (which imports torchvision and torch._dynamo, ~1.5 s) only where it runs:
# the command's --help and its parser need none of it.
if TYPE_CHECKING:
    from segment_anything.modeling import Sam

    from pmgsam.baselines.finetune_recipe import FinetuneConfig

FOCAL_ALPHA, FOCAL_GAMMA = 0.25, 2.0  # SAM's (and torchvision's sigmoid_focal_loss) defaults
DICE_SMOOTH = 1.0


@dataclass
class Sample:
    """One image in SAM's input frame (what the data loader hands the training loop).

    Arguments:
        image: (3, h, w) uint8 RGB resized with ``ResizeLongestSide`` (not yet normalised or
            padded: :func:`encode`, which ``batch_losses`` calls, applies ``sam.preprocess``).
        targets: (T, h, w) bool masks at that size: the binary GT (T = 1) or the instances.
        points: (P, 2) x, y prompts in that frame.
        owner: (P,) int64, the index in ``targets`` of each prompt's target.
        key: :func:`image_key` of ``image`` when an embedding cache is used, else "".
        gt_empty: the targets are instances but the image's binary GT mask is empty (one of
            the two labels is wrong: the run names such images in a warning).
    """

    image: torch.Tensor
    targets: torch.Tensor
    points: torch.Tensor
    owner: torch.Tensor
    key: str = ""
    gt_empty: bool = False

    def tensors(self) -> Tuple[torch.Tensor, ...]:
        return self.image, self.targets, self.points, self.owner

    def to(self, device: torch.device) -> Sample:
        # Without waiting for the GPU from pinned memory (the loader's, with CUDA; the copy
        # is ordered before the kernels that read it); from pageable memory it is a plain copy.
        moved = (t.to(device, non_blocking=True) for t in self.tensors())
        return Sample(*moved, key=self.key, gt_empty=self.gt_empty)

    def pin_memory(self) -> Sample:
        """A copy in pinned memory: what a DataLoader with ``pin_memory`` calls on its items."""
        pinned = (t.pin_memory() for t in self.tensors())
        return Sample(*pinned, key=self.key, gt_empty=self.gt_empty)

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
    """An (H, W, 3) uint8 RGB image, its (H, W) {0, 1} mask or (T, H, W) target masks (other
    values are refused: :func:`~pmgsam.engine.losses.check_target_range`), (P, 2)
    x, y points in the original frame and each point's target index ``owner`` (default 0) -> a
    :class:`Sample` in the input frame of a SAM of input side ``side``, as
    ``SamPredictor.set_image`` and ``predict`` transform them; every target is resized as the
    binary GT is."""
    from segment_anything.utils.transforms import ResizeLongestSide

    masks = mask[None] if mask.ndim == 2 else mask
    # Thresholded at 0.5 below, a 0/255 mask would pass, dilated: any fraction of it above 0.5.
    check_target_range(torch.as_tensor(masks), "the fine-tuning target mask")
    transform = ResizeLongestSide(side)
    resized = transform.apply_image(image)
    h, w = resized.shape[:2]
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
    """Sigmoid focal loss (alpha 0.25, gamma 2) averaged over the last two (pixel) dims.

    Arguments:
        logits: (..., h, w) mask logits, e.g. (P, 3, h, w).
        target: {0, 1} GT that broadcasts against ``logits``, e.g. (P, 1, h, w).
    """
    target = target.expand_as(logits)
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p_t = p * target + (1 - p) * (1 - target)
    alpha_t = FOCAL_ALPHA * target + (1 - FOCAL_ALPHA) * (1 - target)
    return (alpha_t * ce * (1 - p_t) ** FOCAL_GAMMA).mean(dim=(-2, -1))


def dice_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``1 - (2 |p t| + 1) / (|p| + |t| + 1)`` with ``p = sigmoid(logits)``, per mask.

    Arguments:
        logits: (..., h, w) mask logits, e.g. (P, 3, h, w).
        target: {0, 1} GT that broadcasts against ``logits``, e.g. (P, 1, h, w).
    """
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
    """Losses of one image's prompts (``loss``, ``mask_loss``, ``iou_loss``). ``loss`` = mean
    over prompts of the smallest of the 3 mask losses + ``iou_weight`` * the IoU-head MSE over
    all 3 masks.

    Arguments:
        logits: (P, 3, h, w) mask logits of the P prompts, in the GT's frame.
        iou_pred: (P, 3) the IoU head's predictions.
        gt: {0, 1} (h, w) GT shared by every prompt, or (P, h, w), each prompt's own.
        cfg: the ``focal_weight``, ``dice_weight`` and ``iou_weight`` of the sum.
    """
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


def point_prompts(sam: Sam, points: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """The prompt encoder's sparse (P, 2, C) and dense embeddings of (P, 2) x, y single positive
    points, one per prompt (label 1, then the padding point of a prompt without a box), equal
    to ``sam.prompt_encoder(points=(points[:, None], ones), boxes=None, masks=None)``. Its
    ``_embed_points`` selects rows by label with boolean masks, each of which waits for the
    GPU; here the rows' labels are known, so the same sums are taken without them."""
    encoder = sam.prompt_encoder
    clicks = points[:, None, :] + 0.5  # the centre of the pixel, as _embed_points shifts it
    coords = torch.cat([clicks, torch.zeros_like(clicks)], dim=1)
    positional = encoder.pe_layer.forward_with_coords(coords, encoder.input_image_size)
    point = positional[:, :1] + encoder.point_embeddings[1].weight
    padding = encoder.not_a_point_embed.weight.expand(len(points), 1, -1)
    dense = encoder.no_mask_embed.weight.reshape(1, -1, 1, 1)
    dense = dense.expand(len(points), -1, *encoder.image_embedding_size)
    return torch.cat([point, padding], dim=1), dense


def decode(
    sam: Sam, points: torch.Tensor, embedding: torch.Tensor
) -> Tuple[torch.Tensor, torch.Tensor]:
    """The mask decoder's (P, 3, side/4, side/4) low-res logits and (P, 3) IoU predictions for
    (P, 2) x, y single positive points in the input frame, one per prompt, on one image's
    (256, side/16, side/16) ``embedding``: ``SamPredictor.predict_torch`` with
    ``multimask_output=True``, as ``SamAutomaticMaskGenerator`` calls it (gradients reach the
    mask decoder only)."""
    with torch.no_grad():
        sparse, dense = point_prompts(sam, points)
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
