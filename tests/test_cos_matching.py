"""COS instances, image by image: connected-component splitting of a probability map, the
Hungarian matching of predictions to GT instances and the results each protocol submits. The
folder-level AP against pycocotools is test_cos.py's."""

from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from pmgsam.evaluation.instances import (
    Instance,
    encode_rle,
    hungarian_match,
    image_results,
    split_instances,
)

H, W = 80, 100


def _rect(y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    m = np.zeros((H, W), bool)
    m[y0:y1, x0:x1] = True
    return m


def test_split_instances_8_connectivity_min_area_and_score():
    prob = np.zeros((H, W), np.uint8)
    prob[10:20, 10:20] = 200
    prob[20:30, 20:30] = 100  # touches the first square only at a corner -> same instance
    prob[50:52, 50:52] = 255  # 4 pixels
    prob[60:70, 60:70] = 127  # 127/255 < 0.5 -> background
    insts = split_instances(prob)
    assert len(insts) == 2
    assert insts[0].mask.sum() == 100 and insts[0].score == pytest.approx(200 / 255)
    assert insts[1].mask.sum() == 4
    assert len(split_instances(prob, min_area=5)) == 1


def test_hungarian_is_one_to_one_and_drops_zero_iou():
    a, b, c = _rect(0, 10, 0, 10), _rect(0, 10, 5, 15), _rect(50, 60, 50, 60)
    pairs = hungarian_match([encode_rle(a), encode_rle(c)], [encode_rle(b), encode_rle(a)])
    assert pairs == [(0, 1, 1.0)]  # a<->a; c overlaps nothing and stays unmatched


def test_hungarian_beats_greedy_where_they_differ():
    # Columns of a 10-row strip: G0 = [0, 10), G1 = [10, 20); P0 = [3, 15), P1 = [0, 2).
    # IoU by hand: P0-G0 = 70/150, P0-G1 = 50/170, P1-G0 = 20/100, P1-G1 = 0.
    # Greedy (best pair first, or predictions in order) takes P0-G0 and leaves P1 with
    # nothing: total 0.467. The optimal assignment P0-G1 + P1-G0 totals 0.494.
    g0, g1 = _rect(0, 10, 0, 10), _rect(0, 10, 10, 20)
    p0, p1 = _rect(0, 10, 3, 15), _rect(0, 10, 0, 2)
    pairs = hungarian_match([encode_rle(p0), encode_rle(p1)], [encode_rle(g0), encode_rle(g1)])
    assert sorted((p, g) for p, g, _ in pairs) == [(0, 1), (1, 0)]
    ious = {(p, g): iou for p, g, iou in pairs}
    assert ious[(0, 1)] == pytest.approx(50 / 170, abs=1e-12)
    assert ious[(1, 0)] == pytest.approx(20 / 100, abs=1e-12)


# --- cases found by mutation testing: each pins a rule the tests above never exercised ---
def test_split_instances_corner_touching_squares_are_one_instance():
    # Both squares are above the threshold and touch only at a corner: one 8-connected
    # component (200 px), where 4-connectivity would give two of 100 px.
    prob = np.zeros((H, W), np.uint8)
    prob[10:20, 10:20] = 200
    prob[20:30, 20:30] = 180
    assert [int(i.mask.sum()) for i in split_instances(prob)] == [200]


def test_split_instances_threshold_is_strict_and_min_area_inclusive():
    prob = np.zeros((H, W), np.float64)
    prob[5:10, 5:10] = 0.5  # exactly at the threshold: background ("strictly above")
    prob[30:32, 30:33] = 0.9  # 6 px: kept when min_area is 6 ("fewer pixels are dropped")
    insts = split_instances(prob, min_area=6)
    assert [int(i.mask.sum()) for i in insts] == [6]


def test_split_instances_score_is_the_mean_probability():
    prob = np.zeros((H, W), np.uint8)
    prob[10:20, 10:15] = 200
    prob[10:20, 15:20] = 255
    (inst,) = split_instances(prob)
    assert inst.score == pytest.approx((200 + 255) / 2 / 255, abs=1e-12)


def test_matched_protocol_submits_the_matched_prediction_not_the_gt_index():
    # Predictions sorted largest first: index 0 is a large false positive, index 1 overlaps the
    # only GT (index 0). The matched protocol keeps prediction 1.
    fp, tp = _rect(40, 70, 40, 90), _rect(5, 15, 5, 15)
    insts = [Instance(mask=fp, score=0.9), Instance(mask=tp, score=0.8)]
    out = image_results(3, insts, [encode_rle(_rect(5, 15, 5, 16))], 1, protocol="matched")
    assert len(out) == 1 and out[0]["score"] == 0.8
    assert out[0]["segmentation"] == encode_rle(tp)
    rle = dict(out[0]["segmentation"], counts=out[0]["segmentation"]["counts"].encode())
    assert np.array_equal(mask_utils.decode(rle).astype(bool), tp)  # pycocotools reads it back


def test_matched_protocol_submits_nothing_for_an_image_without_gt_instances():
    # No GT to be matched to: every prediction is unmatched, while "all" submits both.
    insts = [Instance(mask=_rect(5, 15, 5, 15), score=0.8), Instance(_rect(40, 50, 40, 50), 0.5)]
    assert image_results(3, insts, [], 1, protocol="matched") == []
    assert [r["score"] for r in image_results(3, insts, [], 1, protocol="all")] == [0.8, 0.5]
    assert hungarian_match([], [encode_rle(_rect(5, 15, 5, 15))]) == []
    with pytest.raises(ValueError, match="protocol must be one of .*, got 'best'"):
        image_results(3, insts, [], 1, protocol="best")
