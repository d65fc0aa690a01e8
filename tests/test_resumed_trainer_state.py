"""What a resumed Trainer takes back from the training state: the epoch its `last` holds (which an
interruption before the next save names, and which decides whether a fresh start is offered;
metrics.jsonl lines of later epochs are dropped), the process count it trained on (another is
refused, as are a changed config and a new run over a trained one), and the plateau schedule's
and the early stop's counts of failed validations (a resume between two failures must not
forget the first)."""

from __future__ import annotations

import copy
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from training_cases import two_epoch_config

from pmgsam.engine import trainer as trainer_mod
from pmgsam.engine.config import ExperimentConfig, ScheduleConfig
from pmgsam.engine.run_lock import RunLock
from pmgsam.engine.schedulers import EarlyStopping, WarmupSchedule
from pmgsam.engine.trainer import Trainer
from pmgsam.utils.config import ConfigError

# The frozen Hiera is conftest's small one (small_tiny_model, small_branches for any build): nothing
# here depends on its size, and Hiera-T's 27 M weights were copied and digested per trainer.
pytestmark = pytest.mark.usefixtures("one_thread", "small_branches")


@pytest.fixture
def started_run(
    tmp_path, dis5k_root, data_config, small_tiny_model, monkeypatch
) -> ExperimentConfig:
    """A run of the tiny model stopped at its first step: its `last` holds epoch 0. Trainers
    of the test stop at their first step too."""
    monkeypatch.setattr(trainer_mod, "build_model", lambda cfg: copy.deepcopy(small_tiny_model))

    def interrupt(self, *args):
        raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "_train_step", interrupt)
    cfg = two_epoch_config(tmp_path, dis5k_root, data_config)
    with pytest.raises(KeyboardInterrupt):
        Trainer(cfg).fit()
    return cfg


def _rewrite_last_state(cfg: ExperimentConfig, **entries: Any) -> None:
    state_file = Path(cfg.output_dir) / "checkpoints" / "last" / "state.pt"
    state = torch.load(state_file, weights_only=True)
    torch.save({**state, **entries}, state_file)


def test_an_interrupted_resume_names_the_epoch_its_last_checkpoint_holds(started_run) -> None:
    cfg = started_run
    _rewrite_last_state(cfg, epoch=1)  # as if the first epoch had finished: 1 of 2 kept
    # The first epoch's line, and the second's, written before a crash that kept no checkpoint.
    metrics = Path(cfg.output_dir) / "metrics.jsonl"
    metrics.write_text('{"epoch": 1, "loss": 0.5}\n{"epoch": 2, "loss": 0.4}\n')
    trainer = Trainer(cfg, resume=cfg.output_dir)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    # The interrupted trainer (still referenced here) closed its run: the folder is free.
    lock = RunLock(Path(cfg.output_dir))
    lock.acquire()
    lock.release()
    log = (Path(cfg.output_dir) / "train.log").read_text().splitlines()
    message = [line for line in log if "training interrupted" in line][-1]
    # Interrupted in epoch 2 with epoch 1 kept: a resume continues it; starting over (offered
    # only when nothing is kept) would throw the finished epoch away.
    assert "training interrupted during epoch 2 (KeyboardInterrupt)" in message
    assert "holds epoch 1," in message
    assert "start it again" not in message
    # Set-up kept the line of the epoch `last` holds only: epoch 2 is trained again.
    assert metrics.read_text() == '{"epoch": 1, "loss": 0.5}\n'


def test_a_resume_on_another_number_of_processes_is_refused_by_the_trainer(started_run) -> None:
    # The run trained on 2 processes: one process would draw other batches with other steps per
    # epoch. Refused at set-up, naming the command, and the run folder is left unlocked.
    cfg = started_run
    _rewrite_last_state(cfg, world_size=2)
    run = Path(cfg.output_dir)
    with pytest.raises(
        ConfigError, match=r"on 1 process\(es\): the run trained on 2.*torchrun --nproc_per_node 2"
    ):
        Trainer(cfg, resume=run)
    lock = RunLock(run)
    lock.acquire()
    lock.release()


def test_the_trainer_refuses_a_changed_config_or_a_new_run_over_a_trained_one(started_run):
    cfg = started_run
    run = Path(cfg.output_dir)
    changed = copy.deepcopy(cfg)
    changed.optim.lr = 2e-4
    with pytest.raises(ConfigError, match=r"config differs .*: optim\.lr: 0\.0001 != 0\.0002\. "):
        Trainer(changed, resume=run)
    _rewrite_last_state(cfg, epoch=1)  # a trained epoch: a new run there would lose it
    with pytest.raises(FileExistsError, match=r"already holds a training run: continue it"):
        Trainer(cfg)


def _plateau(patience: int) -> WarmupSchedule:
    config = ScheduleConfig(
        warmup_epochs=0,
        kind="plateau",
        plateau_factor=0.5,
        plateau_patience=patience,
        plateau_threshold=0.0,
        min_lr=0.0,
    )
    return WarmupSchedule(SimpleNamespace(param_groups=[]), 1e-3, config, iters_per_epoch=1)


def test_a_resumed_plateau_schedule_keeps_its_count_of_failed_validations() -> None:
    # Patience 2: best 1.0, then two failures; a resume here, then a third failure reduces the
    # rate, as in the uninterrupted run. Restarting the count at 0 would wait two more.
    before = _plateau(patience=2)
    for epoch, loss in enumerate([1.0, 1.1, 1.2]):
        assert before.on_validation(epoch, loss) is False
    after = _plateau(patience=2)
    after.load_state_dict(before.state_dict())
    assert after.on_validation(3, 1.3) is True
    assert after.base_lr(4) == pytest.approx(5e-4)
    # The restored best decides what an improvement is: 1.05 is no better than 1.0.
    again = _plateau(patience=0)
    again.load_state_dict(_plateau(patience=0).state_dict() | {"plateau_best": 1.0})
    assert again.on_validation(0, 1.05) is True


def test_a_resumed_early_stop_keeps_its_best_and_count() -> None:
    before = EarlyStopping(patience=3)
    for epoch, loss in enumerate([1.0, 0.8, 0.9, 0.85]):
        before.update(epoch, loss)
    after = EarlyStopping(patience=3)
    after.load_state_dict(before.state_dict())
    assert (after.best, after.best_epoch, after.bad) == (0.8, 1, 2)
    assert not after.should_stop
    assert not after.update(4, 0.81)  # the third failure in a row stops the run
    assert after.should_stop
