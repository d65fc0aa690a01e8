"""Config files and overrides are parsed through libyaml where PyYAML has it, by the same rules
as the pure-Python ConfigLoader (the reference here): same values, duplicate keys refused, and
the pure-Python parser's own message for text that is not YAML."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pmgsam.utils import config_files
from pmgsam.utils.config_files import ConfigError, ConfigLoader, parse_yaml, read_yaml_mapping

ROOT = Path(__file__).resolve().parents[1]
needs_libyaml = pytest.mark.skipif(
    not hasattr(yaml, "CSafeLoader"), reason="PyYAML built without libyaml"
)


@pytest.mark.parametrize("path", sorted((ROOT / "configs").rglob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_reads_as_the_pure_python_loader_reads_it(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert parse_yaml(text) == yaml.load(text, Loader=ConfigLoader)
    with open(path, encoding="utf-8") as f:
        assert parse_yaml(f) == yaml.load(text, Loader=ConfigLoader)


@needs_libyaml
def test_valid_text_does_not_reach_the_pure_python_parser(monkeypatch) -> None:
    class Refuse(ConfigLoader):
        def __init__(self, stream) -> None:
            raise AssertionError("the pure-Python parser read valid text")

    monkeypatch.setattr(config_files, "ConfigLoader", Refuse)
    text = "a: {b: [1, 2.5, on, '2020-01-01', 2020-01-01]}\nc: &x {d: 1}\ne: *x\n"
    assert parse_yaml(text) == yaml.safe_load(text)


@pytest.mark.parametrize("libyaml", [True, False], ids=["libyaml", "pure-python"])
def test_a_key_given_twice_is_refused_with_both_lines(tmp_path, monkeypatch, libyaml) -> None:
    if libyaml and not hasattr(yaml, "CSafeLoader"):
        pytest.skip("PyYAML built without libyaml")
    if not libyaml:
        monkeypatch.setattr(config_files, "_FastConfigLoader", None)
    path = tmp_path / "c.yaml"
    path.write_text("optim:\n  lr: 0.5\nmodel: {}\noptim:\n  weight_decay: 0.1\n")
    with pytest.raises(ConfigError, match=r"key 'optim' is given twice \(lines 1 and 4\)"):
        read_yaml_mapping(path)


@pytest.mark.parametrize(
    "text",
    ["model:\n\t- 1\n", "a: *nope\n", "model: [unclosed\n", "- a\nb: 1\n"],
    ids=["tab", "undefined-alias", "unclosed", "list-then-key"],
)
def test_text_that_is_not_yaml_gets_the_pure_python_parsers_message(tmp_path, text) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with open(path, encoding="utf-8") as f, pytest.raises(yaml.YAMLError) as expected:
        yaml.load(f, Loader=yaml.SafeLoader)
    with pytest.raises(ConfigError) as got:
        read_yaml_mapping(path)
    # The file's name and the line are in the mark; the tab and the alias are named.
    assert str(got.value) == f"config file '{path}' is not valid YAML: {expected.value}"
    assert str(path) in str(got.value)


def test_an_override_value_is_parsed_by_the_same_rules() -> None:
    from pmgsam.utils.config import apply_overrides

    data = apply_overrides({"a": {"b": 1}}, ["a.c=[1, {x: 2}]", "a.d=2020-01-01", "a.e=off"])
    assert data == {
        "a": {"b": 1, "c": [1, {"x": 2}], "d": yaml.safe_load("2020-01-01"), "e": False}
    }
    with pytest.raises(ConfigError, match=r"found character '\\t' that cannot start any token"):
        apply_overrides({}, ["a=\t[1]"])
