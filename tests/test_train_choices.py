"""What the trainer decides from its numbers, against hand-derived values: which epoch is
"best" and when the plateau schedule reduces the learning rate (both by the validation loss,
DESIGN.md §4), that a resumed run keeps those decisions, the warm-up learning rate of each
parameter group at the first step, and gradient clipping.

Validation is replaced by a fixed sequence of results, so the decisions are known in advance.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Dict, List

import pytest
import torch
from training_cases import config_maker, crash_at_step

from pmgsam.engine import epoch_stats
from pmgsam.engine.config import ExperimentConfig
from pmgsam.engine.state import checkpoint_dir, load_training_state
from pmgsam.engine.trainer import Trainer

pytestmark = pytest.mark.usefixtures("one_thread", "small_branches")


@pytest.fixture
def make_config(
    tmp_path: Path, dis5k_root: Path, data_config: Callable[..., Any]
) -> Callable[..., ExperimentConfig]:
    return config_maker(tmp_path / "run", dis5k_root, data_config, image_size=32, log_every=1)


def _val(loss: float, mae: float) -> Dict[str, float]:
    return {"loss": loss, "mae": mae, "iou": 0.5, "f": 0.5, "images": 2.0}


# Epoch 2's loss is worse than epoch 1's, its MAE better: were MAE the criterion, epoch 2
# would be the new best and no plateau.
VALIDATIONS: List[Dict[str, float]] = [_val(0.5, 0.2), _val(0.8, 0.05)]


def test_best_and_plateau_follow_the_validation_loss_across_a_resume(
    make_config, monkeypatch
) -> None:
    schedule = {"kind": "plateau", "epochs": 2, "warmup_epochs": 0, "plateau_patience": 0,
                "plateau_threshold": 0.0, "plateau_factor": 0.5}  # fmt: skip
    # One step per epoch (8 training images): the run costs two steps.
    cfg = make_config(schedule=schedule, train={"batch_size": 8})
    monkeypatch.setattr(Trainer, "validate", lambda self, epoch: dict(VALIDATIONS[epoch]))
    crash_at_step(monkeypatch, cfg, epoch=1, iteration=0)  # epoch 2's only step
    run = Path(cfg.output_dir)
    # The resumed run must remember the best loss, 0.5 after epoch 1, for both the early stop
    # and the plateau: epoch 2's 0.8 is then neither a new best nor an improvement.
    resumed = Trainer(cfg, resume=run)
    summary = resumed.fit()
    assert summary["best_epoch"] == 1 and summary["best_val_loss"] == pytest.approx(0.5)
    records = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["best"] for r in records] == [True, False]
    assert [r["early_stop_bad"] for r in records] == [0, 1]
    # One step per epoch: the resumed run counts on from the saved step.
    assert [r["global_step"] for r in records] == [1, 2] and summary["global_step"] == 2
    n_trainable = sum(p.numel() for p in resumed.model.parameters() if p.requires_grad)
    assert f"{n_trainable:,} trainable parameters" in (run / "train.log").read_text()
    assert load_training_state(checkpoint_dir(run, "best"))["epoch"] == 1
    assert load_training_state(run)["epoch"] == 2
    # Both epochs trained at the full lr; epoch 2's validation (no improvement on 0.5, with
    # patience 0) halves it for a 3rd epoch.
    assert [r["lr"] for r in records] == [pytest.approx(1e-3)] * 2
    assert resumed.schedule.base_lr(2) == pytest.approx(5e-4)


def test_first_step_uses_each_groups_warm_up_lr_and_clips_the_gradient_norm(
    make_config,
) -> None:
    clip = 1e-3
    cfg = make_config(
        optim={"premask": {"lr_mult": 0.1}},
        schedule={"epochs": 2, "warmup_epochs": 1},
        train={"grad_clip": clip},
    )
    trainer = Trainer(cfg)
    trainer.net.train()
    # fp16 training's loss scaling (CUDA in practice; the CPU scaler does the same sums): the
    # norm must be clipped after unscaling, else the clip acts on a norm 1024 times too large.
    trainer.scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    try:
        # 8 images in batches of 4: 2 steps per epoch, so a 2-step warm-up whose first step
        # runs at lr * 1/2 (the warm-up starts at lr / warm-up steps, not at 0).
        trainer._train_step(next(iter(trainer.train_loader)), epoch=0, iteration=0)
    finally:
        trainer.close()
    assert trainer.lr == pytest.approx(5e-4)
    lrs = {g["name"]: g["lr"] for g in trainer.optimizer.param_groups}
    assert lrs["decoder"] == pytest.approx(5e-4) and lrs["premask"] == pytest.approx(5e-5)
    # The gradients the step used (kept until the next step's zero_grad) have the global norm
    # `clip`: this model's unclipped norm is far larger.
    grads = [p.grad for p in trainer.model.trainable_parameters() if p.grad is not None]
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    assert float(norm) == pytest.approx(clip, rel=1e-3)


def test_validation_every_val_every_epochs_and_after_the_last_and_each_epochs_logged_lr(
    make_config, monkeypatch
) -> None:
    # No training steps: which epochs are validated, and the lr each epoch's record names.
    monkeypatch.setattr(
        Trainer,
        "train_one_epoch",
        lambda self, epoch: {"loss": 1.0, "images_per_s": 1.0, "time_s": 1.0},
    )
    validated: List[int] = []

    def validate(self: Trainer, epoch: int) -> Dict[str, float]:
        validated.append(epoch)
        return _val(1.0 - 0.1 * epoch, 0.1)

    monkeypatch.setattr(Trainer, "validate", validate)
    schedule = {"epochs": 3, "warmup_epochs": 1, "step_every": 1, "step_gamma": 0.5}
    cfg = make_config(schedule=schedule, train={"val_every": 2, "preview_every": 2})
    trainer = Trainer(cfg)
    trainer.fit()
    # Epoch 2 (every 2nd) and epoch 3, the last, whose weights would otherwise go unscored.
    assert validated == [1, 2]
    records = [json.loads(x) for x in (Path(cfg.output_dir) / "metrics.jsonl").open()]
    assert ["val_loss" in r for r in records] == [False, True, True]
    assert [r["best"] for r in records] == [False, True, True]
    # An epoch's record names the lr of its last step: 2 steps per epoch (8 images, batches of
    # 4); epoch 1 warms up over both (lr/2, then lr), epoch 2 runs at lr, and epoch 3 at
    # lr * 0.5 (one step decay, every epoch after the warm-up).
    assert [r["lr"] for r in records] == [pytest.approx(x) for x in (1e-3, 1e-3, 5e-4)]
    # Previews every 2 epochs too: after epochs 2 and 4 (0-based 1 and 3).
    assert [trainer._preview_due(e) for e in range(4)] == [False, True, False, True]


def test_each_epoch_shuffles_the_training_images_anew(make_config, monkeypatch) -> None:
    orders: List[List[str]] = []

    def record(self: Trainer, batch: Dict[str, Any], epoch: int, iteration: int) -> Any:
        if iteration == 0:
            orders.append([])
        orders[-1].extend(batch["name"])
        return {"loss": torch.zeros(()), "n": len(batch["name"])}

    monkeypatch.setattr(Trainer, "_train_step", record)
    monkeypatch.setattr(Trainer, "validate", lambda self, epoch: {})
    cfg = make_config(schedule={"epochs": 2, "warmup_epochs": 0})
    trainer = Trainer(cfg)
    names = list(trainer.train_set.names)
    trainer.fit()
    # torch's DistributedSampler (one replica) draws epoch e's order as randperm with the
    # seed train.seed + e; an epoch left at 0 would repeat epoch 1's order every epoch.
    expected = []
    for epoch in range(2):
        perm = torch.randperm(
            len(names), generator=torch.Generator().manual_seed(cfg.train.seed + epoch)
        )
        expected.append([names[i] for i in perm.tolist()])
    assert expected[0] != expected[1]
    assert orders == expected
    assert sorted(orders[0]) == sorted(orders[1]) == sorted(names)  # each image once an epoch


def test_epoch_losses_and_speed_count_images_not_steps(make_config, monkeypatch) -> None:
    # 8 images in batches of 3: steps of 3, 3 and 2 images; each step takes 1 s on this clock.
    clock = [100.0]
    monkeypatch.setattr(epoch_stats.time, "perf_counter", lambda: clock[0])
    trainer = Trainer(
        make_config(schedule={"epochs": 1, "warmup_epochs": 0}, train={"batch_size": 3})
    )
    original = Trainer._train_step
    losses: List[float] = []

    def timed_step(self: Trainer, batch: Any, epoch: int, it: int) -> Any:
        out = original(self, batch, epoch, it)
        losses.append(float(out["loss"]))
        clock[0] += 1.0
        return out

    monkeypatch.setattr(Trainer, "_train_step", timed_step)
    try:
        stats = trainer.train_one_epoch(0)
    finally:
        trainer.close()
    assert len(losses) == 3
    assert stats["loss"] == pytest.approx((3 * losses[0] + 3 * losses[1] + 2 * losses[2]) / 8)
    assert stats["images_per_s"] == pytest.approx(8 / 3.0)
