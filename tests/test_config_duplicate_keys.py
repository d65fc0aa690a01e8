"""A key given twice in one mapping of a YAML config is an error naming the file, the key and
both lines (``yaml.safe_load`` keeps the last one, silently dropping the first's settings)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from pmgsam.engine.config import ExperimentConfig
from pmgsam.utils.config import ConfigError, load_config
from pmgsam.utils.config_files import read_config_file, read_yaml_mapping

CONFIGS = Path(__file__).resolve().parents[1] / "configs"

CASES = {  # YAML text: (dotted key, first line, second line)
    "optim:\n  lr: 0.5\noptim:\n  weight_decay: 0.1\n": ("optim", 1, 3),  # the trial's file
    "seed: 1\ndata:\n  root: a\nseed: 2\n": ("seed", 1, 4),
    "optim:\n  lr: 0.5\n  decoder:\n    lr: 1.0\n    weight_decay: 0\n    lr: 2.0\n": (
        "optim.decoder.lr",
        4,
        6,
    ),
    "grid:\n  - label: a\n    label: b\n": ("grid[0].label", 2, 3),
    "optim: {lr: 0.1, lr: 0.2}\n": ("optim.lr", 1, 1),
    "1: a\n'1': b\n1: c\n": ("1", 1, 3),  # 1 and '1' differ; 1 twice does not
}


@pytest.mark.parametrize("text", CASES, ids=range(len(CASES)))
def test_a_repeated_key_is_named_with_both_lines(tmp_path: Path, text: str) -> None:
    assert isinstance(yaml.safe_load(text), dict)  # plain YAML takes it (keeping the last)
    path = tmp_path / "c.yaml"
    path.write_text(text)
    key, first, second = CASES[text]
    words = f"'{path}': key '{key}' is given twice (lines {first} and {second})"
    with pytest.raises(ConfigError, match=re.escape(words)):
        read_yaml_mapping(path)


def test_load_config_and_base_files_refuse_it(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text("train:\n  batch_size: 2\n  batch_size: 3\n")
    (tmp_path / "child.yaml").write_text("base: base.yaml\noptim:\n  lr: 0.5\n")
    with pytest.raises(ConfigError, match=r"base\.yaml': key 'train\.batch_size' .*lines 2 and 3"):
        load_config(ExperimentConfig, tmp_path / "child.yaml")
    (tmp_path / "c.yaml").write_text("optim:\n  lr: 0.5\noptim:\n  weight_decay: 0.1\n")
    with pytest.raises(ConfigError, match="key 'optim' is given twice"):
        load_config(ExperimentConfig, tmp_path / "c.yaml")


def test_same_key_in_different_mappings_and_merge_keys_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "d: &d {lr: 0.3, eps: 1.0e-6}\n"
        "optim:\n  <<: *d\n  lr: 0.5\n  decoder:\n    lr: 0.1\n"
        "again: *d\n"
    )
    data = read_yaml_mapping(path)
    assert data["optim"] == {"lr": 0.5, "eps": 1e-6, "decoder": {"lr": 0.1}}
    assert data["again"] == {"lr": 0.3, "eps": 1e-6}


@pytest.mark.parametrize(
    "path", sorted(CONFIGS.rglob("*.yaml")), ids=lambda p: str(p.relative_to(CONFIGS))
)
def test_the_shipped_configs_hold_no_repeated_key(path: Path) -> None:
    assert read_yaml_mapping(path) == yaml.safe_load(path.read_text())
    if path.parent == CONFIGS:
        assert read_config_file(path)
