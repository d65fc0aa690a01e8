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
from test_torchrun_failures import GLOO_LOST
from training_cases import two_epoch_config

from pmgsam.engine import distributed as D
from pmgsam.engine import trainer as trainer_mod
from pmgsam.engine import trainer_setup
from pmgsam.engine.state import LOG_FILE
from pmgsam.engine.trainer import Trainer
from pmgsam.engine.trainer_setup import TrainerSetup
from pmgsam.utils.cli import OtherProcessFailed
from pmgsam.utils.config import ConfigError

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


def _gloo_lost_step(self: Trainer, batch: Any, epoch: int, iteration: int) -> Any:
    raise RuntimeError(GLOO_LOST)


@pytest.mark.filterwarnings(f"ignore:{BUILD_WARNING}")
@pytest.mark.parametrize("rank", [0, 1])
def test_a_rank_that_lost_the_failing_one_points_at_its_error(
    as_rank, tmp_path: Path, dis5k_root: Path, data_config, monkeypatch, rank: int
) -> None:
    cfg = two_epoch_config(tmp_path, dis5k_root, data_config)
    as_rank(0)
    Trainer(cfg).close()  # rank 0 makes the run folder and its train.log
    log = Path(cfg.output_dir) / LOG_FILE
    D.append_rank_error(log, 1, ValueError("a corrupt image"))  # as the failing rank does
    monkeypatch.setattr(Trainer, "_train_step", _gloo_lost_step)
    as_rank(rank)
    with pytest.raises(OtherProcessFailed, match="its error is printed above and logged in"):
        Trainer(cfg, resume=cfg.output_dir).fit()
    text = log.read_text()
    assert "Connection closed" not in text  # gloo's lost connection is no cause
    assert text.count("rank 1: training failed") == 1  # the failing rank's line alone
    assert ("interrupted during epoch 1 (OtherProcessFailed" in text) == (rank == 0)


def test_a_resume_refusal_is_marked_as_every_rank_s(
    as_rank, tmp_path: Path, dis5k_root: Path, data_config, monkeypatch
) -> None:
    def refused(path: Any) -> Any:
        raise ConfigError(f"cannot resume from '{path}' on 2 process(es)")

    monkeypatch.setattr(trainer_setup, "load_training_state", refused)
    as_rank(1)
    with pytest.raises(ConfigError) as refusal:
        Trainer(two_epoch_config(tmp_path, dis5k_root, data_config), resume=tmp_path / "run")
    assert refusal.value.same_on_every_process
