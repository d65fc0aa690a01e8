"""The SAM fine-tuning's settings as a user gets them: the ``FinetuneConfig`` defaults and the
shipped ``configs/sam_finetune/*.yaml`` hold SAM's loss weights (focal 20 : dice 1 : IoU MSE 1,
Kirillov et al. 2023, appendix A) and the values the README states; the default loss is that
sum, checked against torchvision's focal loss and a dice loss computed by hand."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from sam_finetune_cases import SIDE, ArrayDataset, pairs
from torchvision.ops import sigmoid_focal_loss

from pmgsam.baselines import finetune_sam
from pmgsam.baselines.finetune_recipe import (
    FinetuneConfig,
    SamFinetuneConfig,
    mask_iou,
    prompt_losses,
)
from pmgsam.utils.config import ConfigError, load_config

REPO = Path(__file__).resolve().parents[1]
SHIPPED = sorted((REPO / "configs" / "sam_finetune").glob("*.yaml"))


def _weights(ft: FinetuneConfig) -> tuple:
    return ft.focal_weight, ft.dice_weight, ft.iou_weight


def test_defaults_and_shipped_configs_hold_sams_weights_and_the_readmes_values() -> None:
    assert [p.name for p in SHIPPED] == ["cod10k.yaml", "dis5k.yaml", "nc4k.yaml"]
    for ft in [FinetuneConfig()] + [load_config(SamFinetuneConfig, p).finetune for p in SHIPPED]:
        assert _weights(ft) == (20.0, 1.0, 1.0)
        # README: 12 epochs, lr 1e-4, weight decay 0.01, 4 images x 8 point prompts, seed 0.
        assert (ft.epochs, ft.lr, ft.weight_decay, ft.batch_size, ft.points, ft.seed) == (
            12, 1e-4, 0.01, 4, 8, 0,
        )  # fmt: skip
        assert (ft.targets, ft.embedding_cache, ft.encoder_dtype) == ("auto", "memory", "fp32")


def test_the_default_loss_is_twenty_focal_plus_one_dice_plus_the_iou_mse() -> None:
    # One prompt, a 1 x 2 GT [1, 0]; masks predicting [1, 0], [1, 1] and [0, 0] (IoU 1, 1/2, 0).
    gt = torch.tensor([[1.0, 0.0]])
    logits = torch.tensor([[[[2.0, -2.0]], [[2.0, 2.0]], [[-2.0, -2.0]]]])
    focal = sigmoid_focal_loss(logits, gt.expand_as(logits), reduction="none").mean(dim=(-2, -1))
    p = torch.sigmoid(logits)
    dice = 1 - (2 * (p * gt).sum(dim=(-2, -1)) + 1) / (p.sum(dim=(-2, -1)) + gt.sum() + 1)
    mask_loss = (20 * focal + dice).min().item()
    iou_mse = (1.0**2 + 0.5**2 + 0.0**2) / 3  # against an IoU head predicting 0 for each
    losses = prompt_losses(logits, torch.zeros(1, 3), gt, FinetuneConfig())
    assert losses["mask_loss"].item() == pytest.approx(mask_loss, rel=1e-5)
    assert losses["iou_loss"].item() == pytest.approx(iou_mse, rel=1e-6)
    assert losses["loss"].item() == pytest.approx(mask_loss + iou_mse, rel=1e-5)
    # The weights the other way round (1 focal : 20 dice) give another loss.
    assert (focal + 20 * dice).min().item() != pytest.approx(mask_loss, rel=1e-2)


def test_a_logit_of_exactly_zero_is_background_in_the_iou_target() -> None:
    # SamPredictor and the generator keep `masks > mask_threshold` (0.0): a zero logit is out.
    logits = torch.tensor([[[[0.0, 1.0, -1.0]]]])
    gt = torch.tensor([[0.0, 1.0, 0.0]])
    assert mask_iou(logits, gt).tolist() == [[1.0]]  # with `>= 0`: 1/2


@pytest.mark.parametrize("key", ["epochs", "batch_size", "points", "lr"])
def test_a_count_or_lr_of_zero_is_refused_naming_its_key(key: str) -> None:
    # epochs 0 would write the starting decoder as "fine-tuned"; lr 0 would train nothing.
    with pytest.raises(ConfigError, match=f"finetune.{key}"):
        FinetuneConfig(**{key: 0}).validate()
    with pytest.raises(ConfigError, match="finetune.lr"):
        FinetuneConfig(lr=2.0).validate()  # above 1: a typo for a learning rate


def test_validation_points_are_fixed_and_none_of_an_epochs_training_points() -> None:
    # Training on the validation points of an image (train and val splits may share images
    # under a carved split's seed) would make the validation loss a training loss.
    cfg = SamFinetuneConfig()
    cfg.finetune.seed, cfg.finetune.embedding_cache = 7, "none"
    data = ArrayDataset(pairs(2))
    run = SimpleNamespace(cfg=cfg, splits=("tr", "va"), counts={"tr": 2, "va": 2}, side=SIDE,
                          datasets={"tr": data, "va": data}, instances={})  # fmt: skip
    run.items = lambda *args: finetune_sam.Run.items(run, *args)

    def points(items) -> list:
        return [items[i][1].points.tolist() for i in range(len(items))]

    val = points(finetune_sam.Run.val_items(run))
    assert val == points(finetune_sam.Run.val_items(run))
    for epoch in (1, 2, 3):  # the seeds finetune_sam.train draws each epoch's points from
        assert points(run.items("tr", range(2), (7, 0, epoch))) != val
