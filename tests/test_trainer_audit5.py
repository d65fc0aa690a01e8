"""A ``train.init_from`` fine-tune's start: the log names the weights file a run folder meant
(its best) with that file's SHA-256, says nothing of a SAM file the config does not name, and
a weights file replaced while the run loaded it is refused rather than logged with a stale hash."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Any, Callable, Dict

import pytest

from pmgsam.engine import trainer as trainer_module
from pmgsam.engine.config import ExperimentConfig
from pmgsam.engine.trainer import Trainer
from pmgsam.modeling.build import model_config
from pmgsam.modeling.checkpoint import MODEL_FILE, checkpoint_dir
from pmgsam.modeling.weights import CheckpointError
from pmgsam.utils.config import from_dict, to_dict

pytestmark = pytest.mark.usefixtures("one_thread", "small_branches")


@pytest.fixture
def make_config(
    tmp_path: Path, dis5k_root: Path, data_config: Callable[..., Any]
) -> Callable[[str], ExperimentConfig]:
    def make(init_from: str) -> ExperimentConfig:
        values: Dict[str, Any] = {
            "model": to_dict(model_config("pmgsam_tiny", image_size=64)),
            "data": to_dict(data_config("dis5k", dis5k_root, num_workers=0)),
            "schedule": {"epochs": 1, "warmup_epochs": 0},
            "train": {"batch_size": 4, "device": "cpu", "init_from": init_from},
            "output_dir": str(tmp_path / "new_run"),
        }
        return from_dict(ExperimentConfig, values)

    return make


def test_a_run_folder_is_logged_as_the_best_file_it_meant(make_config, small_model_file, tmp_path):
    source = tmp_path / "source_run"
    best = checkpoint_dir(source, "best") / MODEL_FILE
    best.parent.mkdir(parents=True)
    shutil.copy(small_model_file[0], best)
    config = make_config(str(source))
    Trainer(config, progress=False).close()
    log = (Path(config.output_dir) / "train.log").read_text(encoding="utf-8")
    sha256 = hashlib.sha256(best.read_bytes()).hexdigest()
    assert f"initial weights from {best} (SHA-256 {sha256})" in log
    # No model.sam_checkpoint in the config: nothing to say about not reading one.
    assert "sam_checkpoint" not in log


def test_weights_replaced_while_loaded_are_refused(
    make_config, small_model_file, tmp_path, monkeypatch
):
    weights = tmp_path / "weights.safetensors"
    shutil.copy(small_model_file[0], weights)
    load = trainer_module.load_model_weights

    def replaced_first(model: Any, path: Path) -> None:
        # Another process renames a new file over it after it was hashed (same bytes even).
        shutil.copy(weights, tmp_path / "new.safetensors")
        os.replace(tmp_path / "new.safetensors", weights)
        load(model, path)

    monkeypatch.setattr(trainer_module, "load_model_weights", replaced_first)
    with pytest.raises(CheckpointError, match="changed between hashing and loading") as err:
        Trainer(make_config(str(weights)), progress=False)
    assert f"'{weights}'" in str(err.value) and "replaced by another file" in str(err.value)
