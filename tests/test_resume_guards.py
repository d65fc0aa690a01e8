"""What a resume may find changed: another process training the run (refused before anything
is read or written: two processes interleaved metrics.jsonl epochs), and a moved dataset
(allowed when the same training and validation images are there), an image replaced in place
(refused, by another of the same size too), and states that recorded the image paths only, or
the paths and sizes only (still checked by them)."""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Dict, Tuple

import cv2
import numpy as np
import pytest
import torch
import yaml
from training_cases import two_epoch_config

from pmgsam.data import build_dataset, train_val_split_names
from pmgsam.engine import trainer as trainer_mod
from pmgsam.engine.config import ExperimentConfig
from pmgsam.engine.run_lock import LOCK_FILE, RunLock
from pmgsam.engine.train_data import paths_fingerprint, sizes_fingerprint
from pmgsam.engine.trainer import Trainer
from pmgsam.utils.config import ConfigError
from pmgsam.utils.outputs import OutputError

pytest.importorskip("fcntl", reason="run folders are locked with fcntl.flock (POSIX only)")
pytestmark = pytest.mark.usefixtures("one_thread", "small_branches")

# Another process holding the lock as a training process does, until its stdin closes.
HOLDER = """
import fcntl, os, sys
f = open(sys.argv[1], "a+")
fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
f.seek(0); f.truncate(); f.write(f"{os.getpid()}\\n"); f.flush()
print("locked", flush=True)
sys.stdin.read()
"""


def test_a_second_lock_on_a_folder_is_refused_until_released(tmp_path):
    first = RunLock(tmp_path)
    first.acquire()
    with pytest.raises(OutputError, match=r"in use by another training process \(pid \d+ on \S+\)"):
        RunLock(tmp_path).acquire()
    first.release()
    again = RunLock(tmp_path)
    again.acquire()  # released: free again
    again.release()


@pytest.fixture
def first_step_stops(small_tiny_model, monkeypatch):
    """Trainers build the tiny model and stop at their first training step. Its frozen Hiera is
    conftest's small one (small_branches, for any other build): what a resume may find changed
    does not depend on it, and Hiera-T's 27 M weights were copied and digested per trainer."""
    monkeypatch.setattr(trainer_mod, "build_model", lambda cfg: copy.deepcopy(small_tiny_model))

    def interrupt(self, *args):
        raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "_train_step", interrupt)


def _started_run(tmp_path, dis5k_root, data_config) -> ExperimentConfig:
    cfg = two_epoch_config(tmp_path, dis5k_root, data_config)
    with pytest.raises(KeyboardInterrupt):  # a run whose `last` holds epoch 0
        Trainer(cfg).fit()
    return cfg


def _as_an_older_pmgsam_saved(
    cfg: ExperimentConfig, key: str, fingerprint: Callable[..., str]
) -> Tuple[Path, Dict[str, Any]]:
    """Rewrite the started run's last state as an older pmgsam saved it: no fingerprint of the
    data's sampled contents, but ``key`` holding ``fingerprint`` of data.root and the train and
    val splits. Returns the state file and the state written there."""
    state_file = Path(cfg.output_dir) / "checkpoints" / "last" / "state.pt"
    state = torch.load(state_file, weights_only=True)
    size, (train, val) = cfg.model.image_size, train_val_split_names(cfg.data)
    splits = [build_dataset(cfg.data, name, size, train=name == train) for name in (train, val)]
    del state["data_sample_fingerprint"]
    state[key] = fingerprint(cfg.data.root, *splits)
    torch.save(state, state_file)
    return state_file, state


def test_resume_of_a_run_another_process_trains_is_refused(
    tmp_path, dis5k_root, data_config, first_step_stops
):
    cfg = _started_run(tmp_path, dis5k_root, data_config)
    run = Path(cfg.output_dir)
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file() and p.name != LOCK_FILE}
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(run / LOCK_FILE)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(OutputError, match=rf"'{run}' is in use .*\(pid {holder.pid}\)"):
            Trainer(cfg, resume=run)
    finally:
        holder.communicate(timeout=30)  # closing stdin ends the holder, and its lock
    after = {p: p.read_bytes() for p in run.rglob("*") if p.is_file() and p.name != LOCK_FILE}
    assert after == before  # not a byte written: no log line, no config, no checkpoint
    # The holder is gone: the resume now gets past set-up to its first step.
    with pytest.raises(KeyboardInterrupt):
        Trainer(cfg, resume=run).fit()


def test_a_moved_dataset_resumes_when_it_holds_the_runs_images(
    tmp_path, dis5k_root, data_config, first_step_stops
):
    cfg = _started_run(tmp_path, dis5k_root, data_config)
    run = Path(cfg.output_dir)
    moved = shutil.copytree(dis5k_root, tmp_path / "scratch" / "DIS5K")
    with pytest.raises(KeyboardInterrupt):  # past set-up: the same images at the new root
        Trainer(replace(cfg, data=replace(cfg.data, root=str(moved))), resume=run).fit()
    assert yaml.safe_load((run / "config.yaml").read_text())["data"]["root"] == str(moved)

    # Another image list at a new root is refused, and the run's config.yaml is left alone.
    other = shutil.copytree(dis5k_root, tmp_path / "other" / "DIS5K")
    first = sorted((other / "DIS-TR" / "im").iterdir())[0]
    first.unlink()
    (other / "DIS-TR" / "gt" / f"{first.stem}.png").unlink()
    before = (run / "config.yaml").read_bytes()
    with pytest.raises(ConfigError, match=r"split_dir moved \(data.root: .*found there are not"):
        Trainer(replace(cfg, data=replace(cfg.data, root=str(other))), resume=run)
    assert (run / "config.yaml").read_bytes() == before


def test_a_state_without_a_data_fingerprint_keeps_its_data_root(
    tmp_path, dis5k_root, data_config, first_step_stops
):
    cfg = _started_run(tmp_path, dis5k_root, data_config)
    state_file = Path(cfg.output_dir) / "checkpoints" / "last" / "state.pt"
    state = torch.load(state_file, weights_only=True)
    del state["data_sample_fingerprint"]  # as written before the check existed
    torch.save(state, state_file)
    moved = shutil.copytree(dis5k_root, tmp_path / "scratch" / "DIS5K")
    with pytest.raises(ConfigError, match="predates this check"):
        Trainer(replace(cfg, data=replace(cfg.data, root=str(moved))), resume=cfg.output_dir)


def test_an_image_replaced_in_place_is_refused(tmp_path, dis5k_root, data_config, first_step_stops):
    # The run's own data.root, every name where it was: only the bytes of one GT mask changed.
    root = shutil.copytree(dis5k_root, tmp_path / "DIS5K")
    cfg = _started_run(tmp_path, root, data_config)
    gt = sorted((root / "DIS-TR" / "gt").iterdir())[0]
    size = gt.stat().st_size
    cv2.imwrite(str(gt), np.full((9, 11), 255, np.uint8))
    assert gt.stat().st_size != size
    with pytest.raises(ConfigError, match=r"images at the run's data.root .* changed since"):
        Trainer(cfg, resume=cfg.output_dir)


def test_a_mask_replaced_by_another_of_the_same_size_is_refused(
    tmp_path, dis5k_root, data_config, first_step_stops
):
    root = shutil.copytree(dis5k_root, tmp_path / "DIS5K")
    cfg = _started_run(tmp_path, root, data_config)
    first, second = sorted((root / "DIS-TR" / "gt").iterdir())[:2]
    # Another mask written to exactly the first's size (PNG ignores bytes after IEND).
    other = second.read_bytes()[: first.stat().st_size]
    other += b"\0" * (first.stat().st_size - len(other))
    assert len(other) == first.stat().st_size and other != first.read_bytes()
    first.write_bytes(other)
    with pytest.raises(ConfigError, match=r"images at the run's data.root .* changed since"):
        Trainer(cfg, resume=cfg.output_dir)


def test_a_state_with_the_sizes_only_fingerprint_is_still_checked(
    tmp_path, dis5k_root, data_config, first_step_stops
):
    cfg = _started_run(tmp_path, dis5k_root, data_config)
    # As written before the sampled contents: the paths and sizes.
    state_file, state = _as_an_older_pmgsam_saved(cfg, "data_files_fingerprint", sizes_fingerprint)
    with pytest.raises(KeyboardInterrupt):  # past set-up: the run's paths and sizes
        Trainer(cfg, resume=cfg.output_dir).fit()
    log = (Path(cfg.output_dir) / "train.log").read_text()
    assert "predates the data files' sampled contents: only their paths and sizes" in log
    state["data_files_fingerprint"] = "0" * 64  # other sizes
    torch.save(state, state_file)
    with pytest.raises(ConfigError, match=r"images at the run's data.root .* changed since"):
        Trainer(cfg, resume=cfg.output_dir)


def test_a_state_with_the_paths_only_fingerprint_is_still_checked(
    tmp_path, dis5k_root, data_config, first_step_stops
):
    cfg = _started_run(tmp_path, dis5k_root, data_config)
    # As written before the sizes were recorded: the paths alone.
    state_file, state = _as_an_older_pmgsam_saved(cfg, "data_fingerprint", paths_fingerprint)
    moved = shutil.copytree(dis5k_root, tmp_path / "scratch" / "DIS5K")
    with pytest.raises(KeyboardInterrupt):  # past set-up: the run's image paths at the new root
        Trainer(replace(cfg, data=replace(cfg.data, root=str(moved))), resume=cfg.output_dir).fit()
    log = (Path(cfg.output_dir) / "train.log").read_text()
    assert "predates the data files' sizes: only the image paths could be checked" in log
    state["data_fingerprint"] = "0" * 64  # another image list
    torch.save(state, state_file)
    with pytest.raises(ConfigError, match=r"split_dir moved \(data.root: .*found there are not"):
        Trainer(replace(cfg, data=replace(cfg.data, root=str(moved))), resume=cfg.output_dir)


def test_a_run_stopped_before_its_first_epoch_ended_starts_afresh_with_any_config(
    tmp_path, dis5k_root, data_config, first_step_stops
):
    # It kept only the checkpoint saved before its first step, which --resume would start
    # from anyway; a fix such as another batch size must not need a new folder.
    cfg = _started_run(tmp_path, dis5k_root, data_config)
    run = Path(cfg.output_dir)
    log = (run / "train.log").read_text()
    assert "(KeyboardInterrupt); " in log and "or start it again" in log
    other = replace(cfg, train=replace(cfg.train, batch_size=2))
    with pytest.raises(KeyboardInterrupt):  # past set-up: started afresh
        Trainer(other).fit()
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["batch_size"] == 2
