"""DIS metrics (max F, weighted F, MAE, S-measure, mean E) equal PySODMetrics per image and
aggregated, edge cases included (HCE: tests/test_hce.py)."""

from __future__ import annotations

import warnings

import numpy as np
import py_sod_metrics as psm
import pytest
from mask_cases import blob_scene, make_pair, pysod_scores

from pmgsam.evaluation.dis_metrics import (
    ImageMetrics,
    aggregate,
    image_metrics,
    normalisation_lut,
    s_measure_and_mae,
)
from pmgsam.evaluation.hce import HCEResult
from pmgsam.evaluation.smeasure import s_measure


def _cases() -> list:
    pairs = [make_pair(150 + 13 * s, 190 - 7 * s, s) for s in range(5)]
    p0, g0 = pairs[0]
    h, w = g0.shape
    binary = ((p0 > 128) * 255).astype(np.uint8)
    pairs += [
        (binary, g0),  # binary prediction
        (p0, np.zeros_like(g0)),  # empty GT
        (np.zeros_like(p0), g0),  # empty prediction
        (p0, np.full_like(g0, 255)),  # full-image GT
        (np.full((h, w), 77, np.uint8), g0),  # constant prediction (no min-max)
        (g0.copy(), g0),  # perfect
    ]
    return pairs


def test_equal_to_pysodmetrics_per_image_and_aggregated():
    pairs = _cases()
    ours = [image_metrics(p, g, with_hce=False) for p, g in pairs]
    for (p, g), m in zip(pairs, ours):
        ref = pysod_scores([(p, g)])
        got = aggregate([m])
        for key, val in ref.items():
            assert abs(got[key] - val) <= 1e-9, (key, got[key], val)
    ref = pysod_scores(pairs)
    got = aggregate(ours)
    assert got["num_images"] == len(pairs)
    for key, val in ref.items():
        assert abs(got[key] - val) <= 1e-9, (key, got[key], val)


def _two_blob_scene(level: int) -> tuple:
    """GT blobs in the top-left and bottom-right corners: the centroid sits between them, so the
    top-right and bottom-left S-measure quadrants are all background, where the prediction is the
    constant ``level`` (the blobs themselves are predicted 255; one 0 pixel fixes the min)."""
    gt = np.zeros((20, 24), np.uint8)
    gt[2:8, 2:10] = 255
    gt[12:18, 14:22] = 255
    pred = np.where(gt > 0, 255, level).astype(np.uint8)
    pred[0, 0] = 0
    return pred, gt


@pytest.mark.parametrize("level", [0, 1, 5])
def test_smeasure_constant_quadrants_equal_pysodmetrics(level: int):
    # A constant prediction over a constant GT quadrant scores 1 when the variances are exactly 0
    # and 0 otherwise. Level 0 is exactly 0 (score 1); for levels 1 and 5 PySODMetrics' own float
    # mean over at least one constant quadrant is inexact, so it scores 0 there and so must we.
    pred, gt = _two_blob_scene(level)
    ref = psm.Smeasure()
    ref.step(pred, gt)
    got = image_metrics(pred, gt, with_hce=False).sm
    assert abs(got - ref.get_results()["sm"]) <= 1e-12


def test_smeasure_alpha_argument_equals_pysodmetrics():
    # image_metrics always uses alpha = 0.5, where alpha and 1 - alpha coincide; another alpha
    # shows whether the object and region terms get the right weights.
    pred, gt = make_pair(50, 64, 4)
    gt_b = gt > 128
    ref = psm.Smeasure(alpha=0.8)
    ref.step(pred, gt)
    got = s_measure(pred, gt_b, normalisation_lut(pred), alpha=0.8)
    assert abs(got - ref.get_results()["sm"]) <= 1e-12


def test_smeasure_of_inverted_prediction_is_clamped_to_zero():
    # Prediction 0 on the object and 1 on the background: both object terms are 0 and every
    # quadrant is perfectly anti-correlated (negative SSIM), so the raw score is negative and the
    # S-measure is clamped to 0.
    gt = blob_scene()
    pred = 255 - gt
    ref = psm.Smeasure()
    ref.step(pred, gt)
    assert ref.get_results()["sm"] == 0.0
    assert image_metrics(pred, gt, with_hce=False).sm == 0.0


def test_smeasure_nan_when_centroid_on_last_row_like_pysodmetrics():
    # Foreground only on the last row: the centroid row + 1 equals the height, the bottom
    # quadrants are empty and PySODMetrics' mean over them is NaN. We keep that NaN rather than
    # silently scoring 0 (Python's max(0.0, nan) would return 0.0).
    gt = np.zeros((12, 16), np.uint8)
    gt[11, 3:9] = 255
    pred, _ = make_pair(12, 16, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numpy's empty-slice warnings inside PySODMetrics
        ref = psm.Smeasure()
        ref.step(pred, gt)
        ours = image_metrics(pred, gt, with_hce=False).sm
    assert np.isnan(ref.get_results()["sm"])
    assert np.isnan(ours)


def test_aggregate_hce_is_none_unless_every_image_has_it():
    # A dataset HCE averaged over a subset of the images would not be comparable with a full
    # run, so it is reported as missing instead.
    p, g = make_pair(40, 50, 3)
    with_h = image_metrics(p, g, name="a")
    without = image_metrics(p, g, name="b", with_hce=False)
    assert aggregate([with_h, with_h])["HCE"] == float(with_h.hce.total)
    assert aggregate([with_h, without])["HCE"] is None
    # By hand: totals 1 + 2 + 3 + 4 = 10 and 0 + 1 + 0 + 2 = 3, so the dataset HCE is 6.5
    # (a sum gives 13; the mean of one term, e.g. fp_points, 0.5).
    curve = np.linspace(0, 1, 256)
    terms = [HCEResult(1, 2, 3, 4), HCEResult(0, 1, 0, 2)]
    hand = [ImageMetrics("c", curve, curve, 0.1, 0.5, 0.5, hce=h) for h in terms]
    assert aggregate(hand)["HCE"] == 6.5


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


def test_image_metrics_refuse_non_uint8_or_unequal_maps_and_aggregate_needs_images():
    # A float 0-1 map read as 0-255 levels would score as nearly black: refused, not scored.
    gt = np.zeros((4, 5), np.uint8)
    with pytest.raises(TypeError, match="must be uint8 0-255 maps, got float32 and uint8"):
        image_metrics(np.zeros((4, 5), np.float32), gt)
    with pytest.raises(ValueError, match=r"pred \(5, 4\) and gt \(4, 5\) must be equal 2D"):
        image_metrics(np.zeros((5, 4), np.uint8), gt)
    # Equal shapes, but RGB: no DIS metric reads three channels (an unclear unpacking error).
    rgb = np.zeros((4, 5, 3), np.uint8)
    with pytest.raises(ValueError, match=r"pred \(4, 5, 3\) and gt \(4, 5, 3\) must be equal 2D"):
        image_metrics(rgb, rgb)
    with pytest.raises(ValueError, match="no images to aggregate"):
        aggregate([])


def test_s_measure_and_mae_read_a_grey_gt_as_pysodmetrics_does():
    # GT levels 128 (background, "> 128") and 129 (foreground) next to 0/255, and a prediction
    # not spanning 0..255: both the GT rule and the min-max stretch matter.
    p, gt = make_pair(60, 70, 11)
    pred = (37 + p.astype(np.float64) * (164 / 255)).astype(np.uint8)
    gt = gt.copy()
    gt[5:20, 5:30] = 128
    gt[40:55, 30:60] = 129
    ref = pysod_scores([(pred, gt)])
    sm, mae = s_measure_and_mae(pred, gt)
    assert abs(sm - ref["Smeasure"]) <= 1e-12 and abs(mae - ref["MAE"]) <= 1e-12


def test_per_image_row_names_each_official_hce_term():
    # Distinct values per term: a swapped pair of columns in the side file would show.
    hce = HCEResult(fp_points=1, fp_indep=2, fn_points=30, fn_indep=400)
    curve = np.linspace(0, 1, 256)
    row = ImageMetrics("a", curve, curve[::-1], mae=0.1, sm=0.2, wfm=0.3, hce=hce).row()
    assert (row["HCE_fp_points"], row["HCE_fp_indep"]) == (1, 2)
    assert (row["HCE_fn_points"], row["HCE_fn_indep"]) == (30, 400)
    assert row["HCE"] == 433
