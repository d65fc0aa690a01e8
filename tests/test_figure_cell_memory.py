"""Figures shrink each cell as it is read: ``_rows`` returns cells letterboxed to the grid's
cell (its size from the median aspect of all the rows' images, read from their headers), so
that memory holds one full-size image at a time however many rows a figure has; an image in
both the grid and the failure sheet is read once.

The letterboxed cells' sizes and positions are worked out by hand below (CELL_PX 320, a 6 px
white margin inside each cell)."""

from __future__ import annotations

import tracemalloc
from pathlib import Path
from typing import List, Tuple

import numpy as np
import pytest
from PIL import Image

from pmgsam.analysis import figures
from pmgsam.analysis.inputs import SplitImages
from tests.cli_cases import figures_args

pytestmark = pytest.mark.usefixtures("one_thread")
MAP = 40  # every map's value: a cell is MAP where its image lies, white elsewhere


def _split(tmp_path: Path, sizes: List[Tuple[int, int]]) -> Tuple[SplitImages, dict]:
    """One image of each (H, W) size, its GT (all background) and a run's constant map."""
    pred = tmp_path / "run" / "pred" / "S"
    for folder in (tmp_path / "im", tmp_path / "gt", pred):
        folder.mkdir(parents=True)
    stems = [f"s{k}" for k in range(len(sizes))]
    for stem, (h, w) in zip(stems, sizes):
        Image.new("RGB", (w, h), (10, 20, 30)).save(tmp_path / "im" / f"{stem}.png")
        Image.new("L", (w, h), 0).save(tmp_path / "gt" / f"{stem}.png")
        Image.new("L", (w, h), MAP).save(pred / f"{stem}.png")
    images = SplitImages(
        names=stems,
        parts=["S"] * len(stems),
        stems=stems,
        image_paths=[tmp_path / "im" / f"{s}.png" for s in stems],
        mask_paths=[tmp_path / "gt" / f"{s}.png" for s in stems],
    )
    return images, {"S": pred}


def test_cells_are_letterboxed_to_the_median_aspect_as_they_are_read(tmp_path) -> None:
    # Aspects (H/W) 0.625, 0.625, 3: the median 0.625 makes every cell 320 x 200 (W x H),
    # the tall image's too; inside the margin 308 x 188.
    images, folder = _split(tmp_path, [(40, 64), (40, 64), (90, 30)])
    rows = figures._rows(images, [0, 1, 2], [folder])
    assert {cell.shape[:2] for row in rows for cell in row} == {(200, 320)}
    # 64 x 40 scaled by min(308/64, 188/40) = 4.7 to 301 x 188, at x (308 - 301) // 2 = 3;
    # 30 x 90 scaled by 188/90 to 63 x 188, at x (308 - 63) // 2 = 122 (plus the margin).
    for row, cols in zip(rows, [(9, 310), (9, 310), (128, 191)]):
        expected = np.full((200, 320), 255, np.uint8)
        expected[6:194, cols[0] : cols[1]] = MAP
        np.testing.assert_array_equal(row[2], expected)
        gt = np.where(expected == MAP, 0, 255)  # all background: black where the image lies
        np.testing.assert_array_equal(row[1], gt)
        assert (row[0][6:194, cols[0] : cols[1]] == (10, 20, 30)).all()


def test_peak_memory_does_not_grow_with_the_rows(tmp_path) -> None:
    # 600 x 900 images (1.6 MB as RGB, 0.5 MB each GT and map) in 1 and in 6 rows: holding
    # every row at full size until the grid was drawn took about 6 times the memory.
    n = 6
    images, folder = _split(tmp_path, [(600, 900)] * n)
    peaks = []
    for idx in ([0], list(range(n))):
        tracemalloc.start()
        try:
            figures._rows(images, idx, [folder])
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    one_row = 900 * 600 * (3 + 1 + 1)
    assert peaks[1] < peaks[0] + one_row, peaks


def test_an_image_in_the_grid_and_the_sheet_is_read_once(tmp_path, monkeypatch) -> None:
    import pmgsam.data

    images, _ = _split(tmp_path, [(40, 64), (40, 64), (40, 64)])
    read: List[Path] = []
    load_image = pmgsam.data.load_image
    monkeypatch.setattr(pmgsam.data, "load_image", lambda p: read.append(p) or load_image(p))
    drawn: list = []
    monkeypatch.setattr(figures, "draw_grid", lambda rows, headers, path, *a: drawn.append(rows))
    monkeypatch.setattr(figures, "split_images", lambda config, split, overrides: images)
    args = figures_args([tmp_path / "run"], tmp_path / "f", num=3, worst=2, width=3.5, dpi=50)
    figures.figures_report(args, [])
    assert sorted(read) == images.image_paths  # each once, though the sheet shows two again
    lines = (tmp_path / "f" / "failures_S_iou.txt").read_text().splitlines()
    for k, line in enumerate(lines):
        i = images.names.index(line.split("\t")[0])
        for sheet_cell, grid_cell in zip(drawn[1][k], drawn[0][i]):
            np.testing.assert_array_equal(sheet_cell, grid_cell)
