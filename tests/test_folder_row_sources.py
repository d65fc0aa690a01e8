"""Folder-scored rows (``evaluate.py --run DIR --split NAME``): a COS entry records the instance
labels it was scored against, as benchmark mode's do; ``--split`` is checked against the tables'
columns; a benchmark run folder without its run.json yet is refused as ``--run``.

Expectations: benchmark mode's own record of NC4K's labels (instance-map PNGs), which a row
scored against ``export_cos_gt``'s file of the same labels must not be told apart from (the
same AP: tests/test_cos_gt_export.py), and the tables' column names as the README gives them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cli_cases import cli, evaluate_main, one_error_line
from cos_cases import evaluate, export_gt, nc4k_config
from mask_cases import make_pair
from PIL import Image
from small_branches import use_small_branches

from pmgsam.evaluation.cos_label_sources import coco_file_labels, label_source_notes
from pmgsam.evaluation.run_json import load_runs
from pmgsam.modeling.checkpoint import save_model


@pytest.fixture(scope="module")
def nc4k_benchmark(small_tiny_model, nc4k_root, tmp_path_factory) -> tuple:
    """(benchmark run folder, export_cos_gt's file of its split): NC4K test, tiny model with
    conftest's small frozen Hiera (the rows' sources do not depend on its size)."""
    tmp = tmp_path_factory.mktemp("nc4k_bench")
    config = nc4k_config(tmp, nc4k_root)
    weights = save_model(small_tiny_model, tmp / "m.safetensors")
    with pytest.MonkeyPatch.context() as mp:  # small_branches, for this module-scoped run
        use_small_branches(mp)
        assert evaluate(config, weights, tmp / "bench") == 0
    export_gt(config, "test", tmp / "nc4k_test.gt.json")
    return tmp / "bench", tmp / "nc4k_test.gt.json"


def _score_cos(pred: Path, gt_json: Path, out: Path, run: Path, split: str) -> list:
    argv = ["--task", "cos", "--pred-dir", pred, "--gt-json", gt_json, "--out", out, "--quiet"]
    return [*argv, "--run", run, "--split", split]


def test_a_row_scored_against_the_export_has_the_benchmark_rows_labels(nc4k_benchmark, tmp_path):
    bench, gt = nc4k_benchmark
    theirs = tmp_path / "theirs"
    assert (
        evaluate_main(_score_cos(bench / "pred" / "test", gt, tmp_path / "ap.json", theirs, "NC4K"))
        == 0
    )
    record = json.loads((theirs / "run.json").read_text(encoding="utf-8"))
    labels = record["cos"]["NC4K"]["instance_labels"]
    assert labels == {"kind": "png", "path": "", "coco_file": str(gt.resolve())}
    assert (
        json.loads((bench / "run.json").read_text())["cos"]["NC4K"]["instance_labels"]["kind"]
        == "png"
    )
    # One kind of labels: no note, the column ranked (unrecorded, it said "source not
    # recorded"; recorded as a COCO file, its AP was called not comparable).
    assert label_source_notes(load_runs([bench, theirs]), ["NC4K"]) == ([], [])


def test_a_benchmark_folder_without_its_run_json_is_refused(nc4k_benchmark, tmp_path, capsys):
    bench, gt = nc4k_benchmark
    stopped = tmp_path / "stopped"  # a benchmark killed before writing its run.json
    shutil.copytree(bench, stopped)
    (stopped / "run.json").unlink()
    argv = _score_cos(bench / "pred" / "test", gt, tmp_path / "ap.json", stopped, "NC4K")
    code, err = cli(evaluate_main, argv, capsys)
    line = one_error_line(err)
    assert code == 2 and "is the run folder of a model with no run.json yet" in line
    assert str(stopped / "pred" / "test") in line and "benchmark mode" in line
    assert not (stopped / "run.json").exists() and not (tmp_path / "ap.json").exists()


def test_other_methods_maps_kept_under_pred_are_accepted(tmp_path):
    # A method's own folder may keep its maps in pred/: no manifest of a model's run there.
    pred, gt = _dis_split(tmp_path)
    row = tmp_path / "isnet"
    shutil.copytree(pred, row / "pred" / "DIS-TE1")
    assert evaluate_main(_dis_argv(row / "pred" / "DIS-TE1", gt, tmp_path, row, "DIS-TE1")) == 0
    assert list(json.loads((row / "run.json").read_text(encoding="utf-8"))["dis"]) == ["DIS-TE1"]


def _write_gt(path: Path, description: str | None) -> Path:
    gt = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "object"}]}
    if description is not None:
        gt["info"] = {"description": description}
    path.write_text(json.dumps(gt), encoding="utf-8")
    return path


def test_label_records_of_coco_files(tmp_path):
    # COD10K's own file (no pmgsam description): its instances, as benchmark mode records it.
    cam = _write_gt(tmp_path / "CAM_Instance_Test.json", None)
    assert coco_file_labels(cam) == ({"kind": "json", "path": str(cam.resolve())}, None)
    folder = _write_gt(tmp_path / "f.gt.json", "pmgsam ground truth: folder test")
    assert coco_file_labels(folder)[0]["kind"] == "png"
    # pmgsam's file of a COD10K split may hold its JSON's or its GT_Instance PNGs' instances.
    cod = _write_gt(tmp_path / "Test.gt.json", "pmgsam ground truth: cod10k Test")
    record, warning = coco_file_labels(cod)
    assert "kind" not in record and record["coco_file"] == str(cod.resolve())
    assert "cod10k Test" in warning and "CAM_Instance_<Split>.json" in warning


def test_the_table_note_names_the_coco_file_of_the_pngs():
    png = {"kind": "png", "path": "", "coco_file": "/x/nc4k_test.gt.json"}
    runs = [
        {"method": "A", "cos": {"NC4K": {"instance_labels": png}}},
        {
            "method": "B",
            "cos": {"NC4K": {"instance_labels": {"kind": "json", "path": "/y/g.json"}}},
        },
    ]
    notes, unranked = label_source_notes(runs, ["NC4K"])
    assert unranked == ["NC4K"]
    assert "instance-map PNGs in 'nc4k_test.gt.json' (pmgsam's COCO export): A" in notes[0]


def _dis_split(tmp_path: Path) -> tuple:
    gt, pred = tmp_path / "gt", tmp_path / "maps"
    gt.mkdir()
    pred.mkdir()
    p, g = make_pair(24, 32, 0)
    Image.fromarray(g).save(gt / "a.png")
    Image.fromarray(p).save(pred / "a.png")
    return pred, gt


def _dis_argv(pred: Path, gt: Path, tmp_path: Path, run: Path, split: str) -> list:
    out = tmp_path / "m.json"
    argv = ["--pred-dir", pred, "--gt-dir", gt, "--out", out, "--quiet", "--no-hce"]
    return [*argv, "--workers", 1, "--run", run, "--split", split]


@pytest.mark.parametrize(
    "split, column",
    [
        ("dis-te1", "DIS-TE1"),
        ("DIS_TE2", "DIS-TE2"),
        ("dis-te1-4", "DIS-TE1-4"),
        ("DIS-TE", "DIS-TE1-4"),
    ],
)
def test_another_spelling_of_a_dis_column_is_refused(tmp_path, capsys, split, column):
    pred, gt = _dis_split(tmp_path)
    code, err = cli(evaluate_main, _dis_argv(pred, gt, tmp_path, tmp_path / "row", split), capsys)
    assert code == 2 and f"the column is '{column}'" in one_error_line(err)
    assert not (tmp_path / "row").exists() and not (tmp_path / "m.json").exists()


@pytest.mark.parametrize(
    "split, column", [("nc4k", "NC4K"), ("NC4K test", "NC4K"), ("Cod10k", "COD10K")]
)
def test_another_spelling_of_a_cos_column_is_refused(tmp_path, capsys, split, column):
    gt = _write_gt(tmp_path / "gt.json", None)
    (tmp_path / "maps").mkdir()
    argv = _score_cos(tmp_path / "maps", gt, tmp_path / "ap.json", tmp_path / "row", split)
    code, err = cli(evaluate_main, argv, capsys)
    assert code == 2 and f"the column is '{column}'" in one_error_line(err)


@pytest.mark.parametrize("split", ["DIS-TE1", "DIS-TE3+DIS-TE1"])
def test_table_columns_are_taken_without_warning(tmp_path, recwarn, split):
    pred, gt = _dis_split(tmp_path)
    assert evaluate_main(_dis_argv(pred, gt, tmp_path, tmp_path / "row", split)) == 0
    assert not [w for w in recwarn if "--split" in str(w.message)]


@pytest.mark.parametrize("split, hint", [("test", None), ("COD10K", "is a COS column")])
def test_a_column_of_its_own_is_written_with_a_warning(tmp_path, split, hint):
    # A folder dataset's split lines up with a benchmark run of that dataset: allowed.
    pred, gt = _dis_split(tmp_path)
    says = f"--split '{split}' names no column of the DIS table"
    with pytest.warns(UserWarning, match=says) as caught:
        assert evaluate_main(_dis_argv(pred, gt, tmp_path, tmp_path / "row", split)) == 0
    said = " ".join(str(w.message) for w in caught)
    assert (hint in said) if hint else "is a COS column" not in said
    assert list(json.loads((tmp_path / "row" / "run.json").read_text())["dis"]) == [split]
