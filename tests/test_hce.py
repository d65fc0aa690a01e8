"""Official DIS HCE: a faithful port of hce_metric_main.py as the reference, hand-derived cases,
the Zhang-Suen skeleton, and where HCE differs from PySODMetrics'."""

from __future__ import annotations

import cv2
import numpy as np
import py_sod_metrics as psm
import pytest
from mask_cases import blob_scene, make_pair, pysod_scores
from skimage.measure import label
from skimage.morphology import disk, skeletonize

from pmgsam.evaluation.dis_metrics import aggregate, image_metrics
from pmgsam.evaluation.hce import hce_counts, skeletonize_zhang


# --- faithful port of the official DIS hce_metric_main.py (reference; per-pixel loops kept) ---
def _ref_filter_bdy_cond(bdy_, mask, cond):
    cond = cv2.dilate(cond.astype(np.uint8), disk(1))
    labels = label(mask)
    indep = np.ones(np.unique(labels).shape[0])
    indep[0] = 0
    boundaries = []
    ind_map = np.zeros(cond.shape[:2])
    for i in range(len(bdy_)):
        tmp_bdies, tmp_bdy = [], []
        for j in range(bdy_[i].shape[0]):
            r, c = bdy_[i][j, 0, 1], bdy_[i][j, 0, 0]
            if np.sum(cond[r, c]) == 0 or ind_map[r, c] != 0:
                if len(tmp_bdy) > 0:
                    tmp_bdies.append(tmp_bdy)
                    tmp_bdy = []
                continue
            tmp_bdy.append([c, r])
            ind_map[r, c] = ind_map[r, c] + 1
            indep[labels[r, c]] = 0
        if len(tmp_bdy) > 0:
            tmp_bdies.append(tmp_bdy)
        if len(tmp_bdies) > 1:
            first_x, first_y = tmp_bdies[0][0]
            last_x, last_y = tmp_bdies[-1][-1]
            if (
                (abs(first_x - last_x) == 1 and first_y == last_y)
                or (first_x == last_x and abs(first_y - last_y) == 1)
                or (abs(first_x - last_x) == 1 and abs(first_y - last_y) == 1)
            ):
                tmp_bdies[-1].extend(tmp_bdies[0][::-1])
                del tmp_bdies[0]
        for k in range(len(tmp_bdies)):
            tmp_bdies[k] = np.array(tmp_bdies[k])[:, np.newaxis, :]
        boundaries.extend(tmp_bdies)
    return boundaries, np.sum(indep)


def ref_relax_hce(gt, rs, gt_ske, relax=5, epsilon=2.0):
    gt = (gt > 128).astype(np.uint8)
    rs = (rs > 128).astype(np.uint8)
    union = np.logical_or(gt, rs)
    tp = np.logical_and(gt, rs)
    fp = rs - tp
    fn = gt - tp
    union_erode = cv2.erode(union.astype(np.uint8), disk(1), iterations=relax)
    fp_ = np.logical_and(fp, union_erode)
    for _ in range(relax):
        fp_ = cv2.dilate(fp_.astype(np.uint8), disk(1))
        fp_ = np.logical_and(fp_, 1 - np.logical_or(tp, fn))
    fp_ = np.logical_and(fp, fp_)
    fn_ = np.logical_and(fn, union_erode)
    for _ in range(relax):
        fn_ = cv2.dilate(fn_.astype(np.uint8), disk(1))
        fn_ = np.logical_and(fn_, 1 - np.logical_or(tp, fp))
    fn_ = np.logical_and(fn, fn_)
    fn_ = np.logical_or(fn_, np.logical_xor(gt_ske, np.logical_and(tp, gt_ske)))
    ctrs_fp, _ = cv2.findContours(fp_.astype(np.uint8), cv2.RETR_TREE, cv2.CHAIN_APPROX_NONE)
    bd_fp, ind_fp = _ref_filter_bdy_cond(ctrs_fp, fp_, np.logical_or(tp, fn_))
    ctrs_fn, _ = cv2.findContours(fn_.astype(np.uint8), cv2.RETR_TREE, cv2.CHAIN_APPROX_NONE)
    bd_fn, ind_fn = _ref_filter_bdy_cond(
        ctrs_fn, fn_, 1 - np.logical_or(np.logical_or(tp, fp_), fn_)
    )
    n_fp = sum(len(cv2.approxPolyDP(b, epsilon, False)) for b in bd_fp)
    n_fn = sum(len(cv2.approxPolyDP(b, epsilon, False)) for b in bd_fn)
    return int(n_fp), int(ind_fp), int(n_fn), int(ind_fn)


def _partial_range_pair() -> tuple:
    """Soft prediction confined to [37, 201] and a GT holding the grey levels 128 and 129.

    Every other case here has a prediction spanning the full 0..255 range (min-max
    normalisation is then the identity) and a strictly 0/255 GT, so neither the min subtraction,
    the truncating ``(pred * 255).astype(np.uint8)`` level quantisation, nor the GT threshold
    ``> 128`` (128 is background, 129 foreground) was exercised.
    """
    p, g = make_pair(60, 70, 11)
    pred = (37 + p.astype(np.float64) * (164 / 255)).astype(np.uint8)
    assert (int(pred.min()), int(pred.max())) == (37, 201)
    g = g.copy()
    g[5:20, 5:30] = 128
    g[40:55, 30:60] = 129
    return pred, g


def test_partial_range_prediction_and_grey_gt_equal_pysodmetrics():
    pred, gt = _partial_range_pair()
    ref = pysod_scores([(pred, gt)])
    got = aggregate([image_metrics(pred, gt, with_hce=False)])
    for key, val in ref.items():
        assert abs(got[key] - val) <= 1e-9, (key, got[key], val)
    # HCE binarises the raw GT with the same "> 128" rule (faithful port as the reference).
    assert _hce(pred, gt) == ref_relax_hce(gt, pred, skeletonize(gt > 128))


def test_skeleton_equals_skimage():
    rng = np.random.default_rng(3)
    for s in range(6):
        _, g = make_pair(90 + 17 * s, 120, s)
        noise = rng.random((70, 90)) > 0.55
        for mask in (g > 128, noise, np.ones((9, 12), bool)):
            np.testing.assert_array_equal(skeletonize_zhang(mask), skeletonize(mask))


def _hce(pred: np.ndarray, gt: np.ndarray) -> tuple:
    r = hce_counts(pred, gt)
    return r.fp_points, r.fp_indep, r.fn_points, r.fn_indep


def test_hce_perfect_prediction_is_zero():
    gt = blob_scene()
    assert _hce(gt.copy(), gt) == (0, 0, 0, 0)


def test_hce_one_missed_thin_line():
    # The 1-px line vanishes under the relax erosion, so it is an FN only via the GT skeleton
    # (a 1-px line is its own skeleton). Its boundary walk keeps each pixel once: one straight
    # run -> Douglas-Peucker keeps its 2 end points; the region touches that run -> 0 indep.
    gt = blob_scene()
    pred = gt.copy()
    gt[60, 100:150] = 255
    assert np.array_equal(skeletonize(gt > 128)[60, 100:150], np.ones(50, bool))
    assert _hce(pred, gt) == (0, 0, 2, 0)


def test_hce_one_false_blob():
    # A separate false square: far from TP/FN, so no boundary point qualifies and the whole
    # region counts as one independent click.
    gt = blob_scene()
    pred = gt.copy()
    pred[30:60, 110:140] = 255
    assert _hce(pred, gt) == (0, 1, 0, 0)


def test_hce_of_three_channel_maps_reads_their_first_channel():
    # As the official code does (pred[:, :, 0]): the false blob is in channel 0 only, and the
    # other channels' differences from the GT are ignored -> the one-false-blob terms.
    gt = blob_scene()
    pred = gt.copy()
    pred[30:60, 110:140] = 255
    noise = np.where(gt > 128, 0, 255).astype(np.uint8)
    pred3 = np.dstack([pred, noise, noise])
    gt3 = np.dstack([gt, noise, gt])
    assert _hce(pred3, gt3) == (0, 1, 0, 0)
    with pytest.raises(ValueError, match=r"prediction shape \(.*, 3\) differs from GT shape"):
        hce_counts(pred3, gt)


def test_hce_differs_from_pysodmetrics_on_dim_soft_maps():
    # A correct but dim map (values <= 128): official HCE binarises the raw values (> 128) and
    # sees an empty prediction; PySODMetrics min-max normalises first and sees a perfect one.
    gt = blob_scene()
    gt[60, 100:150] = 255
    dim = (gt // 255 * 115).astype(np.uint8)
    ours = hce_counts(dim, gt).total
    assert ours == hce_counts(np.zeros_like(gt), gt).total > 0
    assert ours == sum(ref_relax_hce(gt, dim, skeletonize(gt > 128)))  # the official tool's
    ref = psm.HumanCorrectionEffortMeasure()
    ref.step(dim, gt)
    assert ref.get_results()["hce"] == 0
    # On binary 0/255 maps normalisation is a no-op and both definitions agree.
    p, g = make_pair(140, 170, 7)
    binary = ((p > 128) * 255).astype(np.uint8)
    ref = psm.HumanCorrectionEffortMeasure()
    ref.step(binary, g)
    assert ref.get_results()["hce"] == hce_counts(binary, g).total


def test_hce_equals_faithful_port():
    for s in range(8):
        p, g = make_pair(110 + 11 * s, 140 + 5 * s, 100 + s)
        assert _hce(p, g) == ref_relax_hce(g, p, skeletonize(g > 128)), s
    p, g = make_pair(130, 150, 1)
    ske = np.zeros(g.shape, bool)
    ske[10:100, 75] = True  # a precomputed skeleton is used as given
    r = hce_counts(p, g, gt_skeleton=ske)
    assert (r.fp_points, r.fp_indep, r.fn_points, r.fn_indep) == ref_relax_hce(g, p, ske)
    full, empty = np.full_like(g, 255), np.zeros_like(g)
    for pred, gt in ((p, full), (p, empty), (empty, g), (full, g), (full, empty), (empty, full)):
        assert _hce(pred, gt) == ref_relax_hce(gt, pred, skeletonize(gt > 128))


def _hce_with(pred: np.ndarray, gt: np.ndarray, ske: np.ndarray | None = None) -> tuple:
    """Our HCE terms, asserted equal to the faithful port on the same input, then returned."""
    r = hce_counts(pred, gt, gt_skeleton=ske)
    ours = (r.fp_points, r.fp_indep, r.fn_points, r.fn_indep)
    assert ours == ref_relax_hce(gt, pred, skeletonize(gt > 128) if ske is None else ske)
    return ours


def test_hce_diagonally_touching_holes_are_one_region():
    # Two FN holes deep inside a TP object, touching only at a corner. All their neighbours are
    # TP, so no boundary point qualifies; the official tool labels regions with skimage's
    # default (8-)connectivity, so the pair is one independent region, not two.
    gt = np.zeros((80, 100), np.uint8)
    gt[10:70, 10:90] = 255
    pred = gt.copy()
    pred[30:36, 40:46] = 0
    pred[36:42, 46:52] = 0
    assert _hce_with(pred, gt) == (0, 0, 0, 1)


def test_hce_fp_relaxation_does_not_cross_the_gt():
    # FP block | missed 3-px GT bar | 2-px FP strip. The strip is within the 5 relax steps of
    # the block's eroded core only through the bar; the relaxed FP grows through non-GT pixels
    # alone, so the strip is forgiven. The block touches neither TP nor the FN skeleton (column
    # 31, whose dilation reaches columns 30-32 only): 1 independent FP region. The skeleton is
    # one straight FN run touching the bar's unrelaxed FN pixels: 2 points.
    gt = np.zeros((70, 60), np.uint8)
    gt[10:61, 30:33] = 255
    pred = np.zeros_like(gt)
    pred[10:61, 10:30] = 255
    pred[10:61, 33:35] = 255
    assert _hce_with(pred, gt) == (0, 1, 2, 0)


def test_hce_fn_relaxation_does_not_cross_the_prediction():
    # The FN mirror of the case above: missed GT block | predicted 2-px bar | missed 2-px GT
    # strip. The strip is within the 5 relax steps of the block's eroded core only through the
    # bar; the official tool grows the relaxed FN through unpredicted pixels alone (1 - rs), so
    # the strip stays forgiven. Growing through the GT instead (bar included) keeps the strip
    # as an error and adds its boundary points (9 instead of the port's 7).
    gt = np.zeros((70, 60), np.uint8)
    gt[10:61, 10:34] = 255
    pred = np.zeros_like(gt)
    pred[10:61, 30:32] = 255
    assert _hce_with(pred, gt) == (0, 0, 7, 0)


def test_hce_fn_boundary_next_to_forgiven_fp_counts_points():
    # An FN notch cut into the right edge of a GT block, beside a 2-px FP band that the relax
    # step forgives. Forgiven FP pixels count as free for the FN condition, so the notch's right
    # column (one straight run) gives 2 points and the notch is not independent.
    gt = np.zeros((90, 100), np.uint8)
    gt[20:70, 20:71] = 255
    pred = np.zeros_like(gt)
    pred[20:70, 20:73] = 255
    pred[40:51, 65:71] = 0
    assert _hce_with(pred, gt) == (0, 0, 2, 0)


def test_hce_fp_condition_uses_relaxed_fn():
    # An FP block beside a 2-px GT band that the relax step forgives (empty precomputed
    # skeleton, so the band does not come back as structure). The FP condition is TP or the
    # relaxed FN, so the block touches nothing: 1 independent region and no points.
    gt = np.zeros((60, 60), np.uint8)
    gt[20:40, 40:42] = 255
    pred = np.zeros_like(gt)
    pred[20:40, 20:40] = 255
    assert _hce_with(pred, gt, np.zeros(gt.shape, bool)) == (0, 1, 0, 0)


def test_hce_precomputed_skeleton_outside_gt():
    # A precomputed skeleton need not lie inside the GT (e.g. a resized ske/ file). The official
    # rule adds skeleton pixels not covered by TP, including those inside FP, to the FN map.
    gt = np.zeros((80, 100), np.uint8)
    gt[20:60, 10:40] = 255
    pred = gt.copy()
    pred[20:60, 50:80] = 255
    ske = np.zeros(gt.shape, bool)
    ske[40, 15:90] = True
    _hce_with(pred, gt, ske)


# --- HCE totals -----------------------------------------------------------------------------------


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


def test_skeletonize_zhang_refuses_a_mask_that_is_not_2d() -> None:
    with pytest.raises(ValueError, match=r"expects a 2D mask, got shape \(2, 3, 3\)"):
        skeletonize_zhang(np.zeros((2, 3, 3), bool))
