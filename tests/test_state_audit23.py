"""Training state (pmgsam.engine.state), pinned where a plausible wrong version passed the
other tests: which saved state a new run may start over, what a save holds and leaves beside
``last``, and the output folder a resumed run may be given."""

from __future__ import annotations

import os

import pytest
import torch

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
