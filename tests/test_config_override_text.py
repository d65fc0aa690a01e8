"""``key=value`` overrides of text fields: what YAML 1.1 would read as a boolean, number or date
(``no``, ``2024``, ``2024-01-01``) is the text typed; ``null`` and ``~`` still mean None;
``~/`` at the start of a text value is the home folder."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional, Union

import pytest

from pmgsam.engine.config import ExperimentConfig
from pmgsam.utils.config import ConfigError, apply_overrides, from_dict, load_config


def load(*overrides: str) -> ExperimentConfig:
    return load_config(ExperimentConfig, None, list(overrides))


@pytest.mark.parametrize(
    "typed, text",
    [("no", "no"), ("off", "off"), ("2024", "2024"), ("0x1F", "0x1F"), ("1e3", "1e3"),
     ("2024-01-01", "2024-01-01"), (" yes ", "yes"), ("'no'", "no"), ('"2024"', "2024")],
)  # fmt: skip
def test_text_fields_get_the_text_typed(typed: str, text: str) -> None:
    cfg = load(f"train.init_from={typed}", f"data.split_dir={typed}", f"output_dir=runs/{text}")
    assert cfg.train.init_from == text and cfg.data.split_dir == text
    # The resumed run's path: apply_overrides, then from_dict.
    cfg = from_dict(ExperimentConfig, apply_overrides({}, [f"data.split_dir={typed}"]))
    assert cfg.data.split_dir == text


def test_null_and_other_types_keep_their_yaml_meaning() -> None:
    cfg = load("train.init_from=null", "data.split_dir=~", "optim.lr=1e-3", "train.batch_size=4")
    assert cfg.train.init_from is None and cfg.data.split_dir is None
    assert cfg.optim.lr == 1e-3 and cfg.train.batch_size == 4
    with pytest.raises(ConfigError, match="'train.batch_size' must be an integer, got False"):
        load("train.batch_size=no")
    # A later override of the same key replaces the text of the earlier one.
    assert load("data.split_dir=2024", "data.split_dir=null").data.split_dir is None


@dataclass
class Fields:
    mode: Literal["yes", "no"] = "yes"
    either: Union[int, str] = 0
    name: Optional[str] = None


def test_literal_of_strings_is_text_a_mixed_union_is_not() -> None:
    got = from_dict(Fields, apply_overrides({}, ["mode=no", "either=12", "name=on"]))
    assert (got.mode, got.either, got.name) == ("no", 12, "on")


def test_a_file_value_read_as_a_number_says_to_quote_it(tmp_path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("data:\n  split_dir: 2024\n")
    with pytest.raises(ConfigError, match=r"got 2024 \(YAML reads the unquoted value as a num"):
        load_config(ExperimentConfig, path)
    path.write_text("data:\n  split_dir: '2024'\n")
    assert load_config(ExperimentConfig, path).data.split_dir == "2024"


def test_tilde_slash_is_the_home_folder(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    cfg = load("data.root=~/x", "train.init_from=~/runs/a", "output_dir=a~/b")
    assert cfg.data.root == f"{tmp_path}/x" and cfg.train.init_from == f"{tmp_path}/runs/a"
    assert cfg.output_dir == "a~/b"
    path = tmp_path / "c.yaml"
    path.write_text("data:\n  root: ~/DIS5K\n")
    assert load_config(ExperimentConfig, path).data.root == f"{tmp_path}/DIS5K"


def test_only_tilde_slash_is_expanded(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    # '~' quoted is text (unquoted it is YAML's null); '~root/x' names root's home to
    # expanduser ('/root/x' on Linux), which is not what the rule promises.
    cfg = load_config(ExperimentConfig, None, ["data.root='~'", "output_dir=~root/x"])
    assert cfg.data.root == "~"
    assert cfg.output_dir == "~root/x"
    assert load_config(ExperimentConfig, None, ["data.root=~/d"]).data.root == f"{tmp_path}/d"
