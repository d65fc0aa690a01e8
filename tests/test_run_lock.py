"""The run folder's lock: what a crashed run's lock file, another host's, one that cannot be
read, and a file system that cannot lock do to the next run; and that a training process gives
the lock up when its set-up fails or it is interrupted, while the Trainer object still lives."""

from __future__ import annotations

import copy
import errno
import logging
import os
import socket
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest
from training_cases import two_epoch_config

from pmgsam.engine import run_lock as run_lock_mod
from pmgsam.engine import trainer as trainer_mod
from pmgsam.engine.run_lock import LOCK_FILE, RunLock
from pmgsam.engine.trainer import Trainer
from pmgsam.utils.outputs import OutputError

fcntl = pytest.importorskip("fcntl", reason="run folders are locked with fcntl.flock (POSIX)")
# The frozen Hiera is conftest's small one (small_tiny_model, small_branches for any build): nothing
# here depends on its size, and Hiera-T's 27 M weights were copied and digested per trainer.
pytestmark = pytest.mark.usefixtures("one_thread", "small_branches")

ME = f"{os.getpid()} on {socket.gethostname()}"


def _held_by_another_open_file(path: Path, content: bytes):
    """``path`` holding ``content``, flock-ed through another open file (as another process
    would: flock locks of two open files conflict within one process too)."""
    path.write_bytes(content)
    other = open(path, "rb")
    fcntl.flock(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    return other


def test_a_crashed_runs_lock_file_is_taken_over_and_names_the_new_holder(tmp_path):
    # A killed run leaves its pid in the file but holds no lock (the OS released it).
    (tmp_path / LOCK_FILE).write_text("4242 on deadhost\n")
    lock = RunLock(tmp_path)
    lock.acquire()
    try:
        assert (tmp_path / LOCK_FILE).read_text() == f"{ME}\n"  # the old pid is gone
        with pytest.raises(OutputError, match=rf"\(pid {ME}\); wait for it"):
            RunLock(tmp_path).acquire()
    finally:
        lock.release()


def test_a_lock_held_on_another_host_names_that_host(tmp_path):
    # A pid alone would send the user to `kill` an unrelated process of this machine.
    other = _held_by_another_open_file(tmp_path / LOCK_FILE, b"31337 on gpu-node-7\n")
    try:
        with pytest.raises(
            OutputError, match=rf"'{tmp_path}' is in use .*\(pid 31337 on gpu-node-7\)"
        ):
            RunLock(tmp_path).acquire()
    finally:
        other.close()
    assert (tmp_path / LOCK_FILE).read_bytes() == b"31337 on gpu-node-7\n"  # the holder's


def test_a_held_lock_whose_file_is_not_text_still_refuses_clearly(tmp_path):
    # Read as UTF-8 strictly, these bytes raised UnicodeDecodeError: a traceback, not a refusal.
    other = _held_by_another_open_file(tmp_path / LOCK_FILE, b"\xff\xfe\x00\x81\n")
    try:
        with pytest.raises(OutputError, match="in use by another training process"):
            RunLock(tmp_path).acquire()
    finally:
        other.close()


def test_a_file_system_that_cannot_lock_warns_and_the_run_goes_on(tmp_path, monkeypatch):
    # NFS without a lock daemon: flock fails with ENOLCK although no process holds the file.
    def no_locks(fd, op):
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    fake = SimpleNamespace(flock=no_locks, LOCK_EX=fcntl.LOCK_EX, LOCK_NB=fcntl.LOCK_NB)
    monkeypatch.setattr(run_lock_mod, "fcntl", fake)
    lock = RunLock(tmp_path)
    with pytest.warns(UserWarning, match=rf"'{tmp_path}' cannot be locked \(No locks available\)"):
        lock.acquire()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lock.acquire()  # a resume acquires twice: no second attempt, no second warning
    lock.release()


def _free(run: Path) -> bool:
    lock = RunLock(run)
    try:
        lock.acquire()
    except OutputError:
        return False
    lock.release()
    return True


def test_a_set_up_that_fails_after_locking_releases_the_folder(
    tmp_path, dis5k_root, data_config, monkeypatch
):
    def no_model(cfg):
        raise KeyboardInterrupt  # Ctrl-C while the model builds: the folder is locked by then

    monkeypatch.setattr(trainer_mod, "build_model", no_model)
    cfg = two_epoch_config(tmp_path, dis5k_root, data_config)
    with pytest.raises(KeyboardInterrupt) as info:
        Trainer(cfg)
    # The traceback in `info` keeps the half-built Trainer (and any file it holds) alive.
    assert info.traceback and _free(Path(cfg.output_dir))


def test_an_interrupted_fit_releases_the_folder(
    tmp_path, dis5k_root, data_config, small_tiny_model, monkeypatch
):
    monkeypatch.setattr(trainer_mod, "build_model", lambda cfg: copy.deepcopy(small_tiny_model))

    def boom(self, *args):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(Trainer, "_train_step", boom)
    cfg = two_epoch_config(tmp_path, dis5k_root, data_config)
    trainer = Trainer(cfg)
    assert not _free(Path(cfg.output_dir))  # held while it trains
    with pytest.raises(RuntimeError, match="out of memory"):
        trainer.fit()
    assert _free(Path(cfg.output_dir))  # `trainer` still referenced: released by fit itself


def test_a_trainer_used_as_a_context_releases_the_folder_and_its_log_unfitted(
    tmp_path, dis5k_root, data_config, small_tiny_model, monkeypatch
):
    monkeypatch.setattr(trainer_mod, "build_model", lambda cfg: copy.deepcopy(small_tiny_model))
    cfg = two_epoch_config(tmp_path, dis5k_root, data_config)
    package_log = logging.getLogger("pmgsam")
    handlers = list(package_log.handlers)
    with Trainer(cfg) as trainer:
        assert not _free(Path(cfg.output_dir))
        assert len(package_log.handlers) > len(handlers)  # train.log and stdout attached
    assert trainer.epoch == 0  # never fitted, still referenced: released by leaving the block
    assert _free(Path(cfg.output_dir))
    assert package_log.handlers == handlers
