"""The history a run leaves for its user: metrics.jsonl lines readable by any JSON reader, a
train.log that a resumed run appends to, and the lines naming the best epoch (counted from 1) and
how to continue an interrupted run, and the validation preview in TensorBoard."""

from __future__ import annotations

import json
import logging
import math
import os
import signal

import pytest
import torch

from pmgsam.engine.schedulers import EarlyStopping
from pmgsam.engine.training_log import (
    TrainingLog,
    append_metrics,
    attach_run_log,
    early_stop_line,
    fit_summary,
    interruption_message,
)


def test_a_diverged_epoch_is_written_as_strict_json(tmp_path) -> None:
    append_metrics(tmp_path, {"epoch": 1, "val_loss": 0.5})
    append_metrics(tmp_path, {"epoch": 2, "val_loss": math.nan, "lr": math.inf, "best": False})

    def refuse(name: str) -> None:  # what JSON readers other than Python's do with NaN
        raise ValueError(name)

    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    records = [json.loads(line, parse_constant=refuse) for line in lines]
    assert records == [
        {"epoch": 1, "val_loss": 0.5},
        {"epoch": 2, "val_loss": None, "lr": None, "best": False},
    ]


def test_a_resumed_run_appends_to_train_log(tmp_path) -> None:
    trainer = logging.getLogger("pmgsam.engine.trainer")
    for line in ("first attempt", "resumed"):
        detach = attach_run_log(tmp_path)
        trainer.info(line)
        detach()
    text = (tmp_path / "train.log").read_text()
    assert "first attempt" in text and "resumed" in text


def test_train_log_takes_info_lines_whatever_the_logger_levels(tmp_path) -> None:
    # A library or notebook may have set the package logger to WARNING (the root logger's
    # default level too): the epoch lines are INFO and still belong in train.log.
    pkg = logging.getLogger("pmgsam")
    before = pkg.level
    pkg.setLevel(logging.WARNING)
    try:
        detach = attach_run_log(tmp_path)
        logging.getLogger("pmgsam.engine.trainer").info("epoch 1/5 | train loss 0.5")
        detach()
        assert pkg.level == logging.WARNING  # restored
    finally:
        pkg.setLevel(before)
    assert "epoch 1/5 | train loss 0.5" in (tmp_path / "train.log").read_text()


def _stopper(losses) -> EarlyStopping:
    stop = EarlyStopping(patience=2)
    for epoch, loss in enumerate(losses):
        stop.update(epoch, loss)
    return stop


def test_the_best_epoch_counts_from_one_and_the_first_epoch_can_be_best(tmp_path) -> None:
    # Epoch 1 (0-based 0) had the lowest loss: it is the best, not "none".
    stop = _stopper([0.25, 0.5, 0.75])
    summary = fit_summary(tmp_path, 3, 30, stop)
    assert summary == {
        "output_dir": str(tmp_path),
        "epochs_completed": 3,
        "global_step": 30,
        "best_val_loss": 0.25,
        "best_epoch": 1,
    }
    assert early_stop_line(stop) == (
        "early stop: no validation improvement for 2 validations (best 0.25000 after epoch 1)"
    )
    later = fit_summary(tmp_path, 3, 30, _stopper([0.5, 0.25, 0.75]))
    assert later["best_epoch"] == 2 and later["best_val_loss"] == 0.25
    never = _stopper([math.nan, math.nan])
    assert fit_summary(tmp_path, 2, 20, never)["best_epoch"] is None
    assert fit_summary(tmp_path, 2, 20, never)["best_val_loss"] is None
    assert early_stop_line(never).endswith("for 2 validations (none)")


def test_the_interruption_line_names_the_epoch_kept_and_how_to_continue(tmp_path) -> None:
    how = "python train.py --resume run"
    line = interruption_message(ValueError("bad batch"), 2, tmp_path, how)
    assert line == (
        f"training interrupted during epoch 3 (ValueError: bad batch); "
        f"'{tmp_path / 'checkpoints' / 'last'}' holds epoch 2, continue once the cause is "
        f"fixed with: {how}"
    )
    # Ctrl-C has no cause to fix; a run with no finished epoch may also start afresh.
    first = interruption_message(KeyboardInterrupt(), 0, tmp_path, how)
    assert "during epoch 1 (KeyboardInterrupt)" in first and "once the cause" not in first
    assert first.endswith(f"{how} (or start it again, with another config if need be)")
    assert "start it again" not in interruption_message(KeyboardInterrupt(), 1, tmp_path, how)


def test_the_validation_preview_is_logged_at_its_epoch(tmp_path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    log = TrainingLog(tmp_path, 0, epochs=5)
    grid = torch.zeros(3, 6, 10)
    grid[0, 1, 2] = 1.0
    log.preview(grid, 2)
    log.close()
    acc = EventAccumulator(str(tmp_path / "tb"))
    acc.Reload()
    [tag] = acc.Tags()["images"]
    [event] = acc.Images(tag)
    assert "preview" in tag and event.step == 2
    assert (event.width, event.height) == (10, 6)


def test_train_log_is_utf8_under_an_ascii_locale(tmp_path) -> None:
    # Under LC_ALL=C without UTF-8 mode, files open as ASCII: a line naming maxFβ was dropped
    # from train.log with a "--- Logging error ---" report.
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import logging, sys\n"
        "from pmgsam.engine.training_log import attach_run_log\n"
        "detach = attach_run_log(sys.argv[1])\n"
        "logging.getLogger('pmgsam').info('best maxF\\u03b2 0.5 (U\\u00b2-Net)')\n"
        "detach()\n"
    )
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONIOENCODING": "utf-8"}
    env["PYTHONPATH"] = os.pathsep.join([str(root), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "Logging error" not in done.stderr
    assert "best maxF\u03b2 0.5 (U\u00b2-Net)" in (tmp_path / "train.log").read_text("utf-8")


class _KilledWorkerDataset(torch.utils.data.Dataset):
    """Its worker dies by SIGKILL, as the kernel's out-of-memory killer ends one."""

    def __len__(self) -> int:
        return 2

    def __getitem__(self, index: int) -> int:
        os.kill(os.getpid(), signal.SIGKILL)
        return index


def test_a_worker_killed_by_sigkill_is_named_with_its_likely_cause(tmp_path) -> None:
    # torch's own error for the death, not a hand-written copy of its wording.
    loader = torch.utils.data.DataLoader(
        _KilledWorkerDataset(), num_workers=1, multiprocessing_context="fork"
    )
    with pytest.raises(RuntimeError) as caught:
        next(iter(loader))
    line = interruption_message(caught.value, 1, tmp_path, "train.py --resume RUN")
    assert "out-of-memory killer" in line and "fewer data.num_workers" in line
    # torch's other wording, from its SIGCHLD handler, when the signal reaches it first.
    sigchld = RuntimeError("DataLoader worker (pid 7) is killed by signal: Killed. ")
    assert "out-of-memory killer" in interruption_message(sigchld, 1, tmp_path, "x")
    # Another RuntimeError, or a worker that crashed in native code, gets no such hint.
    segfault = RuntimeError("DataLoader worker (pid 7) is killed by signal: Segmentation fault. ")
    assert "out-of-memory" not in interruption_message(segfault, 1, tmp_path, "x")
    other = interruption_message(RuntimeError("CUDA error"), 1, tmp_path, "train.py --resume RUN")
    assert "num_workers" not in other
