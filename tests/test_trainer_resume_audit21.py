"""A resumed Trainer continues as the uninterrupted run does, through the plateau schedule's and
the early stop's state: the same epoch records (lr, global step, best flag, failure count),
TensorBoard scalars, weights, optimiser state and best checkpoint, and the interruption names
the epoch its checkpoint holds (mutation audit: the trainer's loading of each
saved piece, which tests/test_resumed_trainer_state.py checks on the classes alone)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Dict, List

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from training_cases import crash_at_step, tiny_dis5k_values

from pmgsam.engine.config import ExperimentConfig
from pmgsam.engine.state import checkpoint_dir, load_training_state
from pmgsam.engine.trainer import Trainer
from pmgsam.utils.config import from_dict

pytestmark = pytest.mark.usefixtures("one_thread", "small_branches")

# Validation losses by epoch (0-based). Plateau, patience 0, threshold 0: epoch 2 fails to beat
# 0.5, which halves epoch 3's lr (1e-3, 1e-3, 5e-4); epoch 3 improves. Early stop: best after
# epochs 1 and 3, failures 0, 1, 0. A resume at epoch 2 that forgot either state would take
# 0.6 for a new best (and keep epoch 3's lr at 1e-3).
VAL_LOSSES = {0: 0.5, 1: 0.6, 2: 0.45}
TIMING = ("train_time_s", "train_images_per_s", "train_data_wait_s", "val_time_s")


def _validate(self: Trainer, epoch: int) -> Dict[str, float]:
    return {"loss": VAL_LOSSES[epoch], "mae": 0.1, "iou": 0.5, "f": 0.5, "images": 2}


@pytest.fixture
def make_config(
    tmp_path: Path, dis5k_root: Path, data_config: Callable[..., Any], monkeypatch
) -> Callable[[str], ExperimentConfig]:
    monkeypatch.setattr(Trainer, "validate", _validate)

    def make(name: str) -> ExperimentConfig:
        values = tiny_dis5k_values(tmp_path / name, dis5k_root, data_config, image_size=32)
        values["optim"] = {"lr": 1e-3}
        values["schedule"] = {"epochs": 3, "warmup_epochs": 0, "kind": "plateau",
                              "plateau_patience": 0, "plateau_threshold": 0.0,
                              "plateau_factor": 0.5, "early_stop_patience": 3}  # fmt: skip
        values["train"].update(batch_size=8, preview_every=0, log_every=1)  # one step an epoch
        return from_dict(ExperimentConfig, values)

    return make


def _scalars(run: Path) -> Dict[str, List[Any]]:
    """TensorBoard's view of the run (it applies a resumed writer's purge step)."""
    acc = EventAccumulator(str(run / "tb"))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def _records(run: Path) -> List[Dict[str, Any]]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(x).items() if k not in TIMING} for x in lines]


def test_a_run_resumed_in_its_second_epoch_ends_as_the_uninterrupted_one(
    make_config, monkeypatch
) -> None:
    straight = Trainer(make_config("straight"), progress=False)
    straight_summary = straight.fit()
    straight_run = Path(straight.config.output_dir)
    expected = _records(straight_run)
    # The hand-derived course of the run, which the resumed one must follow too.
    assert [r["lr"] for r in expected] == [pytest.approx(x) for x in (1e-3, 1e-3, 5e-4)]
    assert [r["best"] for r in expected] == [True, False, True]
    assert [r["early_stop_bad"] for r in expected] == [0, 1, 0]
    assert [r["global_step"] for r in expected] == [1, 2, 3]

    cfg = make_config("resumed")
    crash_at_step(monkeypatch, cfg, epoch=1, iteration=0)
    run = Path(cfg.output_dir)
    log = (run / "train.log").read_text()
    # Crashed in epoch 2 with epoch 1 saved: a resume keeps it (a fresh start would refuse).
    assert f"training interrupted during epoch 2 (RuntimeError: simulated crash); '{run}" in log
    assert "' holds epoch 1, continue once" in log and "start it again" not in log
    resumed = Trainer(cfg, resume=run, progress=False)
    assert (resumed.epoch, resumed.global_step) == (1, 1)
    summary = resumed.fit()

    assert _records(run) == expected
    # TensorBoard shows each step and epoch once, as logged by the uninterrupted run.
    assert _scalars(run) == _scalars(straight_run)
    assert [step for step, _ in _scalars(run)["train/loss"]] == [1, 2, 3]
    for key in ("epochs_completed", "global_step", "best_val_loss", "best_epoch"):
        assert summary[key] == straight_summary[key], key
    a, b = straight.state_dict(), resumed.state_dict()
    assert a["schedule"] == b["schedule"] and a["early_stop"] == b["early_stop"]
    for param_a, param_b in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
        for name in ("step", "exp_avg", "exp_avg_sq"):
            assert torch.equal(param_a[name], param_b[name]), name
    weights_a, weights_b = (
        straight.model.trainable_state_dict(),
        resumed.model.trainable_state_dict(),
    )
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)
    best_a = load_training_state(checkpoint_dir(straight_run, "best"))
    best_b = load_training_state(checkpoint_dir(run, "best"))
    assert best_a["epoch"] == best_b["epoch"] == 3
    assert all(torch.equal(best_a["model"][k], best_b["model"][k]) for k in best_a["model"])
