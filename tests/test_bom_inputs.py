"""JSON files a user saved from Windows Notepad begin with a UTF-8 byte-order mark, which
``json`` refuses ("Unexpected UTF-8 BOM") although the content is valid: the readers of the
user's run.json and COCO files drop it, and a run.json rewritten afterwards holds none."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from pmgsam.data.coco_annotations import read_coco_instances
from pmgsam.evaluation.coco_gt import load_coco
from pmgsam.evaluation.run_json import load_runs, write_run_json
from pmgsam.utils.config_files import read_yaml_mapping
from pmgsam.utils.rle import encode_rle

BOM = b"\xef\xbb\xbf"
DIS_ENTRY = {"maxFm": 0.8, "MAE": 0.05, "num_images": 3}


def _write_with_bom(path: Path, value: object) -> Path:
    # Notepad's "UTF-8" also ends lines with CRLF.
    path.write_bytes(BOM + json.dumps(value, indent=1).replace("\n", "\r\n").encode())
    return path


def _coco() -> dict:
    mask = np.zeros((6, 8), bool)
    mask[1:4, 2:6] = True
    return {
        "images": [{"id": 4, "file_name": "é.jpg", "height": 6, "width": 8}],
        "annotations": [
            {"id": 9, "image_id": 4, "category_id": 1, "segmentation": encode_rle(mask)}
        ],
        "categories": [{"id": 1, "name": "animal"}],
    }


def test_run_json_with_a_bom_is_read(tmp_path: Path) -> None:
    _write_with_bom(tmp_path / "run.json", {"method": "Mine", "dis": {"DIS-VD": DIS_ENTRY}})
    (run,) = load_runs([tmp_path])
    assert run["method"] == "Mine" and run["dis"] == {"DIS-VD": DIS_ENTRY}


def test_results_added_to_a_run_json_with_a_bom_keep_its_entries(tmp_path: Path) -> None:
    _write_with_bom(tmp_path / "run.json", {"method": "Mine", "dis": {"DIS-VD": DIS_ENTRY}})
    write_run_json(tmp_path, None, cos={"COD10K": {"AP": 0.5}})
    raw = (tmp_path / "run.json").read_bytes()
    assert not raw.startswith(BOM)
    assert json.loads(raw) == {
        "method": "Mine",
        "dis": {"DIS-VD": DIS_ENTRY},
        "cos": {"COD10K": {"AP": 0.5}},
    }


def test_coco_gt_file_with_a_bom_is_read(tmp_path: Path) -> None:
    coco = load_coco(_write_with_bom(tmp_path / "gt.json", _coco()))
    assert coco.imgs[4]["file_name"] == "é.jpg"
    assert list(coco.anns) == [9] and coco.anns[9]["area"] == 12


def test_coco_instance_file_of_a_dataset_with_a_bom_is_read(tmp_path: Path) -> None:
    images, annotations = read_coco_instances(_write_with_bom(tmp_path / "inst.json", _coco()))
    assert [im["file_name"] for im in images] == ["é.jpg"]
    assert [a["id"] for a in annotations] == [9]


def test_yaml_config_with_a_bom_is_read(tmp_path: Path) -> None:
    # PyYAML drops the mark itself: a guard against reading configs some other way.
    path = tmp_path / "c.yaml"
    path.write_bytes(BOM + b"model:\r\n  image_size: 64\r\n")
    assert read_yaml_mapping(path) == {"model": {"image_size": 64}}
