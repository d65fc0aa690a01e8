"""Class-agnostic COS AP counts every instance, whatever the file's ``categories`` list says.

COCOeval gathers GT and detections over ``params.catIds`` even with ``useCats = 0``, and takes
those ids from the GT file's ``categories``: a GT instance of an unlisted category was dropped
from the score (AP rose), an empty list scored -1, and results carrying an unlisted id (the
baselines write category 1) were never matched.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from pmgsam.evaluation.coco_gt import load_coco
from pmgsam.evaluation.instances import coco_map, evaluate_cos_folder
from pmgsam.evaluation.scoring import EvaluationInputError
from pmgsam.utils.rle import encode_rle

H, W = 40, 50
# Two GT instances, the prediction finds the first exactly and nothing else: every IoU
# threshold sees recall 1/2 at precision 1, so AP = AP50 = AP75 = 51/101 (COCO's 101 recall
# points 0, 0.01, ..., 0.5 reached, 0.51 ... 1 not).
HALF_FOUND = 51 / 101


def _rect(y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    m = np.zeros((H, W), bool)
    m[y0:y1, x0:x1] = True
    return m


FOUND, MISSED = _rect(2, 12, 2, 12), _rect(20, 35, 25, 45)


def _gt(categories: list, missed_category: int) -> dict:
    anns = [(FOUND, 1), (MISSED, missed_category)]
    return {
        "images": [{"id": 3, "file_name": "k.jpg", "height": H, "width": W}],
        "annotations": [
            {"id": i + 1, "image_id": 3, "category_id": c, "segmentation": encode_rle(m)}
            for i, (m, c) in enumerate(anns)
        ],
        "categories": categories,
    }


@pytest.mark.parametrize(
    "categories, missed_category",
    [
        ([{"id": 1, "name": "fish"}, {"id": 2, "name": "crab"}], 2),  # the reference case
        ([{"id": 1, "name": "fish"}], 2),  # the missed instance's category is not listed
        ([], 1),  # no category listed at all
    ],
)
def test_every_gt_instance_counts_whatever_the_categories_list(
    tmp_path: Path, categories: list, missed_category: int
) -> None:
    (tmp_path / "pred").mkdir()
    cv2.imwrite(str(tmp_path / "pred" / "k.png"), FOUND.astype(np.uint8) * 255)
    gt_json = tmp_path / "gt.json"
    gt_json.write_text(json.dumps(_gt(categories, missed_category)))
    res = evaluate_cos_folder(tmp_path / "pred", gt_json, progress=False)
    assert [res["AP"], res["AP50"], res["AP75"]] == pytest.approx([HALF_FOUND] * 3, abs=1e-12)


def test_results_of_a_category_the_gt_does_not_list_are_matched() -> None:
    # The baselines submit every mask as category 1; COD10K-style files number theirs freely.
    gt = _gt([{"id": 7, "name": "fish"}, {"id": 9, "name": "crab"}], 9)
    gt["annotations"][0]["category_id"] = 7
    found = {"image_id": 3, "category_id": 1, "segmentation": encode_rle(FOUND), "score": 0.9}
    scores = coco_map(load_coco(gt), [found])
    assert scores["AP"] == pytest.approx(HALF_FOUND, abs=1e-12)


@pytest.mark.parametrize(
    "category, message",
    [
        ({"id": "1", "name": "fish"}, r"categories\[1\]: id '1' is not an integer"),
        ({"name": "fish"}, r"categories\[1\] needs an integer 'id'"),
        ("fish", r"categories\[1\] needs an integer 'id'"),
    ],
)
def test_a_category_without_an_integer_id_is_named(
    tmp_path: Path, category: object, message: str
) -> None:
    # pycocotools indexes categories by id: a KeyError inside it, or a TypeError sorting ids.
    gt_json = tmp_path / "gt.json"
    gt_json.write_text(json.dumps(_gt([{"id": 1, "name": "crab"}, category], 1)))
    with pytest.raises(EvaluationInputError, match=rf"gt\.json': {message}"):
        evaluate_cos_folder(tmp_path, gt_json, progress=False)
