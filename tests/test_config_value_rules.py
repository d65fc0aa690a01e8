"""The config layer's rules that decide which value a run gets: strict booleans and tuples,
plain lists in saved configs, which of two settings of a key wins, and the resume diff seeing
a key one side lacks. Expected values are written out by hand from the module docstrings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Tuple

import pytest
import yaml

from pmgsam.engine.config import ExperimentConfig
from pmgsam.utils.config import (
    ConfigError,
    apply_overrides,
    diff,
    from_dict,
    load_config,
    to_dict,
    with_data_root,
)


@dataclass
class Section:
    label: Optional[str] = None
    size: Tuple[int, int] = (1, 2)


@dataclass
class Root:
    flag: bool = False
    section: Section = field(default_factory=Section)


@pytest.mark.parametrize("value", [1, 0])
def test_a_boolean_field_refuses_an_integer(value: int) -> None:
    # 'must be true/false': an integer 0/1 is not read as a switch.
    with pytest.raises(ConfigError, match="'flag' must be true/false"):
        from_dict(Root, {"flag": value})


def test_a_fixed_length_tuple_refuses_too_few_items() -> None:
    with pytest.raises(ConfigError, match=r"'section\.size' needs 2 items, got 1"):
        from_dict(Root, {"section": {"size": [5]}})


def test_saved_configs_hold_lists_not_tuples() -> None:
    # config.yaml is written with yaml.safe_dump, which cannot represent a Python tuple.
    plain = to_dict(Root(section=Section(size=(3, 4))))
    assert plain == {"flag": False, "section": {"label": None, "size": [3, 4]}}
    assert type(plain["section"]["size"]) is list
    assert yaml.safe_load(yaml.safe_dump(plain)) == plain


def test_override_text_survives_a_second_round_of_overrides() -> None:
    # 'no' typed for a text field stays the text 'no' however many times overrides apply.
    once = apply_overrides({}, ["section.label=no"])
    twice = apply_overrides(once, ["flag=true"])
    assert from_dict(Root, twice).section.label == "no"


def test_a_later_override_of_the_whole_section_wins_over_an_earlier_key() -> None:
    # The first override's text 'no' must not replace the value the later one sets: it was
    # read as 'no' for the later boolean 'yes' inside a mapping, which is refused on its own.
    data = apply_overrides({}, ["section.label=no", "section={label: 'yes'}"])
    assert from_dict(Root, data).section.label == "yes"
    data = apply_overrides({}, ["section.label=no", "section={label: yes}"])
    with pytest.raises(ConfigError, match=r"'section\.label' must be a string, got True"):
        from_dict(Root, data)
    data = apply_overrides({}, ["section.label=no", "section={size: [7, 8]}"])
    assert to_dict(from_dict(Root, data))["section"] == {"label": None, "size": [7, 8]}


@dataclass
class Names:
    label: Optional[str] = None
    label_2: Optional[str] = None


def test_an_override_keeps_the_text_of_a_key_its_name_only_begins() -> None:
    # Overriding 'label' replaces what is under 'label', not the sibling 'label_2' whose
    # name merely starts with it: 'label_2=no' stays the text 'no'.
    data = apply_overrides({}, ["label_2=no", "label=x"])
    assert from_dict(Names, data) == Names(label="x", label_2="no")


def test_a_later_override_of_one_key_wins() -> None:
    cfg = load_config(ExperimentConfig, None, ["optim.lr=0.1", "optim.lr=0.2"])
    assert cfg.optim.lr == 0.2


def test_data_root_option_wins_over_a_data_root_override() -> None:
    # with_data_root's docstring: the overrides *followed by* data.root=<--data-root>.
    overrides = with_data_root(["data.root=/from/override"], "/from/option")
    assert overrides == ["data.root=/from/override", 'data.root="/from/option"']
    assert load_config(ExperimentConfig, None, overrides).data.root == "/from/option"
    assert with_data_root(["a=1"], None) == ["a=1"]


@pytest.mark.parametrize("root", ["data #2", "null", "a: b", "[x]", "2024", 'say "hi"\\', "dåta"])
def test_data_root_option_is_the_folder_typed(root: str) -> None:
    # Read as YAML, --data-root "data #2" was the folder 'data' (a comment), 'null' and 'a: b'
    # were refused as no folder / not a string, and 2024 became a number.
    overrides = with_data_root([], root)
    assert load_config(ExperimentConfig, None, overrides).data.root == root


def test_diff_names_a_key_only_one_side_has() -> None:
    # A saved config lacking a key (an older version's) must not pass as unchanged.
    assert diff({"a": {"b": 1, "c": 2}}, {"a": {"b": 1}}) == ["a.c"]
    assert diff({"a": {"b": 1}}, {"a": {"b": 1, "c": 2}}) == ["a.c"]
    assert diff({"x": 1}, {"y": 1}) == ["x", "y"]


def test_diff_compares_values_not_their_text() -> None:
    assert diff({"a": 1}, {"a": 1.0}) == []
    assert diff({"a": "1"}, {"a": 1}) == ["a: '1' != 1"]
    assert diff({"a": None}, {"a": "None"}) == ["a: None != 'None'"]


@pytest.mark.parametrize(
    "override, words",
    [
        # Each would run silently as another experiment: AdamW growing the weights, no
        # warm-up, a stop after the first validation, nothing held out for validation.
        ("optim.weight_decay=-0.1", r"'optim\.weight_decay' must be .*>= 0, got -0\.1"),
        ("schedule.warmup_epochs=-1", r"'schedule\.warmup_epochs' must be >= 0, got -1"),
        ("schedule.early_stop_patience=-1", r"'schedule\.early_stop_patience' must be >= 0"),
        ("data.val_fraction=0", r"'data\.val_fraction' must be in \(0, 1\), got 0"),
        ("data.test_fraction=0", r"'data\.test_fraction' must be in \(0, 1\), got 0"),
    ],
)
def test_out_of_range_values_are_refused_naming_the_key(override: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        load_config(ExperimentConfig, None, [override]).validate_training()


def test_validate_training_reaches_the_augmentation_of_a_config_built_in_code() -> None:
    # from_dict validates each section it builds; a config made in code has only validate().
    cfg = ExperimentConfig()
    cfg.data.augment.hue = 0.6  # hue shifts are fractions of the hue circle, at most 0.5
    with pytest.raises(ConfigError, match=r"'data\.augment\.hue' must be in \[0, 0\.5\]"):
        cfg.validate_training()
