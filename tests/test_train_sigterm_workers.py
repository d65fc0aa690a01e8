"""SIGTERM sent to a whole job (Slurm's preemption and scancel, ``kill -TERM -PGID``) reaches the
loader workers too. Killed by it, a worker made torch raise "DataLoader worker ... is killed by
signal: Terminated" in the trainer while it stopped on its own SIGTERM: the run ended as a crash
(exit status 1, train.log asking to fix a cause) instead of as an interruption."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from training_cases import tiny_dis5k_values

from pmgsam.engine.config import ExperimentConfig
from pmgsam.engine.state import LOG_FILE
from pmgsam.engine.trainer import Trainer
from pmgsam.utils.config import from_dict

pytestmark = pytest.mark.usefixtures("one_thread", "small_branches")

INTERRUPTED, CRASHED, WORKERS_LEFT = 3, 4, 5  # the child's exit statuses


def _sigterm_from_another_process() -> None:
    """SIGTERM to this process group, sent as Slurm or a shell sends it: not by the workers'
    parent (torch's workers exit quietly on their parent's own SIGTERM)."""
    sender = os.fork()
    if sender == 0:
        os.killpg(0, signal.SIGTERM)  # blocked here, as in the parent that forked it
        os._exit(0)
    os.waitpid(sender, 0)


def _wait_until_ended(pids: list) -> None:
    """Until every process of ``pids`` has ended (a zombie: its parent has not reaped it)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        states = [
            Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] for pid in pids
        ]
        if all(state == "Z" for state in states):
            return
        time.sleep(0.01)


def _sigterm_to_the_job_at_the_second_step(cfg: ExperimentConfig) -> None:
    torch.set_num_threads(1)  # a forked process must not use the parent's OpenMP pool
    os.setpgrp()  # the job: this process and the loader workers it starts, not pytest
    original = Trainer._train_step

    def step(self: Trainer, batch, epoch: int, iteration: int):
        if iteration == 1:
            # The worker ends while the trainer is in a long torch call, and Python sees that
            # first (the sender signalled the workers first, or the trainer ran Python between
            # the two handlers): torch's SIGCHLD handler, then SIGTERM's.
            signals = [signal.SIGTERM, signal.SIGCHLD]
            signal.pthread_sigmask(signal.SIG_BLOCK, signals)
            _sigterm_from_another_process()
            _wait_until_ended([w.pid for w in self.train_loader._iterator._workers])
            signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGCHLD])
            signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM])
        return original(self, batch, epoch, iteration)

    Trainer._train_step = step
    try:
        Trainer(cfg).fit()
    except KeyboardInterrupt:  # Terminated, as fit() raises it for SIGTERM
        os._exit(WORKERS_LEFT if mp.active_children() else INTERRUPTED)
    except BaseException:
        os._exit(CRASHED)
    os._exit(0)


def test_sigterm_to_trainer_and_workers_is_an_interruption(
    tmp_path: Path, dis5k_root: Path, data_config
) -> None:
    values = tiny_dis5k_values(tmp_path / "run", dis5k_root, data_config)
    values["data"]["num_workers"] = 1  # persistent (the default), so alive between steps
    values["schedule"] = {"epochs": 1, "warmup_epochs": 0}
    cfg = from_dict(ExperimentConfig, values)
    assert cfg.performance.persistent_workers
    child = mp.get_context("fork").Process(
        target=_sigterm_to_the_job_at_the_second_step, args=(cfg,)
    )
    child.start()
    child.join(timeout=120)
    if child.exitcode is None:
        child.kill()
    assert child.exitcode == INTERRUPTED
    log = (Path(cfg.output_dir) / LOG_FILE).read_text()
    assert "training interrupted during epoch 1 (Terminated: SIGTERM" in log
    assert "killed by signal" not in log
