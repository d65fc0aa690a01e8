"""Starting a fine-tune (``train.init_from``) from another run's weights: which file a run
folder means, what the run is told when its frozen branches are not those the weights were
trained on, and what a refused architecture or input size says to keep."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any, Callable, Dict, Tuple

import pytest
import torch
from training_cases import tiny_dis5k_values

import pmgsam
from pmgsam.engine.config import ExperimentConfig
from pmgsam.engine.trainer import Trainer
from pmgsam.modeling.checkpoint import (
    MODEL_FILE,
    checkpoint_dir,
    load_model_weights,
    resolve_weights,
)
from pmgsam.modeling.weights import CheckpointError
from pmgsam.utils.config import from_dict

pytestmark = pytest.mark.usefixtures("one_thread", "small_branches")


@pytest.fixture
def make_config(
    tmp_path: Path, dis5k_root: Path, data_config: Callable[..., Any]
) -> Callable[..., ExperimentConfig]:
    def make(**model: Any) -> ExperimentConfig:
        values = tiny_dis5k_values(tmp_path / "run", dis5k_root, data_config, model)
        values["schedule"] = {"epochs": 1, "warmup_epochs": 0}
        return from_dict(ExperimentConfig, values)

    return make


@pytest.fixture
def u2net_files(small_model_file: Tuple[Path, Any], tmp_path: Path) -> Dict[str, Path]:
    """U²-Net† files holding the source model's own random branch (``same``) and that branch
    with one weight moved (``other``: what another U²-Net file of the right shapes is)."""
    state = {k: v.clone() for k, v in small_model_file[1].u2net.state_dict().items()}
    torch.save(state, tmp_path / "same.pth")
    first = next(k for k, v in state.items() if v.is_floating_point())
    state[first] += 0.01
    torch.save(state, tmp_path / "other.pth")
    return {"same": tmp_path / "same.pth", "other": tmp_path / "other.pth"}


def _init_warnings(config: ExperimentConfig) -> list:
    # The trainer's lines go to the run's train.log (and the console), not to the root logger.
    log = (Path(config.output_dir) / "train.log").read_text(encoding="utf-8").splitlines()
    return [line for line in log if "WARNING" in line and "train.init_from" in line]


def test_other_frozen_weights_than_the_init_was_trained_on_are_named(
    make_config, small_model_file, u2net_files
) -> None:
    source, trained = small_model_file
    config = make_config(u2net_checkpoint=str(u2net_files["other"]))
    config.train.init_from = str(source)
    trainer = Trainer(config, progress=False)
    trainer.close()
    # The trainable weights are the source's all the same: the run goes on, warned.
    own = trainer.model.trainable_state_dict()
    assert all(torch.equal(v, own[k]) for k, v in trained.trainable_state_dict().items())
    (line,) = _init_warnings(config)
    assert "fixed-seed random branch as its U²-Net branch" in line
    assert f"the weights in '{u2net_files['other']}'" in line
    assert "model.u2net_checkpoint=null" in line


def test_the_frozen_weights_it_was_trained_on_warn_nothing_and_the_weights_are_hashed(
    make_config, small_model_file, u2net_files
) -> None:
    # The same weights from a file: the digests agree, whatever the config's path says.
    config = make_config(u2net_checkpoint=str(u2net_files["same"]))
    config.train.init_from = str(small_model_file[0])
    Trainer(config, progress=False).close()
    assert _init_warnings(config) == []
    # Which weights it started from, verifiably: a run folder's best changes as that run goes on.
    sha256 = hashlib.sha256(Path(small_model_file[0]).read_bytes()).hexdigest()
    log = (Path(config.output_dir) / "train.log").read_text(encoding="utf-8")
    assert f"initial weights from {small_model_file[0]} (SHA-256 {sha256})" in log


def test_a_run_folder_without_best_weights_points_at_its_last(small_model_file, tmp_path) -> None:
    # A run stopped before its first validation, or whose validation loss was never finite.
    last = checkpoint_dir(tmp_path / "run", "last")
    last.mkdir(parents=True)
    shutil.copy(small_model_file[0], last / MODEL_FILE)
    with pytest.raises(CheckpointError, match="run '.*run' has no best weights") as err:
        resolve_weights(tmp_path / "run")
    assert f"latest weights are '{last}'" in str(err.value)
    assert resolve_weights(last) == last / MODEL_FILE


def test_another_input_size_is_refused_saying_what_to_keep(small_model_file) -> None:
    # No trainable weight's shape depends on S, so only the config can tell: a wrong refusal
    # (or none) would go unnoticed by the key and shape check.
    with pytest.raises(CheckpointError, match=r"image_size: 64 != 128") as err:
        pmgsam.load_pretrained(small_model_file[0], image_size=128)
    text = str(err.value)
    assert "leave those fields as it has them (model.image_size=64)" in text
    assert "resized to its S=64" in text


def test_another_architecture_is_refused_naming_each_field_to_keep(small_model_file) -> None:
    model = pmgsam.build_model("pmgsam_tiny", image_size=64, decoder_depth=2, fusion="residual")
    with pytest.raises(CheckpointError, match=r"decoder_depth: 1 != 2; fusion: 'drfm'") as err:
        load_model_weights(model, small_model_file[0])
    assert "(model.decoder_depth=1, model.fusion=drfm)" in str(err.value)
    assert "resized" not in str(err.value)


def test_a_training_state_given_as_init_from_names_its_weights(make_config, tmp_path):
    # A run's state.pt beside its weights: the file a user sees first in a checkpoint folder.
    from pmgsam.engine.state import STATE_FORMAT

    state = tmp_path / "state.pt"
    torch.save({"format": STATE_FORMAT, "epoch": 1}, state)
    config = make_config()
    config.train.init_from = str(state)
    with pytest.raises(CheckpointError, match="PMG-SAM training state") as err:
        Trainer(config, progress=False)
    assert "train.init_from" in str(err.value) and "--resume" in str(err.value)


def test_a_runs_checkpoints_folder_names_the_folders_it_holds(small_model_file, tmp_path) -> None:
    checkpoints = tmp_path / "run" / "checkpoints"
    for which in ("best", "last"):
        (checkpoints / which).mkdir(parents=True)
        shutil.copy(small_model_file[0], checkpoints / which / MODEL_FILE)
    with pytest.raises(CheckpointError, match="holds checkpoint folders, not weights") as err:
        resolve_weights(checkpoints)
    assert f"'{checkpoints / 'best'}' or '{checkpoints / 'last'}'" in str(err.value)
    assert f"run folder '{tmp_path / 'run'}'" in str(err.value)
