"""pmgsam.ablation.data's unit rules: which done files record a fingerprint (none: not compared),
and which variants a disagreement names (those outside the largest agreeing group)."""

from __future__ import annotations

import json

import pytest

from pmgsam.ablation.data import DATA_KEY, check_same_training_data, recorded_fingerprint
from pmgsam.utils.config import ConfigError


@pytest.mark.parametrize(
    "text",
    ["not json {", json.dumps([DATA_KEY]), json.dumps({DATA_KEY: ""}), json.dumps({"x": 1})],
)
def test_done_files_without_a_usable_fingerprint_record_none(tmp_path, text) -> None:
    done = tmp_path / "done.json"
    done.write_text(text)
    assert recorded_fingerprint(done) is None
    assert recorded_fingerprint(tmp_path / "missing.json") is None


def test_variants_without_a_record_are_not_compared(tmp_path) -> None:
    old = tmp_path / "old.json"
    old.write_text(json.dumps({DATA_KEY: ""}))  # finished before the record: empty
    check_same_training_data(tmp_path, {"old": old}, {"new": "a" * 64})


def test_the_variants_outside_the_largest_agreeing_group_are_named(tmp_path) -> None:
    files = {}
    for name, value in (("a", "x"), ("b", "y"), ("c", "y")):
        files[name] = tmp_path / f"{name}.json"
        files[name].write_text(json.dumps({DATA_KEY: value * 64}))
    with pytest.raises(ConfigError, match=r": a on other files than b, c \(their paths"):
        check_same_training_data(tmp_path, files, {})
    # One planned variant joins the larger group: the finished odd one is still the one named.
    with pytest.raises(ConfigError, match=r": a on other files than b, c, d \(to be trained now\)"):
        check_same_training_data(tmp_path, files, {"d": "y" * 64})
