"""The PMG-SAM training loss (BCE + Dice + soft IoU, weights 1 : 1 : 10).

Every loss term is computed per image and averaged over the batch, so an image with a small object
counts as much as one with a large object. An optional auxiliary copy of the same loss
supervises the Pre-Mask.
"""

from __future__ import annotations

from typing import Dict, Mapping, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from pmgsam.engine.config import LossConfig


def _flat(x: torch.Tensor) -> torch.Tensor:
    return x.float().flatten(1)


def bce_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image mean binary cross-entropy with logits, shape (B,).

    Arguments:
      logits (torch.Tensor): (B, ...) mask logits, e.g. (B, 1, S, S).
      target (torch.Tensor): {0, 1} ground truth of the same shape.
    """
    return F.binary_cross_entropy_with_logits(_flat(logits), _flat(target), reduction="none").mean(
        1
    )


def dice_loss(logits: torch.Tensor, target: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """Per-image ``1 - (2·Σpg + s) / (Σp + Σg + s)`` on sigmoid probabilities, shape (B,).

    Arguments:
      logits (torch.Tensor): (B, ...) mask logits, e.g. (B, 1, S, S).
      target (torch.Tensor): {0, 1} ground truth of the same shape.
      smooth (float): added to numerator and denominator (an empty mask and an empty
        prediction then give 0, not NaN).
    """
    p, g = torch.sigmoid(_flat(logits)), _flat(target)
    inter = (p * g).sum(1)
    return 1.0 - (2.0 * inter + smooth) / (p.sum(1) + g.sum(1) + smooth)


def iou_loss(logits: torch.Tensor, target: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """Per-image soft IoU loss ``1 - (Σpg + s) / (Σp + Σg - Σpg + s)``, shape (B,).

    Arguments:
      logits (torch.Tensor): (B, ...) mask logits, e.g. (B, 1, S, S).
      target (torch.Tensor): {0, 1} ground truth of the same shape.
      smooth (float): added to numerator and denominator (an empty mask and an empty
        prediction then give 0, not NaN).
    """
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
        # A library caller's config has not been through the training config's validation:
        # a negative weight would otherwise be minimised the wrong way without a word.
        config.validate_training()
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

    def _check_outputs(self, outputs: Dict[str, torch.Tensor]) -> None:
        held = sorted(outputs) if isinstance(outputs, Mapping) else type(outputs).__name__
        if not isinstance(outputs, Mapping) or "mask" not in outputs:
            raise ValueError(
                f"the loss needs the model's output dict with the final mask logits under "
                f"'mask'; got {held}"
            )
        weight = self.config.aux_premask_weight
        if weight > 0 and "pre_mask" not in outputs:
            raise ValueError(
                f"loss.aux_premask_weight is {weight}, which supervises the Pre-Mask, but the "
                f"outputs given have no 'pre_mask' (they hold {held}): pass the model's whole "
                "output dict, or set aux_premask_weight=0"
            )

    def forward(
        self, outputs: Dict[str, torch.Tensor], target: torch.Tensor
    ) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        """``(total, components)`` as the class describes them.

        Arguments:
          outputs (dict of torch.Tensor): the model's ``{"pre_mask", "mask"}`` logits, each
            (B, 1, S, S); ``pre_mask`` is read only when the auxiliary loss is on (a missing
            output it needs is refused, naming the setting).
          target (torch.Tensor): the {0, 1} ground truth, (B, 1, S, S).
        """
        self._check_outputs(outputs)
        with torch.autocast(device_type=target.device.type, enabled=False):
            total, terms = self._terms(outputs["mask"], target)
            components = {k: v.detach() for k, v in terms.items()}
            if self.config.aux_premask_weight > 0:
                aux, aux_terms = self._terms(outputs["pre_mask"], target)
                total = total + self.config.aux_premask_weight * aux
                components.update({f"aux_{k}": v.detach() for k, v in aux_terms.items()})
                components["aux"] = aux.detach()
        return total, components
