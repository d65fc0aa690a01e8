"""What a folder given as weights is told when it holds none (a run's checkpoints/ folder, a run
with only empty checkpoint folders, a folder that merely holds a best/), and that the values a
refused architecture says to keep, given back as overrides, build a model the weights load into."""

from __future__ import annotations

import re
import shutil

import pytest

import pmgsam
from pmgsam.modeling.checkpoint import MODEL_FILE, checkpoint_dir, resolve_weights
from pmgsam.modeling.config import ModelConfig
from pmgsam.modeling.weights import CheckpointError
from pmgsam.utils.config import apply_overrides, from_dict, to_dict

GENERIC = "no PMG-SAM weights in the folder"


def test_checkpoints_folder_with_only_last_offers_no_run_folder(small_model_file, tmp_path):
    # A run stopped before its first validation: its run folder would be refused in turn.
    run = tmp_path / "run"
    last = checkpoint_dir(run, "last")
    last.mkdir(parents=True)
    shutil.copy(small_model_file[0], last / MODEL_FILE)
    with pytest.raises(CheckpointError, match="holds checkpoint folders, not weights") as err:
        resolve_weights(run / "checkpoints")
    text = str(err.value)
    assert f"give one of them ('{last}')" in text
    assert "(its best)" not in text
    assert f"the run folder '{run}' has no best weights yet" in text
    with pytest.raises(CheckpointError, match="has no best weights"):
        resolve_weights(run)


def test_empty_checkpoint_folders_get_the_plain_refusal(tmp_path):
    # A run killed before it wrote any weights: nothing to point at.
    run = tmp_path / "run"
    checkpoint_dir(run, "last").mkdir(parents=True)
    checkpoint_dir(run, "best").mkdir()
    for folder in (run, run / "checkpoints"):
        with pytest.raises(CheckpointError, match=GENERIC) as err:
            resolve_weights(folder)
        assert "latest weights" not in str(err.value)
        assert "holds checkpoint folders" not in str(err.value)


def test_a_folder_not_named_checkpoints_is_not_taken_for_one(small_model_file, tmp_path):
    # Its parent is no run folder: it must not be offered as one.
    folder = tmp_path / "exported"
    (folder / "best").mkdir(parents=True)
    shutil.copy(small_model_file[0], folder / "best" / MODEL_FILE)
    with pytest.raises(CheckpointError, match=GENERIC) as err:
        resolve_weights(folder)
    assert f"'{tmp_path}'" not in str(err.value)


@pytest.mark.usefixtures("one_thread", "small_branches")
def test_the_values_to_keep_given_as_overrides_load_the_weights(small_model_file):
    path, trained = small_model_file
    stored = to_dict(trained.config)
    changed = {
        "decoder_depth": stored["decoder_depth"] + 1,
        "bidirectional": not stored["bidirectional"],
        "fusion_channels": [c * 2 for c in stored["fusion_channels"]],
    }
    model = pmgsam.build_model(trained.config, **changed)
    with pytest.raises(CheckpointError, match="leave those fields as it has them") as err:
        pmgsam.modeling.checkpoint.load_model_weights(model, path)
    kept = re.search(r"as it has them \((.*)\)$", str(err.value)).group(1)
    overrides = re.findall(r"(model\.\w+=.*?)(?=, model\.|$)", kept)
    assert len(overrides) == 3, kept
    assert f"model.bidirectional={str(stored['bidirectional']).lower()}" in overrides
    # One shell word each: "model.fusion_channels=[8, 16]" would split in two unquoted.
    assert all(" " not in o for o in overrides), overrides
    data = apply_overrides({"model": to_dict(model.config)}, overrides)
    config = from_dict(ModelConfig, data["model"])
    assert to_dict(config) == stored
    pmgsam.modeling.checkpoint.load_model_weights(pmgsam.build_model(config), path)
