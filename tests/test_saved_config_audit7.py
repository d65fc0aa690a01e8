"""Mutation audit 7: pmgsam.engine.saved_config's warning for a config.yaml read as written is
for a file named config.yaml beside checkpoints/ only: a hand-written config elsewhere (named
otherwise beside checkpoints, or config.yaml in a plain folder) is read without a word."""

from __future__ import annotations

import warnings
from pathlib import Path

import yaml

from pmgsam.engine.saved_config import read_experiment_file

# The sections it names lack fields a run's reading would fill in (legacy values).
HAND_WRITTEN = {"model": {"image_size": 1024}, "data": {"dataset": "dis5k"}, "output_dir": "x"}


def _read_quietly(path: Path) -> list:
    path.write_text(yaml.safe_dump(HAND_WRITTEN), encoding="utf-8")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert read_experiment_file(path) == HAND_WRITTEN
    return [str(w.message) for w in caught]


def test_another_name_beside_checkpoints_reads_without_warning(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    assert _read_quietly(tmp_path / "experiment.yaml") == []


def test_config_yaml_in_a_folder_without_checkpoints_reads_without_warning(tmp_path):
    assert _read_quietly(tmp_path / "config.yaml") == []


def test_config_yaml_beside_checkpoints_without_train_log_warns(tmp_path):
    # The case the warning is for (the two above must not share it).
    (tmp_path / "checkpoints").mkdir()
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(HAND_WRITTEN), encoding="utf-8")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        read_experiment_file(path)
    assert any("is read as written" in str(w.message) for w in caught)


def test_the_warning_names_an_empty_path_a_run_would_read_as_unset(tmp_path):
    # Every legacy field written out: only data.split_dir '' reads otherwise in a run's file
    # (None there; refused blank here).
    full = {
        "model": {"decoder_activation": "relu", "srb_output_norm": True},
        "data": {"reduced_decode": True, "split_dir": ""},
    }
    (tmp_path / "checkpoints").mkdir()
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(full), encoding="utf-8")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert read_experiment_file(path) == full
    said = [str(w.message) for w in caught if "is read as written" in str(w.message)]
    assert len(said) == 1 and "whose data.split_dir would read otherwise" in said[0]
