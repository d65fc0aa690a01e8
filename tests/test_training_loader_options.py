"""The loader options build_training_data takes from the config: performance.persistent_workers
(kept only where there are workers to keep: DataLoader refuses it with none) and pinned memory
for a CUDA device only."""

from __future__ import annotations

import pytest
import torch

from pmgsam.engine.config import ExperimentConfig, TrainConfig
from pmgsam.engine.distributed import DistInfo
from pmgsam.engine.performance_config import PerformanceConfig
from pmgsam.engine.train_data import build_training_data


@pytest.mark.parametrize(
    "workers, persistent, device, want_persistent, want_pinned",
    [
        (1, True, "cpu", True, False),  # the option asked for, with a worker to keep
        (1, False, "cpu", False, False),
        (0, True, "cpu", False, False),  # no workers: DataLoader would raise ValueError
        (0, False, "cuda", False, True),  # only built, never iterated: no GPU needed
    ],
)
def test_loaders_keep_workers_and_pin_memory_as_configured(
    dis5k_root, data_config, workers, persistent, device, want_persistent, want_pinned
) -> None:
    cfg = data_config("dis5k", dis5k_root, train_split="DIS-TR", val_split="DIS-VD")
    cfg.num_workers = workers
    cfg.check_files = False
    config = ExperimentConfig(
        data=cfg,
        train=TrainConfig(batch_size=2),
        performance=PerformanceConfig(persistent_workers=persistent),
    )
    data = build_training_data(config, DistInfo(rank=0, world_size=1), torch.device(device))
    for loader in (data.train_loader, data.val_loader):
        assert loader.num_workers == workers
        assert loader.persistent_workers is want_persistent
        assert loader.pin_memory is want_pinned
