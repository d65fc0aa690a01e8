"""What each torchrun rank of a training run reports, checked in one process: the trainer is set
up as rank 0 or rank 1 of 2 without a process group (the collectives are then no-ops and the DDP
wrapper is left out). A real two-process run is tests/test_train.py's DDP test."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any, Callable

import pytest
import torch
from training_cases import two_epoch_config

from pmgsam.engine import distributed as D
from pmgsam.engine import trainer as trainer_mod
from pmgsam.engine.state import LOG_FILE
from pmgsam.engine.trainer import Trainer
from pmgsam.engine.trainer_setup import TrainerSetup

pytestmark = pytest.mark.usefixtures("one_thread", "small_hiera")

AMP_FALLBACK = "train.amp=fp16 needs CUDA"
BUILD_WARNING = "a warning of the model's build"


@pytest.fixture
def as_rank(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], None]:
    """Set trainers up as rank ``rank`` of 2 on the CPU; the model's build also warns."""
    monkeypatch.setattr(TrainerSetup, "_wrap_distributed", lambda self: self.model)
    build = trainer_mod.build_model

    def warning_build(*args: Any, **kwargs: Any) -> Any:
        warnings.warn(BUILD_WARNING, UserWarning, stacklevel=2)
        return build(*args, **kwargs)

    monkeypatch.setattr(trainer_mod, "build_model", warning_build)

    def make(rank: int) -> None:
        info = D.DistInfo(rank=rank, world_size=2)
        monkeypatch.setattr(D, "init_distributed", lambda name: (info, torch.device("cpu")))

    return make


def test_a_set_up_warning_is_reported_by_rank_zero_alone(
    as_rank, tmp_path: Path, dis5k_root: Path, data_config, caplog
) -> None:
    cfg = two_epoch_config(tmp_path, dis5k_root, data_config)
    cfg.train.amp = "fp16"  # on a CPU: float32, with a warning every rank would give alike
    caplog.set_level(logging.INFO, logger="pmgsam")

    as_rank(1)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        Trainer(cfg).close()
    assert [r.getMessage() for r in caplog.records if r.levelno < logging.ERROR] == []
    assert [str(w.message) for w in said] == []
    assert logging.getLogger("pmgsam").level == logging.INFO  # as it was, after the set-up

    as_rank(0)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        Trainer(cfg).close()
    assert AMP_FALLBACK in (Path(cfg.output_dir) / LOG_FILE).read_text()
    assert BUILD_WARNING in [str(w.message) for w in said]
