"""A run's ``best`` given to --resume after its save was cut between its two renames (only
``checkpoints/.best.old`` is left): it is read from there, as a run's ``last`` is from
``.last.old``, and resumes into the run folder, not into a folder ``best/checkpoints/last``."""

from __future__ import annotations

import os

import pytest

from pmgsam.engine.config import ExperimentConfig
from pmgsam.engine.state import (
    experiment_config,
    load_training_state,
    recover_checkpoint,
    run_dir_of,
    save_checkpoint,
    write_config,
)
from pmgsam.modeling.weights import CheckpointError
from pmgsam.utils.config import from_dict


def test_a_best_cut_between_its_renames_is_read_from_its_old_folder(tmp_path, tiny_model) -> None:
    run = tmp_path / "run"
    ckpts = run / "checkpoints"
    write_config(run, from_dict(ExperimentConfig, {"output_dir": str(run)}))
    save_checkpoint(ckpts / "last", tiny_model, {"epoch": 3, "global_step": 30})
    save_checkpoint(ckpts / "best", tiny_model, {"epoch": 2, "global_step": 20})
    os.rename(ckpts / "best", ckpts / ".best.old")  # the first rename done, not the second
    state = load_training_state(ckpts / "best")
    # epoch 2 is best's, not last's (3): the state read is the cut folder's own
    assert state["epoch"] == 2 and state["path"] == str(ckpts / ".best.old" / "state.pt")
    assert run_dir_of(ckpts / "best") == run
    assert experiment_config(None, resume=ckpts / "best").output_dir == str(run)
    recover_checkpoint(ckpts / "best")  # what the trainer does once it holds the run's lock
    assert load_training_state(ckpts / "best")["epoch"] == 2


def test_a_run_folder_beside_an_old_named_folder_is_not_read_from_it(tmp_path, tiny_model) -> None:
    # Only a checkpoint folder (in a run's checkpoints/) is swapped by renames.
    save_checkpoint(tmp_path / ".run.old", tiny_model, {"epoch": 1})
    assert run_dir_of(tmp_path / "run") == tmp_path / "run"
    with pytest.raises(CheckpointError, match="no training state") as err:
        load_training_state(tmp_path / "run")
    assert ".run.old" not in str(err.value)
