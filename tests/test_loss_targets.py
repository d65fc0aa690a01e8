"""Loss targets outside [0, 1] (a 0/255 mask turned float, an ignore label of -1) are refused,
naming the value, wherever a target enters a training loss: ``SegmentationLoss``, the trainer's
batches (checked on the host, before their copy to the device) and the SAM fine-tune's
``prepare``. Binary and soft targets in [0, 1] pass."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from training_cases import two_epoch_config

from pmgsam.baselines.finetune_losses import prepare
from pmgsam.engine import trainer as trainer_mod
from pmgsam.engine.config import LossConfig
from pmgsam.engine.losses import SegmentationLoss
from pmgsam.engine.performance_config import PerformanceConfig
from pmgsam.engine.trainer import Trainer
from pmgsam.engine.validation import run_validation

# The frozen Hiera is conftest's small one (small_tiny_model, small_branches for any build): nothing
# here depends on its size, and Hiera-T's 27 M weights were copied and digested per trainer.
pytestmark = pytest.mark.usefixtures("one_thread", "small_branches")
PERF = PerformanceConfig()


def _outputs(batch: int = 2, side: int = 4) -> dict:
    logits = torch.linspace(-2, 2, batch * side * side).reshape(batch, 1, side, side)
    return {"pre_mask": logits.flip(-1), "mask": logits}


def _binary(batch: int = 2, side: int = 4) -> torch.Tensor:
    return (torch.arange(batch * side * side).reshape(batch, 1, side, side) % 3 == 0).float()


def test_a_0_255_target_is_refused_naming_its_max_and_the_likely_cause() -> None:
    loss = SegmentationLoss(LossConfig())
    # BCE with logits takes a target of 255 without a word (a large, negative-going loss).
    with pytest.raises(ValueError, match=r"max 255 .*\[0, 1\].*divide it by 255"):
        loss(_outputs(), _binary() * 255)
    with pytest.raises(ValueError, match=r"min -1,.*'ignore' label"):
        loss(_outputs(), _binary() - (_binary() == 0).float())  # -1 where 0
    with pytest.raises(ValueError, match="NaN"):
        loss(_outputs(), _binary().masked_fill(_binary() == 0, float("nan")))


def test_binary_and_soft_targets_pass_and_give_the_terms_of_their_values() -> None:
    loss = SegmentationLoss(LossConfig())
    binary = _binary()
    total, parts = loss(_outputs(), binary)
    assert torch.isfinite(total)
    # Soft targets in [0, 1] (e.g. a blurred GT): BCE of a 0.25 target at logit 0 is ln 2.
    zero = {k: torch.zeros(1, 1, 2, 2) for k in ("pre_mask", "mask")}
    _, soft = loss(zero, torch.full((1, 1, 2, 2), 0.25))
    torch.testing.assert_close(soft["bce"], torch.tensor(np.log(2.0), dtype=torch.float32))
    assert loss(_outputs(), binary.bool())[0] == total  # a bool mask is {0, 1}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_target_on_the_gpu_is_checked_at_the_first_call_only() -> None:
    outputs = {k: v.cuda() for k, v in _outputs().items()}
    loss = SegmentationLoss(LossConfig())
    with pytest.raises(ValueError, match="max 255"):
        loss(outputs, _binary().cuda() * 255)
    checked, _ = loss(outputs, _binary().cuda())
    # Made before the debug mode: a copy from pageable host memory synchronises by itself.
    target = _binary().cuda()
    torch.cuda.set_sync_debug_mode("error")  # later calls read nothing back
    try:
        unchecked, _ = loss(outputs, target)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    torch.testing.assert_close(unchecked, checked)


def test_the_trainer_refuses_a_0_255_training_batch_on_the_host(
    tmp_path, dis5k_root, data_config, small_tiny_model, monkeypatch
) -> None:
    monkeypatch.setattr(trainer_mod, "build_model", lambda cfg: copy.deepcopy(small_tiny_model))
    trainer = Trainer(two_epoch_config(tmp_path, dis5k_root, data_config))
    try:
        batch = next(iter(trainer.train_loader))
        assert batch["mask"].max() == 1  # the project's datasets binarise their masks
        # A loader of a user's own dataset, whose 8-bit masks were only turned into floats.
        own = {**batch, "mask": batch["mask"] * 255}
        with pytest.raises(ValueError, match=r"the training batch's 'mask' has max 255 "):
            trainer._train_step(own, 0, 0)
        assert trainer.global_step == 0
        with pytest.raises(ValueError, match=r"the validation batch's 'mask' has max 255 "):
            run_validation(trainer.model, [own], trainer.loss_fn, trainer.device, None, PERF)
    finally:
        trainer.close()


def test_the_sam_finetune_refuses_a_0_255_mask_that_its_threshold_would_dilate() -> None:
    image = np.zeros((8, 8, 3), np.uint8)
    mask = np.zeros((8, 8), np.uint8)
    mask[2:6, 2:6] = 255
    points = np.array([[3.0, 3.0]])
    with pytest.raises(ValueError, match=r"fine-tuning target mask has max 255 "):
        prepare(image, mask, points, 4)
    binary = prepare(image, mask // 255, points, 4).targets
    # Halved: each target pixel reads a 2x2 patch, all inside or all outside the square.
    expected = torch.zeros(1, 4, 4, dtype=torch.bool)
    expected[0, 1:3, 1:3] = True
    assert torch.equal(binary, expected)
