"""The Pre-Mask analysis scores S-measure and MAE only: PySODMetrics' values, without the
weighted F-measure and F/E curves of the full DIS metrics (most of their time)."""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
import py_sod_metrics as psm
import pytest

import pmgsam.evaluation.dis_metrics as dis_metrics
from pmgsam.analysis.premask import analyse, score_map


def _pair(seed: int) -> tuple:
    rng = np.random.default_rng(seed)
    gt = np.zeros((48, 64), np.uint8)
    cv2.circle(gt, (20 + seed, 24), 12, 255, -1)
    pred = cv2.GaussianBlur(gt, (9, 9), 0).astype(np.int16) + rng.integers(-40, 40, gt.shape)
    return np.clip(pred, 0, 255).astype(np.uint8), gt


def _reference(pred: np.ndarray, gt: np.ndarray) -> tuple:
    sm, mae = psm.Smeasure(), psm.MAE()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sm.step(pred=pred, gt=gt)
        mae.step(pred=pred, gt=gt)
    return sm.get_results()["sm"], mae.get_results()["mae"]


@pytest.mark.parametrize("seed", [0, 7])
def test_s_measure_and_mae_equal_pysodmetrics(seed: int) -> None:
    pred, gt = _pair(seed)
    got = dis_metrics.s_measure_and_mae(pred, gt)
    assert got == pytest.approx(_reference(pred, gt), abs=1e-12)


def test_premask_scores_skip_the_weighted_f_measure(tmp_path: Path, monkeypatch) -> None:
    def weighted_f(*args, **kwargs):
        raise AssertionError("weighted F-measure computed, and thrown away")

    monkeypatch.setattr(dis_metrics, "_wfm_from_error", weighted_f)
    pred, gt = _pair(3)
    cv2.imwrite(str(tmp_path / "pred.png"), pred)
    cv2.imwrite(str(tmp_path / "gt.png"), gt)
    scores = score_map(tmp_path / "pred.png", tmp_path / "gt.png")
    sm, mae = _reference(pred, gt)
    assert scores["Smeasure"] == pytest.approx(sm, abs=1e-12)
    assert scores["MAE"] == pytest.approx(mae, abs=1e-12)


def test_analysis_reports_its_progress(tmp_path: Path, capsys) -> None:
    pred, gt = _pair(1)
    for name, image in (("pred.png", pred), ("gt.png", gt)):
        cv2.imwrite(str(tmp_path / name), image)
    maps = [tmp_path / "pred.png"] * 2
    sources = {"Pre-Mask": maps, "Final mask": maps}
    analyse(["a", "b"], [tmp_path / "gt.png"] * 2, sources, tmp_path / "out", progress=True)
    err = capsys.readouterr().err
    # Two sources of two images: four maps scored, the bar counting each.
    assert "Pre-Mask analysis" in err and "4/4" in err


@pytest.mark.parametrize("r, title", [(0.12345, "Pearson r = 0.123 (n = 2)"),
                                      (float("nan"), "Pearson r = undefined (n = 2)")])  # fmt: skip
def test_scatter_title_says_when_r_is_undefined(tmp_path: Path, monkeypatch, r, title) -> None:
    import matplotlib.pyplot as plt

    import pmgsam.analysis.plots as plots

    kept: list = []
    monkeypatch.setattr(plots, "save_png", lambda fig, path, dpi: kept.append(fig) or path)
    plots.quality_scatter([0.0, 0.0], [0.9, 0.2], tmp_path / "f.png", 0.5, 0.8, r, size=(1, 1))
    try:
        assert kept[0].axes[0].get_title() == title
    finally:
        plt.close(kept[0])


def test_a_pmgsam_map_of_another_size_is_refused_and_a_prior_resized(tmp_path: Path) -> None:
    # PMG-SAM writes both maps at the image's size: a half-size one is another image's map,
    # which resizing would score silently; priors (CLIPSeg) work at their own resolution.
    from pmgsam.evaluation.scoring import EvaluationInputError

    _, gt = _pair(2)  # 48x64
    cv2.imwrite(str(tmp_path / "gt.png"), gt)
    cv2.imwrite(str(tmp_path / "full.png"), gt)
    cv2.imwrite(str(tmp_path / "half.png"), gt[::2, ::2])
    full, half = tmp_path / "full.png", tmp_path / "half.png"
    for which in ("Pre-Mask", "Final mask"):
        sources = {"Pre-Mask": [full], "Final mask": [full], which: [half]}
        with pytest.raises(EvaluationInputError, match=r"half\.png: size \(24, 32\) differs"):
            analyse(["a"], [tmp_path / "gt.png"], sources, tmp_path / "out", progress=False)
    sources = {"prior": [half], "Pre-Mask": [full], "Final mask": [full]}
    summary = analyse(["a"], [tmp_path / "gt.png"], sources, tmp_path / "out", progress=False)
    # The GT's own disc, halved and resized back: its IoU with the GT is near, not exactly, 1.
    assert 0.9 < summary["means"]["prior"]["IoU"] < 1.0
    assert summary["means"]["Pre-Mask"]["IoU"] == 1.0
