"""The PMG-SAM training loss (BCE + Dice + soft IoU, weights 1 : 1 : 10) and the quick
validation metrics the trainer logs.

Every loss term is computed per image and averaged over the batch, so an image with a small object
counts as much as one with a large object. An optional auxiliary copy of the same loss
supervises the Pre-Mask.
"""

from __future__ import annotations

from typing import Dict, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from pmgsam.data import resized_hw
from pmgsam.engine.config import LossConfig
from pmgsam.evaluation.dis_metrics import F_BETA2


def _flat(x: torch.Tensor) -> torch.Tensor:
    return x.float().flatten(1)


def bce_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image mean binary cross-entropy with logits, shape (B,)."""
    return F.binary_cross_entropy_with_logits(_flat(logits), _flat(target), reduction="none").mean(
        1
    )


def dice_loss(logits: torch.Tensor, target: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """Per-image ``1 - (2·Σpg + s) / (Σp + Σg + s)`` on sigmoid probabilities, shape (B,)."""
    p, g = torch.sigmoid(_flat(logits)), _flat(target)
    inter = (p * g).sum(1)
    return 1.0 - (2.0 * inter + smooth) / (p.sum(1) + g.sum(1) + smooth)


def iou_loss(logits: torch.Tensor, target: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """Per-image soft IoU loss ``1 - (Σpg + s) / (Σp + Σg - Σpg + s)``, shape (B,)."""
    p, g = torch.sigmoid(_flat(logits)), _flat(target)
    inter = (p * g).sum(1)
    return 1.0 - (inter + smooth) / (p.sum(1) + g.sum(1) - inter + smooth)


class SegmentationLoss(nn.Module):
    """Weighted BCE + Dice + IoU on ``outputs["mask"]`` (+ optionally on ``outputs["pre_mask"]``).

    ``forward(outputs, target)`` returns ``(total, components)``; ``components`` holds the
    batch-mean terms as detached scalars: ``bce``, ``dice``, ``iou`` for the final mask, and
    ``aux_bce``, ``aux_dice``, ``aux_iou``, ``aux`` (weighted sum) for the Pre-Mask when the
    auxiliary loss is on. Computed in float32 whatever the autocast dtype.

    Arguments:
      config (LossConfig): the term weights and smoothing.
    """

    def __init__(self, config: LossConfig) -> None:
        super().__init__()
        self.config = config

    def _terms(
        self, logits: torch.Tensor, target: torch.Tensor
    ) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        c = self.config
        if logits.shape != target.shape:
            raise ValueError(
                f"logits {tuple(logits.shape)} and target {tuple(target.shape)} differ in shape"
            )
        terms = {
            "bce": bce_loss(logits, target).mean(),
            "dice": dice_loss(logits, target, c.smooth).mean(),
            "iou": iou_loss(logits, target, c.smooth).mean(),
        }
        total = c.bce_weight * terms["bce"] + c.dice_weight * terms["dice"]
        return total + c.iou_weight * terms["iou"], terms

    def forward(
        self, outputs: Dict[str, torch.Tensor], target: torch.Tensor
    ) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        with torch.autocast(device_type=target.device.type, enabled=False):
            total, terms = self._terms(outputs["mask"], target)
            components = {k: v.detach() for k, v in terms.items()}
            if self.config.aux_premask_weight > 0:
                aux, aux_terms = self._terms(outputs["pre_mask"], target)
                total = total + self.config.aux_premask_weight * aux
                components.update({f"aux_{k}": v.detach() for k, v in aux_terms.items()})
                components["aux"] = aux.detach()
        return total, components


def monitor_metrics(
    mask_logits: torch.Tensor, target: torch.Tensor, orig_sizes: Union[torch.Tensor, list]
) -> Dict[str, torch.Tensor]:
    """Sums over the batch of per-image MAE, IoU and Fβ (β²=0.3) at threshold 0.5.

    Measured on the valid (un-padded) region at network resolution: a cheap progress signal
    for training, not the benchmark protocol of :mod:`pmgsam.evaluation`. An image whose
    prediction and GT are both empty scores IoU = F = 1. The sums are 0-dim tensors on the
    logits' device, computed for the whole batch at once, so validation reads nothing back
    per batch.
    """
    size = mask_logits.shape[-1]
    batch = mask_logits.shape[0]
    probs = torch.sigmoid(mask_logits.detach().float()).reshape(batch, -1, size, size)
    gt = target.float().reshape(batch, -1, size, size)
    # orig_sizes come from the CPU batch: reading them costs no device synchronisation.
    hw = [resized_hw(int(h), int(w), size) for h, w in torch.as_tensor(orig_sizes).tolist()]
    device = probs.device
    heights = torch.tensor([h for h, _ in hw], device=device).view(batch, 1, 1, 1)
    widths = torch.tensor([w for _, w in hw], device=device).view(batch, 1, 1, 1)
    coords = torch.arange(size, device=device)
    valid = (coords.view(1, 1, size, 1) < heights) & (coords.view(1, 1, 1, size) < widths)
    dims = (1, 2, 3)
    area = (heights * widths).view(batch).float() * probs.shape[1]
    mae = ((probs - gt).abs() * valid).sum(dims) / area
    pred, truth = (probs > 0.5) & valid, (gt > 0.5) & valid
    tp = (pred & truth).sum(dims).float()
    n_pred, n_true = pred.sum(dims).float(), truth.sum(dims).float()
    union = n_pred + n_true - tp
    one, zero = torch.ones_like(tp), torch.zeros_like(tp)
    iou = torch.where(union > 0, tp / union.clamp_min(1), one)
    precision = torch.where(n_pred > 0, tp / n_pred.clamp_min(1), zero)
    recall = torch.where(n_true > 0, tp / n_true.clamp_min(1), zero)
    denom = F_BETA2 * precision + recall
    f = torch.where(denom > 0, (1 + F_BETA2) * precision * recall / denom.clamp_min(1e-12), zero)
    f = torch.where((n_pred == 0) & (n_true == 0), one, f)
    return {"mae": mae.sum(), "iou": iou.sum(), "f": f.sum()}
