"""A COCO GT's ``iscrowd`` and ``area`` fields, which pycocotools reads without checking them: a
value that would leave an instance out of AP without a word is one error naming it, on both
COS scoring paths (``--gt-json`` and the GT benchmark mode builds from a dataset's file)."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any, Dict

import cv2
import numpy as np
import pytest
from mask_cases import coco_dict
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from pmgsam.data.instance_labels import InstanceSource, coco_ground_truth
from pmgsam.data.io import DataError
from pmgsam.evaluation.instances import evaluate_cos_folder
from pmgsam.evaluation.scoring import EvaluationInputError

H, W = 20, 20


def _rle(mask: np.ndarray) -> Dict[str, Any]:
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return dict(rle, counts=rle["counts"].decode("ascii"))


def _square(y: int, x: int) -> np.ndarray:
    m = np.zeros((H, W), bool)
    m[y : y + 6, x : x + 6] = True
    return m


def _setup(tmp_path: Path, **second: Any) -> Path:
    """One image with two GT objects, the second updated with ``second``; the map finds only
    the first (a binary map: its instance scores 1)."""
    found, missed = _square(1, 1), _square(12, 12)
    anns = [
        {"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "segmentation": _rle(found)},
        {"id": 2, "image_id": 1, "category_id": 1, "iscrowd": 0, "segmentation": _rle(missed)},
    ]
    anns[1].update(second)
    gt_json = tmp_path / "gt.json"
    gt_json.write_text(json.dumps(coco_dict((H, W), anns)))
    (tmp_path / "pred").mkdir()
    cv2.imwrite(str(tmp_path / "pred" / "a.png"), found.astype(np.uint8) * 255)
    return gt_json


def _ap(tmp_path: Path, gt: Any) -> float:
    return evaluate_cos_folder(tmp_path / "pred", gt, progress=False)["AP"]


# By hand: one hit of two GT objects, precision 1 up to recall 0.5 at every IoU threshold, so
# COCO's 101-point AP is 51/101. With the second object left out (crowd, or an area outside
# COCOeval's range) it would read 1.
ONE_OF_TWO = 51 / 101


@pytest.mark.parametrize("flag", [0, 0.0, False, None])
def test_a_not_crowd_flag_counts_the_instance(tmp_path: Path, flag: Any) -> None:
    assert _ap(tmp_path, _setup(tmp_path, iscrowd=flag)) == pytest.approx(ONE_OF_TWO)


@pytest.mark.parametrize("flag", ["0", 2, -1, "false"])
def test_an_iscrowd_other_than_0_or_1_is_refused_naming_it(tmp_path: Path, flag: Any) -> None:
    # pycocotools takes any truthy value ("0" included) for a crowd region: AP 1, not 51/101.
    gt_json = _setup(tmp_path, iscrowd=flag)
    with pytest.raises(EvaluationInputError) as err:
        _ap(tmp_path, gt_json)
    message = str(err.value)
    assert str(gt_json) in message and "annotations[1] (id 2" in message
    assert f"iscrowd {flag!r} is not 0 or 1" in message


@pytest.mark.parametrize("area", [-1.0, 1e11, "36", float("nan"), True])
def test_an_area_outside_cocoevals_range_is_refused_naming_it(tmp_path: Path, area: Any) -> None:
    # COCOeval ignores a GT whose area is outside [0, 1e10] (AP 1 here, not 51/101) and fails
    # with a TypeError on a string.
    gt_json = _setup(tmp_path)
    data = json.loads(gt_json.read_text())
    data["annotations"][1]["area"] = area  # json.dumps writes NaN, which json.loads reads back
    gt_json.write_text(json.dumps(data))
    with pytest.raises(EvaluationInputError) as err:
        _ap(tmp_path, gt_json)
    message = str(err.value)
    assert str(gt_json) in message and "annotations[1] (id 2" in message
    assert f"area {area!r} is not a number from 0 to 1e+10" in message


def test_a_given_area_in_range_is_kept(tmp_path: Path) -> None:
    # Only the small/medium/large stats read the area; AP over 'all' stays 51/101.
    assert _ap(tmp_path, _setup(tmp_path, area=0)) == pytest.approx(ONE_OF_TWO)
    gt_json = tmp_path / "gt.json"
    assert json.loads(gt_json.read_text())["annotations"][1]["area"] == 0


def test_the_benchmark_gt_refuses_a_string_iscrowd_too(tmp_path: Path) -> None:
    gt_json = _setup(tmp_path, iscrowd="0")
    image = tmp_path / "a.jpg"
    cv2.imwrite(str(image), np.full((H, W, 3), 90, np.uint8))
    with pytest.raises(DataError, match=r"annotation 2 of a\.jpg: iscrowd '0' is not 0 or 1"):
        coco_ground_truth([image], ["a"], InstanceSource("json", gt_json), "t")
    ok = _setup_again(tmp_path, gt_json, iscrowd=1)
    built = coco_ground_truth([image], ["a"], InstanceSource("json", ok), "t")
    assert [a["iscrowd"] for a in built["annotations"]] == [0, 1]


def _setup_again(tmp_path: Path, gt_json: Path, **second: Any) -> Path:
    data = json.loads(gt_json.read_text())
    data["annotations"][1].update(second)
    out = tmp_path / "gt_ok.json"
    out.write_text(json.dumps(data))
    return out


def test_a_gt_instance_without_pixels_counts_on_both_paths(tmp_path: Path) -> None:
    # Three collinear points enclose nothing: pycocotools scoring the file counts the instance
    # as a GT object that can only be missed (51/101); benchmark mode's GT must keep it too.
    gt_json = _setup(tmp_path, segmentation=[[1, 1, 5, 1, 9, 1]], area=0)
    image = tmp_path / "a.jpg"
    cv2.imwrite(str(image), np.full((H, W, 3), 90, np.uint8))
    built = coco_ground_truth([image], ["a"], InstanceSource("json", gt_json), "t")
    assert [a["area"] for a in built["annotations"]] == [36.0, 0.0]
    assert _ap(tmp_path, gt_json) == pytest.approx(ONE_OF_TWO)
    assert _ap(tmp_path, built) == pytest.approx(ONE_OF_TWO)
    data = json.loads(gt_json.read_text())
    data["annotations"][0]["area"] = 36  # pycocotools alone needs every area
    gt_json.write_text(json.dumps(data))
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools alone, on the file
        coco = COCO(str(gt_json))
        result = {"image_id": 1, "category_id": 1, "segmentation": _rle(_square(1, 1))}
        ev = COCOeval(coco, coco.loadRes([dict(result, score=1.0)]), iouType="segm")
        ev.params.useCats = 0
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    assert ev.stats[0] == pytest.approx(ONE_OF_TWO)


@pytest.mark.parametrize("area", [1e10, 12.5])
def test_an_area_at_cocoevals_upper_bound_or_fractional_is_kept_as_given(
    tmp_path: Path, area: float
) -> None:
    # COCOeval ignores a GT only for area < 0 or area > 1e10 (its 'all' range is [0, 1e5**2],
    # both ends in): 1e10 counts, so the AP stays 51/101. A fractional area (a polygon's
    # shoelace area) is kept as the number given, not rounded.
    from pmgsam.evaluation.coco_gt import checked_coco_dict

    gt_json = _setup(tmp_path)
    data = json.loads(gt_json.read_text())
    data["annotations"][1]["area"] = area
    gt_json.write_text(json.dumps(data))
    assert _ap(tmp_path, gt_json) == pytest.approx(ONE_OF_TWO)
    checked = checked_coco_dict(data, str(gt_json))
    assert checked["annotations"][1]["area"] == area


def test_a_missing_area_is_the_masks_pixel_count(tmp_path: Path) -> None:
    # COCOeval's small/medium/large APs (the recorded 'stats') bin GT by this area: the
    # missed object is a 6x6 square, 36 pixels.
    from pmgsam.evaluation.coco_gt import checked_coco_dict

    gt_json = _setup(tmp_path)
    data = json.loads(gt_json.read_text())
    assert "area" not in data["annotations"][1]
    checked = checked_coco_dict(data, str(gt_json))
    assert [a["area"] for a in checked["annotations"]] == [36.0, 36.0]
