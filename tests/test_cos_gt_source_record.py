"""pmgsam's COCO ground truth (``export_cos_gt``'s file, benchmark mode's ``<split>.gt.json``)
records the instance labels it was built from in ``info.instance_labels``, so a row scored
against it (``evaluate.py --task cos --gt-json F --run DIR``) records them too: a COD10K
split's ``CAM_Instance_<Split>.json`` and its ``GT_Instance`` PNGs give other AP.

Expectations: which source each export was built from is known by construction (the JSON
removed from a copy of the dataset leaves only the PNGs); the row's record is the one an older
NC4K export gets (``path`` empty, ``coco_file`` naming the file); pycocotools reads the file.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import pytest
from cli_cases import evaluate_main
from cos_cases import export_gt, tiny_config
from pycocotools.coco import COCO

from pmgsam.evaluation.cos_label_sources import coco_file_labels


def _cod10k_export(root: Path, tmp_path: Path) -> Path:
    data = {"dataset": "cod10k", "root": str(root), "train_split": "Train", "val_split": None}
    data.update(test_splits=["Test"], num_workers=0, split_dir=str(tmp_path / "splits"))
    out = tmp_path / "cod10k_test.gt.json"
    export_gt(tiny_config(tmp_path, data), "Test", out)
    return out


@pytest.fixture
def png_only_root(cod10k_root: Path, tmp_path: Path) -> Path:
    root = tmp_path / "COD10K-v3"
    shutil.copytree(cod10k_root, root, ignore=shutil.ignore_patterns("CAM_Instance_*.json"))
    return root


def test_an_export_from_the_coco_file_is_recorded_as_json(cod10k_root, tmp_path):
    gt = _cod10k_export(cod10k_root, tmp_path)
    info = json.loads(gt.read_text(encoding="utf-8"))["info"]
    source = cod10k_root / "Test" / "CAM_Instance_Test.json"
    assert info["instance_labels"] == {"kind": "json", "path": str(source)}
    assert len(COCO(str(gt)).getImgIds()) > 0  # extra info keys: still a COCO file
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        record, warning = coco_file_labels(gt)
    assert warning is None
    assert record == {"kind": "json", "path": "", "coco_file": str(gt.resolve())}


def test_an_export_from_the_png_fallback_is_recorded_as_png(png_only_root, tmp_path):
    gt = _cod10k_export(png_only_root, tmp_path)
    info = json.loads(gt.read_text(encoding="utf-8"))["info"]
    assert info["instance_labels"]["kind"] == "png"
    assert info["instance_labels"]["path"] == str(png_only_root / "Test" / "GT_Instance")
    assert len(COCO(str(gt)).getAnnIds()) > 0
    record, warning = coco_file_labels(gt)
    assert warning is None
    assert record["kind"] == "png" and record["coco_file"] == str(gt.resolve())
    assert record["fallback"].startswith("no CAM_Instance_Test.json at ")


def test_a_row_scored_against_the_fallback_export_records_it(png_only_root, tmp_path):
    gt = _cod10k_export(png_only_root, tmp_path)
    # Any maps of the split's images do: the objects' own masks.
    maps, row = png_only_root / "Test" / "GT_Object", tmp_path / "row"
    argv = ["--task", "cos", "--pred-dir", maps, "--gt-json", gt, "--out", tmp_path / "ap.json"]
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*records no instance-label source")
        assert evaluate_main([*argv, "--quiet", "--run", row, "--split", "COD10K"]) == 0
    record = json.loads((row / "run.json").read_text(encoding="utf-8"))
    labels = record["cos"]["COD10K"]["instance_labels"]
    assert labels["kind"] == "png" and labels["coco_file"] == str(gt.resolve())
    assert "fallback" in labels


def test_a_malformed_recorded_source_is_read_as_an_older_file(tmp_path):
    # Only json and png are sources: anything else leaves the file's description to say.
    gt = tmp_path / "Test.gt.json"
    info = {"description": "pmgsam ground truth: cod10k Test", "instance_labels": {"kind": 3}}
    gt.write_text(json.dumps({"info": info, "images": [], "annotations": []}), encoding="utf-8")
    record, warning = coco_file_labels(gt)
    assert "kind" not in record and warning is not None
