"""S-measure (Fan et al., ICCV 2017) as PySODMetrics' ``Smeasure(alpha=0.5)`` computes it.

PySODMetrics is not imported here: importing it costs ~0.8 s (it loads scikit-learn), more than
scoring a small image. The prediction of one image has at most 256 distinct values (the min-max
normalised uint8 levels), so every mean, variance and covariance the measure needs is a weighted
sum over a 512-bin (level, GT) histogram instead of a pass over float copies of the image. The
sums are the same up to floating-point rounding (~1e-15); the tests compare with PySODMetrics.

One case is not continuous: a quadrant whose prediction and GT are both constant scores 1 when
its variances are exactly 0 and 0 otherwise, and whether a float mean of a constant array is
exact depends on the summation order. Quadrants with at most one prediction level are therefore
computed with PySODMetrics' own array operations, which are cheap there.
"""

from __future__ import annotations

import numpy as np

EPS = np.spacing(1)  # PySODMetrics' (MATLAB's) eps


def _s_object(counts: np.ndarray, values: np.ndarray) -> float:
    """``2 m / (m^2 + 1 + std + eps)`` of the pixels with these level counts (std: ddof=1)."""
    n = int(counts.sum())
    mean = float(np.dot(counts, values)) / n
    std = 0.0
    if n > 1:
        std = float(np.sqrt(np.dot(counts, (values - mean) ** 2) / (n - 1)))
    return 2 * mean / (mean**2 + 1 + std + EPS)


def _ssim_direct(pred: np.ndarray, gt: np.ndarray) -> float:
    # PySODMetrics' Smeasure.ssim, operation for operation.
    n = pred.size
    x, y = np.mean(pred), np.mean(gt)
    sigma_x = np.sum((pred - x) ** 2) / (n - 1 + EPS)
    sigma_y = np.sum((gt - y) ** 2) / (n - 1 + EPS)
    sigma_xy = np.sum((pred - x) * (gt - y)) / (n - 1 + EPS)
    return _ssim_score(x, y, sigma_x, sigma_y, sigma_xy)


def _ssim_score(x: float, y: float, sx: float, sy: float, sxy: float) -> float:
    alpha = 4 * x * y * sxy
    beta = (x**2 + y**2) * (sx + sy)
    if alpha != 0:
        return float(alpha / (beta + EPS))
    return 1.0 if beta == 0 else 0.0


def _ssim_hist(fg: np.ndarray, bg: np.ndarray, values: np.ndarray) -> float:
    """SSIM of a quadrant from its per-level foreground / background pixel counts."""
    n_fg, n = int(fg.sum()), int(fg.sum() + bg.sum())
    both = fg + bg
    x = float(np.dot(both, values)) / n
    y = n_fg / n
    d = values - x
    denom = n - 1 + EPS
    sigma_x = float(np.dot(both, d * d)) / denom
    sigma_y = (n_fg * (1 - y) ** 2 + (n - n_fg) * y**2) / denom
    sigma_xy = (float(np.dot(fg, d)) * (1 - y) - float(np.dot(bg, d)) * y) / denom
    return _ssim_score(x, y, sigma_x, sigma_y, sigma_xy)


def _centroid(gt: np.ndarray) -> tuple:
    """PySODMetrics' ``np.argwhere(gt).mean(axis=0).round()`` (+1), from exact integer sums.
    ``gt`` has foreground: :func:`s_measure` scores an empty GT before it needs a centroid."""
    h, w = gt.shape
    rows = np.count_nonzero(gt, axis=1)
    cols = np.count_nonzero(gt, axis=0)
    n = int(rows.sum())
    cy = np.round(int(np.dot(rows, np.arange(h, dtype=np.int64))) / n)
    cx = np.round(int(np.dot(cols, np.arange(w, dtype=np.int64))) / n)
    return int(cy) + 1, int(cx) + 1


def joint_code(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """uint16 ``pred + 256 * gt`` of a uint8 prediction and a boolean GT (histogram bin index)."""
    joint = np.left_shift(gt.view(np.uint8), 8, dtype=np.uint16)
    joint |= pred
    return joint


def s_measure(
    pred: np.ndarray,
    gt: np.ndarray,
    lut: np.ndarray,
    alpha: float = 0.5,
    joint: np.ndarray | None = None,
    hist: np.ndarray | None = None,
) -> float:
    """S-measure of one image.

    Arguments:
        pred: raw uint8 prediction (H, W).
        gt: boolean GT (H, W).
        lut: float value of each uint8 level after min-max normalisation (256 entries).
        alpha: weight of the object score against the region score.
        joint: :func:`joint_code` of ``pred`` and ``gt`` when the caller has it already.
        hist: ``np.bincount(joint.ravel(), minlength=512)`` when the caller has it already.
    """
    if joint is None:
        joint = joint_code(pred, gt)
    if hist is None:
        hist = np.bincount(joint.ravel(), minlength=512)
    bg_all, fg_all = hist[:256], hist[256:]
    n_fg, size = int(fg_all.sum()), gt.size
    if n_fg == 0:
        return float(1 - np.dot(bg_all, lut) / size)
    if n_fg == size:
        return float(np.dot(fg_all, lut) / size)

    y = n_fg / size
    obj = _s_object(fg_all, lut) * y + _s_object(bg_all, 1 - lut) * (1 - y)

    h, w = gt.shape
    cy, cx = _centroid(gt)
    w_lt = cx * cy / size
    w_rt = cy * (w - cx) / size
    w_lb = (h - cy) * cx / size
    weights = (w_lt, w_rt, w_lb, 1 - w_lt - w_rt - w_lb)
    quads = (np.s_[0:cy, 0:cx], np.s_[0:cy, cx:w], np.s_[cy:h, 0:cx], np.s_[cy:h, cx:w])
    hists = [np.bincount(joint[q].ravel(), minlength=512) for q in quads[:3]]
    hists.append(hist - sum(hists))  # the last quadrant is what the others leave
    region = 0.0
    for q, qh, weight in zip(quads, hists, weights):
        if np.count_nonzero(qh[:256] + qh[256:]) <= 1:
            score = _ssim_direct(lut[pred[q]], gt[q])
        else:
            score = _ssim_hist(qh[256:], qh[:256], lut)
        region += score * weight
    # np.maximum keeps PySODMetrics' NaN when the centroid falls on the last row / column (an
    # empty quadrant), where Python's max would turn it into 0.
    return float(np.maximum(0.0, alpha * obj + (1 - alpha) * region))
