"""The dataclass/YAML config layer: types, unknown keys, overrides, diffs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

import pytest

from pmgsam.utils.config import ConfigError, apply_overrides, diff, from_dict, load_config


@dataclass
class Inner:
    lr: float = 0.1
    steps: List[int] = field(default_factory=lambda: [1, 2])


@dataclass
class Outer:
    name: str = "x"
    path: Optional[str] = None
    flag: bool = False
    inner: Inner = field(default_factory=Inner)


def test_types_are_checked_and_named():
    assert from_dict(Outer, {"inner": {"lr": 1}}).inner.lr == 1.0
    assert from_dict(Outer, {"inner": {"lr": "1e-3"}}).inner.lr == 1e-3
    with pytest.raises(ConfigError, match="'inner.lr' must be a number"):
        from_dict(Outer, {"inner": {"lr": "fast"}})
    with pytest.raises(ConfigError, match="'flag' must be true/false"):
        from_dict(Outer, {"flag": "yes please"})
    with pytest.raises(ConfigError, match=r"'inner.steps\[1\]' must be an integer"):
        from_dict(Outer, {"inner": {"steps": [1, 2.5]}})
    assert from_dict(Outer, {"path": None}).path is None


def test_unknown_keys_are_errors_with_dotted_names(tmp_path):
    with pytest.raises(ConfigError, match="'inner.lrr'"):
        from_dict(Outer, {"inner": {"lrr": 0.1}})
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("name: a\ninner:\n  lr: 0.5\n")
    with pytest.raises(ConfigError, match=r"'inner.mystery'.*c\.yaml"):
        load_config(Outer, cfg_file, ["inner.mystery=3"])


def test_overrides_parse_yaml_scalars(tmp_path):
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("name: a\n")
    cfg = load_config(Outer, cfg_file, ["inner.lr=1e-4", "flag=true", "inner.steps=[3, 4]"])
    assert cfg.inner.lr == 1e-4 and cfg.flag is True and cfg.inner.steps == [3, 4]
    with pytest.raises(ConfigError, match="not of the form key=value"):
        apply_overrides({}, ["flag"])
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(Outer, tmp_path / "missing.yaml")


def test_diff_names_changed_fields():
    a, b = Outer(), Outer(flag=True, inner=Inner(lr=0.2))
    assert diff(a, b) == ["flag: False != True", "inner.lr: 0.1 != 0.2"]
    assert diff(a, Outer()) == []
