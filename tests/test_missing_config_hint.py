"""Every command that reads a config file (not only train and evaluate) says, for a path into a
``configs/`` folder that is not where it runs, that the example configs come with the source
folder, not with the installed package; a folder given as a config file is named as one."""

from __future__ import annotations

from pathlib import Path

import pytest

from pmgsam.engine.config import ExperimentConfig
from pmgsam.utils.config import ConfigError, load_config


def test_a_configs_path_where_there_is_no_configs_folder_says_where_they_are(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="not with the installed package") as err:
        load_config(ExperimentConfig, "configs/demo.yaml")
    assert str(err.value).startswith("config file 'configs/demo.yaml' does not exist (here, ")


def test_no_hint_where_the_configs_folder_is_here_or_the_path_is_elsewhere(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as elsewhere:
        load_config(ExperimentConfig, "my/demo.yaml")
    (tmp_path / "configs").mkdir()
    with pytest.raises(ConfigError) as here:
        load_config(ExperimentConfig, "configs/typo.yaml")
    assert str(elsewhere.value) == "config file 'my/demo.yaml' does not exist"
    assert str(here.value) == "config file 'configs/typo.yaml' does not exist"


def test_a_folder_given_as_config_file_is_named_as_a_folder(tmp_path):
    with pytest.raises(ConfigError, match="is a folder, not a config file"):
        load_config(ExperimentConfig, Path(tmp_path))
