"""SIGTERM stops a training run as Ctrl-C does. torchrun sends it to the other processes when
one fails (Slurm to a preempted job); Python's default ended the process at once, mid-save
too, leaving a temporary checkpoint folder and nothing in the run's log."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from training_cases import two_epoch_config

from pmgsam.engine import distributed as D
from pmgsam.engine import state
from pmgsam.engine.config import ExperimentConfig
from pmgsam.engine.state import LOG_FILE, checkpoint_dir, load_training_state
from pmgsam.engine.trainer import Trainer

pytestmark = pytest.mark.usefixtures("one_thread", "small_branches")

INTERRUPTED = 3  # the child's exit status when fit() raised a KeyboardInterrupt


def _sigterm_during_first_save_of_fit(cfg: ExperimentConfig) -> None:
    torch.set_num_threads(1)  # a forked process must not use the parent's OpenMP pool
    trainer = Trainer(cfg)
    save_model = state.save_model

    def save_after_sigterm(*args, **kwargs):
        # Delivered at the next bytecode, inside save_checkpoint: its temporary folder exists.
        os.kill(os.getpid(), signal.SIGTERM)
        return save_model(*args, **kwargs)

    state.save_model = save_after_sigterm
    try:
        trainer.fit()
    except KeyboardInterrupt:
        os._exit(INTERRUPTED)
    os._exit(0)


def test_sigterm_while_saving_leaves_the_previous_checkpoint_and_says_so(
    tmp_path: Path, dis5k_root: Path, data_config
) -> None:
    cfg = two_epoch_config(tmp_path, dis5k_root, data_config)
    # Forked: the child inherits this process's imports and the small_branches patch (a trainer
    # set up here would not do: its TensorBoard writer's thread is not forked).
    target = _sigterm_during_first_save_of_fit
    child = mp.get_context("fork").Process(target=target, args=(cfg,))
    child.start()
    child.join(timeout=120)
    if child.exitcode is None:
        child.kill()
    # Killed by the signal, the exit code would be -15.
    assert child.exitcode == INTERRUPTED
    run = Path(cfg.output_dir)
    # Epoch 1's `best` was being written: dropped whole, no temporary folder left.
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["last"]
    assert load_training_state(checkpoint_dir(run, "last"))["epoch"] == 0
    log = (run / LOG_FILE).read_text()
    assert "training interrupted during epoch 1 (Terminated: SIGTERM" in log


def test_sigterm_raises_within_the_context_alone() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(D.Terminated), D.sigterm_interrupts():
        os.kill(os.getpid(), signal.SIGTERM)
        signal.pthread_sigmask(signal.SIG_BLOCK, [])  # a call: the handler runs by its end
    assert signal.getsignal(signal.SIGTERM) is before
