"""Training state (pmgsam.engine.state and the trainer's state_dict), pinned where a plausible
wrong version passed the other tests: which saved state a new run may start over, what a save
holds and leaves beside ``last``, what a trainer's state records for the resume checks, and the
output folder a resumed run may be given."""

from __future__ import annotations

import copy
import os

import pytest
import torch
from training_cases import two_epoch_config

from pmgsam.engine import trainer as trainer_mod
from pmgsam.engine.config import ExperimentConfig
from pmgsam.engine.state import (
    MODEL_FILE,
    STATE_FILE,
    check_new_run_folder,
    experiment_config,
    load_training_state,
    save_checkpoint,
    write_config,
)
from pmgsam.engine.trainer import Trainer
from pmgsam.utils.config import ConfigError, from_dict


def test_a_new_run_starts_over_only_a_state_that_took_no_step(tmp_path, tiny_model) -> None:
    # Epoch 0 is also what a state saved inside the first epoch records; the steps it took
    # are training that a fresh start would throw away.
    run = tmp_path / "run"
    save_checkpoint(run / "checkpoints" / "last", tiny_model, {"epoch": 0, "global_step": 3})
    (run / "train.log").write_text("epoch 1/2\n")
    with pytest.raises(FileExistsError, match="--resume"):
        check_new_run_folder(run)
    save_checkpoint(run / "checkpoints" / "last", tiny_model, {"epoch": 0, "global_step": 0})
    check_new_run_folder(run)  # the save made before the first step: nothing to lose


def test_a_save_holds_the_state_and_weights_and_leaves_nothing_beside(tmp_path, tiny_model):
    checkpoints = tmp_path / "checkpoints"
    save_checkpoint(checkpoints / "last", tiny_model, {"epoch": 1, "global_step": 4})
    save_checkpoint(checkpoints / "last", tiny_model, {"epoch": 2, "global_step": 8, "x": [1]})
    assert os.listdir(checkpoints) == ["last"]  # neither `.last.old` nor a temporary
    assert sorted(os.listdir(checkpoints / "last")) == sorted([MODEL_FILE, STATE_FILE])
    loaded = load_training_state(checkpoints / "last")
    assert (loaded["epoch"], loaded["global_step"], loaded["x"]) == (2, 8, [1])
    # The file itself: resume checks and messages name it, and find its run from it.
    assert loaded["path"] == str(checkpoints / "last" / STATE_FILE)
    expected = tiny_model.trainable_state_dict()
    assert loaded["model"].keys() == expected.keys()
    assert all(torch.equal(loaded["model"][k], v.cpu()) for k, v in expected.items())


def test_a_resumed_run_writes_only_into_its_own_folder(tmp_path, tiny_model) -> None:
    run = tmp_path / "run"
    write_config(run, from_dict(ExperimentConfig, {"output_dir": str(run)}))
    save_checkpoint(run / "checkpoints" / "last", tiny_model, {"epoch": 1})
    with pytest.raises(ConfigError, match=r"--output-dir '.*elsewhere' differs from .*'.*run'"):
        experiment_config(None, output_dir=tmp_path / "elsewhere", resume=run)
    # The same folder spelled another way is the run's.
    spelled = tmp_path / "elsewhere" / ".." / "run"
    assert experiment_config(None, output_dir=spelled, resume=run).output_dir == str(run)


def test_a_trainers_state_records_what_a_resume_checks(
    tmp_path, dis5k_root, data_config, tiny_model, monkeypatch
) -> None:
    monkeypatch.setattr(trainer_mod, "build_model", lambda cfg: copy.deepcopy(tiny_model))
    trainer = Trainer(two_epoch_config(tmp_path, dis5k_root, data_config))
    try:
        state = trainer.state_dict()
    finally:
        trainer.close()
    # One process here: a resume on another count must be refused (check_world_size), which
    # a state without the count cannot be.
    assert state["world_size"] == 1
    assert (state["epoch"], state["global_step"]) == (0, 0)
    for entry in ("optimizer", "schedule", "early_stop", "scaler", "rng", "config"):
        assert entry in state, entry
    assert len(state["data_sample_fingerprint"]) == 64  # a SHA-256 of the data files
    assert set(state["frozen_sha256"]) == {"hiera", "u2net"}
