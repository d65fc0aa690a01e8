"""DIS metrics for one image and their aggregation over a split.

maxF (beta^2 = 0.3), weighted F (beta^2 = 1), MAE, S-measure (alpha = 0.5, :mod:`.smeasure`) and
mean E-measure equal PySODMetrics' ``Fmeasure``, ``WeightedFmeasure``, ``MAE``, ``Smeasure`` and
``Emeasure`` (per-image min-max normalised prediction, GT ``> 128``; the F and E curves are
averaged over the images before taking max / mean). HCE is the official DIS one
(:mod:`pmgsam.evaluation.hce`).

Speed without changing a number: the normalisation and |pred - gt| are 256-entry lookups (the
same float operations PySODMetrics applies per pixel, so bit-identical), F and E share one joint
histogram, and the weighted F-measure gathers the nearest-foreground error only in the 3-pixel band
its 7x7 filter reads, filters with OpenCV's separable float64 filter (same zero border; differs
from SciPy's 2D convolution by rounding only, ~1e-16) and takes the distances from SciPy's own
feature transform, so ties between equidistant foreground pixels resolve as in SciPy. Its
float64 work is done in place (about 20 bytes a pixel at its peak, was 66: 0.5 instead of
1.5 GB on a 24 MP map), with the same floats summed in the same order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Sequence, Tuple

import cv2
import numpy as np

from .hce import HCEResult, hce_counts
from .smeasure import EPS, joint_code, s_measure

F_BETA2 = 0.3
WF_BETA2 = 1.0
S_ALPHA = 0.5

# exp(-(x^2 + y^2) / 2s^2) = g(x) g(y): the normalised 2D kernel is outer(g, g) / sum(g)^2.
_WF_1D = np.exp(-(np.arange(-3, 4) ** 2) / (2 * 5.0 * 5.0))
_WF_1D /= _WF_1D.sum()


@dataclass
class ImageMetrics:
    """Metrics of one prediction/GT pair.

    Arguments:
        name: image stem.
        fm_curve: F-measure at the 256 thresholds (255 down to 0), PySODMetrics order.
        em_curve: E-measure at the same thresholds.
        mae: mean absolute error of the normalised prediction.
        sm: S-measure.
        wfm: weighted F-measure.
        hce: official HCE terms, or None when HCE was not computed.
    """

    name: str
    fm_curve: np.ndarray
    em_curve: np.ndarray
    mae: float
    sm: float
    wfm: float
    hce: HCEResult | None = None

    def row(self) -> Dict[str, object]:
        """Per-image values for the side file (own max F / mean E of this image)."""
        out: Dict[str, object] = {
            "name": self.name,
            "maxFm": float(self.fm_curve.max()),
            "wFmeasure": float(self.wfm),
            "MAE": float(self.mae),
            "Smeasure": float(self.sm),
            "meanEm": float(self.em_curve.mean()),
        }
        if self.hce is not None:
            out.update(
                HCE=self.hce.total,
                HCE_fp_points=self.hce.fp_points,
                HCE_fp_indep=self.hce.fp_indep,
                HCE_fn_points=self.hce.fn_points,
                HCE_fn_indep=self.hce.fn_indep,
            )
        return out


def normalisation_lut(pred: np.ndarray) -> np.ndarray:
    """float64 value of each uint8 level after PySODMetrics' ``prepare_data`` for this image."""
    levels = np.arange(256) / 255
    lo, hi = int(pred.min()), int(pred.max())
    if lo != hi:
        mn, mx = lo / 255, hi / 255
        levels = (levels - mn) / (mx - mn)
    return levels


def _check_u8(pred: np.ndarray, gt: np.ndarray) -> None:
    if pred.dtype != np.uint8 or gt.dtype != np.uint8:
        raise TypeError(f"pred and gt must be uint8 0-255 maps, got {pred.dtype} and {gt.dtype}")
    if pred.ndim != 2 or pred.shape != gt.shape:
        raise ValueError(f"pred {pred.shape} and gt {gt.shape} must be equal 2D shapes")


def level_histograms(pred: np.ndarray, gt: np.ndarray, lut: np.ndarray) -> tuple:
    """(GT-foreground, GT-background) histograms of PySODMetrics' 0-255 prediction levels.

    Arguments ``pred`` (uint8) and ``gt`` (bool) are the raw map and binary GT; ``lut`` is
    :func:`normalisation_lut` of ``pred``. Also returns the joint code ``pred + 256 * gt`` and
    its 512-bin histogram.
    """
    joint = joint_code(pred, gt)
    raw = np.bincount(joint.ravel(), minlength=512)
    levels = (lut * 255).astype(np.uint8)  # PySODMetrics: (pred * 255).astype(np.uint8)
    fg_hist = np.zeros(256, dtype=np.int64)
    bg_hist = np.zeros(256, dtype=np.int64)
    np.add.at(fg_hist, levels, raw[256:])
    np.add.at(bg_hist, levels, raw[:256])
    return fg_hist, bg_hist, joint, raw


def fm_em_curves(fg_hist: np.ndarray, bg_hist: np.ndarray, size: int) -> tuple:
    """(F curve, E curve) from the level histograms (PySODMetrics' cumulative-histogram code)."""
    fg_w = np.cumsum(np.flip(fg_hist), axis=0)
    bg_w = np.cumsum(np.flip(bg_hist), axis=0)
    gt_fg = int(fg_hist.sum())

    # Fmeasure.cal_pr
    ps = fg_w + bg_w
    ps[ps == 0] = 1
    precisions = fg_w / ps
    recalls = fg_w / max(gt_fg, 1)
    numerator = (1 + F_BETA2) * precisions * recalls
    denominator = np.where(numerator == 0, 1, F_BETA2 * precisions + recalls)
    fm = numerator / denominator

    # Emeasure.cal_em_with_cumsumhistogram
    pred_fg = fg_w + bg_w
    pred_bg = size - pred_fg
    if gt_fg == 0:
        enhanced = pred_bg
    elif gt_fg == size:
        enhanced = pred_fg
    else:
        bg_fg = gt_fg - fg_w
        bg_bg = pred_bg - bg_fg
        mean_pred = pred_fg / size
        mean_gt = gt_fg / size
        pairs = [
            (fg_w, 1 - mean_pred, 1 - mean_gt),
            (bg_w, 1 - mean_pred, 0 - mean_gt),
            (bg_fg, 0 - mean_pred, 1 - mean_gt),
            (bg_bg, 0 - mean_pred, 0 - mean_gt),
        ]
        parts = np.empty((4, 256), dtype=np.float64)
        for i, (numel, a, b) in enumerate(pairs):
            align = 2 * (a * b) / (a**2 + b**2 + EPS)
            parts[i] = (align + 1) ** 2 / 4 * numel
        enhanced = parts.sum(axis=0)
    # PySODMetrics divides by (pixels - 1), so an all-foreground or all-background GT matched
    # exactly scores pixels / (pixels - 1) > 1 (1.0005 at 48x40, 1.33 at 2x2): kept identical
    # to the reference rather than clipped, so published numbers stay comparable.
    em = enhanced / (size - 1 + EPS)
    return fm, em


def load_scipy() -> Callable:
    """SciPy's ``distance_transform_edt``, imported on first use (``scipy.ndimage`` takes
    ~0.3-0.7 s to import, more than scoring a small image)."""
    from scipy.ndimage import distance_transform_edt

    return distance_transform_edt


def _wfm_from_error(err: np.ndarray, gt: np.ndarray) -> float:
    if not gt.any():
        return 0.0
    distance_transform_edt = load_scipy()
    h, w = gt.shape
    ft = distance_transform_edt(~gt, return_distances=False, return_indices=True)
    # Background errors are replaced by the error at the nearest GT pixel; the 7x7 filter output
    # is only read on GT pixels, so only the background band within 3 pixels matters. ``err``
    # is changed there for the filter and restored after it: a full-size float64 copy would
    # cost 8 bytes a pixel (190 MB on a 24 MP map).
    band = cv2.dilate(gt.view(np.uint8), np.ones((7, 7), np.uint8)).view(bool) & ~gt
    rows, cols = np.nonzero(band)
    del band
    kept = err[rows, cols]
    try:
        err[rows, cols] = err[ft[0][rows, cols], ft[1][rows, cols]]
        # The Gaussian is separable; rows then columns differs from the 2D sum only by rounding.
        ea_fg = cv2.sepFilter2D(err, -1, _WF_1D, _WF_1D, borderType=cv2.BORDER_CONSTANT)[gt]
    finally:
        err[rows, cols] = kept
    del rows, cols, kept
    e_fg = err[gt]
    ew_fg = np.where(ea_fg < e_fg, ea_fg, e_fg)
    del ea_fg, e_fg
    bg = ~gt
    # Exact integer squared distance to the nearest GT pixel (< 2**31 for any image below
    # 32k x 32k), built in the feature transform's own memory.
    dy, dx = ft[0], ft[1]
    dy -= np.arange(h, dtype=ft.dtype)[:, None]
    dx -= np.arange(w, dtype=ft.dtype)[None, :]
    dy *= dy
    dx *= dx
    dy += dx
    ew_bg = err[bg]
    d2 = dy[bg]
    del ft, dy, dx, bg
    # A background pixel without error adds 0 whatever its weight, so where most have none
    # (a confident map's background) the weights are taken only where the error is not 0.
    # The summed array and each product are the same either way: fpw does not change.
    nonzero = ew_bg != 0
    sparse = np.count_nonzero(nonzero) < nonzero.size // 2
    if sparse:
        d2 = d2[nonzero]
    else:
        del nonzero
    # 2 - exp(log(0.5) / 5 * dst), with dst = sqrt(d2) as SciPy's distance output, bit for bit.
    weight = np.sqrt(d2, dtype=np.float64)
    del d2
    weight *= np.log(0.5) / 5
    np.exp(weight, out=weight)
    np.subtract(2, weight, out=weight)
    if sparse:
        ew_bg[nonzero] *= weight
    else:
        ew_bg *= weight
    del weight

    tpw = np.sum(gt) - np.sum(ew_fg)
    fpw = np.sum(ew_bg)
    r = 1 - np.mean(ew_fg)
    p = tpw / (tpw + fpw + EPS)
    return float((1 + WF_BETA2) * r * p / (r + WF_BETA2 * p + EPS))


def image_metrics(
    pred: np.ndarray,
    gt: np.ndarray,
    gt_skeleton: np.ndarray | None = None,
    name: str = "",
    with_hce: bool = True,
) -> ImageMetrics:
    """All six DIS metrics of one pair of uint8 maps (same shape).

    Arguments:
        pred: prediction probability map, uint8 0-255.
        gt: ground-truth mask, uint8 0-255 (foreground ``> 128``).
        gt_skeleton: optional boolean GT skeleton for HCE (``ske/`` folder), of the GT's shape.
        name: image stem, carried into the per-image results.
        with_hce: compute HCE (the slowest metric).
    """
    _check_u8(pred, gt)
    gt_b = gt > 128
    lut = normalisation_lut(pred)
    fg_hist, bg_hist, joint, raw = level_histograms(pred, gt_b, lut)
    fm, em = fm_em_curves(fg_hist, bg_hist, gt.size)
    # |pred - gt| per (level, gt) pair: the same float operations PySODMetrics applies per pixel.
    err = np.abs(np.concatenate((lut - 0.0, lut - 1.0)))[joint]
    mae = float(np.mean(err))
    sm = s_measure(pred, gt_b, lut, S_ALPHA, joint, raw)
    wfm = _wfm_from_error(err, gt_b)
    hce = hce_counts(pred, gt, gt_skeleton) if with_hce else None
    return ImageMetrics(name=name, fm_curve=fm, em_curve=em, mae=mae, sm=sm, wfm=wfm, hce=hce)


def s_measure_and_mae(pred: np.ndarray, gt: np.ndarray) -> Tuple[float, float]:
    """(S-measure, MAE) of one pair of uint8 maps, the values :func:`image_metrics` gives,
    without the weighted F-measure and the F/E curves: those take most of its time (about a
    second on a 3000x2000 map, against a few hundredths for these two)."""
    _check_u8(pred, gt)
    gt_b = gt > 128
    lut = normalisation_lut(pred)
    _, _, joint, raw = level_histograms(pred, gt_b, lut)
    err = np.abs(np.concatenate((lut - 0.0, lut - 1.0)))[joint]
    return s_measure(pred, gt_b, lut, S_ALPHA, joint, raw), float(np.mean(err))


def aggregate(results: Sequence[ImageMetrics]) -> Dict[str, float]:
    """Dataset-level metrics exactly as PySODMetrics' ``get_results`` (+ mean official HCE).

    Arguments:
        results: the :class:`ImageMetrics` of every image (:func:`image_metrics`); at least one.

    Returns ``maxFm``, ``wFmeasure``, ``MAE``, ``Smeasure``, ``meanEm``, ``HCE`` (None unless
    every image has its HCE) and ``num_images``.
    """
    if not results:
        raise ValueError("no images to aggregate")
    f64 = np.float64
    fm = np.mean(np.array([r.fm_curve for r in results], dtype=f64), axis=0)
    em = np.mean(np.array([r.em_curve for r in results], dtype=f64), axis=0)
    out = {
        "maxFm": float(fm.max()),
        "wFmeasure": float(np.mean(np.array([r.wfm for r in results], dtype=f64))),
        "MAE": float(np.mean(np.array([r.mae for r in results], dtype=f64))),
        "Smeasure": float(np.mean(np.array([r.sm for r in results], dtype=f64))),
        "meanEm": float(em.mean()),
    }
    hces: List[int] = [r.hce.total for r in results if r.hce is not None]
    out["HCE"] = float(np.mean(np.array(hces, dtype=f64))) if len(hces) == len(results) else None
    out["num_images"] = len(results)
    return out
