"""Only a run's own config.yaml is read as the run meant it: another YAML file that a user
keeps in a run folder (beside its checkpoints/) is read as written."""

from __future__ import annotations

from pathlib import Path

import yaml

from pmgsam.engine.config import ExperimentConfig
from pmgsam.engine.saved_config import is_run_config, read_experiment_file
from pmgsam.modeling.checkpoint import CHECKPOINTS
from pmgsam.utils.config import to_dict


def test_another_yaml_in_a_run_folder_is_read_as_written(tmp_path: Path) -> None:
    (tmp_path / CHECKPOINTS).mkdir()
    (tmp_path / "train.log").touch()  # every run's, created before its config.yaml
    saved = to_dict(ExperimentConfig())
    del saved["data"]["reduced_decode"]  # a field added since runs were saved
    saved["data"]["split_dir"] = ""
    for name in ("config.yaml", "variant.yaml"):
        (tmp_path / name).write_text(yaml.safe_dump(saved), encoding="utf-8")
    run = read_experiment_file(tmp_path / "config.yaml")
    assert run["data"]["reduced_decode"] is False and run["data"]["split_dir"] is None
    assert is_run_config(tmp_path / "config.yaml")
    other = read_experiment_file(tmp_path / "variant.yaml")
    assert "reduced_decode" not in other["data"] and other["data"]["split_dir"] == ""
    assert not is_run_config(tmp_path / "variant.yaml")


def test_a_run_keeps_the_values_it_saved_for_fields_added_since(tmp_path: Path) -> None:
    # A run saved after the fields were added records them: its values, not the legacy ones.
    (tmp_path / CHECKPOINTS).mkdir()
    (tmp_path / "train.log").touch()  # every run's, created before its config.yaml
    saved = to_dict(ExperimentConfig())
    saved["data"]["reduced_decode"] = True
    saved["model"]["srb_output_norm"] = True
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(saved), encoding="utf-8")
    run = read_experiment_file(tmp_path / "config.yaml")
    assert run["data"]["reduced_decode"] is True and run["model"]["srb_output_norm"] is True
