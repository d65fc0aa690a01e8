"""What the analysis figures and Table 5 show, read back before they are saved: the Fig. 10
scatter puts each image at (Pre-Mask IoU, final IoU) with the thresholds where the summary has
them, Table 5 bolds the highest IoU and Sα and the lowest MAE, and every Fig. 9 panel plots its
own metric."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List

import cv2
import numpy as np
import py_sod_metrics as psm
import pytest
from matplotlib.colors import same_color

from pmgsam.analysis import plots
from pmgsam.analysis.premask import FINAL, PREMASK, analyse


def _drawn(monkeypatch) -> List[Any]:
    kept: List[Any] = []
    monkeypatch.setattr(plots, "save_png", lambda fig, path, dpi: kept.append(fig) or path)
    return kept


def _write(folder: Path, maps: dict) -> list:
    folder.mkdir(parents=True)
    for stem, arr in maps.items():
        cv2.imwrite(str(folder / f"{stem}.png"), arr)
    return [folder / f"{stem}.png" for stem in maps]


def _psm_s_measure(map_path: Path, gt_path: Path) -> float:
    """PySODMetrics' S-measure of one map (the reference for Table 5's Sα)."""
    sm = psm.Smeasure()
    sm.step(
        pred=cv2.imread(str(map_path), cv2.IMREAD_GRAYSCALE),
        gt=cv2.imread(str(gt_path), cv2.IMREAD_GRAYSCALE),
    )
    return float(sm.get_results()["sm"])


def _points(collection: Any) -> set:
    return {(float(x), float(y)) for x, y in collection.get_offsets()}


def test_scatter_and_table5_show_the_premask_and_final_scores(tmp_path, monkeypatch) -> None:
    import matplotlib.pyplot as plt

    kept = _drawn(monkeypatch)
    # GT 4x8, foreground the left half (16 pixels); "narrow" covers 12 of them (IoU 0.75),
    # "half" 8 (IoU 0.5).
    gt = np.zeros((4, 8), np.uint8)
    gt[:, :4] = 255
    narrow, half = np.zeros_like(gt), np.zeros_like(gt)
    narrow[:, :3] = 255
    half[:, :2] = 255
    stems = ["a", "b", "c"]
    gts = _write(tmp_path / "gt", {s: gt for s in stems})
    # Pre-Mask IoU a 1, b 0, c 0.75; final IoU a 0.5, b 1, c 1: no two points mirror each
    # other, so swapped axes move them.
    pre = _write(tmp_path / "pre", {"a": gt, "b": np.zeros_like(gt), "c": narrow})
    final = _write(tmp_path / "final", {"a": half, "b": gt, "c": gt})
    sources = {PREMASK: pre, FINAL: final}
    # c's Pre-Mask IoU is exactly the threshold: not "poor", so not corrected; b alone is.
    summary = analyse(stems, gts, sources, tmp_path / "out", 0.75, 0.9, figure_size=(1, 1))
    assert summary["pre_threshold"] == 0.75 and summary["final_threshold"] == 0.9
    assert summary["quadrants"]["corrected"] == 1

    (fig,) = kept
    ax = fig.axes[0]
    try:
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("Pre-Mask IoU", "Final mask IoU")
        dots = [c for c in ax.collections if len(c.get_offsets())]
        green = [c for c in dots if same_color(c.get_facecolor()[0][:3], "tab:green")]
        assert set().union(*map(_points, dots)) == {(1.0, 0.5), (0.0, 1.0), (0.75, 1.0)}
        assert [_points(c) for c in green] == [{(0.0, 1.0)}]
        # The dashed threshold lines: Pre-Mask threshold vertical, final threshold horizontal.
        dashed = [ln for ln in ax.lines if ln.get_linestyle() == "--"]
        vertical = {
            float(ln.get_xdata()[0]) for ln in dashed if ln.get_xdata()[0] == ln.get_xdata()[1]
        }
        horizontal = {
            float(ln.get_ydata()[0]) for ln in dashed if ln.get_ydata()[0] == ln.get_ydata()[1]
        }
        assert (vertical, horizontal) == ({0.75}, {0.9})
        assert [t.get_text() for t in ax.texts] == ["corrected\n1/3"]
    finally:
        plt.close(fig)

    # Table 5: IoU and Sα are higher-is-better. Mean IoU Pre-Mask (1 + 0 + 0.75) / 3 = 0.583,
    # final (0.5 + 1 + 1) / 3 = 0.833; Sα from PySODMetrics.
    md = (tmp_path / "out" / "table5.md").read_text()
    rows = {line.split("|")[1].strip(): line for line in md.splitlines() if line.startswith("|")}
    assert "**0.833**" in rows[FINAL] and "0.583" in rows[PREMASK]
    s_pre = np.mean([_psm_s_measure(m, g) for m, g in zip(pre, gts)])
    s_final = np.mean([_psm_s_measure(m, g) for m, g in zip(final, gts)])
    assert s_final > s_pre  # so the final mask's Sα is the bold one
    assert f"**{s_final:.3f}**" in rows[FINAL] and f"**{s_pre:.3f}**" not in rows[PREMASK]
    # Mean MAE Pre-Mask (0 + 16/32 + 4/32) / 3 = 0.208, final (8/32 + 0 + 0) / 3 =
    # 0.083; MAE is lower-is-better, so the final mask's is the bold one.
    assert "**0.083**" in rows[FINAL] and "0.208" in rows[PREMASK]
    assert "**0.208**" not in rows[PREMASK]


def test_every_fig9_panel_plots_its_own_metric(tmp_path: Path, monkeypatch) -> None:
    kept = _drawn(monkeypatch)
    series = {
        "Bi-dir": [
            (1, {"maxFm": 0.7, "MAE": 0.05, "HCE": 900.0}),
            (3, {"maxFm": 0.8, "MAE": 0.04}),
        ],
        "Uni-dir": [(2, {"maxFm": 0.6, "MAE": 0.07, "HCE": None})],
    }
    metrics = (("maxFm", "max F"), ("MAE", "MAE"), ("HCE", "HCE"))
    plots.line_panels(series, metrics, "N", "BAIM", tmp_path / "f.png")
    (fig,) = kept
    panels = [ax for ax in fig.axes if ax.axison]
    # HCE has a value in one series only: its panel is still drawn, with that series alone.
    assert [ax.get_ylabel() for ax in panels] == ["max F", "MAE", "HCE"]
    drawn = [
        {ln.get_label(): (list(ln.get_xdata()), list(ln.get_ydata())) for ln in ax.lines}
        for ax in panels
    ]
    assert drawn == [
        {"Bi-dir": ([1, 3], [0.7, 0.8]), "Uni-dir": ([2], [0.6])},
        {"Bi-dir": ([1, 3], [0.05, 0.04]), "Uni-dir": ([2], [0.07])},
        {"Bi-dir": ([1], [900.0])},
    ]


@pytest.fixture(autouse=True)
def _no_figures_left_open():
    import matplotlib.pyplot as plt

    yield
    plt.close("all")
