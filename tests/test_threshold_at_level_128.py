"""Level 128 of a saved 8-bit map: COS instances take it (threshold = probability 0.5, and
128/255 > 0.5), HCE leaves it out (the official DIS tool's ``> 128``). The two rules differ on
purpose (pmgsam/evaluation/instances.py docstring); these tests pin both at exactly 128."""

from __future__ import annotations

import numpy as np
from skimage.morphology import skeletonize
from test_hce import ref_relax_hce

from pmgsam.evaluation.hce import hce_counts
from pmgsam.evaluation.instances import split_instances


def _squares(levels: tuple) -> np.ndarray:
    """Three 12x12 squares, side by side, at the given prediction levels."""
    pred = np.zeros((30, 70), np.uint8)
    for k, level in enumerate(levels):
        pred[8:20, 6 + 22 * k : 18 + 22 * k] = level
    return pred


def test_cos_instances_take_level_128_and_not_127():
    insts = split_instances(_squares((127, 128, 129)))
    # The 127 square is background (127/255 < 0.5); the 128 and 129 squares are instances.
    assert [int(i.mask.sum()) for i in insts] == [144, 144]
    assert sorted(int(np.flatnonzero(i.mask.any(axis=0))[0]) for i in insts) == [28, 50]
    assert sorted(i.score for i in insts) == [128 / 255, 129 / 255]


def test_hce_reads_a_prediction_at_level_128_as_background():
    gt = _squares((255, 255, 255))
    pred = _squares((129, 128, 129))
    missed = _squares((129, 0, 129))  # the same prediction with the middle square left out
    got = hce_counts(pred, gt)
    assert got == hce_counts(missed, gt)
    assert got.total > 0 and hce_counts(_squares((129, 129, 129)), gt).total == 0
    # The faithful port of the official hce_metric_main.py gives the same terms.
    ref = ref_relax_hce(gt, pred, skeletonize(gt > 128))
    assert (got.fp_points, got.fp_indep, got.fn_points, got.fn_indep) == ref


def test_hce_reads_a_gt_at_level_128_as_background():
    pred = _squares((255, 255, 255))
    gt = _squares((255, 128, 255))
    got = hce_counts(pred, gt)
    assert got == hce_counts(pred, _squares((255, 0, 255)))
    ref = ref_relax_hce(gt, pred, skeletonize(gt > 128))
    assert (got.fp_points, got.fp_indep, got.fn_points, got.fn_indep) == ref
    assert got.fp_points + got.fp_indep > 0  # the 128 square is predicted but not GT
