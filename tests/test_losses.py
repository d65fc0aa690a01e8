"""Loss terms and monitoring metrics against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pmgsam.engine.config import LossConfig
from pmgsam.engine.losses import (
    SegmentationLoss,
    bce_loss,
    dice_loss,
    iou_loss,
)
from pmgsam.engine.validation import monitor_metrics

LN3 = math.log(3.0)


def _pair() -> tuple:
    """Two 1×1×2 images. Image 0: p = (0.5, 0.75), g = (1, 0). Image 1: p = (0.75, 0.75), g = 1."""
    logits = torch.tensor([[[[0.0, LN3]]], [[[LN3, LN3]]]])
    target = torch.tensor([[[[1.0, 0.0]]], [[[1.0, 1.0]]]])
    return logits, target


def test_terms_per_image() -> None:
    logits, target = _pair()
    # Image 0: BCE = (ln 2 + ln 4) / 2; inter 0.5, Σp 1.25, Σg 1.
    # Image 1: BCE = ln(4/3); inter 1.5, Σp 1.5, Σg 2.
    bce = torch.tensor([(math.log(2) + math.log(4)) / 2, math.log(4 / 3)])
    dice = torch.tensor([1 - 2.0 / 3.25, 1 - 4.0 / 4.5])
    iou = torch.tensor([1 - 1.5 / 2.75, 1 - 2.5 / 3.0])
    torch.testing.assert_close(bce_loss(logits, target), bce)
    torch.testing.assert_close(dice_loss(logits, target, smooth=1.0), dice)
    torch.testing.assert_close(iou_loss(logits, target, smooth=1.0), iou)
    # Without smoothing: image 0 Dice = 1 - 1 / 2.25, IoU = 1 - 0.5 / 1.75.
    torch.testing.assert_close(dice_loss(logits, target, smooth=0.0)[0], torch.tensor(1 - 1 / 2.25))
    torch.testing.assert_close(
        iou_loss(logits, target, smooth=0.0)[0], torch.tensor(1 - 0.5 / 1.75)
    )


def test_weighted_total_is_mean_over_images() -> None:
    logits, target = _pair()
    loss = SegmentationLoss(LossConfig())
    total, parts = loss({"mask": logits, "pre_mask": logits}, target)
    bce = ((math.log(2) + math.log(4)) / 2 + math.log(4 / 3)) / 2
    dice = ((1 - 2.0 / 3.25) + (1 - 4.0 / 4.5)) / 2
    iou = ((1 - 1.5 / 2.75) + (1 - 2.5 / 3.0)) / 2
    assert total.item() == pytest.approx(bce + dice + 10 * iou, rel=1e-6)
    assert parts["bce"].item() == pytest.approx(bce, rel=1e-6)
    assert parts["iou"].item() == pytest.approx(iou, rel=1e-6)
    assert set(parts) == {"bce", "dice", "iou"}
    # Pooling the pixels of the batch would weigh image 1 (larger object) more: not equal.
    pooled = 1 - (0.5 + 1.5 + 1) / (1.25 + 1.5 + 3 - 2.0 + 1)
    assert parts["iou"].item() != pytest.approx(pooled, rel=1e-3)

    weighted = SegmentationLoss(LossConfig(bce_weight=2.0, dice_weight=0.0, iou_weight=1.0))
    total2, _ = weighted({"mask": logits, "pre_mask": logits}, target)
    assert total2.item() == pytest.approx(2 * bce + iou, rel=1e-6)


def test_auxiliary_premask_loss() -> None:
    logits, target = _pair()
    pre = torch.zeros_like(logits)  # p = 0.5 everywhere
    plain, _ = SegmentationLoss(LossConfig())({"mask": logits, "pre_mask": pre}, target)
    total, parts = SegmentationLoss(LossConfig(aux_premask_weight=0.5))(
        {"mask": logits, "pre_mask": pre}, target
    )
    # Pre-Mask p = 0.5: BCE ln 2; image 0 Dice 1 - 2/3, IoU 1 - 1.5/2.5; image 1 Dice
    # 1 - 3/4, IoU 1 - 2/3.
    aux = math.log(2) + ((1 - 2 / 3) + (1 - 3 / 4)) / 2 + 10 * ((1 - 1.5 / 2.5) + (1 - 2 / 3)) / 2
    assert parts["aux"].item() == pytest.approx(aux, rel=1e-6)
    assert total.item() == pytest.approx(plain.item() + 0.5 * aux, rel=1e-6)
    assert {"aux_bce", "aux_dice", "aux_iou"} <= set(parts)


def test_missing_outputs_are_named_with_the_setting_that_needs_them() -> None:
    logits, target = _pair()
    loss = SegmentationLoss(LossConfig(aux_premask_weight=1))
    with pytest.raises(
        ValueError, match=r"loss.aux_premask_weight is 1.*no 'pre_mask' \(they hold"
    ):
        loss({"mask": logits}, target)
    with pytest.raises(ValueError, match=r"final mask logits under 'mask'; got \['pre_mask'\]"):
        SegmentationLoss(LossConfig())({"pre_mask": logits}, target)
    # Without the auxiliary loss the Pre-Mask is not needed.
    SegmentationLoss(LossConfig())({"mask": logits}, target)


def test_loss_gradient_and_dtype() -> None:
    logits = torch.randn(2, 1, 8, 8, requires_grad=True)
    target = (torch.rand(2, 1, 8, 8) > 0.5).float()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        total, parts = SegmentationLoss(LossConfig())(
            {"mask": logits.bfloat16(), "pre_mask": logits}, target
        )
    assert total.dtype == torch.float32
    total.backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()
    assert not parts["bce"].requires_grad
    with pytest.raises(ValueError, match="differ in shape"):
        SegmentationLoss(LossConfig())({"mask": logits[:, :, :4], "pre_mask": logits}, target)


def test_bfloat16_logits_are_scored_in_float32() -> None:
    # Logits that bfloat16 holds exactly, scored once as bfloat16 under autocast: the loss must
    # equal a float64 numpy reference of the same values to float32 precision (a loss computed
    # in bfloat16 is off by ~1e-3 relative).
    rng = np.random.default_rng(5)
    logits = torch.from_numpy(rng.normal(0, 3, (2, 1, 16, 16)).astype(np.float32)).bfloat16()
    target = torch.from_numpy((rng.random((2, 1, 16, 16)) > 0.6).astype(np.float32))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        total, _ = SegmentationLoss(LossConfig())({"mask": logits}, target)
    x = logits.float().numpy().reshape(2, -1).astype(np.float64)
    g = target.numpy().reshape(2, -1).astype(np.float64)
    p = 1 / (1 + np.exp(-x))
    bce = (np.maximum(x, 0) - x * g + np.log1p(np.exp(-np.abs(x)))).mean(1)
    inter, sp, sg = (p * g).sum(1), p.sum(1), g.sum(1)
    dice = 1 - (2 * inter + 1) / (sp + sg + 1)
    iou = 1 - (inter + 1) / (sp + sg - inter + 1)
    assert total.item() == pytest.approx((bce + dice + 10 * iou).mean(), rel=1e-5)


def test_monitor_metrics_ignore_padding() -> None:
    # S = 4, original 2×4 -> valid region is the top 2 rows; rows 2-3 are padding.
    gt = torch.zeros(1, 1, 4, 4)
    gt[..., 0, :] = 1.0
    logits = torch.full((1, 1, 4, 4), -20.0)
    logits[..., 0, :2] = 20.0  # half of the object found
    logits[..., 2:, :] = 20.0  # confident nonsense in the padding must not count
    sums = monitor_metrics(logits, gt, torch.tensor([[2, 4]]))
    assert sums["mae"] == pytest.approx(2 / 8, abs=1e-6)
    assert sums["iou"] == pytest.approx(0.5)
    # precision 1, recall 0.5 -> F = 1.3 * 0.5 / (0.3 + 0.5)
    assert sums["f"] == pytest.approx(1.3 * 0.5 / 0.8)
    empty = monitor_metrics(torch.full((1, 1, 4, 4), -20.0), torch.zeros(1, 1, 4, 4), [[4, 4]])
    assert empty["iou"] == 1.0 and empty["f"] == 1.0


def test_monitor_metrics_batch_equals_numpy_per_image() -> None:
    # Images of different original sizes in one batch (the vectorised valid-region masks).
    rng = np.random.default_rng(3)
    s, sizes = 16, [[16, 16], [8, 16], [16, 4], [16, 8]]
    logits = torch.from_numpy(rng.normal(0, 2, (4, 1, s, s)).astype(np.float32))
    gt = torch.from_numpy((rng.random((4, 1, s, s)) > 0.6).astype(np.float32))
    gt[3] = 0.0
    logits[3] = -30.0  # both empty: IoU = F = 1
    sums = monitor_metrics(logits, gt, torch.tensor(sizes))
    want = {"mae": 0.0, "iou": 0.0, "f": 0.0}
    for i, (h, w) in enumerate(sizes):  # long side = S: the valid region is the size itself
        p = 1 / (1 + np.exp(-logits[i, 0, :h, :w].double().numpy()))
        g = gt[i, 0, :h, :w].numpy()
        want["mae"] += np.abs(p - g).mean()
        pb, gb = p > 0.5, g > 0.5
        tp, npred, ntrue = (pb & gb).sum(), pb.sum(), gb.sum()
        want["iou"] += tp / (npred + ntrue - tp) if npred + ntrue - tp else 1.0
        if npred == 0 and ntrue == 0:
            want["f"] += 1.0
            continue
        prec, rec = (tp / npred if npred else 0.0), (tp / ntrue if ntrue else 0.0)
        want["f"] += 1.3 * prec * rec / (0.3 * prec + rec) if 0.3 * prec + rec else 0.0
    for key in want:
        assert float(sums[key]) == pytest.approx(want[key], abs=1e-5), key


# --- cases found by mutation testing ---
def test_smoothing_comes_from_the_config() -> None:
    # smooth = 0 on the _pair() images. Image 0: inter 0.5, Σp 1.25, Σg 1 -> Dice 1 - 1/2.25,
    # IoU 1 - 0.5/1.75. Image 1: inter 1.5, Σp 1.5, Σg 2 -> Dice 1 - 3/3.5, IoU 1 - 1.5/2.
    logits, target = _pair()
    _, parts = SegmentationLoss(LossConfig(smooth=0.0))({"mask": logits}, target)
    dice = ((1 - 1 / 2.25) + (1 - 3 / 3.5)) / 2
    iou = ((1 - 0.5 / 1.75) + (1 - 1.5 / 2.0)) / 2
    assert parts["dice"].item() == pytest.approx(dice, rel=1e-6)
    assert parts["iou"].item() == pytest.approx(iou, rel=1e-6)


def test_monitor_metrics_thresholds_are_strict_at_one_half() -> None:
    # Logit 0 is probability exactly 0.5 and a soft GT of 0.5 is not foreground either ("> 0.5"),
    # so both maps are empty: IoU = F = 1. A 0.6 GT pixel is foreground: IoU = 0, F = 0.
    logits = torch.zeros(1, 1, 4, 4)
    gt = torch.full((1, 1, 4, 4), 0.5)
    sums = monitor_metrics(logits, gt, [[4, 4]])
    assert sums["iou"] == 1.0 and sums["f"] == 1.0
    gt[..., 0, 0] = 0.6
    sums = monitor_metrics(logits, gt, [[4, 4]])
    assert sums["iou"] == 0.0 and sums["f"] == 0.0


def test_monitor_metrics_mae_averages_over_all_mask_channels() -> None:
    # Two mask channels on a 4x4 valid region: channel 0 is exact (error 0), channel 1 is off by
    # 1 on 8 of its 16 pixels. MAE = 8 / 32 over both channels, not 8 / 16.
    gt = torch.zeros(1, 2, 4, 4)
    logits = torch.full((1, 2, 4, 4), -40.0)
    logits[:, 1, :2, :] = 40.0
    sums = monitor_metrics(logits, gt, [[4, 4]])
    assert sums["mae"] == pytest.approx(8 / 32, abs=1e-6)


@pytest.mark.parametrize("field", ["bce_weight", "iou_weight", "smooth"])
def test_loss_built_in_code_refuses_a_negative_setting_by_name(field):
    # A plain-PyTorch loop builds the loss from a LossConfig that no training config validated.
    from pmgsam.utils.config import ConfigError

    with pytest.raises(ConfigError, match=f"loss.{field}"):
        SegmentationLoss(LossConfig(**{field: -1.0}))
