"""The PMG-SAM training loss (BCE + Dice + soft IoU, weights 1 : 1 : 10).

Every loss term is computed per image and averaged over the batch, so an image with a small object
counts as much as one with a large object. An optional auxiliary copy of the same loss
supervises the Pre-Mask.
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from typing import ContextManager, Dict, Mapping, Tuple

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


def _soft_overlap(logits: torch.Tensor, target: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Per-image ``Σpg`` and ``Σp + Σg`` of sigmoid probabilities ``p`` and target ``g``."""
    p, g = torch.sigmoid(_flat(logits)), _flat(target)
    return (p * g).sum(1), p.sum(1) + g.sum(1)


def dice_loss(logits: torch.Tensor, target: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """Per-image ``1 - (2·Σpg + s) / (Σp + Σg + s)`` on sigmoid probabilities, shape (B,).

    Arguments:
      logits (torch.Tensor): (B, ...) mask logits, e.g. (B, 1, S, S).
      target (torch.Tensor): {0, 1} ground truth of the same shape.
      smooth (float): added to numerator and denominator (an empty mask and an empty
        prediction then give 0, not NaN).
    """
    inter, total = _soft_overlap(logits, target)
    return 1.0 - (2.0 * inter + smooth) / (total + smooth)


def iou_loss(logits: torch.Tensor, target: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """Per-image soft IoU loss ``1 - (Σpg + s) / (Σp + Σg - Σpg + s)``, shape (B,); the
    arguments are :func:`dice_loss`'s."""
    inter, total = _soft_overlap(logits, target)
    return 1.0 - (inter + smooth) / (total - inter + smooth)


def _autocast_off(device_type: str) -> ContextManager:
    """Autocast turned off on ``device_type``; nothing to turn off on a device autocast does
    not know (the meta device, on which :mod:`pmgsam.efficiency.traffic` counts a training
    step's memory traffic)."""
    if not torch.amp.is_autocast_available(device_type):
        return nullcontext()
    return torch.autocast(device_type=device_type, enabled=False)


def check_target_range(target: torch.Tensor, what: str = "the loss target") -> None:
    """Refuse a target with values outside [0, 1] (a 0/255 mask, an ignore label of -1, NaN):
    BCE, Dice and IoU accept it without complaint and train on nonsense.

    Reads the values back, so a target on an accelerator waits for it: the trainer checks each
    batch on the host, before the copy.
    """
    if target.numel() == 0 or target.dtype == torch.bool:
        return
    low, high = (float(v) for v in torch.aminmax(target.detach().float()))
    if low >= 0.0 and high <= 1.0:  # NaN fails too
        return
    if math.isnan(low) or math.isnan(high):
        cause = "it holds NaN"
    elif high > 1.0:
        cause = (
            "a 0/255 mask (8-bit PNG values converted to float without dividing by 255) gives "
            "this: divide it by 255 or threshold it (mask > 127)"
        )
    else:
        cause = "negative values (an 'ignore' label?) mean nothing to BCE, Dice or IoU"
    raise ValueError(
        f"{what} has max {high:.4g} and min {low:.4g}, but the losses expect a {{0, 1}} mask "
        f"(or soft targets in [0, 1]); {cause}"
    )


class SegmentationLoss(nn.Module):
    """Weighted BCE + Dice + IoU on ``outputs["mask"]`` (+ optionally on ``outputs["pre_mask"]``).

    ``forward(outputs, target)`` returns ``(total, components)``; ``components`` holds the
    batch-mean terms as detached scalars: ``bce``, ``dice``, ``iou`` for the final mask, and
    ``aux_bce``, ``aux_dice``, ``aux_iou``, ``aux`` (weighted sum) for the Pre-Mask when the
    auxiliary loss is on. Computed in float32 whatever the autocast dtype.

    The target must lie in [0, 1] (:func:`check_target_range`): one on the CPU is checked at
    every call; one on an accelerator at the first call only, as reading it back waits for the
    device.

    Arguments:
      config (LossConfig): the term weights and smoothing.
      check_device_targets (bool): check the first target given on an accelerator; False
        where the caller checks its batches on the host (the trainer) or makes them itself.
    """

    def __init__(self, config: LossConfig, check_device_targets: bool = True) -> None:
        super().__init__()
        # A library caller's config has not been through the training config's validation:
        # a negative weight would otherwise be minimised the wrong way without a word.
        config.validate_training()
        self.config = config
        self.check_device_targets = check_device_targets

    def _check_target(self, target: torch.Tensor) -> None:
        if target.device.type == "cpu":
            check_target_range(target)
        elif self.check_device_targets:
            check_target_range(target)
            self.check_device_targets = False

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
          target (torch.Tensor): the {0, 1} (or soft [0, 1]) ground truth, (B, 1, S, S); other
            values are refused as the class says.
        """
        self._check_outputs(outputs)
        self._check_target(target)
        with _autocast_off(target.device.type):
            total, terms = self._terms(outputs["mask"], target)
            components = {k: v.detach() for k, v in terms.items()}
            if self.config.aux_premask_weight > 0:
                aux, aux_terms = self._terms(outputs["pre_mask"], target)
                total = total + self.config.aux_premask_weight * aux
                components.update({f"aux_{k}": v.detach() for k, v in aux_terms.items()})
                components["aux"] = aux.detach()
        return total, components
