"""The shipped configs' learning-rate schedules, step by step, against torch.optim.lr_scheduler's
own classes fed the same settings, and against rates worked out by hand from DESIGN.md §4 and
the configs' stated values (DIS5K: lr 1e-4, warm-up 10 epochs, halved every 40 epochs;
fine-tuning: lr 1e-5, ReduceLROnPlateau factor 0.5 patience 5, floor 1e-7)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from pmgsam.engine.config import ExperimentConfig
from pmgsam.engine.schedulers import WarmupSchedule
from pmgsam.utils.config import load_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
# DIS-TR's 3000 images in batches of 4 (DESIGN §3-4): the DIS5K run's steps per epoch. The
# comparison with torch, one call per warm-up step, runs at fewer steps per epoch (as a
# smaller training split would) to stay quick.
DIS_ITERS = 750
FEW_ITERS = 60
MULTS = (1.0, 0.25)  # a parameter group at the base rate and one at a quarter of it


def _groups() -> SimpleNamespace:
    # Only param_groups is read by WarmupSchedule.step; no real optimiser is needed.
    return SimpleNamespace(param_groups=[{"lr_mult": m, "lr": 0.0} for m in MULTS])


def _reference(lr: float) -> torch.optim.SGD:
    params = [{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": lr * m} for m in MULTS]
    return torch.optim.SGD(params, lr=lr)


# No optimiser step is taken (the rates alone are compared): torch warns of that.
@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before")
def test_dis5k_schedule_matches_torch_linear_warmup_then_step_lr() -> None:
    cfg = load_config(ExperimentConfig, CONFIGS / "pmgsam_dis5k.yaml")
    s, lr = cfg.schedule, cfg.optim.lr
    groups = _groups()
    ours = WarmupSchedule(groups, lr, s, FEW_ITERS)
    ref = _reference(lr)
    # Warm-up per iteration: LinearLR from 1/W to 1 over W - 1 steps is lr * (step + 1) / W.
    warm_iters = s.warmup_epochs * FEW_ITERS
    warm = torch.optim.lr_scheduler.LinearLR(
        ref, start_factor=1 / warm_iters, end_factor=1.0, total_iters=warm_iters - 1
    )
    for step in range(warm_iters):
        ours.step(*divmod(step, FEW_ITERS))
        want = [g["lr"] for g in ref.param_groups]
        assert [g["lr"] for g in groups.param_groups] == pytest.approx(want, rel=1e-9), step
        warm.step()
    # Then StepLR, stepped once per epoch from the end of the warm-up.
    decay = torch.optim.lr_scheduler.StepLR(ref, step_size=s.step_every, gamma=s.step_gamma)
    for epoch in range(s.warmup_epochs, s.epochs):
        want = [g["lr"] for g in ref.param_groups]
        for it in (0, FEW_ITERS - 1):
            ours.step(epoch, it)
            assert [g["lr"] for g in groups.param_groups] == pytest.approx(want, rel=1e-9), epoch
        decay.step()
    # By hand: the first step is lr / 7500; the rate reaches 1e-4 at the warm-up's last step;
    # epochs 10-49 keep it, epoch 50 halves it, and epoch 299 is (299 - 10) // 40 = 7 halvings.
    ours = WarmupSchedule(groups, lr, s, DIS_ITERS)
    hand = {
        (0, 0): 1e-4 / 7500,
        (4, 749): 1e-4 * 3750 / 7500,
        (9, 749): 1e-4,
        (49, 749): 1e-4,
        (50, 0): 5e-5,
        (90, 0): 2.5e-5,
        (299, 749): 1e-4 / 2**7,
    }
    for (epoch, it), rate in hand.items():
        assert ours.step(epoch, it) == pytest.approx(rate, rel=1e-12), (epoch, it)
        assert groups.param_groups[1]["lr"] == pytest.approx(rate / 4, rel=1e-12)


@pytest.mark.parametrize("name", ["pmgsam_cod10k_ft.yaml", "pmgsam_nc4k_ft.yaml"])
def test_fine_tuning_schedule_matches_torch_reduce_lr_on_plateau_down_to_its_floor(name) -> None:
    cfg = load_config(ExperimentConfig, CONFIGS / name)
    s, lr = cfg.schedule, cfg.optim.lr
    assert (s.kind, lr, s.min_lr, s.warmup_epochs) == ("plateau", 1e-5, 1e-7, 10)
    ours = WarmupSchedule(_groups(), lr, s, iters_per_epoch=1)
    ref_opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    ref = torch.optim.lr_scheduler.ReduceLROnPlateau(
        ref_opt,
        mode="min",
        factor=s.plateau_factor,
        patience=s.plateau_patience,
        threshold=s.plateau_threshold,
        threshold_mode="rel",
        min_lr=s.min_lr,
    )
    # Improving during the warm-up (ignored), improving for five epochs after it, then stuck.
    losses = [2.0 - 0.1 * e for e in range(15)] + [1.0] * 60
    rates = []
    for epoch, loss in enumerate(losses):
        ours.on_validation(epoch, loss)
        if epoch >= s.warmup_epochs:  # torch's scheduler starts when the warm-up has ended
            ref.step(loss)
            assert ours.base_lr(epoch + 1) == pytest.approx(ref_opt.param_groups[0]["lr"])
        rates.append(ours.base_lr(epoch + 1))
    # By hand: the best is 0.6 at epoch 14; 1.0 fails from epoch 15, and with patience 5 the
    # sixth failure in a row (epoch 20) halves the rate, then every sixth (26, 32, ...). The
    # seventh halving would give 1e-5 / 128 = 7.8e-8, below the floor: 1e-7 from epoch 56 on.
    halvings = [20, 26, 32, 38, 44, 50]
    for k, epoch in enumerate(halvings):
        assert rates[epoch] == pytest.approx(1e-5 / 2 ** (k + 1)), epoch
        assert rates[epoch - 1] == pytest.approx(1e-5 / 2**k), epoch
    assert rates[55] == pytest.approx(1e-5 / 64)
    assert rates[56:] == pytest.approx([1e-7] * len(rates[56:]))


def test_the_dis5k_step_schedule_ignores_validation_losses() -> None:
    # Only the plateau kind reacts: a step run whose loss stalls keeps its rates (and the
    # trainer logs no "plateau" reduction for it).
    cfg = load_config(ExperimentConfig, CONFIGS / "pmgsam_dis5k.yaml")
    ours = WarmupSchedule(_groups(), cfg.optim.lr, cfg.schedule, DIS_ITERS)
    assert not any(ours.on_validation(epoch, 1.0 + epoch) for epoch in range(60))
    assert ours.base_lr(49) == pytest.approx(1e-4) and ours.base_lr(50) == pytest.approx(5e-5)
