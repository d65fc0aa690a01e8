"""Core numerics that earlier tests left loose (cases found by mutation testing): BCE on
saturated logits, U²-Net's per-image input scaling, the gradient path from the final mask to
the Pre-Mask, and validation in eval mode."""

from __future__ import annotations

from typing import Dict

import pytest
import torch
from torch import nn

from pmgsam.engine.losses import bce_loss
from pmgsam.engine.performance_config import PerformanceConfig
from pmgsam.engine.validation import run_validation
from pmgsam.modeling.common import IMAGENET_MEAN, IMAGENET_STD, PixelNormalizer
from pmgsam.modeling.mask_decoder import GuidedMaskDecoder

pytestmark = pytest.mark.usefixtures("one_thread")


def test_bce_of_confidently_wrong_logits_is_the_logit_not_a_clamped_log() -> None:
    # By hand: BCE(x, 0) = softplus(x) and BCE(-x, 1) = softplus(x), which is x + 4e-18 at
    # x = 40. BCE on sigmoid probabilities instead saturates (sigmoid(40) == 1 in float32) and
    # reads log(0) clamped to -100, with zero gradient: a confidently wrong pixel stops
    # being trained.
    logits = torch.tensor([[40.0, -40.0]], requires_grad=True)
    target = torch.tensor([[0.0, 1.0]])
    loss = bce_loss(logits, target)
    torch.testing.assert_close(loss, torch.tensor([40.0]))
    loss.sum().backward()
    # d/dx mean BCE = (sigmoid(x) - t) / n = (1 - 0) / 2 and (0 - 1) / 2.
    torch.testing.assert_close(logits.grad, torch.tensor([[0.5, -0.5]]))


def test_u2net_scaling_divides_each_image_by_its_own_maximum() -> None:
    # The official U²-Net pipeline divides each image by its own maximum: an image's input
    # must not depend on which other images share its batch.
    gen = torch.Generator().manual_seed(0)
    bright = torch.rand(1, 3, 4, 4, generator=gen) * 0.8
    bright[0, 1, 2, 3] = 0.8
    batch = torch.cat([bright, 0.5 * bright])  # maxima 0.8 and 0.4
    out = PixelNormalizer(per_image_max=True)(batch)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    expected = (bright / 0.8 - mean) / std
    torch.testing.assert_close(out[:1], expected)
    torch.testing.assert_close(out[1:], expected)


def test_the_final_mask_trains_the_pre_mask_generator() -> None:
    # DESIGN: the loss is on the final mask (the Pre-Mask's own loss is optional and off by
    # default), so the Pre-Mask generator learns only through the decoder's mask tokens: the
    # decoder must pass a gradient back to the Pre-Mask logits.
    torch.manual_seed(0)
    decoder = GuidedMaskDecoder(
        dim=32, patch_size=4, depth=1, num_heads=2, mlp_dim=16, high_res="none"
    )
    pre_mask = torch.randn(1, 1, 16, 16, requires_grad=True)
    mask = decoder(pre_mask, torch.randn(1, 32, 1, 1), {})
    mask.sum().backward()
    assert pre_mask.grad is not None and pre_mask.grad.abs().sum() > 0


class _BatchNormStandIn(nn.Module):
    """Mask logits from a BatchNorm of the image's channel 0 (as ResidualFusion has one)."""

    def __init__(self) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(1)
        self.modes = []

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        self.modes.append(self.training)
        mask = self.norm(x[:, :1])
        return {"mask": mask, "pre_mask": mask}


def test_validation_runs_the_model_in_eval_mode() -> None:
    # In train mode BatchNorm would normalise by the validation batch's own statistics and
    # update its running statistics from validation images (training on the validation split).
    model = _BatchNormStandIn().train()
    with torch.no_grad():
        model.norm.running_mean.fill_(0.25)
        model.norm.running_var.fill_(4.0)
    image = torch.zeros(2, 3, 4, 4)
    image[:, 0] = 2.25
    batch = {
        "image": image,
        "mask": torch.ones(2, 1, 4, 4),
        "orig_size": torch.tensor([[4, 4]] * 2),
    }

    def mean_logit(outputs: Dict[str, torch.Tensor], target: torch.Tensor) -> tuple:
        return outputs["mask"].mean(), {}

    stats, _ = run_validation(
        model, [batch], mean_logit, torch.device("cpu"), None, PerformanceConfig(), 0
    )
    assert model.modes == [False] and model.training
    # Eval mode by hand: (2.25 - 0.25) / sqrt(4 + 1e-5) = 1.0 (train mode: constant input -> 0).
    assert stats["loss"] == pytest.approx(1.0, abs=1e-5)
    assert model.norm.running_mean.item() == 0.25 and model.norm.running_var.item() == 4.0
