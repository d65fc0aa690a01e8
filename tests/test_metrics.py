"""DIS metrics: PySODMetrics equality, official HCE (hand-derived cases, faithful port), CLI."""

from __future__ import annotations

import importlib.util
import json
import warnings
from pathlib import Path

import cv2
import numpy as np
import py_sod_metrics as psm
import pytest
from skimage.measure import label
from skimage.morphology import disk, skeletonize

from pmgsam.data.io import load_mask
from pmgsam.evaluation.dis_metrics import aggregate, image_metrics, normalisation_lut
from pmgsam.evaluation.hce import hce_counts, skeletonize_zhang
from pmgsam.evaluation.scoring import EvaluationInputError, evaluate_dis_folder
from pmgsam.evaluation.smeasure import s_measure
from pmgsam.utils.cli import exit_status

ROOT = Path(__file__).resolve().parents[1]


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


# --- generated data ---
def make_pair(h: int, w: int, seed: int) -> tuple:
    """DIS-like GT (polygons, thin lines, holes) and a soft, shifted, noisy prediction."""
    rng = np.random.default_rng(seed)
    gt = np.zeros((h, w), np.uint8)
    for _ in range(3):
        pts = rng.integers(0, [w, h], size=(6, 2)).astype(np.int32)
        cv2.fillPoly(gt, [cv2.convexHull(pts)], 255)
    for _ in range(8):
        a, b = rng.integers(0, [w, h], size=(2, 2)).tolist()
        cv2.line(gt, tuple(a), tuple(b), 255, int(rng.integers(1, 4)))
    for _ in range(4):
        c = rng.integers(0, [w, h]).tolist()
        cv2.circle(gt, tuple(c), int(rng.integers(3, max(4, h // 8))), 0, -1)
    f = cv2.warpAffine(gt.astype(np.float32), np.float32([[1, 0, 1.5], [0, 1, -1]]), (w, h))
    f = cv2.GaussianBlur(f, (0, 0), 2) + cv2.GaussianBlur(
        rng.normal(0, 200, (h, w)).astype(np.float32), (0, 0), 3
    )
    for _ in range(3):
        c = rng.integers(0, [w, h]).tolist()
        cv2.circle(f, tuple(c), int(rng.integers(2, 12)), float(rng.uniform(90, 255)), -1)
    return np.clip(f, 0, 255).astype(np.uint8), gt


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


def _pysod(pairs: list) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Fmeasure's deprecation notice
        fm, wfm, mae, sm, em = (
            psm.Fmeasure(),
            psm.WeightedFmeasure(),
            psm.MAE(),
            psm.Smeasure(),
            psm.Emeasure(),
        )
    for p, g in pairs:
        for m in (fm, wfm, mae, sm, em):
            m.step(p, g)
    return {
        "maxFm": fm.get_results()["fm"]["curve"].max(),
        "wFmeasure": wfm.get_results()["wfm"],
        "MAE": mae.get_results()["mae"],
        "Smeasure": sm.get_results()["sm"],
        "meanEm": em.get_results()["em"]["curve"].mean(),
    }


def test_equal_to_pysodmetrics_per_image_and_aggregated():
    pairs = _cases()
    ours = [image_metrics(p, g, with_hce=False) for p, g in pairs]
    for (p, g), m in zip(pairs, ours):
        ref = _pysod([(p, g)])
        got = aggregate([m])
        for key, val in ref.items():
            assert abs(got[key] - val) <= 1e-9, (key, got[key], val)
    ref = _pysod(pairs)
    got = aggregate(ours)
    assert got["num_images"] == len(pairs)
    for key, val in ref.items():
        assert abs(got[key] - val) <= 1e-9, (key, got[key], val)


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
    ref = _pysod([(pred, gt)])
    got = aggregate([image_metrics(pred, gt, with_hce=False)])
    for key, val in ref.items():
        assert abs(got[key] - val) <= 1e-9, (key, got[key], val)
    # HCE binarises the raw GT with the same "> 128" rule (faithful port as the reference).
    assert _hce(pred, gt) == ref_relax_hce(gt, pred, skeletonize(gt > 128))


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
    gt = _blob_scene()
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


def _blob_scene() -> np.ndarray:
    gt = np.zeros((120, 160), np.uint8)
    cv2.rectangle(gt, (20, 20), (70, 90), 255, -1)
    return gt


def test_hce_perfect_prediction_is_zero():
    gt = _blob_scene()
    assert _hce(gt.copy(), gt) == (0, 0, 0, 0)


def test_hce_one_missed_thin_line():
    # The 1-px line vanishes under the relax erosion, so it is an FN only via the GT skeleton
    # (a 1-px line is its own skeleton). Its boundary walk keeps each pixel once: one straight
    # run -> Douglas-Peucker keeps its 2 end points; the region touches that run -> 0 indep.
    gt = _blob_scene()
    pred = gt.copy()
    gt[60, 100:150] = 255
    assert np.array_equal(skeletonize(gt > 128)[60, 100:150], np.ones(50, bool))
    assert _hce(pred, gt) == (0, 0, 2, 0)


def test_hce_one_false_blob():
    # A separate false square: far from TP/FN, so no boundary point qualifies and the whole
    # region counts as one independent click.
    gt = _blob_scene()
    pred = gt.copy()
    pred[30:60, 110:140] = 255
    assert _hce(pred, gt) == (0, 1, 0, 0)


def test_hce_differs_from_pysodmetrics_on_dim_soft_maps():
    # A correct but dim map (values <= 128): official HCE binarises the raw values (> 128) and
    # sees an empty prediction; PySODMetrics min-max normalises first and sees a perfect one.
    gt = _blob_scene()
    gt[60, 100:150] = 255
    dim = (gt // 255 * 115).astype(np.uint8)
    ours = hce_counts(dim, gt).total
    assert ours == hce_counts(np.zeros_like(gt), gt).total > 0
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


def test_mask_reader_handles_16bit_and_rgb(tmp_path: Path):
    g = np.array([[0, 128, 255]], np.uint8)
    cv2.imwrite(str(tmp_path / "a.png"), g.astype(np.uint16) * 257)
    cv2.imwrite(str(tmp_path / "b.png"), np.dstack([g, g, g]))
    assert np.array_equal(load_mask(tmp_path / "a.png"), g)
    assert np.array_equal(load_mask(tmp_path / "b.png"), g)


# --- folder scoring and CLI ---
def _load_cli():
    spec = importlib.util.spec_from_file_location("evaluate_cli", ROOT / "evaluate.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _write_folder(tmp_path: Path, n: int = 3) -> tuple:
    pdir, gdir = tmp_path / "pred", tmp_path / "gt"
    pdir.mkdir()
    gdir.mkdir()
    pairs = [make_pair(100 + 9 * i, 130, 40 + i) for i in range(n)]
    for i, (p, g) in enumerate(pairs):
        cv2.imwrite(str(pdir / f"img{i}.png"), p)
        cv2.imwrite(str(gdir / f"img{i}.png"), g)
    return pdir, gdir, pairs


def test_folder_scoring_parallel_matches_in_process(tmp_path: Path):
    pdir, gdir, pairs = _write_folder(tmp_path)
    s1, per1 = evaluate_dis_folder(pdir, gdir, workers=2, progress=False)
    s0, _ = evaluate_dis_folder(pdir, gdir, workers=1, progress=False)
    assert s1 == s0
    assert [r.name for r in per1] == ["img0", "img1", "img2"]
    ref = _pysod(pairs)
    assert all(abs(s1[k] - ref[k]) <= 1e-9 for k in ref)
    hces = [hce_counts(p, g).total for p, g in pairs]
    assert s1["HCE"] == pytest.approx(np.mean(hces), abs=1e-12)


def test_cli_writes_metrics_and_per_image(tmp_path: Path):
    pdir, gdir, _ = _write_folder(tmp_path)
    out = tmp_path / "res" / "metrics.json"
    cli = _load_cli()
    assert (
        cli.main(
            [
                "--pred-dir",
                str(pdir),
                "--gt-dir",
                str(gdir),
                "--out",
                str(out),
                "--workers",
                "1",
                "--quiet",
            ]
        )
        == 0
    )
    data = json.loads(out.read_text())
    assert {"maxFm", "wFmeasure", "MAE", "Smeasure", "meanEm", "HCE", "num_images"} <= set(data)
    assert data["num_images"] == 3
    lines = (tmp_path / "res" / "metrics.per_image.csv").read_text().splitlines()
    assert lines[0].startswith("name,maxFm,wFmeasure,MAE,Smeasure,meanEm,HCE")
    assert [ln.split(",")[0] for ln in lines[1:]] == ["img0", "img1", "img2"]


def test_cli_missing_and_extra_predictions_are_listed(tmp_path: Path, capsys):
    pdir, gdir, _ = _write_folder(tmp_path)
    (pdir / "img1.png").unlink()
    cv2.imwrite(str(pdir / "stray.png"), np.zeros((5, 5), np.uint8))
    cli = _load_cli()
    rc = exit_status(
        cli.main, ["--pred-dir", pdir, "--gt-dir", gdir, "--out", tmp_path / "m.json", "--quiet"]
    )
    err = capsys.readouterr().err
    assert rc == 2
    assert "1 GT image(s)" in err and "img1.png" in err
    assert "1 prediction(s)" in err and "stray.png" in err
    assert not (tmp_path / "m.json").exists()


def test_size_mismatch_error_and_resize(tmp_path: Path, capsys):
    pdir, gdir, pairs = _write_folder(tmp_path, n=2)
    p0, g0 = pairs[0]
    small = cv2.resize(p0, (65, 50), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(pdir / "img0.png"), small)
    cli = _load_cli()
    args = ["--pred-dir", str(pdir), "--gt-dir", str(gdir), "--out", str(tmp_path / "m.json")]
    assert exit_status(cli.main, args + ["--quiet"]) == 2
    err = capsys.readouterr().err
    assert "img0.png 65x50 vs GT img0.png 130x100" in err and "--resize-pred" in err
    with pytest.raises(EvaluationInputError):
        evaluate_dis_folder(pdir, gdir, progress=False)
    summary, per = evaluate_dis_folder(pdir, gdir, resize_pred=True, progress=False)
    resized = cv2.resize(small, (130, 100), interpolation=cv2.INTER_LINEAR)
    expect = image_metrics(resized, g0, name="img0")
    assert per[0].wfm == expect.wfm and per[0].hce.total == expect.hce.total


# --- benchmark mode orchestration (prediction and dataset stubbed) ---
def test_benchmark_mode_predicts_scores_and_writes_run(tmp_path: Path, monkeypatch, capsys):
    import sys
    import types

    pdir, gdir, _ = _write_folder(tmp_path, n=2)
    calls = []

    def predict_split(config, checkpoint, split, out_dir, device, batch_size, overrides, **kw):
        calls.append((split, device, batch_size, list(overrides)))
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for p in sorted(pdir.iterdir()):
            (out / p.name).write_bytes(p.read_bytes())
        return out

    ds = types.SimpleNamespace(
        names=["img0", "img1"],
        mask_paths=[gdir / "img0.png", gdir / "img1.png"],
        skeleton_paths=None,
    )
    monkeypatch.setitem(
        sys.modules, "pmgsam.engine.inference", types.SimpleNamespace(predict_split=predict_split)
    )
    import pmgsam.data

    monkeypatch.setattr(pmgsam.data, "build_dataset", lambda *a, **k: ds, raising=False)
    cli = _load_cli()
    monkeypatch.setattr(cli, "_data_config", lambda *a: (None, 64))
    run_dir = tmp_path / "results" / "r1"
    args = [
        "--config",
        "c.yaml",
        "--checkpoint",
        "w.pth",
        "--dataset",
        "dis5k",
        "--splits",
        "DIS-VD,DIS-TE1",
        "--output-dir",
        str(run_dir),
        "--device",
        "cpu",
        "--batch-size",
        "2",
        "--workers",
        "1",
        "--quiet",
        "model.image_size=64",
    ]
    assert cli.main(args) == 0
    assert [c[0] for c in calls] == ["DIS-VD", "DIS-TE1"]
    assert calls[0][1:3] == ("cpu", 2) and "model.image_size=64" in calls[0][3]
    run = json.loads((run_dir / "run.json").read_text())
    assert run["method"] == "r1" and set(run["dis"]) == {"DIS-VD", "DIS-TE1"}
    assert run["dis"]["DIS-VD"]["num_images"] == 2
    assert (run_dir / "metrics" / "DIS-TE1.per_image.csv").exists()
    assert "### DIS-VD" in capsys.readouterr().out
