"""``data.num_workers`` is capped at the CPUs the process may use (``utils/cpus.py``), alike in
PMG-SAM training and SAM fine-tuning, with one info line saying so; under ``torchrun`` at each
rank's share of them. (``two_cpus``: conftest.py; prediction and scoring: test_worker_caps.py.)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, List

import pytest
import torch
import yaml

from pmgsam.baselines import finetune_sam, sam
from pmgsam.engine.config import ExperimentConfig
from pmgsam.engine.distributed import DistInfo
from pmgsam.engine.train_data import build_training_data
from pmgsam.utils import cpus
from pmgsam.utils.config import ConfigError
from pmgsam.utils.cpus import available_cpus, loader_workers

CAPPED = "data.num_workers=4 but this process may use 2 CPU(s): loading data with 2 worker(s)"


def _capped_lines(caplog: pytest.LogCaptureFixture) -> List[str]:
    return [r.getMessage() for r in caplog.records if "loading data with" in r.getMessage()]


def test_available_cpus_are_the_affinity_mask_else_the_cpu_count(
    two_cpus: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert available_cpus() == 2
    monkeypatch.delattr(os, "sched_getaffinity")  # macOS, Windows
    assert available_cpus() == 64


def test_training_loaders_use_at_most_the_available_cpus(
    two_cpus: None, dis5k_root: Path, data_config: Any, caplog: pytest.LogCaptureFixture
) -> None:
    config = ExperimentConfig(data=data_config("dis5k", dis5k_root, num_workers=4))
    with caplog.at_level("INFO"):
        data = build_training_data(config, DistInfo(), torch.device("cpu"))
    assert (data.train_loader.num_workers, data.val_loader.num_workers) == (2, 2)
    assert _capped_lines(caplog) == [CAPPED]
    caplog.clear()
    config = ExperimentConfig(data=data_config("dis5k", dis5k_root, num_workers=1))
    with caplog.at_level("INFO"):
        assert (
            build_training_data(config, DistInfo(), torch.device("cpu")).val_loader.num_workers == 1
        )
    assert _capped_lines(caplog) == []


class _TinySam(torch.nn.Module):
    """Stands in for a SAM: the three parts fine-tuning freezes or trains."""

    def __init__(self) -> None:
        super().__init__()
        self.image_encoder, self.prompt_encoder = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
        self.mask_decoder = torch.nn.Linear(2, 2)


def test_fine_tuning_loads_data_with_at_most_the_available_cpus(
    two_cpus: None, dis5k_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    monkeypatch.setattr(sam, "load", lambda *args, **kwargs: _TinySam())
    used: List[int] = []
    monkeypatch.setattr(finetune_sam, "run_epoch", lambda *args: used.append(args[5]))
    config, checkpoint = tmp_path / "ft.yaml", tmp_path / "sam.pth"
    data = {"dataset": "dis5k", "root": str(dis5k_root), "num_workers": 4}
    config.write_text(yaml.safe_dump({"data": data, "finetune": {"embedding_cache": "none"}}))
    checkpoint.write_bytes(b"never read as a model")
    argv = ["--model-type", "vit_b", "--checkpoint", str(checkpoint), "--config", str(config)]
    args = finetune_sam.build_parser().parse_args([*argv, "--output", str(tmp_path / "o.pth")])
    with caplog.at_level("INFO"):
        run = finetune_sam.setup(args)
    assert run.workers == 2 and _capped_lines(caplog) == [CAPPED]
    run.epoch(lambda samples: None, run.val_items(), "val 0")
    assert used == [2]


def test_torchrun_ranks_on_one_node_share_its_cpus(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # torchrun's 4 ranks on a 16-CPU node inherit one affinity mask: 16 // 4 = 4 CPUs each.
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(16)), raising=False)
    monkeypatch.setattr(cpus, "cpu_quota", lambda: None)
    monkeypatch.setattr(cpus, "_said", set())
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    with caplog.at_level("INFO"):
        assert loader_workers(8) == 4
        assert loader_workers(3) == 3
    assert _capped_lines(caplog) == [
        "data.num_workers=8 but this process shares 16 CPU(s) among 4 processes on this node "
        "(LOCAL_WORLD_SIZE=4): loading data with 4 worker(s)"
    ]
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "32")  # more ranks than CPUs: still one worker each
    assert loader_workers(8, log=False) == 1 and loader_workers(0) == 0
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "1")
    assert loader_workers(20, log=False) == 16
    for bad in ("two", "0"):
        monkeypatch.setenv("LOCAL_WORLD_SIZE", bad)
        with pytest.raises(ConfigError, match=f"LOCAL_WORLD_SIZE='{bad}' is not a positive"):
            loader_workers(1)


def test_training_loaders_of_a_torchrun_rank_use_its_share_once_logged(
    two_cpus: None,
    dis5k_root: Path,
    data_config: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")  # 2 ranks on the 2 CPUs: one each
    config = ExperimentConfig(data=data_config("dis5k", dis5k_root, num_workers=4))
    with caplog.at_level("INFO"):
        for _ in range(2):  # as ablate.py trains config after config in one process
            data = build_training_data(config, DistInfo(), torch.device("cpu"))
            assert (data.train_loader.num_workers, data.val_loader.num_workers) == (1, 1)
    assert _capped_lines(caplog) == [
        "data.num_workers=4 but this process shares 2 CPU(s) among 2 processes on this node "
        "(LOCAL_WORLD_SIZE=2): loading data with 1 worker(s)"
    ]
