"""A line of a baseline's hidden records file that parses as JSON but is not a record (a list, a
number, instances that are not objects, a name that is not text: an edit by hand, or another
program's file) is passed over like a torn one: its image is predicted again, and the resumed run
does not stop on it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pmgsam.baselines.resume import RECORDS, read_records

GOOD = {"name": "a.png", "source": ["a"], "counts": {}, "prompted": True, "instances": []}


@pytest.mark.parametrize(
    "line",
    [
        "[]",  # AttributeError: no .get
        "5",
        json.dumps(dict(GOOD, name="b.png", source=["b"], instances=5)),  # TypeError: not a list
        json.dumps(dict(GOOD, name="b.png", source=["b"], instances=[5])),  # AttributeError
        json.dumps(dict(GOOD, name=["b.png"], source=["b"])),  # unhashable: TypeError
    ],
)
def test_a_line_of_another_shape_is_passed_over(tmp_path: Path, line: str) -> None:
    (tmp_path / RECORDS).write_text(json.dumps(GOOD) + "\n" + line + "\n")
    found = read_records(tmp_path, ["a.png", "b.png"], {"a.png": ["a"], "b.png": ["b"]})
    assert found == {"a.png": GOOD}
