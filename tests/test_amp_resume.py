"""fp16 training's loss scale is part of the saved training state: a resumed run continues
with the GradScaler state it stopped with (through ``torch.load(weights_only=True)``), and a
run resumed where its fp16 falls back to float32 (a CPU) resumes without one. Only fp16 scales
its loss: bf16 has float32's exponent range and needs no scaling. AdamW's kernel (fused or not)
is the resuming process's, whatever the saved state's groups say. The CPU scaler
(``torch.amp.GradScaler("cpu")``) stands in for CUDA's: the trainer builds it for its device."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import pytest
import torch
from training_cases import tiny_dis5k_values

from pmgsam.engine import distributed as D
from pmgsam.engine import trainer_setup
from pmgsam.engine.config import ExperimentConfig
from pmgsam.engine.trainer import Trainer
from pmgsam.utils.config import from_dict

pytestmark = pytest.mark.usefixtures("one_thread", "small_branches")


@pytest.fixture
def fp16_config(tmp_path: Path, dis5k_root: Path, data_config: Callable[..., Any]):
    values = tiny_dis5k_values(tmp_path / "run", dis5k_root, data_config)
    values["schedule"] = {"epochs": 2, "warmup_epochs": 0}
    values["train"].update(amp="fp16", preview_every=0)
    return from_dict(ExperimentConfig, values)


@pytest.mark.parametrize(
    "amp, dtype, scales",
    [("none", None, False), ("bf16", torch.bfloat16, False), ("fp16", torch.float16, True)],
)
def test_only_fp16_training_scales_its_loss(
    fp16_config, monkeypatch, amp: str, dtype: torch.dtype, scales: bool
) -> None:
    # On the CPU a bf16 scaler changes no number a test can see (no step overflows at the
    # default scale), so the choice is pinned here: CUDA's autocast dtype stands in by patching.
    monkeypatch.setattr(D, "resolve_amp", lambda amp, device: dtype)
    config = replace(fp16_config, train=replace(fp16_config.train, amp=amp))
    trainer = Trainer(config)
    try:
        assert trainer.amp_dtype is dtype
        assert trainer.scaler.is_enabled() is scales
    finally:
        trainer.close()


def test_fp16_loss_scale_survives_a_resume(fp16_config, monkeypatch) -> None:
    real = D.resolve_amp
    monkeypatch.setattr(D, "resolve_amp", lambda amp, device: torch.float16)
    trainer = Trainer(fp16_config)
    assert trainer.scaler.is_enabled()
    # A scale halved by overflows and part of a growth interval counted: not the defaults
    # (65536, 0) that a scaler built afresh would report.
    saved = {"scale": 2048.0, "growth_factor": 2.0, "backoff_factor": 0.5,
             "growth_interval": 2000, "_growth_tracker": 37}  # fmt: skip
    trainer.scaler.load_state_dict(saved)
    trainer.epoch = 1
    trainer._save("last")
    trainer.close()

    resumed = Trainer(fp16_config, resume=fp16_config.output_dir)
    try:
        assert resumed.epoch == 1 and resumed.scaler.is_enabled()
        assert resumed.scaler.state_dict() == saved
    finally:
        resumed.close()

    monkeypatch.setattr(D, "resolve_amp", real)  # the CPU's float32 fallback
    fallback = Trainer(fp16_config, resume=fp16_config.output_dir)
    try:
        assert fallback.amp_dtype is None and not fallback.scaler.is_enabled()
        assert fallback.epoch == 1
    finally:
        fallback.close()


def test_a_state_saved_unfused_resumes_with_the_fused_kernel_under_loss_scaling(
    fp16_config, monkeypatch
) -> None:
    # Saved by an unfused AdamW (a CPU run, or performance.fused_optimizer: false), resumed
    # where the trainer builds it fused (CUDA; torch's fused AdamW has a CPU kernel too).
    trainer = Trainer(fp16_config)
    batch = next(iter(trainer.train_loader))
    trainer._train_step(batch, epoch=0, iteration=0)
    assert not trainer.optimizer.param_groups[0]["fused"]
    trainer.epoch = 1
    trainer._save("last")
    trainer.close()

    monkeypatch.setattr(trainer_setup, "adamw_fused", lambda perf, device: True)
    resumed = Trainer(fp16_config, resume=fp16_config.output_dir)
    try:
        assert all(group["fused"] is True for group in resumed.optimizer.param_groups)
        before = {k: v.clone() for k, v in resumed.model.trainable_state_dict().items()}
        # fp16's loss scaling: the scaler hands a fused optimiser the scale to apply.
        resumed.scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
        resumed._train_step(batch, epoch=1, iteration=0)
        after = resumed.model.trainable_state_dict()
        assert any(not torch.equal(before[k], after[k]) for k in before)
        steps = [s["step"] for s in resumed.optimizer.state.values()]
        assert steps and all(float(s) == 2 for s in steps)  # continued, not restarted
    finally:
        resumed.close()
