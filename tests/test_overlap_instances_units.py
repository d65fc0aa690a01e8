"""The overlap subset of a run scored from its instances (:mod:`pmgsam.analysis.overlap_instances`)
on cases a near miss gets wrong: a crowd region counted as a GT instance, and a results file or
the GT beside it gone (the error says to score the run again, not only that a file is missing).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from mask_cases import coco_dict

from pmgsam.analysis.overlap_instances import recorded_instances, score_subset_instances
from pmgsam.evaluation.scoring import EvaluationInputError
from pmgsam.utils.rle import encode_rle

H, W = 8, 8


def _rle(rows: slice, cols: slice) -> dict:
    mask = np.zeros((H, W), bool)
    mask[rows, cols] = True
    return encode_rle(mask)


def _ann(ann_id: int, image_id: int, rle: dict, crowd: int = 0) -> dict:
    return {"id": ann_id, "image_id": image_id, "category_id": 1, "iscrowd": crowd,
            "segmentation": rle, "area": 1.0}  # fmt: skip


@pytest.fixture
def run(tmp_path):
    """A run whose instances were scored against a GT numbering a.jpg 7 and b.jpg 8."""
    metrics = tmp_path / "run" / "metrics"
    metrics.mkdir(parents=True)
    named = ((7, "a.jpg"), (8, "b.jpg"))
    images = [{"id": i, "file_name": n, "height": H, "width": W} for i, n in named]
    (metrics / "Test.gt.json").write_text(json.dumps({"images": images}))
    results = [
        {"image_id": 7, "category_id": 1, "segmentation": _rle(slice(0, 4), slice(0, 4)),
         "score": 0.9},
        {"image_id": 8, "category_id": 1, "segmentation": _rle(slice(4, 8), slice(4, 8)),
         "score": 0.8},
    ]  # fmt: skip
    (metrics / "Test.results.json").write_text(json.dumps(results))
    return tmp_path / "run"


def test_a_crowd_region_of_the_subset_is_no_gt_instance(run):
    # The subset holds a.jpg (id 1 here): one object, found exactly, and a crowd region.
    anns = [_ann(1, 1, _rle(slice(0, 4), slice(0, 4))),
            _ann(2, 1, _rle(slice(5, 8), slice(0, 8)), crowd=1)]  # fmt: skip
    subset = coco_dict((H, W), anns)
    recorded = {"protocol": "all", "source": "sam-auto"}
    scores = score_subset_instances(run / "metrics" / "Test.results.json", subset, recorded)
    assert scores["AP"] == pytest.approx(1.0)
    assert (scores["num_gt_instances"], scores["num_results"], scores["num_images"]) == (1, 1, 1)


def test_a_missing_results_file_or_its_gt_says_to_score_the_run_again(run):
    cos = {"TOY": {"results_file": "Test.results.json", "source": "sam-auto"}}
    results = run / "metrics" / "Test.results.json"
    assert recorded_instances(str(run), "TOY", cos, None) == results
    (run / "metrics" / "Test.gt.json").unlink()
    with pytest.raises(
        EvaluationInputError,
        match=r"Test\.gt\.json', the GT the instances of "
        r"'.*Test\.results\.json' were scored against, is missing: score the run",
    ):
        score_subset_instances(results, {"images": [], "annotations": []}, {})  # fmt: skip
    results.unlink()
    with pytest.raises(
        EvaluationInputError,
        match=r"Test\.results\.json' \(sam-auto\), which is "
        "missing: score the run again",
    ):
        recorded_instances(str(run), "TOY", cos, None)  # fmt: skip
