"""The dataclass/YAML config layer: types, unknown keys, overrides, diffs."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Literal, Optional, Tuple, Union

import pytest

from pmgsam.utils.config import (
    ConfigError,
    apply_overrides,
    check_positive,
    diff,
    from_dict,
    load_config,
)


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
    # The file is valid: the error is the override's, named as such (not the file's).
    with pytest.raises(ConfigError, match=r"'inner.mystery'.*\(override 'inner.mystery=3'\)$"):
        load_config(Outer, cfg_file, ["flag=true", "inner.mystery=3"])
    # A mistake in the file names the file, whatever the overrides.
    cfg_file.write_text("name: a\ninner:\n  lrr: 0.5\n")
    with pytest.raises(ConfigError, match=r"'inner.lrr'.*\(.*c\.yaml\)$"):
        load_config(Outer, cfg_file, ["flag=true"])


@dataclass
class Required:
    label: str
    items: List[Inner] = field(default_factory=list)


def test_a_field_without_default_that_is_left_out_is_named():
    # Before: cls(**kwargs) raised "missing 1 required positional argument", naming no key.
    with pytest.raises(ConfigError, match=r"^missing config key\(s\) 'label'$"):
        from_dict(Required, {"items": []})

    @dataclass
    class Holder:
        rows: List[Required] = field(default_factory=list)

    with pytest.raises(ConfigError, match=r"^missing config key\(s\) 'rows\[1\].label'$"):
        from_dict(Holder, {"rows": [{"label": "a"}, {"items": []}]})
    assert from_dict(Required, {"label": "a"}).items == []


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


def test_base_key_inherits_relative_to_the_file(tmp_path):
    (tmp_path / "root.yaml").write_text("name: root\ninner: {lr: 0.5, steps: [3, 4]}\n")
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "mid.yaml").write_text("base: ../root.yaml\nflag: true\n")
    # Nested sections merge key by key; lists and scalars replace the base value.
    (sub / "leaf.yaml").write_text("base: mid.yaml\ninner: {steps: [9]}\n")
    cfg = load_config(Outer, sub / "leaf.yaml", ["inner.lr=0.25"])
    assert (cfg.name, cfg.flag, cfg.inner.lr, cfg.inner.steps) == ("root", True, 0.25, [9])
    # Keys the base does not know remain errors, named with the child file.
    (sub / "typo.yaml").write_text("base: mid.yaml\ninner: {lrr: 1}\n")
    with pytest.raises(ConfigError, match=r"'inner.lrr'.*typo.yaml"):
        load_config(Outer, sub / "typo.yaml")


def test_base_key_errors_name_the_file(tmp_path):
    (tmp_path / "a.yaml").write_text("base: b.yaml\n")
    (tmp_path / "b.yaml").write_text("base: a.yaml\n")
    with pytest.raises(ConfigError, match="chain loops"):
        load_config(Outer, tmp_path / "a.yaml")
    (tmp_path / "c.yaml").write_text("base: missing.yaml\n")
    with pytest.raises(ConfigError, match=r"c.yaml.*missing.yaml.*does not exist"):
        load_config(Outer, tmp_path / "c.yaml")
    (tmp_path / "d.yaml").write_text("base: [x]\n")
    with pytest.raises(ConfigError, match="'base' must be a file path"):
        load_config(Outer, tmp_path / "d.yaml")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "-inf", "nan", 10**400])
def test_floats_must_be_finite(value):
    with pytest.raises(ConfigError, match="'inner.lr' must be a finite number"):
        from_dict(Outer, {"inner": {"lr": value}})


def test_check_positive_refuses_nan_inf_and_names_the_key():
    check_positive("a.b", 0, allow_zero=True)
    check_positive("a.b", 10**400)  # a huge int is finite (math.isfinite would overflow)
    for value, allow_zero in [(float("nan"), True), (float("inf"), False), (0, False), (-1, True)]:
        with pytest.raises(ConfigError, match=r"config key 'a\.b' must be (a finite number )?>"):
            check_positive("a.b", value, allow_zero=allow_zero)


def test_override_that_is_not_yaml_is_named():
    with pytest.raises(ConfigError, match=r"override 'inner.steps=\[1,'.*not valid YAML"):
        apply_overrides({}, ["inner.steps=[1,"])


def test_config_file_that_is_not_utf8_is_named(tmp_path):
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_bytes(b"\xff\xfen\x00a\x00m\x00e\x00:\x00")
    with pytest.raises(ConfigError, match=r"c\.yaml' is not UTF-8 text"):
        load_config(Outer, cfg_file)


@dataclass
class Kinds:
    mode: Literal["a", "b"] = "a"
    extra: Dict[str, int] = field(default_factory=dict)
    pair: Tuple[int, float] = (1, 2.0)
    anything: Any = None
    either: Union[int, str] = 0
    inner: Inner = field(default_factory=Inner)


def test_every_kind_of_field_is_checked_and_named():
    got = from_dict(Kinds, {"mode": "b", "extra": {"k": 1}, "pair": [3, 4], "anything": [1]})
    assert (got.mode, got.extra, got.pair, got.anything) == ("b", {"k": 1}, (3, 4.0), [1])
    inner = Inner(lr=0.5)
    assert from_dict(Kinds, {"inner": inner}).inner is inner  # a built section is kept
    assert from_dict(Kinds, None) == Kinds()
    bad = {  # value: words of the error
        "mode": ("c", "'mode' must be one of ['a', 'b'], got 'c'"),
        "extra": ([1], "'extra' must be a mapping, got [1]"),
        "pair": ([1, 2, 3], "'pair' needs 2 items, got 3"),
        "inner": (3, "'inner' must be a mapping, got 3"),
    }
    for key, (value, words) in bad.items():
        with pytest.raises(ConfigError, match=re.escape(words)):
            from_dict(Kinds, {key: value})
    with pytest.raises(ConfigError, match=re.escape("'pair[1]' must be a number")):
        from_dict(Kinds, {"pair": [1, "x"]})
    with pytest.raises(ConfigError, match="'either' must not be null"):
        from_dict(Kinds, {"either": None})
    with pytest.raises(ConfigError, match="'inner.steps' must be a list, got 3"):
        from_dict(Outer, {"inner": {"steps": 3}})
    with pytest.raises(ConfigError, match="config section 'inner' must be a mapping"):
        from_dict(Inner, [1], prefix="inner")
    with pytest.raises(ConfigError, match="override '=3' has an empty key"):
        apply_overrides({}, ["=3"])


def test_config_files_that_are_not_yaml_or_not_a_mapping_are_named(tmp_path):
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("name: [a\n")
    with pytest.raises(ConfigError, match=r"config file '.*c\.yaml' is not valid YAML"):
        load_config(Outer, cfg_file)
    cfg_file.write_text("- name\n- a\n")
    with pytest.raises(ConfigError, match=r"c\.yaml' must contain a mapping at the top level"):
        load_config(Outer, cfg_file)
