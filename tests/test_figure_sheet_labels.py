"""The failure sheet labels each row with that row's own image's score, worst first, and the
grid's Pre-Mask column shows the first run's Pre-Mask, each run headed by its method name
(the module's documented layout)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List

import numpy as np
from PIL import Image

from pmgsam.analysis import figures
from pmgsam.analysis.figure_grid import fit_cell
from pmgsam.analysis.inputs import SplitImages
from tests.cli_cases import figures_args

STEMS = ("a", "b", "c")


def _split(tmp_path: Path) -> SplitImages:
    """Three 8x6 images whose GT is all foreground."""
    for folder, mode in (("im", "RGB"), ("gt", "L")):
        (tmp_path / folder).mkdir()
        for stem in STEMS:
            Image.new(mode, (8, 6), 255 if mode == "L" else (1, 2, 3)).save(
                tmp_path / folder / f"{stem}.png"
            )
    return SplitImages(
        names=list(STEMS),
        parts=["S"] * 3,
        stems=list(STEMS),
        image_paths=[tmp_path / "im" / f"{s}.png" for s in STEMS],
        mask_paths=[tmp_path / "gt" / f"{s}.png" for s in STEMS],
    )


def test_failure_sheet_rows_carry_their_own_iou_worst_first(tmp_path, monkeypatch) -> None:
    images = _split(tmp_path)
    pred = tmp_path / "Ours" / "pred" / "S"
    pred.mkdir(parents=True)
    # IoU with the all-foreground GT: a 0.5 (left half), b 0, c 1.
    half = np.zeros((6, 8), np.uint8)
    half[:, :4] = 255
    maps = {"a": half, "b": np.zeros((6, 8), np.uint8), "c": np.full((6, 8), 255, np.uint8)}
    for stem, arr in maps.items():
        Image.fromarray(arr).save(pred / f"{stem}.png")
    drawn: List[Dict[str, Any]] = []

    def draw_grid(rows, headers, path, width_in, dpi, row_labels=None):
        drawn.append({"rows": rows, "labels": row_labels})
        return path

    monkeypatch.setattr(figures, "draw_grid", draw_grid)
    monkeypatch.setattr(figures, "split_images", lambda config, split, overrides: images)
    args = figures_args([tmp_path / "Ours"], tmp_path / "f", num=3, worst=3, width=3.5, dpi=50)
    figures.figures_report(args, [])
    sheet = drawn[1]
    assert sheet["labels"] == ["IoU 0.00", "IoU 0.50", "IoU 1.00"]
    # Each row's map cell is its own image's map, letterboxed to the cells: b, then a, then c.
    for row, stem in zip(sheet["rows"], "bac"):
        cell = (row[0].shape[1], row[0].shape[0])
        np.testing.assert_array_equal(row[2], fit_cell(maps[stem], cell), err_msg=stem)
    text = (tmp_path / "f" / "failures_S_iou.txt").read_text()
    assert text == "b\t0.0\na\t0.5\nc\t1.0\n"


def test_pre_mask_column_is_the_first_runs_and_runs_are_headed_by_method(tmp_path) -> None:
    runs = [tmp_path / "First", tmp_path / "Second"]
    for run in runs:
        (run / "premask" / "S").mkdir(parents=True)
    # A run's column is headed by the method its run.json names, else by its folder's name.
    (runs[0] / "run.json").write_text('{"method": "PMG-SAM (ours)"}')
    headers, folders = figures._map_sources(runs, "S")
    assert headers == ["Pre-Mask", "PMG-SAM (ours)", "Second"]
    assert folders == [
        {"S": runs[0] / "premask" / "S"},
        {"S": runs[0] / "pred" / "S"},
        {"S": runs[1] / "pred" / "S"},
    ]
