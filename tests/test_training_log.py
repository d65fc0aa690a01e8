"""What a training run reports: metrics.jsonl records, train.log lines and TensorBoard events.

The events are read back with TensorBoard's own EventAccumulator (which also applies the purge
of a resumed run), the log lines with a handler of the test's own.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Dict, List, Tuple

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from pmgsam.engine.training_log import TrainingLog, attach_run_log, epoch_record

TRAIN = {"loss": 0.75, "bce": 0.5, "images_per_s": 12.34, "time_s": 56.78}
VAL = {"loss": 0.25, "mae": 0.125, "iou": 0.875, "f": 0.5, "images": 2}


def _scalars(tb: Path) -> Dict[str, List[Tuple[int, float]]]:
    acc = EventAccumulator(str(tb))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def lines():
    pkg = logging.getLogger("pmgsam")
    handler, old = _Lines(), pkg.level
    pkg.addHandler(handler)
    pkg.setLevel(logging.INFO)
    yield handler.lines
    pkg.removeHandler(handler)
    pkg.setLevel(old)


def test_epoch_record_keys_and_values() -> None:
    record = epoch_record(3, 120, 1e-4, {"loss": 0.5}, {"loss": 0.25, "mae": 0.1}, True, 2)
    assert record == {
        "epoch": 3,
        "global_step": 120,
        "lr": 1e-4,
        "train_loss": 0.5,
        "val_loss": 0.25,
        "val_mae": 0.1,
        "best": True,
        "early_stop_bad": 2,
    }


def test_step_and_epoch_lines_count_from_one(tmp_path, lines) -> None:
    log = TrainingLog(tmp_path, 0, epochs=5)
    # epoch 1 (0-based 0), iteration 3 of 4 (0-based 2), global step 7.
    log.step(0, 2, 4, 7, {"loss": torch.tensor(0.5)}, 2e-4, 9.87)
    log.epoch_end(1, TRAIN, VAL, 3e-4, best=True)
    log.epoch_end(2, TRAIN, VAL, 3e-4, best=False)
    log.epoch_end(3, TRAIN, {}, 3e-4, best=False)
    log.close()
    assert lines[0] == "epoch 1 iter 3/4 step 7 | loss 0.5000 | lr 0.0002 | 9.9 img/s"
    assert lines[1] == (
        "epoch 1/5 | train loss 0.7500 | val loss 0.2500 MAE 0.1250 IoU 0.8750 F 0.5000 (best)"
        " | lr 0.0003 | 12.3 img/s, 56.8s"
    )
    assert "(best)" not in lines[2] and lines[2].startswith("epoch 2/5 |")
    assert "| no validation |" in lines[3]


def test_epoch_lines_give_the_loader_wait_and_the_validation_time_when_measured(
    tmp_path, lines
) -> None:
    log = TrainingLog(tmp_path, 0, epochs=5)
    log.epoch_end(1, {**TRAIN, "data_wait_s": 2.06}, {**VAL, "time_s": 12.34}, 3e-4, best=True)
    log.epoch_end(2, {**TRAIN, "data_wait_s": 0.0}, {}, 3e-4, best=False)
    log.close()
    assert lines[0] == (
        "epoch 1/5 | train loss 0.7500 | val loss 0.2500 MAE 0.1250 IoU 0.8750 F 0.5000 (best)"
        " in 12.3s | lr 0.0003 | 12.3 img/s, 56.8s (2.1s waiting for data)"
    )
    assert lines[1].endswith(
        "| no validation | lr 0.0003 | 12.3 img/s, 56.8s (0.0s waiting for data)"
    )


def test_tensorboard_scalars_and_their_steps(tmp_path) -> None:
    log = TrainingLog(tmp_path, 0, epochs=5)
    for step in (1, 2):
        log.step(
            0,
            step - 1,
            2,
            step,
            {"loss": torch.tensor(step / 4), "bce": torch.tensor(0.5)},
            1e-3,
            1.0,
        )
    log.epoch_end(1, {**TRAIN, "data_wait_s": 0.5}, {**VAL, "time_s": 3.0}, 5e-4, best=True)
    # Read while the run goes on: a finished epoch is on disk for TensorBoard to show.
    s = _scalars(tmp_path / "tb")
    log.close()
    # Logging steps at their global step; epoch scalars at the epoch (from 1).
    assert s["train/loss"] == [(1, 0.25), (2, 0.5)]
    assert s["train/bce"] == [(1, 0.5), (2, 0.5)]
    assert [step for step, _ in s["train/lr"]] == [1, 2]
    assert s["train/lr"][0][1] == pytest.approx(1e-3)
    assert s["val/loss"] == [(1, 0.25)] and s["val/iou"] == [(1, 0.875)]
    assert s["epoch/train_loss"] == [(1, 0.75)]
    assert s["epoch/lr"][0][0] == 1 and s["epoch/lr"][0][1] == pytest.approx(5e-4)
    # Neither the image count nor the durations are curves.
    assert not {"val/images", "val/time_s", "epoch/data_wait_s"} & set(s)


def _log_steps(out: Path, start: int, steps: range, value: float) -> None:
    log = TrainingLog(out, start, epochs=5)
    for step in steps:
        log.step(0, 0, 1, step, {"loss": torch.tensor(value)}, 1e-3, 1.0)
    log.close()


def test_resumed_log_drops_the_events_logged_after_its_checkpoint(tmp_path) -> None:
    # A global step is logged once it is done (steps count from 1). The crashed attempt
    # logged steps 1..5; its checkpoint holds 3 done steps, so the resumed run logs 4 and 5
    # again: step 3 (before the checkpoint) stays, the old 4 and 5 go.
    _log_steps(tmp_path, 0, range(1, 6), 1.0)
    _log_steps(tmp_path, 3, range(4, 6), 2.0)
    assert _scalars(tmp_path / "tb")["train/loss"] == [
        (1, 1.0), (2, 1.0), (3, 1.0), (4, 2.0), (5, 2.0)
    ]  # fmt: skip


def test_resume_from_the_first_checkpoint_drops_every_old_step(tmp_path) -> None:
    # A crash in the first epoch resumes from the checkpoint saved before any step (0 done):
    # the steps are all logged again and must not show twice.
    _log_steps(tmp_path, 0, range(1, 4), 1.0)
    _log_steps(tmp_path, 0, range(1, 3), 2.0)
    assert _scalars(tmp_path / "tb")["train/loss"] == [(1, 2.0), (2, 2.0)]


def test_run_log_goes_to_train_log_once_and_is_undone(tmp_path, caplog) -> None:
    pkg = logging.getLogger("pmgsam")
    before = (pkg.level, pkg.propagate, list(pkg.handlers))
    detach = attach_run_log(tmp_path)
    with caplog.at_level(logging.INFO):  # caplog's handler sits on the root logger
        logging.getLogger("pmgsam.engine.trainer").info("one line")
        detach()
        logging.getLogger("pmgsam.engine.trainer").warning("after the run")
    text = (tmp_path / "train.log").read_text()
    assert text.count("one line") == 1 and "after the run" not in text
    # While attached the package logger does not propagate: a root handler (caplog's
    # stands for one) would print every line a second time.
    assert [r.getMessage() for r in caplog.records] == ["after the run"]
    assert (pkg.level, pkg.propagate, list(pkg.handlers)) == before
