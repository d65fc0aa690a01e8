"""Mutation-audit tests for numbers decided outside the metrics: the plateau schedule at the end
of the warm-up, the seeded carving of splits, and the FLOP split of the efficiency report."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from pmgsam.data.io import DataError
from pmgsam.data.splits import carve
from pmgsam.efficiency import count_flops
from pmgsam.engine.config import ScheduleConfig
from pmgsam.engine.schedulers import WarmupSchedule


def _plateau(warmup_epochs: int) -> WarmupSchedule:
    # Only on_validation / base_lr are exercised: they never touch the optimiser, whose
    # construction (torch.optim's lazy imports) would cost ~1.5 s here.
    opt = SimpleNamespace(param_groups=[])
    config = ScheduleConfig(
        warmup_epochs=warmup_epochs,
        kind="plateau",
        plateau_factor=0.5,
        plateau_patience=0,
        plateau_threshold=0.0,
        min_lr=0.0,
    )
    return WarmupSchedule(opt, 1e-3, config, iters_per_epoch=1)


def test_plateau_ignores_the_validation_after_the_last_warm_up_epoch():
    # Warm-up of 2 epochs (0 and 1): both validations measure a model still trained at the
    # ramping rate, so neither may become the plateau's best. Here the loss right after the
    # warm-up (0.5, epoch 1) happens to be lower than the first real one (0.9, epoch 2); if
    # epoch 1 counted, 0.9 would be a failure and, with patience 0, halve the rate at once.
    sched = _plateau(warmup_epochs=2)
    assert sched.on_validation(0, 2.0) is False
    assert sched.on_validation(1, 0.5) is False
    assert sched.plateau_best == float("inf")
    assert sched.on_validation(2, 0.9) is False  # the first real best
    assert sched.plateau_best == 0.9
    assert sched.base_lr(3) == pytest.approx(1e-3)
    # By hand, patience 0: the next non-improvement halves the rate.
    assert sched.on_validation(3, 0.95) is True
    assert sched.base_lr(4) == pytest.approx(5e-4)


def test_plateau_counts_the_first_validation_after_the_warm_up():
    sched = _plateau(warmup_epochs=1)
    assert sched.on_validation(0, 0.1) is False  # warm-up, ignored
    assert sched.on_validation(1, 0.9) is False and sched.plateau_best == 0.9
    assert sched.on_validation(2, 0.95) is True  # patience 0: one failure reduces


def test_carve_draws_the_held_out_part_at_random_per_seed():
    # 20 stems, 5 held out: a seeded draw gives different parts for different seeds (20 choose
    # 5 = 15504 possible parts); taking the first or last stems would give one part for all.
    stems = [f"img{i}" for i in range(1, 21)]
    held = {tuple(carve(stems, 0.25, seed)[1]) for seed in range(6)}
    assert all(len(h) == 5 for h in held)
    assert len(held) >= 4
    assert carve(stems, 0.25, 3) == carve(list(reversed(stems)), 0.25, 3)  # order-free


@pytest.mark.parametrize("stems", [["only"], ["a", "a"], []])
def test_carve_refuses_fewer_than_two_distinct_stems(stems: list):
    # Two non-empty parts need two images; one image would give an empty held-out part.
    with pytest.raises(DataError, match="two non-empty parts"):
        carve(stems, 0.5, 0)


class _Branch(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1, bias=False)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class _TwoCalls(torch.nn.Module):
    """The frozen branch (named like U²-Net) is entered twice per forward."""

    def __init__(self) -> None:
        super().__init__()
        self.u2net = _Branch().requires_grad_(False)
        self.head = torch.nn.Conv2d(8, 4, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.u2net.features(x) + self.u2net.features(x.flip(-1)))


def test_flops_of_a_branch_called_twice_add_up_and_the_ratio_is_trainable_over_frozen():
    # By hand (one multiply-add = 2 FLOPs, 16x16 input, per image):
    # u2net: two 3x3 convs 3->8: 2 * (2 * 8 * 256 * 27) = 221184;
    # head: one 1x1 conv 8->4: 2 * 4 * 256 * 8 = 16384.
    flops = count_flops(_TwoCalls(), torch.rand(2, 3, 16, 16))
    u2net, head = 2 * (2 * 8 * 256 * 27), 2 * 4 * 256 * 8
    assert flops["components"]["u2net"] == u2net
    assert flops["components"]["head"] == head
    assert flops["total"] == u2net + head
    assert flops["frozen"] == u2net and flops["trainable"] == head
    assert flops["trainable_over_frozen"] == pytest.approx(head / u2net)  # 16384 / 221184
