"""``figures --worst`` says whose scores chose the failure sheet's images: the first of
``--runs`` only (its list file holds that run's values, without naming it), so a sheet drawn
with the baseline first is not read as PMG-SAM's failures."""

from __future__ import annotations

import pytest
from test_figure_pixels import _runs, _split

from pmgsam.analysis import figures
from tests.cli_cases import figures_args

pytestmark = pytest.mark.usefixtures("one_thread")


def test_the_list_file_line_names_the_run_and_metric_that_chose_the_images(
    tmp_path, monkeypatch, capsys
) -> None:
    images = _split(tmp_path)
    ours, other = _runs(tmp_path)
    monkeypatch.setattr(figures, "split_images", lambda config, split, overrides: images)
    out = tmp_path / "figs"
    args = figures_args([other, ours], out)
    figures.figures_report(args, [])
    printed = capsys.readouterr().out
    assert f"wrote {out / 'failures_S_iou.txt'} (the sheet's images and their IoU in " in printed
    assert f"'{other}', the first of --runs" in printed and f"'{ours}'" not in printed
