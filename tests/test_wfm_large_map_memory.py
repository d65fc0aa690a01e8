"""The weighted F-measure after its memory rework (no full-size float64 copy of the error, the
squared distances built in the feature transform, weights only where the error is not 0) gives
the very same float as the code before it, kept here as ``_wfm_before``: on random maps, on
confident maps whose background is mostly exact 0 (the sparse path) and on noisy ones (the
dense path). It must also leave the caller's error array as it was."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from scipy.ndimage import distance_transform_edt

from pmgsam.evaluation.dis_metrics import (
    _WF_1D,
    EPS,
    WF_BETA2,
    _wfm_from_error,
    level_histograms,
    normalisation_lut,
)


def _wfm_before(err: np.ndarray, gt: np.ndarray) -> float:
    # dis_metrics._wfm_from_error as of f847d35, verbatim.
    if not gt.any():
        return 0.0
    h, w = gt.shape
    ft = distance_transform_edt(~gt, return_distances=False, return_indices=True)
    band = cv2.dilate(gt.view(np.uint8), np.ones((7, 7), np.uint8)).view(bool) & ~gt
    rows, cols = np.nonzero(band)
    err_t = err.copy()
    err_t[rows, cols] = err[ft[0][rows, cols], ft[1][rows, cols]]
    ea = cv2.sepFilter2D(err_t, -1, _WF_1D, _WF_1D, borderType=cv2.BORDER_CONSTANT)

    e_fg, ea_fg = err[gt], ea[gt]
    ew_fg = np.where(ea_fg < e_fg, ea_fg, e_fg)
    bg = ~gt
    dy = ft[0] - np.arange(h, dtype=ft.dtype)[:, None]
    dx = ft[1] - np.arange(w, dtype=ft.dtype)[None, :]
    dy *= dy
    dx *= dx
    dy += dx
    dst = np.sqrt(dy[bg], dtype=np.float64)
    ew_bg = err[bg] * (2 - np.exp(np.log(0.5) / 5 * dst))

    tpw = np.sum(gt) - np.sum(ew_fg)
    fpw = np.sum(ew_bg)
    r = 1 - np.mean(ew_fg)
    p = tpw / (tpw + fpw + EPS)
    return float((1 + WF_BETA2) * r * p / (r + WF_BETA2 * p + EPS))


def _error(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    # As image_metrics builds it.
    lut = normalisation_lut(pred)
    joint = level_histograms(pred, gt, lut)[2]
    return np.abs(np.concatenate((lut - 0.0, lut - 1.0)))[joint]


def _pair(seed: int, kind: str, shape=(181, 263)) -> tuple:
    rng = np.random.default_rng(seed)
    h, w = shape
    field = cv2.resize(rng.standard_normal((h // 20, w // 20)), (w, h))
    gt = field > 0.6
    gt[rng.integers(0, h, 30), rng.integers(0, w, 30)] = True  # single pixels: ties, thin parts
    if kind == "random":
        pred = rng.integers(0, 256, shape, dtype=np.uint8)
    elif kind == "confident":  # background mostly exact 0: few pixels carry an error
        pred = np.where(gt, 230, 0).astype(np.uint8)
        pred[rng.random(shape) < 0.05] = rng.integers(1, 256)
    else:  # "noisy": blurred GT plus noise, hardly any exact 0
        soft = cv2.GaussianBlur(gt * 255.0, (0, 0), 3) + rng.normal(0, 40, shape)
        pred = np.clip(soft + 20, 0, 255).astype(np.uint8)
    return pred, gt


@pytest.mark.parametrize("kind", ["random", "confident", "noisy"])
@pytest.mark.parametrize("seed", range(4))
def test_weighted_f_identical_to_the_code_before_and_error_untouched(kind: str, seed: int):
    pred, gt = _pair(seed, kind)
    err = _error(pred, gt)
    before = err.copy()
    expected = _wfm_before(err, gt)
    assert _wfm_from_error(err, gt) == expected
    np.testing.assert_array_equal(err, before)


def test_both_weight_paths_are_taken_and_agree():
    # The confident map takes the weights only where the error is not 0, the noisy one
    # everywhere; an all-foreground-but-one and an empty GT are scored as before too.
    for kind, sparse in (("confident", True), ("noisy", False)):
        pred, gt = _pair(7, kind)
        err = _error(pred, gt)
        assert (np.count_nonzero(err[~gt]) < (~gt).sum() // 2) == sparse
        assert _wfm_from_error(err, gt) == _wfm_before(err, gt)
    pred, gt = _pair(8, "random", (40, 50))
    for g in (np.zeros_like(gt), np.ones_like(gt), gt):
        if g.all():
            g[0, 0] = False
        err = _error(pred, g)
        assert _wfm_from_error(err, g) == _wfm_before(err, g)


def test_weighted_f_peak_memory_stays_near_the_feature_transform():
    # The feature transform takes 8 bytes a pixel (two int32 indices) and SciPy's int64 copy
    # of the mask 8 more while it runs; the code before added float64 copies of the error, its
    # filtered map, the distances and the weights (66 bytes a pixel in all, 1.5 GB on 24 MP).
    import tracemalloc

    pred, gt = _pair(0, "noisy", (400, 600))
    err = _error(pred, gt)
    tracemalloc.start()
    try:
        _wfm_from_error(err, gt)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak / gt.size < 32, f"{peak / gt.size:.1f} bytes a pixel"
