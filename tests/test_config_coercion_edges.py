"""How the config layer reads a value it could take another way: text where a list is expected,
more items than a fixed tuple holds, a Literal of numbers typed as an override, spaces around
an override's '='. Each wrong reading would give the run another value than the one written;
expected values are written out by hand from the module docstring of pmgsam.utils.config."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Literal, Tuple

import pytest

from pmgsam.engine.config import ExperimentConfig
from pmgsam.utils.config import ConfigError, apply_overrides, from_dict, load_config


@dataclass
class Fields:
    names: List[str] = field(default_factory=lambda: ["a"])
    size: Tuple[int, int] = (1, 2)
    sizes: Tuple[int, ...] = ()
    level: Literal[1, 2] = 1


def test_text_where_a_list_is_expected_is_refused_not_split_into_letters() -> None:
    # data.test_splits=DIS-TE1 (no brackets) must not become ['D', 'I', 'S', ...].
    with pytest.raises(ConfigError, match=r"'names' must be a list, got 'Test'"):
        from_dict(Fields, {"names": "Test"})
    with pytest.raises(ConfigError, match=r"'data\.test_splits' must be a list"):
        load_config(ExperimentConfig, None, ["data.dataset=folder", "data.test_splits=Test"])


def test_a_fixed_length_tuple_refuses_too_many_items() -> None:
    # zip() would silently drop the third value.
    with pytest.raises(ConfigError, match=r"'size' needs 2 items, got 3"):
        from_dict(Fields, {"size": [3, 4, 5]})


def test_a_tuple_of_any_length_is_built_as_a_tuple() -> None:
    # A list would compare unequal to the same values in a config built in code.
    got = from_dict(Fields, {"sizes": [3, 4, 5]})
    assert got.sizes == (3, 4, 5) and got == Fields(sizes=(3, 4, 5))


def test_a_literal_of_numbers_takes_the_number_typed() -> None:
    # Only text fields get an override's raw text; level=2 is the number 2.
    got = from_dict(Fields, apply_overrides({}, ["level=2"]))
    assert got.level == 2 and isinstance(got.level, int)
    with pytest.raises(ConfigError, match=r"'level' must be one of \[1, 2\], got 3"):
        from_dict(Fields, apply_overrides({}, ["level=3"]))


def test_spaces_around_the_equals_sign_are_ignored() -> None:
    # One quoted argument 'optim.lr = 5e-5' sets optim.lr, not an unknown key 'optim.lr '.
    cfg = load_config(ExperimentConfig, None, ["optim.lr = 5e-5", " train.seed=3"])
    assert (cfg.optim.lr, cfg.train.seed) == (5e-5, 3)


@pytest.mark.parametrize("text", ["false\n", "0\n", "[]\n", "''\n"])
def test_a_file_holding_a_scalar_or_list_is_refused_not_read_as_no_settings(
    tmp_path: Path, text: str
) -> None:
    # `yaml.load(...) or {}` read these as an empty file: a default experiment, silently.
    path = tmp_path / "run.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"run\.yaml' must contain a mapping at the top level"):
        load_config(ExperimentConfig, path)


@pytest.mark.parametrize("text", ["", "# optim:\n#   lr: 5e-5\n"])
def test_a_file_with_no_settings_warns_that_all_are_defaults(tmp_path: Path, text: str) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(text)
    with pytest.warns(UserWarning, match=r"run\.yaml' holds no settings"):
        cfg = load_config(ExperimentConfig, path)
    assert cfg == ExperimentConfig()


def test_unknown_keys_that_yaml_reads_as_numbers_are_named_beside_text_ones(tmp_path) -> None:
    # Sorting 2 with 'lr_mul' raised a TypeError naming no file or key.
    path = tmp_path / "run.yaml"
    path.write_text("optim:\n  lr: 1.0e-4\n  2: 3\n  lr_mul: 2\n")
    with pytest.raises(ConfigError, match=r"unknown config key\(s\) 'optim\.2', 'optim\.lr_mul'"):
        load_config(ExperimentConfig, path)
