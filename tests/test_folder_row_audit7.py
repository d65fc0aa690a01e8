"""Mutation audit 7: evaluate.py --run DIR --split A+B (pmgsam.evaluation.folder_row).

A set of DIS5K splits is stored under the column the tables read it as (parts sorted, the four
test subsets DIS-TE1-4, as benchmark mode stores it: pmgsam.evaluation.combined), so that the
same set scored again in another order replaces its entry instead of hiding behind the first
one (and the console names that column); a part spelled otherwise than its split is refused
naming the column, a split named twice as benchmark mode refuses it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from pmgsam.evaluation.folder_row import add_to_run, check_split, known_columns, refuse_model_run
from pmgsam.evaluation.map_pairs import EvaluationInputError
from pmgsam.evaluation.run_json import load_runs
from pmgsam.utils.outputs import MANIFEST_FORMAT, write_manifest
from tests.cli_cases import cli, evaluate_main, one_error_line
from tests.mask_cases import square_pair


def _score(tmp_path: Path, split: str, wrong: bool) -> int:
    pred, gt = square_pair(tmp_path, "wrong" if wrong else "right", wrong)
    argv = ["--pred-dir", pred, "--gt-dir", gt, "--out", tmp_path / "m.json", "--quiet"]
    return evaluate_main(
        [*argv, "--no-hce", "--workers", 1, "--run", tmp_path / "row", "--split", split]
    )


def test_a_set_scored_again_in_another_order_replaces_its_entry(tmp_path, capsys):
    # Stored as typed, the second scoring sat beside the first under another key, and the
    # tables (load_runs) kept the first: the new maps' scores never showed.
    assert _score(tmp_path, "DIS-TE1+DIS-TE3", wrong=True) == 0
    assert _score(tmp_path, "DIS-TE3+DIS-TE1", wrong=False) == 0
    # The console names the entry run.json holds, not the order typed (which it has no key of).
    assert "added dis 'DIS-TE1+DIS-TE3' to " in capsys.readouterr().out.splitlines()[-1]
    data = json.loads((tmp_path / "row" / "run.json").read_text(encoding="utf-8"))
    assert list(data["dis"]) == ["DIS-TE1+DIS-TE3"]
    assert list(data["meta"]["scored_maps"]) == ["dis/DIS-TE1+DIS-TE3"]
    assert data["meta"]["scored_maps"]["dis/DIS-TE1+DIS-TE3"]["pred_dir"].endswith("right")
    # The right maps are the GT itself: MAE 0 (the wrong ones have 16 false pixels of 400).
    tabled = load_runs([tmp_path / "row"])[0]["dis"]["DIS-TE1+DIS-TE3"]
    assert tabled["MAE"] == pytest.approx(0.0, abs=1e-6)


def test_the_four_test_subsets_typed_as_a_set_are_the_overall_column(tmp_path):
    assert _score(tmp_path, "DIS-TE2+DIS-TE1+DIS-TE4+DIS-TE3", wrong=False) == 0
    data = json.loads((tmp_path / "row" / "run.json").read_text(encoding="utf-8"))
    assert list(data["dis"]) == ["DIS-TE1-4"] and list(data["meta"]["scored_maps"]) == [
        "dis/DIS-TE1-4"
    ]


@pytest.mark.parametrize(
    "split, column",
    [
        ("dis-te3+dis-te1", "DIS-TE1+DIS-TE3"),
        ("DIS-TE1 + DIS-TE2", "DIS-TE1+DIS-TE2"),
        ("DIS_TE4+DIS-TE3+DIS-TE2+DIS-TE1", "DIS-TE1-4"),
    ],
)
def test_another_spelling_of_a_set_is_refused_naming_its_column(tmp_path, capsys, split, column):
    pred, gt = square_pair(tmp_path, "maps")
    argv = ["--pred-dir", pred, "--gt-dir", gt, "--out", tmp_path / "m.json", "--quiet"]
    argv += ["--no-hce", "--run", tmp_path / "row", "--split", split]
    code, err = cli(evaluate_main, argv, capsys)
    assert code == 2 and f"the column is '{column}'" in one_error_line(err)
    assert not (tmp_path / "row").exists() and not (tmp_path / "m.json").exists()


@pytest.mark.parametrize("split", ["DIS-TE1+DIS-TE1", "DIS-TE2+DIS-TE1+dis_te2"])
def test_a_set_naming_a_split_twice_is_refused_as_in_benchmark_mode(tmp_path, capsys, split):
    # It was taken, with a warning, as a column of its own that no benchmark run has (benchmark
    # mode refuses such a set): refused now with benchmark mode's words, before scoring.
    pred, gt = square_pair(tmp_path, "maps")
    argv = ["--pred-dir", pred, "--gt-dir", gt, "--out", tmp_path / "m.json", "--quiet"]
    argv += ["--no-hce", "--run", tmp_path / "row", "--split", split]
    code, err = cli(evaluate_main, argv, capsys)
    line = one_error_line(err)
    twice = split.split("+")[-1].upper().replace("_", "-")
    assert code == 2 and f"--split '{split}' names a part twice ({twice})" in line
    assert not (tmp_path / "row").exists() and not (tmp_path / "m.json").exists()


def test_a_cos_entry_against_pmgsam_s_cod10k_file_warns_and_records_no_kind(tmp_path, monkeypatch):
    # Which instances (the JSON's or the GT_Instance PNGs') the file holds is not known: the
    # user is told so as the row is written, not only in the table's note. Given relative,
    # the file is recorded by the path it has from anywhere.
    monkeypatch.chdir(tmp_path)
    gt = tmp_path / "Test.gt.json"
    info = {"description": "pmgsam ground truth: cod10k Test"}
    gt.write_text(json.dumps({"info": info, "images": [], "annotations": []}), encoding="utf-8")
    args = argparse.Namespace(
        run=str(tmp_path / "row"),
        method="M",
        split="COD10K",
        pred_dir=str(tmp_path),
        gt_json="Test.gt.json",
    )
    with pytest.warns(UserWarning, match=r"does not say whether its instances"):
        add_to_run(args, "cos", {"AP": 0.25})
    entry = json.loads((tmp_path / "row" / "run.json").read_text(encoding="utf-8"))["cos"]["COD10K"]
    assert entry["AP"] == 0.25 and "kind" not in entry["instance_labels"]
    assert entry["instance_labels"]["coco_file"] == str(gt.resolve())


def test_maps_under_pred_written_by_another_pmgsam_tool_are_no_model_s(tmp_path):
    # Only benchmark and baseline mode's maps make a folder a model's run; a folder whose
    # manifest names another tool (scores written there by evaluate.py) does not.
    maps = tmp_path / "row" / "pred" / "DIS-TE1"
    maps.mkdir(parents=True)
    write_manifest(maps, {"format": MANIFEST_FORMAT, "tool": "evaluate.py", "files": []})
    refuse_model_run(str(tmp_path / "row"))
    write_manifest(maps, {"format": MANIFEST_FORMAT, "tool": "predict_split", "files": []})
    with pytest.raises(EvaluationInputError, match="evaluate.py's benchmark mode"):
        refuse_model_run(str(tmp_path / "row"))


def test_a_file_named_pred_in_the_row_folder_is_no_model_s_maps(tmp_path):
    (tmp_path / "row").mkdir()
    (tmp_path / "row" / "pred").write_text("notes", encoding="utf-8")
    refuse_model_run(str(tmp_path / "row"))


def test_the_cos_columns_are_the_test_splits_by_name_and_the_others_by_split():
    # COD10K's test split is "Test": it is the COD10K column, not a "COD10K Test" beside it.
    assert known_columns("cos") == ["COD10K", "NC4K", "COD10K Train", "NC4K all", "NC4K train"]


@pytest.mark.parametrize(
    "section, split, hint",
    [
        ("cos", "DIS-TE1", "is a DIS column: scored with DIS scoring (--gt-dir)"),
        ("dis", "nc4k", "is a COS column: scored with --task cos --gt-json"),
    ],
)
def test_a_column_of_the_other_table_is_named_in_the_warning(section, split, hint):
    with pytest.warns(UserWarning, match="names no column") as caught:
        check_split(section, split)
    assert f"'{split}' {hint}" in str(caught[0].message)
