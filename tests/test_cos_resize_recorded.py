"""Every COS score that goes into a run.json records whether its maps were resized to their GT's
size (``resize_pred``), beside the protocol, threshold and minimum area: ``python -m
pmgsam.analysis overlap --run`` reads it to score a subset as the run's full set was."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from mask_cases import coco_dict
from pycocotools import mask as mask_utils

from pmgsam.utils.rle import encode_rle

H, W = 12, 16


def _gt() -> dict:
    """One image of H x W with one square instance (rows 2-5, columns 3-8)."""
    mask = np.zeros((H, W), bool)
    mask[2:6, 3:9] = True
    ann = {"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": int(mask.sum()),
           "bbox": [3, 2, 6, 4], "segmentation": encode_rle(mask)}  # fmt: skip
    return coco_dict((H, W), [ann])


def test_benchmark_mode_records_resize_pred_in_its_cos_scores(tmp_path: Path) -> None:
    from pmgsam.evaluation.benchmark_cos import score_cos_split

    # The map at twice the GT's size, each pixel a 2 x 2 block: --resize-pred gives it back.
    mask = np.zeros((H, W), np.uint8)
    mask[2:6, 3:9] = 255
    (tmp_path / "pred").mkdir()
    cv2.imwrite(str(tmp_path / "pred" / "a.png"), np.kron(mask, np.ones((2, 2), np.uint8)))
    args = SimpleNamespace(threshold=0.5, min_area=0, protocol="all", resize_pred=True, quiet=True)
    out = tmp_path / "metrics" / "Test.json"
    scores = score_cos_split(args, _gt(), tmp_path / "pred", out)
    assert scores["resize_pred"] is True and scores["AP"] == pytest.approx(1.0, abs=1e-12)
    assert json.loads(out.read_text())["resize_pred"] is True  # and in metrics/<split>.json


def test_baseline_mode_records_that_its_instances_were_not_resized(tmp_path: Path) -> None:
    from pmgsam.baselines.row_scores import score_instances

    inst = np.zeros((H, W), np.uint8)
    inst[2:6, 3:9] = 1
    rle = mask_utils.encode(np.asfortranarray(inst))
    rle["counts"] = rle["counts"].decode()
    found = [{"image_id": 1, "category_id": 1, "segmentation": rle, "score": 0.9}]
    (tmp_path / "metrics").mkdir()
    scores = score_instances(tmp_path, "Test", _gt(), found, "test")
    assert scores["resize_pred"] is False and scores["AP"] == pytest.approx(1.0, abs=1e-12)
