"""A precomputed GT skeleton given to HCE must be a boolean mask of the GT's shape: a (1, W)
array broadcast over every row, and a 0/1 array was read as skeleton where the official tool's
``ske > 128`` finds none."""

from __future__ import annotations

import numpy as np
import pytest

from pmgsam.evaluation.dis_metrics import image_metrics
from pmgsam.evaluation.hce import hce_counts


def _perfect() -> tuple:
    gt = np.zeros((30, 40), np.uint8)
    gt[5:25, 5:35] = 255
    return gt.copy(), gt


@pytest.mark.parametrize("shape", [(1, 40), (30, 1), (30, 41)])
def test_skeleton_of_another_shape_is_refused_naming_both_shapes(shape: tuple):
    pred, gt = _perfect()
    ske = np.ones(shape, bool)
    with pytest.raises(ValueError, match=rf"gt_skeleton shape \({shape[0]}, {shape[1]}\) differs "):
        hce_counts(pred, gt, ske)
    with pytest.raises(ValueError, match=r"from GT shape \(30, 40\)"):
        image_metrics(pred, gt, gt_skeleton=ske)


def test_skeleton_that_is_not_boolean_is_refused():
    pred, gt = _perfect()
    ske = np.zeros(gt.shape, np.uint8)
    ske[15, 10:30] = 1  # a 0/1 file: the official "ske > 128" reads no skeleton here
    with pytest.raises(TypeError, match="gt_skeleton must be a boolean mask .* got uint8"):
        hce_counts(pred, gt, ske)
    # As booleans (how scoring reads a ske/ file) it is accepted; a perfect prediction covers it.
    assert hce_counts(pred, gt, ske > 128).total == 0
    assert hce_counts(pred, gt, ske > 0).total == 0
