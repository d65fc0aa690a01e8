"""Optimiser parameter groups, learning-rate schedules (warm-up, step decay, plateau) and early
stopping (pmgsam.engine.schedulers)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import torch

from pmgsam.engine.config import OptimConfig, ScheduleConfig
from pmgsam.engine.schedulers import (
    EarlyStopping,
    WarmupSchedule,
    build_optimizer,
    load_optimizer_state,
)
from pmgsam.utils.config import from_dict

pytestmark = pytest.mark.usefixtures("one_thread")


# --------------------------------------------------------------------------- optimisation
def test_param_groups(tiny_model) -> None:
    cfg = from_dict(
        OptimConfig,
        {"lr": 1e-3, "weight_decay": 0.05, "decoder": {"lr_mult": 0.5, "weight_decay": 0.1}},
    )
    opt = build_optimizer(tiny_model, cfg)
    groups = {g["name"]: g for g in opt.param_groups}
    assert set(groups) == {"decoder", "decoder_no_decay", "premask", "premask_no_decay"}
    assert (
        groups["decoder"]["lr"] == pytest.approx(5e-4) and groups["decoder"]["weight_decay"] == 0.1
    )
    assert (
        groups["premask"]["lr"] == pytest.approx(1e-3) and groups["premask"]["weight_decay"] == 0.05
    )
    assert groups["premask_no_decay"]["weight_decay"] == 0.0
    names = {id(p): n for n, p in tiny_model.named_parameters()}
    seen = [names[id(p)] for g in opt.param_groups for p in g["params"]]
    trainable = [n for n, p in tiny_model.named_parameters() if p.requires_grad]
    assert sorted(seen) == sorted(trainable)  # each trainable parameter once, no frozen one
    no_decay = {
        names[id(p)] for g in opt.param_groups if "no_decay" in g["name"] for p in g["params"]
    }
    assert "decoder.output_token.weight" in no_decay  # an nn.Embedding
    assert all(tiny_model.get_parameter(n).ndim <= 1 or "output_token" in n for n in no_decay)
    for name, group in groups.items():
        in_decoder = {names[id(p)].startswith("decoder.") for p in group["params"]}
        assert in_decoder == {name.startswith("decoder")}, name


def test_param_groups_follow_top_level_prefix_and_adamw_settings() -> None:
    # Only the top-level "decoder." module is the guided decoder: a Pre-Mask submodule whose
    # name merely contains "decoder" stays in the premask groups.
    model = torch.nn.ModuleDict(
        {
            "decoder": torch.nn.Linear(2, 2),
            "refiner": torch.nn.ModuleDict({"decoder_like": torch.nn.Linear(2, 2)}),
        }
    )
    cfg = from_dict(
        OptimConfig,
        {"lr": 1e-3, "betas": [0.8, 0.95], "eps": 1e-6, "decoder": {"lr_mult": 0.1}},
    )
    opt = build_optimizer(model, cfg)
    groups = {g["name"]: g for g in opt.param_groups}
    assert [id(p) for p in groups["premask"]["params"]] == [
        id(model["refiner"]["decoder_like"].weight)
    ]
    assert groups["premask"]["lr"] == pytest.approx(1e-3)
    assert groups["decoder"]["lr"] == pytest.approx(1e-4)
    for group in opt.param_groups:  # AdamW settings from the config, in order
        assert group["betas"] == (0.8, 0.95) and group["eps"] == 1e-6


# --------------------------------------------------------------------------- schedules
def _schedule(**kw: Any) -> tuple:
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW(
        [
            {"params": [param], "lr_mult": 1.0},
            {"params": [torch.nn.Parameter(torch.zeros(1))], "lr_mult": 0.5},
        ],
        lr=1e-3,
    )
    cfg = from_dict(ScheduleConfig, {"epochs": 30, **kw})
    return WarmupSchedule(opt, 1e-3, cfg, iters_per_epoch=5), opt


def test_warmup_then_step_decay() -> None:
    sched, opt = _schedule(warmup_epochs=2, kind="step", step_every=3, step_gamma=0.5)
    expected = {
        (0, 0): 1e-4,  # (0 + 1) / 10 of the 10 warm-up iterations
        (0, 4): 5e-4,
        (1, 4): 1e-3,
        (2, 0): 1e-3,
        (4, 4): 1e-3,
        (5, 0): 5e-4,  # 3 epochs after the warm-up
        (8, 2): 2.5e-4,
        (11, 0): 1.25e-4,
    }
    for (epoch, it), lr in expected.items():
        assert sched.step(epoch, it) == pytest.approx(lr), (epoch, it)
        assert opt.param_groups[0]["lr"] == pytest.approx(lr)
        assert opt.param_groups[1]["lr"] == pytest.approx(lr / 2)
    floored, _ = _schedule(warmup_epochs=2, step_every=3, step_gamma=0.5, min_lr=2e-4)
    assert floored.base_lr(11) == pytest.approx(2e-4)
    assert floored.base_lr(0, 0) == pytest.approx(1e-4)  # warm-up ignores the floor


def test_plateau_schedule() -> None:
    sched, _ = _schedule(
        warmup_epochs=1,
        kind="plateau",
        plateau_factor=0.5,
        plateau_patience=2,
        min_lr=3e-4,
        plateau_threshold=0.0,
    )
    losses = [5.0, 1.0, 1.0, 1.1, 1.0, 0.9, 0.95, 0.92, 0.91, 1.0, 1.0, 1.0]
    reduced = [sched.on_validation(epoch, loss) for epoch, loss in enumerate(losses)]
    # epoch 0 is warm-up (ignored); epoch 1 sets best 1.0; epochs 2-4 fail -> reduce at 4;
    # epoch 5 improves; 6-8 fail -> reduce at 8 (floored at min_lr); 9-11 fail, already at floor.
    assert reduced == [False] * 4 + [True] + [False] * 3 + [True] + [False] * 3
    assert sched.base_lr(12) == pytest.approx(3e-4)
    fresh, _ = _schedule(warmup_epochs=1, kind="plateau")
    fresh.load_state_dict(sched.state_dict())
    assert fresh.base_lr(12) == pytest.approx(3e-4) and fresh.plateau_best == 0.9


def test_early_stopping_counts_patience() -> None:
    stop = EarlyStopping(patience=3)
    flags = []
    for epoch, loss in enumerate([1.0, 0.9, 0.95, 0.91, 0.9, 0.92]):
        stop.update(epoch, loss)
        flags.append(stop.should_stop)
    assert flags == [False, False, False, False, True, True]  # 0.9 again is no improvement
    assert stop.best == 0.9 and stop.best_epoch == 1
    assert not EarlyStopping(patience=None).should_stop


def test_plateau_schedule_matches_torch_reduce_lr_on_plateau() -> None:
    # Reference: torch's ReduceLROnPlateau (mode min, relative threshold, no cooldown) fed the
    # same losses. Hand trace with patience 2, threshold 0.1 (an improvement must go below
    # 0.9 * best): 10 best; 9.5, 9.5 bad 1, 2 (9.5 is not < 9.0, though it is < 10 - 0.1);
    # 8.0 best (count reset); 8.0, 7.5, 7.5 bad 1, 2, 3 (7.5 is not < 7.2) -> halve at
    # epoch 6 (count reset); 7.5 x3 -> halve at epoch 9; 7.5 x2 -> bad 1, 2. An absolute
    # threshold (best - 0.1) would take 9.5 and 7.5 as improvements and halve at epoch 8 only.
    losses = [10.0, 9.5, 9.5, 8.0, 8.0, 7.5, 7.5, 7.5, 7.5, 7.5, 7.5, 7.5]
    hand = [1e-3] * 6 + [5e-4] * 3 + [2.5e-4] * 3
    settings = {"plateau_factor": 0.5, "plateau_patience": 2, "plateau_threshold": 0.1}
    sched, _ = _schedule(warmup_epochs=0, kind="plateau", min_lr=1e-6, **settings)
    ref_opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    ref = torch.optim.lr_scheduler.ReduceLROnPlateau(
        ref_opt, mode="min", factor=0.5, patience=2, threshold=0.1, threshold_mode="rel",
        cooldown=0, min_lr=1e-6,
    )  # fmt: skip
    ours, theirs = [], []
    for epoch, loss in enumerate(losses):
        sched.on_validation(epoch, loss)
        ref.step(loss)
        ours.append(sched.base_lr(epoch + 1))
        theirs.append(ref_opt.param_groups[0]["lr"])
    assert theirs == pytest.approx(hand)
    assert ours == pytest.approx(hand)


def test_early_stopping_min_delta_and_reset() -> None:
    # min_delta 0.1: 0.95 is lower than 1.0 but not by more than 0.1, so it is no new best.
    stop = EarlyStopping(patience=3, min_delta=0.1)
    assert stop.update(0, 1.0) and not stop.update(1, 0.95)
    assert stop.best == 1.0 and stop.bad == 1
    assert stop.update(2, 0.85)  # 0.85 < 1.0 - 0.1
    # An improvement resets the count: bad, best, bad, bad is not 3 bad validations in a row.
    stop = EarlyStopping(patience=3)
    for epoch, loss in enumerate([1.0, 1.1, 0.8, 0.9, 0.9]):
        stop.update(epoch, loss)
    assert stop.bad == 2 and not stop.should_stop
    # patience 0 disables early stopping, like None.
    never = EarlyStopping(patience=0)
    for epoch in range(5):
        never.update(epoch, 1.0)
    assert not never.should_stop


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


def test_a_model_without_trainable_parameters_or_an_empty_epoch_is_refused() -> None:
    frozen = torch.nn.Linear(2, 2).requires_grad_(False)
    with pytest.raises(ValueError, match="the model has no trainable parameters"):
        build_optimizer(frozen, OptimConfig())
    optimizer = build_optimizer(torch.nn.Linear(2, 2), OptimConfig())
    with pytest.raises(ValueError, match="iters_per_epoch must be positive, got 0"):
        WarmupSchedule(optimizer, 1e-3, ScheduleConfig(), 0)


@pytest.mark.parametrize("saved_fused, resumed_fused", [(None, True), (True, None)])
def test_a_resumed_optimiser_keeps_its_own_kernel_and_the_saved_state(
    saved_fused, resumed_fused
) -> None:
    # Saved with one AdamW kernel (foreach off, fused or not), resumed where the other is
    # built: the groups keep the resuming optimiser's kernel, the rest comes from the file.
    weight = torch.nn.Parameter(torch.ones(3))
    saved = torch.optim.AdamW([weight], lr=0.1, foreach=False, fused=saved_fused)
    weight.grad = torch.full((3,), 0.5)
    saved.step()
    saved.param_groups[0]["lr"] = 0.025  # where the schedule had taken it
    resumed = torch.optim.AdamW([weight], lr=0.1, fused=resumed_fused)
    load_optimizer_state(resumed, saved.state_dict())
    (group,) = resumed.param_groups
    assert (group["fused"], group["foreach"]) == (resumed_fused, None)
    assert group["lr"] == 0.025 and float(resumed.state[weight]["step"]) == 1
