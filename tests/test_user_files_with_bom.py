"""Files a user may edit, saved by Windows Notepad (UTF-8 with a byte-order mark), are read as
the same files without the mark: a --gt-json's recorded instance-label source, a run's split
scores given to the report (its hint, not "holds no results"), a split file under
data.split_dir (not "unreadable ... delete it"), and a run's COCO instances the overlap
analysis scores its subset from."""

from __future__ import annotations

import json
from pathlib import Path

from test_overlap_baseline_instances import baseline_run  # noqa: F401 (a fixture)

from pmgsam import report
from pmgsam.analysis.__main__ import main as analysis_main
from pmgsam.data import build_dataset
from pmgsam.evaluation.cos_label_sources import coco_file_labels
from pmgsam.evaluation.run_json import write_run_json
from tests.cli_cases import cli, one_error_line

BOM = b"\xef\xbb\xbf"


def _with_bom(path: Path, data: object) -> None:
    path.write_bytes(BOM + json.dumps(data).encode("utf-8"))


def test_a_pmgsam_gt_file_with_a_bom_records_its_instance_label_source(tmp_path) -> None:
    gt = tmp_path / "test.gt.json"
    info = {"description": "pmgsam ground truth: nc4k Test"}
    _with_bom(gt, {"info": info, "images": [], "annotations": [], "categories": []})
    # NC4K's labels are instance-map PNGs; read as another tool's COCO file it would be 'json'.
    assert coco_file_labels(gt) == (
        {"kind": "png", "path": "", "coco_file": str(gt.resolve())},
        None,
    )


def test_a_run_s_split_scores_with_a_bom_name_the_run_to_give(tmp_path, capsys) -> None:
    run = tmp_path / "results" / "pmgsam"
    write_run_json(run, "PMG-SAM", dis={"DIS-TE1": {"maxFm": 0.5}}, meta={"checkpoint": "w"})
    scores = run / "metrics" / "DIS-TE1.json"
    scores.parent.mkdir()
    _with_bom(scores, {"maxFm": 0.5, "MAE": 0.1})
    code, err = cli(report.main, [str(scores), "--out", str(tmp_path / "t")], capsys)
    line = one_error_line(err)
    assert code == 2 and f"is one split's scores of the run '{run}': give that folder" in line


def test_a_split_file_edited_and_saved_with_a_bom_is_followed(nc4k_root, data_config) -> None:
    cfg = data_config("nc4k", nc4k_root)
    test = build_dataset(cfg, "test", 64, False).names
    [path] = sorted(Path(cfg.split_dir).glob("*.json"))
    payload = json.loads(path.read_text(encoding="utf-8"))
    moved = payload["parts"]["train"].pop(0)
    payload["parts"]["test"].append(moved)
    _with_bom(path, payload)
    assert build_dataset(cfg, "test", 64, False).names == sorted(test + [moved])


def test_a_run_s_instances_with_a_bom_are_scored(tmp_path, baseline_run) -> None:  # noqa: F811
    gt, run = baseline_run
    for name in ("Test.results.json", "Test.gt.json"):
        path = run / "metrics" / name
        _with_bom(path, json.loads(path.read_text(encoding="utf-8")))
    args = ["overlap", "--gt-json", str(gt), "--name", "TOY", "--split", "Test", "--quiet"]
    analysis_main(args + ["--rule", "touch", "--run", str(run), "--out", str(tmp_path / "ov")])
    sub = json.loads((run / "run.json").read_text(encoding="utf-8"))["cos"]["TOY overlap"]
    # Image a's two instances, exactly the GT's: AP 1.
    assert (sub["AP"], sub["num_results"]) == (1.0, 2)
