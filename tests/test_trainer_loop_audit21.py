"""The training loop as a user relies on it, with hand-derived expectations: the lr each
optimiser step applies (per iteration in the warm-up, per epoch after it, times each group's
lr_mult) and the lr logged with it, the sampler's epoch, train mode after a validation, which
epochs validate, the logging steps, gradient clipping of unscaled fp16 gradients, the epoch
loss of a last partial batch, and the best checkpoint and early stop (mutation audit)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Dict, List

import pytest
import torch
from training_cases import config_maker

from pmgsam.engine.config import ExperimentConfig
from pmgsam.engine.state import checkpoint_dir, load_training_state
from pmgsam.engine.trainer import Trainer

pytestmark = pytest.mark.usefixtures("one_thread", "small_branches")


@pytest.fixture
def make_config(
    tmp_path: Path, dis5k_root: Path, data_config: Callable[..., Any]
) -> Callable[..., ExperimentConfig]:
    return config_maker(tmp_path / "run", dis5k_root, data_config, image_size=32)


def _records(run: Path) -> List[Dict[str, Any]]:
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]


def test_each_step_applies_the_schedules_lr_and_the_loop_logs_and_validates_on_time(
    make_config, monkeypatch
) -> None:
    # 8 images, batch 4: 2 steps an epoch. Warm-up over epoch 1's 2 steps (lr/2, lr), then
    # lr halved every epoch counted from the warm-up's end: epoch 2 at lr, epoch 3 at lr/2.
    cfg = make_config(
        optim={"decoder": {"lr_mult": 0.1}},
        schedule={"epochs": 3, "warmup_epochs": 1, "step_every": 1, "step_gamma": 0.5,
                  "early_stop_patience": None},
        train={"log_every": 2, "val_every": 2},
    )  # fmt: skip
    validated = []
    validate = Trainer.validate

    def recorded(self: Trainer, epoch: int) -> Dict[str, float]:
        validated.append(epoch)
        return validate(self, epoch)

    monkeypatch.setattr(Trainer, "validate", recorded)
    trainer = Trainer(cfg, progress=False)
    steps: List[Dict[str, Any]] = []

    def before_step(optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        steps.append({
            "lrs": {g["name"]: g["lr"] for g in optimizer.param_groups},
            "sampler_epoch": trainer.sampler.epoch,
            "training": trainer.model.decoder.training and trainer.model.refiner.training,
        })  # fmt: skip

    trainer.optimizer.register_step_pre_hook(before_step)
    trainer.fit()

    base = [5e-4, 1e-3, 1e-3, 1e-3, 5e-4, 5e-4]
    assert len(steps) == len(base)
    for step, lr in zip(steps, base):
        for name, group_lr in step["lrs"].items():
            mult = 0.1 if name.startswith("decoder") else 1.0
            assert group_lr == pytest.approx(lr * mult), (name, steps)
    # The sampler draws each epoch's own order; training steps after a validation train.
    assert [s["sampler_epoch"] for s in steps] == [0, 0, 1, 1, 2, 2]
    assert all(s["training"] for s in steps)
    # val_every 2: after epoch 2, and after the last epoch (3) although 3 is odd.
    assert validated == [1, 2]
    run = Path(cfg.output_dir)
    records = _records(run)
    assert ["val_loss" in r for r in records] == [False, True, True]
    # The lr an epoch record names is its last step's.
    assert [r["lr"] for r in records] == [pytest.approx(x) for x in (1e-3, 1e-3, 5e-4)]
    assert [r["global_step"] for r in records] == [2, 4, 6]
    # log_every 2 counts global steps: each epoch's second step, with the lr it trained at.
    lines = [ln for ln in (run / "train.log").read_text().splitlines() if " iter " in ln]
    expected = [("epoch 1 iter 2/2 step 2 ", "0.001"), ("epoch 2 iter 2/2 step 4 ", "0.001"),
                ("epoch 3 iter 2/2 step 6 ", "0.0005")]  # fmt: skip
    assert len(lines) == len(expected), lines
    for line, (head, lr) in zip(lines, expected):
        assert head in line and f"| lr {lr} |" in line, line


def test_clipping_bounds_the_unscaled_gradient_and_the_scale_is_updated(make_config) -> None:
    # fp16's loss scaling (the CPU scaler stands in for CUDA's): the clip applies to the true
    # gradient, so the optimiser steps with a gradient norm of exactly train.grad_clip; clipped
    # while still scaled it would be grad_clip / 1024.
    clip = 1e-3
    trainer = Trainer(make_config(train={"grad_clip": clip}), progress=False)
    try:
        trainer.scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
        norms = []

        def before_step(optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
            grads = [p.grad for g in optimizer.param_groups for p in g["params"]]
            norms.append(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])))

        trainer.optimizer.register_step_pre_hook(before_step)
        trainer.net.train()
        trainer._train_step(next(iter(trainer.train_loader)), epoch=0, iteration=0)
        assert len(norms) == 1 and norms[0].item() == pytest.approx(clip, rel=1e-4)
        # One finite step counted towards the scale's growth interval (update() ran).
        assert trainer.scaler.state_dict()["_growth_tracker"] == 1
    finally:
        trainer.close()


def test_a_last_partial_batch_steps_and_weighs_by_its_images(make_config, monkeypatch) -> None:
    # 8 images in batches of 3: three steps (3, 3 and 2 images); the epoch's loss is the mean
    # over images, so the short batch counts 2/8, not 1/3.
    cfg = make_config(
        schedule={"epochs": 1, "warmup_epochs": 0}, train={"batch_size": 3, "log_every": 100}
    )
    losses, sizes = [], []
    step = Trainer._train_step

    def recorded(self: Trainer, batch: Any, epoch: int, iteration: int) -> Dict[str, Any]:
        out = step(self, batch, epoch, iteration)
        losses.append(out["loss"].item())
        sizes.append(out["n"])
        return out

    monkeypatch.setattr(Trainer, "_train_step", recorded)
    Trainer(cfg, progress=False).fit()
    assert sizes == [3, 3, 2]
    expected = (3 * losses[0] + 3 * losses[1] + 2 * losses[2]) / 8
    record = _records(Path(cfg.output_dir))[0]
    assert record["global_step"] == 3
    assert record["train_loss"] == pytest.approx(expected, rel=1e-6)


def test_best_holds_the_lowest_validation_loss_and_patience_stops_the_run(
    make_config, monkeypatch
) -> None:
    # Validation losses 0.5, 0.3, 0.4, 0.28, 0.1 with early_stop_min_delta 0.05: epoch 2 is best
    # (epoch 4's 0.28 is not 0.05 below 0.3); with patience 2, epochs 3 and 4 fail to improve
    # and the run stops before epoch 5 (whose 0.1 it never sees).
    losses = iter([0.5, 0.3, 0.4, 0.28, 0.1])

    def validate(self: Trainer, epoch: int) -> Dict[str, float]:
        return {"loss": next(losses), "mae": 0.1, "iou": 0.5, "f": 0.5, "images": 2}

    monkeypatch.setattr(Trainer, "validate", validate)
    cfg = make_config(
        schedule={
            "epochs": 5,
            "warmup_epochs": 0,
            "early_stop_patience": 2,
            "early_stop_min_delta": 0.05,
        },  # fmt: skip
        train={"batch_size": 8},  # one step an epoch
    )
    trainer = Trainer(cfg, progress=False)
    weights = []
    end_epoch = trainer._end_epoch

    def snapshot(epoch: int, train: Dict[str, float], val: Dict[str, float]) -> None:
        weights.append({k: v.clone() for k, v in trainer.model.trainable_state_dict().items()})
        end_epoch(epoch, train, val)

    trainer._end_epoch = snapshot
    summary = trainer.fit()
    assert summary["stopped_early"] and summary["epochs_completed"] == 4
    assert summary["best_epoch"] == 2 and summary["best_val_loss"] == 0.3
    run = Path(cfg.output_dir)
    assert [r["best"] for r in _records(run)] == [True, True, False, False]
    assert [r["early_stop_bad"] for r in _records(run)] == [0, 0, 1, 2]
    best = load_training_state(checkpoint_dir(run, "best"))
    assert best["epoch"] == 2 and best["global_step"] == 2
    for key, value in best["model"].items():
        assert torch.equal(value, weights[1][key]), key
    assert any(not torch.equal(weights[1][k], weights[3][k]) for k in weights[1])


def test_the_plateau_ignores_the_validation_after_the_last_warm_up_epoch(
    make_config, monkeypatch
) -> None:
    # The fine-tuning configs' plateau after a warm-up. Warm-up 1 epoch, patience 0, threshold
    # 0.99: epoch 1's validation is the warm-up's and does not count, so epoch 2's 0.9 is the
    # first best and nothing is reduced. Counting epoch 1's 0.5 would reduce after epoch 2.
    losses = iter([0.5, 0.9])

    def validate(self: Trainer, epoch: int) -> Dict[str, float]:
        return {"loss": next(losses), "mae": 0.1, "iou": 0.5, "f": 0.5, "images": 2}

    monkeypatch.setattr(Trainer, "validate", validate)
    schedule = {"epochs": 2, "warmup_epochs": 1, "kind": "plateau", "plateau_patience": 0,
                "plateau_threshold": 0.99, "early_stop_patience": None}  # fmt: skip
    cfg = make_config(schedule=schedule, train={"batch_size": 8})
    trainer = Trainer(cfg, progress=False)
    trainer.fit()
    assert trainer.schedule.plateau_best == 0.9 and trainer.schedule.plateau_scale == 1.0
    assert "base lr now" not in (Path(cfg.output_dir) / "train.log").read_text()
