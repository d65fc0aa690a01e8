"""Weighted F-measure after its in-place rework: the smallest background errors a uint8 map
can carry (1/255, 2/255) are weighted like any other, and the caller's error array is restored
when the filter fails half-way (it is changed in place around the filter)."""

from __future__ import annotations

import cv2
import numpy as np
import py_sod_metrics as psm
import pytest

from pmgsam.evaluation import dis_metrics
from pmgsam.evaluation.dis_metrics import _wfm_from_error, image_metrics


def _faint_background_pair() -> tuple:
    # A confident map (background mostly exact 0: the sparse weight path) whose few
    # background errors are levels 1 and 2, the smallest non-zero errors there are.
    rng = np.random.default_rng(3)
    gt = np.zeros((60, 80), np.uint8)
    gt[15:40, 20:55] = 255
    gt[50, 10] = 255
    pred = np.where(gt > 0, 255, 0).astype(np.uint8)
    faint = (rng.random(gt.shape) < 0.1) & (gt == 0)
    pred[faint] = rng.integers(1, 3, gt.shape)[faint]
    return pred, gt


def test_faint_background_errors_weighted_as_pysodmetrics():
    pred, gt = _faint_background_pair()
    ref = psm.WeightedFmeasure()
    ref.step(pred=pred, gt=gt)
    expected = ref.get_results()["wfm"]
    # Ignoring the faint errors (a threshold instead of != 0) scores a perfect 1.0.
    assert expected < 0.999
    got = image_metrics(pred, gt, with_hce=False).wfm
    assert abs(got - expected) <= 1e-12, (got, expected)


def test_error_restored_when_the_filter_fails(monkeypatch: pytest.MonkeyPatch):
    pred, gt = _faint_background_pair()
    gt_b = gt > 128
    err = np.abs(pred / 255.0 - gt_b)
    before = err.copy()

    def failing_filter(*args, **kwargs):
        raise MemoryError("no room for the filtered map")

    monkeypatch.setattr(dis_metrics.cv2, "sepFilter2D", failing_filter)
    with pytest.raises(MemoryError, match="no room"):
        _wfm_from_error(err, gt_b)
    # The band around the GT took its nearest GT pixel's error for the filter: put back.
    np.testing.assert_array_equal(err, before)
    monkeypatch.undo()
    assert cv2.sepFilter2D is not failing_filter
    assert _wfm_from_error(err, gt_b) == image_metrics(pred, gt, with_hce=False).wfm
