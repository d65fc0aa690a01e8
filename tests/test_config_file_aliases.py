"""YAML anchors and aliases in config files (``pmgsam.utils.config_files``): a mapping that
holds itself is read (and then refused by the config check) rather than recursing without end,
a child file's change to one use of an anchored mapping leaves its other uses alone, and an
empty ``base:`` path is named as such."""

from __future__ import annotations

from pathlib import Path

import pytest

from pmgsam.engine.config import ExperimentConfig
from pmgsam.utils.config import load_config
from pmgsam.utils.config_files import ConfigError, read_config_file, read_yaml_mapping


def test_a_mapping_holding_itself_is_read_then_refused_as_a_config(tmp_path: Path) -> None:
    path = tmp_path / "loop.yaml"
    path.write_text("a: &self\n  b: *self\n")
    data = read_yaml_mapping(path)
    assert data["a"]["b"] is data["a"]
    with pytest.raises(ConfigError, match=r"unknown config key\(s\) 'a'.*loop\.yaml"):
        load_config(ExperimentConfig, path)


def test_a_child_changes_one_use_of_an_anchored_base_mapping(tmp_path: Path) -> None:
    # YAML builds both uses of an anchor as one dict: merging the child into it in place
    # would change the other use too.
    (tmp_path / "base.yaml").write_text("first: &shared\n  x: 1\n  y: 1\nsecond: *shared\n")
    (tmp_path / "child.yaml").write_text("base: base.yaml\nfirst:\n  x: 2\n")
    assert read_config_file(tmp_path / "child.yaml") == {
        "first": {"x": 2, "y": 1},
        "second": {"x": 1, "y": 1},
    }


def test_an_empty_base_path_is_named(tmp_path: Path) -> None:
    (tmp_path / "child.yaml").write_text("base: ''\n")
    with pytest.raises(ConfigError, match=r"child\.yaml': 'base' must be a file path, got ''"):
        read_config_file(tmp_path / "child.yaml")
