"""``figures --labels`` heads the runs' columns (a baseline's method name lists its settings
and wraps to ~8 lines in one paper column), one label per run in the order of ``--runs``;
labels that would head two columns alike, or do not match the runs one to one, are refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List

import pytest
from test_figure_pixels import _runs, _split

from pmgsam.analysis import figure_grid, figures
from pmgsam.analysis.__main__ import build_parser
from pmgsam.evaluation.scoring import EvaluationInputError
from tests.cli_cases import figures_args

pytestmark = pytest.mark.usefixtures("one_thread")

LONG = "SAM ViT-B auto [points-per-side 4, pred-iou-thresh 0, stability-score-thresh 0] (union)"


def _drawn_headers(tmp_path: Path, monkeypatch, **given) -> List[List[str]]:
    """The headers of every figure drawn for the two runs of :func:`_runs`."""
    images = _split(tmp_path)
    runs = _runs(tmp_path)
    (runs[1] / "run.json").write_text(json.dumps({"method": LONG}))
    drawn: List[List[str]] = []

    def draw_grid(rows, headers, path, width_in, dpi, row_labels=None):
        drawn.append(list(headers))
        return path

    monkeypatch.setattr(figures, "draw_grid", draw_grid)
    monkeypatch.setattr(figures, "split_images", lambda config, split, overrides: images)
    figures.figures_report(figures_args(runs, tmp_path / "f", **given), [])
    return drawn


def test_labels_head_the_runs_columns_in_the_grid_and_the_sheet(tmp_path, monkeypatch) -> None:
    drawn = _drawn_headers(tmp_path, monkeypatch, labels=["PMG-SAM", "SAM ViT-B"])
    expected = ["Image", "GT", "Pre-Mask", "PMG-SAM", "SAM ViT-B"]
    assert drawn == [expected, expected]


def test_without_labels_a_long_method_name_gets_a_note(tmp_path, monkeypatch, capsys) -> None:
    drawn = _drawn_headers(tmp_path, monkeypatch, width=3.5)
    assert drawn[0][3:] == ["Ours", LONG]
    out = capsys.readouterr().out
    # Only the long header is named; 'Ours' fits on one line.
    assert f"column header(s) '{LONG}' wrap to more than 3 lines" in out and "--labels" in out
    # The count the note rests on: 5 columns of 0.7 in (less the sheet's row labels). The other
    # four headers only set the column count: each header wraps alone, and measuring LONG's
    # text five times took most of the test's time.
    assert figure_grid.header_lines([LONG, "a", "b", "c", "d"], 3.5, row_labels=True)[0] > 3


@pytest.mark.parametrize(
    "labels, message",
    [
        (["PMG-SAM"], r"1 label\(s\) for 2 run\(s\)"),
        (["A", "B", "C"], r"3 label\(s\) for 2 run\(s\)"),
        (["SAM", "SAM"], r"'SAM' would head two columns alike"),
        (["GT", "SAM"], r"'GT' would head two columns alike"),
        (["A", " "], r"label 2 is empty"),
    ],
)
def test_labels_not_one_distinct_header_per_run_are_refused(
    tmp_path, monkeypatch, labels, message
) -> None:
    with pytest.raises(EvaluationInputError, match=f"--labels: {message}"):
        _drawn_headers(tmp_path, monkeypatch, labels=labels)
    assert not (tmp_path / "f").exists()  # refused before anything is written


def test_the_cli_takes_one_label_per_run() -> None:
    args = build_parser().parse_args(
        ["figures", "--runs", "a", "b", "--labels", "PMG-SAM", "SAM ViT-B", "--out", "o",
         "--config", "c.yaml", "--split", "S"]
    )  # fmt: skip
    assert args.runs == ["a", "b"] and args.labels == ["PMG-SAM", "SAM ViT-B"]
    assert (
        build_parser()
        .parse_args(["figures", "--runs", "a", "--out", "o", "--config", "c.yaml", "--split", "S"])
        .labels
        is None
    )
