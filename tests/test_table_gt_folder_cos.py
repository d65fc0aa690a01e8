""":func:`~pmgsam.evaluation.table_gt.benchmark_records` on a folder dataset whose split is
scored by instance AP too (``data.instance_dir``): its ``cos`` entry, of the split's name,
records the COCO GT it was scored against, and its ``dis`` entry the masks, as benchmark and
baseline modes write them; a split without instance labels has a DIS record only."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
from PIL import Image

from pmgsam.evaluation.table_gt import GT_KEY, benchmark_records, coco_record, mask_record
from tests.mask_cases import coco_annotation, coco_dict


def _split(folder: Path, labels: str) -> SimpleNamespace:
    folder.mkdir(parents=True)
    mask = np.zeros((8, 10), np.uint8)
    mask[2:5, 3:7] = 255
    Image.fromarray(mask).save(folder / "a.png")
    instances = SimpleNamespace(record=lambda: {"kind": "png", "path": labels})
    return SimpleNamespace(mask_paths=[folder / "a.png"], instances=instances)


def test_a_folder_split_scored_by_instance_ap_records_its_coco_gt(tmp_path: Path) -> None:
    datasets = {s: _split(tmp_path / s, f"/data/mine/{s}/instances") for s in ("test", "val")}
    mask = np.zeros((8, 10), np.uint8)
    mask[2:5, 3:7] = 1
    gt = coco_dict((8, 10), [coco_annotation(1, 1, mask)])
    dis = {"test": {"maxFm": 0.5}, "val": {"maxFm": 0.5}}
    cos = {"test": {"AP": 0.5}}
    benchmark_records("folder", ["test", "val"], datasets, {"test": gt}, dis, cos)
    assert cos["test"][GT_KEY] == coco_record(gt, "/data/mine/test/instances")
    assert cos["test"][GT_KEY]["images"] == 1
    assert dis["test"][GT_KEY] == mask_record(datasets["test"].mask_paths)
    assert cos["test"][GT_KEY]["fingerprint"] != dis["test"][GT_KEY]["fingerprint"]
    assert GT_KEY in dis["val"] and "val" not in cos  # no instance labels: DIS only
