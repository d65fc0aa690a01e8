"""The Fig. 9 line panels (:func:`pmgsam.analysis.plots.line_panels`): which panels, lines and
legend a sweep gives; and the Fig. 10 scatter's title. Read back from the figure before it is
saved."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List

import pytest

from pmgsam.analysis import plots


def _drawn(monkeypatch) -> List[Any]:
    kept: List[Any] = []
    monkeypatch.setattr(plots, "save_png", lambda fig, path, dpi: kept.append(fig) or path)
    return kept


def test_panels_without_values_are_left_out_and_lines_follow_x(tmp_path: Path, monkeypatch):
    kept = _drawn(monkeypatch)
    series = {
        "K": [(5, {"maxFm": 0.8, "HCE": None}), (1, {"maxFm": 0.7, "HCE": None})],
        "T": [(3, {"maxFm": 0.75})],
    }
    metrics = (("maxFm", "max F"), ("HCE", "HCE"))
    plots.line_panels(series, metrics, "K", "sweep", tmp_path / "f.png")
    (fig,) = kept
    visible = [ax for ax in fig.axes if ax.axison]
    assert [ax.get_ylabel() for ax in visible] == ["max F"]  # no HCE value: no HCE panel
    (ax,) = visible
    lines = {
        line.get_label(): (list(line.get_xdata()), list(line.get_ydata())) for line in ax.lines
    }
    assert lines == {"K": ([1, 5], [0.7, 0.8]), "T": ([3], [0.75])}
    assert list(ax.get_xticks()) == [1, 3, 5]
    # Two series: a legend naming both, in the given order.
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["K", "T"]


def test_one_series_has_no_legend_and_no_values_at_all_is_refused(tmp_path: Path, monkeypatch):
    kept = _drawn(monkeypatch)
    plots.line_panels({"K": [(1, {"MAE": 0.1})]}, (("MAE", "MAE"),), "K", "t", tmp_path / "f.png")
    assert kept[0].axes[0].get_legend() is None
    empty = {"K": [(1, {"MAE": None})]}
    with pytest.raises(ValueError, match=rf"^{tmp_path / 'g.png'}: no values to plot$"):
        plots.line_panels(empty, (("MAE", "MAE"),), "K", "t", tmp_path / "g.png")
    assert len(kept) == 1


def test_the_scatter_title_says_undefined_for_a_nan_pearson_r(tmp_path: Path, monkeypatch):
    # Every final IoU the same: r is NaN, which the summary calls undefined; so does the title.
    kept = _drawn(monkeypatch)
    plots.quality_scatter([0.2, 0.9], [1.0, 1.0], tmp_path / "s.png", 0.5, 0.8, float("nan"))
    plots.quality_scatter([0.2, 0.9], [0.1, 1.0], tmp_path / "t.png", 0.5, 0.8, 1.0)
    titles = [fig.axes[0].get_title() for fig in kept]
    assert titles == ["Pearson r = undefined (n = 2)", "Pearson r = 1.000 (n = 2)"]
