"""Mutation-audit tests for the numbers of the DIS and COS evaluation: the per-image side-file
values, the HCE total, and a COCO GT that can only score -1.

Expected values come from PySODMetrics, pycocotools, the faithful port of the official HCE tool
in tests/test_hce.py, or a hand derivation shown next to the case.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
from mask_cases import coco_annotation, make_pair, pysod_scores
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from skimage.morphology import skeletonize
from test_hce import ref_relax_hce

from pmgsam.evaluation.coco_gt import load_coco
from pmgsam.evaluation.dis_metrics import aggregate, image_metrics
from pmgsam.evaluation.hce import hce_counts
from pmgsam.evaluation.scoring import EvaluationInputError


def test_per_image_row_equals_pysodmetrics_on_that_image_alone():
    # The side file's per-image maxFm / meanEm are the max / mean of that image's own curves,
    # i.e. PySODMetrics run on the one image (a mean curve value or a max E would differ).
    pairs = [make_pair(40 + 9 * s, 50 - 5 * s, 20 + s) for s in range(3)]
    for pred, gt in pairs:
        row = image_metrics(pred, gt, name="x", with_hce=False).row()
        ref = pysod_scores([(pred, gt)])
        assert row["name"] == "x"
        for key, val in ref.items():
            assert abs(row[key] - val) <= 1e-9, (key, row[key], val)


def _fn_hole() -> tuple:
    """GT: a 50x50 square; prediction: the same square with a 20x20 hole off the skeleton."""
    gt = np.zeros((60, 60), np.uint8)
    gt[5:55, 5:55] = 255
    pred = gt.copy()
    pred[8:22, 8:22] = 0
    return pred, gt


def test_hce_total_counts_an_enclosed_missed_region():
    # By hand: no FP at all; the hole is FN wider than the 5-step relaxation, enclosed by TP on
    # every side, so none of its boundary touches "neither TP nor FP nor FN" (no control
    # points) and it is one independent FN region. HCE = 0 + 0 + 0 + 1.
    pred, gt = _fn_hole()
    assert ref_relax_hce(gt, pred, skeletonize(gt > 128)) == (0, 0, 0, 1)
    m = image_metrics(pred, gt, with_hce=True)
    assert m.hce.fn_indep == 1
    assert m.hce.total == 1
    assert m.row()["HCE"] == 1
    assert aggregate([m])["HCE"] == 1.0


def test_hce_total_is_the_sum_of_the_official_terms():
    hole, square = _fn_hole()
    gt = np.zeros((80, 80), np.uint8)
    gt[:60, :60] = square
    pred = np.zeros_like(gt)
    pred[:60, :60] = hole
    pred[20:40, 50:70] = 255  # an FP bump sticking out of the GT square
    pred[60:75, 60:75] = 255  # an FP blob on its own
    ref = ref_relax_hce(gt, pred, skeletonize(gt > 128))
    assert ref == (2, 1, 0, 1)  # FP points, FP region, FN region: every kind of term
    assert image_metrics(pred, gt).hce.total == sum(ref)


@pytest.mark.parametrize("overlap", [0, 15])
def test_hce_fn_relaxation_erodes_the_union_not_the_gt(overlap: int):
    # The GT and the prediction are side by side (or overlap): FN pixels next to the FP lie
    # deep inside GT | prediction but near the GT's edge. The official tool erodes the union,
    # so their boundary is relaxed differently from eroding the GT alone.
    gt = np.zeros((40, 60), np.uint8)
    gt[5:35, 5 : 30 + overlap] = 255
    pred = np.zeros_like(gt)
    pred[5:35, 30:55] = 255
    r = hce_counts(pred, gt)
    got = (r.fp_points, r.fp_indep, r.fn_points, r.fn_indep)
    assert got == ref_relax_hce(gt, pred, skeletonize(gt > 128))


def _crowd_only_gt() -> dict:
    mask = np.zeros((16, 16), bool)
    mask[4:10, 4:10] = True
    return {
        "images": [{"id": 1, "file_name": "a.png", "height": 16, "width": 16}],
        "categories": [{"id": 1, "name": "object"}],
        "annotations": [coco_annotation(1, 1, mask, iscrowd=1)],
    }


def test_gt_with_only_crowd_regions_is_refused_as_pycocotools_would_score_minus_one():
    data = _crowd_only_gt()
    # pycocotools itself: crowd regions are ignored, so there is no GT instance and AP = -1.
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = data
        gt.createIndex()
        ann = dict(data["annotations"][0], score=0.9, iscrowd=0, id=1)
        ev = COCOeval(gt, gt.loadRes([ann]), iouType="segm")
        ev.params.useCats = 0
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    assert ev.stats[0] == -1
    with pytest.raises(EvaluationInputError, match="no \\(non-crowd\\) annotations"):
        load_coco(_crowd_only_gt(), require_instances=True)
    load_coco(_crowd_only_gt())  # fine where no score is asked for


def test_dim_prediction_starting_at_zero_is_still_min_max_normalised():
    # PySODMetrics rescales every prediction to [0, 1] by its own min and max; a map holding
    # 0..200 (min 0, max below 255) must be stretched too, not read as 0..200/255.
    p, gt = make_pair(48, 40, 7)
    pred = (p.astype(np.float64) * (200 / 255)).astype(np.uint8)
    assert (int(pred.min()), int(pred.max())) == (0, 200)
    ref = pysod_scores([(pred, gt)])
    got = aggregate([image_metrics(pred, gt, with_hce=False)])
    for key, val in ref.items():
        assert abs(got[key] - val) <= 1e-9, (key, got[key], val)
