"""A config.yaml is taken for a run's saved config only beside the run's train.log as well as
its checkpoints/: one written by hand into a folder of checkpoints is read as written (today's
defaults for what it leaves out, its '' paths refused), with a warning."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pmgsam.engine import saved_config
from pmgsam.engine.config import ExperimentConfig
from pmgsam.engine.state import LOG_FILE, write_config
from pmgsam.engine.training_log import attach_run_log
from pmgsam.modeling.checkpoint import CHECKPOINTS
from pmgsam.modeling.config import ModelConfig
from pmgsam.utils.config import ConfigError, load_config

# Written by hand: the sections it names lack the fields added since the first runs.
HAND_WRITTEN = {"model": {"image_size": 1024}, "data": {"dataset": "dis5k"}, "output_dir": "x"}


def _checkpoint_folder(folder: Path, config: dict) -> Path:
    (folder / CHECKPOINTS / "best").mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return folder / "config.yaml"


def test_names_match_the_run_layout() -> None:
    # saved_config spells them out to stay free of torch, which the run layout's modules import.
    assert (saved_config.RUN_LOG, saved_config.RUN_CHECKPOINTS) == (LOG_FILE, CHECKPOINTS)


def test_hand_written_config_in_a_checkpoint_folder_takes_todays_defaults(tmp_path: Path) -> None:
    path = _checkpoint_folder(tmp_path, HAND_WRITTEN)
    with pytest.warns(UserWarning, match=r"read as written.*data\.reduced_decode") as caught:
        config = load_config(ExperimentConfig, path)
    assert str(path) in str(caught[0].message)
    assert "model.decoder_activation" in str(caught[0].message)
    # The legacy values are gelu and full-size decoding; a hand-written file gets neither.
    assert config.model.decoder_activation == "relu" == ModelConfig().decoder_activation
    assert config.data.reduced_decode is True
    assert not saved_config.is_run_config(path)


def test_hand_written_empty_path_in_a_checkpoint_folder_is_refused(tmp_path: Path) -> None:
    path = _checkpoint_folder(tmp_path, {"data": {"split_dir": ""}, "output_dir": "x"})
    with pytest.warns(UserWarning, match="read as written"):
        with pytest.raises(ConfigError, match=r"'data\.split_dir' is empty"):
            load_config(ExperimentConfig, path)


def test_a_complete_hand_written_file_is_read_without_warning(tmp_path: Path, recwarn) -> None:
    # Nothing a run's reading would change: no warning.
    full = ExperimentConfig()
    write_config(tmp_path, full)
    (tmp_path / CHECKPOINTS).mkdir()
    assert load_config(ExperimentConfig, tmp_path / "config.yaml") == full
    assert not [w for w in recwarn if "read as written" in str(w.message)]


def test_a_run_folder_as_the_trainer_leaves_it_reads_with_legacy_fields(tmp_path: Path) -> None:
    # The trainer attaches train.log, then writes config.yaml; an older version's file lacks
    # the fields added since, which take the values those runs were trained with.
    detach = attach_run_log(tmp_path)
    try:
        write_config(tmp_path, ExperimentConfig())
    finally:
        detach()
    (tmp_path / CHECKPOINTS / "best").mkdir(parents=True)
    saved = yaml.safe_load((tmp_path / "config.yaml").read_text(encoding="utf-8"))
    del saved["model"]["decoder_activation"], saved["data"]["reduced_decode"]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(saved), encoding="utf-8")
    config = load_config(ExperimentConfig, tmp_path / "config.yaml")
    assert (config.model.decoder_activation, config.data.reduced_decode) == ("gelu", False)
    assert saved_config.is_run_config(tmp_path / "config.yaml")
