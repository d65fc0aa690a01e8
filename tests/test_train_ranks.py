"""What each torchrun rank of a training run reports, checked in one process: the trainer is set
up as rank 0 or rank 1 of 2 without a process group (the collectives are then no-ops and the DDP
wrapper is left out). A real two-process run is tests/test_train.py's DDP test."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any, Callable, Optional

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

pytestmark = pytest.mark.usefixtures("one_thread", "small_branches")

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


def _failing_elsewhere(seen: Callable[[], BaseException], failed_rank: Optional[int]) -> Any:
    """A training step during which rank ``failed_rank`` fails (its line reaches train.log
    first, as :func:`append_rank_error` runs before that process ends) and this rank then
    sees ``seen()``."""

    def step(self: Trainer, batch: Any, epoch: int, iteration: int) -> Any:
        if failed_rank is not None:
            D.append_rank_error(self.out / LOG_FILE, failed_rank, ValueError("a corrupt image"))
        raise seen()

    return step


def _resumed_run(as_rank, cfg: Any) -> Path:
    """``cfg``'s run folder made by rank 0, its train.log holding an earlier attempt's rank 1
    failure (which is not this attempt's); returns the log."""
    as_rank(0)
    Trainer(cfg).close()
    log = Path(cfg.output_dir) / LOG_FILE
    D.append_rank_error(log, 1, ValueError("an earlier attempt's error"))
    return log


@pytest.mark.filterwarnings(f"ignore:{BUILD_WARNING}")
@pytest.mark.parametrize(
    "rank, seen, how",
    [
        (0, lambda: RuntimeError(GLOO_LOST), "this one lost its connection to it"),
        (1, lambda: RuntimeError(GLOO_LOST), "this one lost its connection to it"),
        (0, lambda: D.Terminated("SIGTERM (signal 15)"), "torchrun then stopped this one"),
    ],
    ids=["rank0-lost", "rank1-lost", "rank0-sigterm"],
)
def test_a_rank_stopped_by_another_s_failure_names_it(
    as_rank, tmp_path: Path, dis5k_root: Path, data_config, monkeypatch, rank, seen, how
) -> None:
    # Before: gloo's "Connection closed by peer" (with a traceback) or "interrupted" was what
    # rank 0 said, and another rank added the lost connection to train.log as its failure.
    cfg = two_epoch_config(tmp_path, dis5k_root, data_config)
    log = _resumed_run(as_rank, cfg)
    monkeypatch.setattr(Trainer, "_train_step", _failing_elsewhere(seen, failed_rank=2))
    as_rank(rank)
    # Terminated too: a KeyboardInterrupt escaping a test would end the whole session.
    with pytest.raises((OtherProcessFailed, D.Terminated)) as stopped:
        Trainer(cfg, resume=cfg.output_dir).fit()
    assert isinstance(stopped.value, OtherProcessFailed)
    assert str(stopped.value) == (
        f"rank 2 of this torchrun job failed ({how}); its error is printed above and logged "
        f"in '{log}'"
    )
    text = log.read_text()
    assert "Connection closed" not in text and "SIGTERM" not in text
    assert text.count("training failed") == 2  # the earlier attempt's and rank 2's
    assert ("interrupted during epoch 1 (OtherProcessFailed: rank 2" in text) == (rank == 0)


@pytest.mark.filterwarnings(f"ignore:{BUILD_WARNING}")
def test_a_sigterm_while_no_rank_failed_stays_an_interruption(
    as_rank, tmp_path: Path, dis5k_root: Path, data_config, monkeypatch
) -> None:
    # Slurm preempting the job, or an earlier attempt's failure only: no rank failed now.
    cfg = two_epoch_config(tmp_path, dis5k_root, data_config)
    _resumed_run(as_rank, cfg)
    sigterm = _failing_elsewhere(lambda: D.Terminated("SIGTERM (signal 15)"), failed_rank=None)
    monkeypatch.setattr(Trainer, "_train_step", sigterm)
    with pytest.raises(D.Terminated):
        Trainer(cfg, resume=cfg.output_dir).fit()


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
