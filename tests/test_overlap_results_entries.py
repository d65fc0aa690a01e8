"""A run's COCO instances (``metrics/<split>.results.json``) edited by hand into a malformed
entry: the overlap analysis names the file and the entry (``results[k]``) in one error and
writes nothing, instead of stopping inside pycocotools' scoring, or, for an image id that is a
string, missing or not the run's GT's, dropping the instance from the subset's AP unsaid."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Dict, List

import pytest
from test_overlap_baseline_instances import baseline_run  # noqa: F401 (a fixture)

from pmgsam.analysis.__main__ import main
from tests.cli_cases import cli, one_error_line


def _edit(key: str, value: Any) -> Callable[[List[Dict[str, Any]]], None]:
    def edit(results: List[Dict[str, Any]]) -> None:
        if value is None:
            del results[0][key]
        else:
            results[0][key] = value

    return edit


CASES = {
    "category_id string": (_edit("category_id", "1"), "results[0]: category_id '1' is not an"),
    "category_id missing": (_edit("category_id", None), "results[0] has no 'category_id'"),
    "score string": (_edit("score", "0.9"), "results[0]: score '0.9' is not a number"),
    "score missing": (_edit("score", None), "results[0] has no 'score'"),
    "score true": (_edit("score", True), "results[0]: score True is not a number"),
    "image_id string": (_edit("image_id", "7"), "results[0]: image_id '7' is not an integer"),
    "image_id missing": (_edit("image_id", None), "results[0] has no 'image_id'"),
    # Image 9 is not in the run's GT (7 and 8): the instance belongs to no image scored.
    "image_id unknown": (_edit("image_id", 9), "results[0] refers to image_id 9, which the GT"),
    "entry not an object": (lambda r: r.__setitem__(0, 3), "results[0] is not an instance"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_malformed_instance_is_one_error_naming_the_file_and_entry(
    case: str,
    tmp_path: Path,
    baseline_run,  # noqa: F811
    capsys,
) -> None:
    gt, run = baseline_run
    edit, expected = CASES[case]
    path = run / "metrics" / "Test.results.json"
    results = json.loads(path.read_text(encoding="utf-8"))
    edit(results)
    path.write_text(json.dumps(results), encoding="utf-8")
    before = (run / "run.json").read_bytes()
    args = ["overlap", "--gt-json", str(gt), "--name", "TOY", "--split", "Test", "--quiet"]
    args += ["--rule", "touch", "--run", str(run), "--out", str(tmp_path / "ov")]
    code, err = cli(main, args, capsys)
    line = one_error_line(err)
    assert code == 2 and f"'{path}': {expected}" in line, line
    assert (run / "run.json").read_bytes() == before and not (tmp_path / "ov").exists()


def test_instances_not_in_a_list_are_refused(tmp_path, baseline_run, capsys) -> None:  # noqa: F811
    gt, run = baseline_run
    path = run / "metrics" / "Test.results.json"
    path.write_text(json.dumps({"annotations": []}), encoding="utf-8")
    args = ["overlap", "--gt-json", str(gt), "--name", "TOY", "--split", "Test", "--quiet"]
    args += ["--run", str(run), "--out", str(tmp_path / "ov")]
    code, err = cli(main, args, capsys)
    assert code == 2 and f"'{path}' is not a COCO results list" in one_error_line(err)
