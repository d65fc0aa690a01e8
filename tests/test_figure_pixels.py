"""The saved figures show the right picture in the right panel: read back from the PNG, each
cell's centre is the colour of the image, GT or map that belongs there (rows in the order the
images were chosen or ranked, columns Image | GT | Pre-Mask | one per run), and each column is
headed by its own name."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import pytest
from PIL import Image

from pmgsam.analysis import figure_grid, figures
from pmgsam.analysis.inputs import SplitImages
from tests.cli_cases import figures_args

pytestmark = pytest.mark.usefixtures("one_thread")

W, H = 8, 6  # every image: its cells are 4:3, as the figure's
COLOURS = {"a": (200, 30, 30), "b": (30, 200, 30), "c": (30, 30, 200)}
# GT centres: a and c foreground, b background (a white frame around a black centre).
GT_CENTRE = {"a": 255, "b": 0, "c": 255}
# Constant maps, a gray level per image and folder: a wrong row or column reads another one.
MAPS = {
    "premask": {"a": 70, "b": 90, "c": 110},
    "Ours": {"a": 130, "b": 150, "c": 170},
    "Other": {"a": 180, "b": 100, "c": 60},
}


def _split(tmp_path: Path) -> SplitImages:
    for folder in ("im", "gt"):
        (tmp_path / folder).mkdir()
    for stem, colour in COLOURS.items():
        Image.new("RGB", (W, H), colour).save(tmp_path / "im" / f"{stem}.png")
        gt = np.full((H, W), 255, np.uint8)
        if not GT_CENTRE[stem]:
            gt[1:-1, 1:-1] = 0
        Image.fromarray(gt).save(tmp_path / "gt" / f"{stem}.png")
    return SplitImages(
        names=list(COLOURS),
        parts=["S"] * 3,
        stems=list(COLOURS),
        image_paths=[tmp_path / "im" / f"{s}.png" for s in COLOURS],
        mask_paths=[tmp_path / "gt" / f"{s}.png" for s in COLOURS],
    )


def _runs(tmp_path: Path) -> List[Path]:
    ours, other = tmp_path / "Ours", tmp_path / "Other"
    for run, kind, values in ((ours, "premask", MAPS["premask"]), (ours, "pred", MAPS["Ours"]),
                              (other, "pred", MAPS["Other"])):  # fmt: skip
        (run / kind / "S").mkdir(parents=True)
        for stem, value in values.items():
            Image.fromarray(np.full((H, W), value, np.uint8)).save(run / kind / "S" / f"{stem}.png")
    return [ours, other]


def _expected_row(stem: str) -> List[Tuple[int, ...]]:
    gray = [GT_CENTRE[stem]] + [MAPS[k][stem] for k in ("premask", "Ours", "Other")]
    return [COLOURS[stem]] + [(g, g, g) for g in gray]


def _cell_centres(path: Path, rows: int, cols: int, dpi: int, label_in: float) -> List[list]:
    """RGB at the centre of every cell of a grid PNG (median of a 5x5 patch)."""
    rgb = np.asarray(Image.open(path).convert("RGB")).astype(int)
    top, left = figure_grid.HEADER_IN * dpi, label_in * dpi
    cell_w, cell_h = (rgb.shape[1] - left) / cols, (rgb.shape[0] - top) / rows
    out = []
    for r in range(rows):
        y = int(top + (r + 0.5) * cell_h)
        row = []
        for c in range(cols):
            x = int(left + (c + 0.5) * cell_w)
            patch = rgb[y - 2 : y + 3, x - 2 : x + 3].reshape(-1, 3)
            row.append(tuple(int(v) for v in np.median(patch, 0)))
        out.append(row)
    return out


def _assert_cells(found: List[list], stems: List[str]) -> None:
    for row, stem in zip(found, stems):
        for col, (got, want) in enumerate(zip(row, _expected_row(stem))):
            assert np.abs(np.subtract(got, want)).max() <= 3, (stem, col, got, want)


def test_every_panel_of_the_grid_and_the_sheet_shows_its_own_picture(tmp_path, monkeypatch):
    images = _split(tmp_path)
    runs = _runs(tmp_path)
    titles: Dict[str, List[str]] = {}
    save_png = figure_grid.save_png

    def keep_titles(fig, path, dpi):
        titles[Path(path).name] = [ax.get_title() for ax in fig.axes if ax.get_title()]
        labels = [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()]
        titles[Path(path).name + ":rows"] = labels
        return save_png(fig, path, dpi)

    monkeypatch.setattr(figure_grid, "save_png", keep_titles)
    monkeypatch.setattr(figures, "split_images", lambda config, split, overrides: images)
    dpi = 50
    args = figures_args(runs, tmp_path / "f", images="c,a", num=3, worst=3, width=4.0, dpi=dpi)
    grid, sheet = figures.figures_report(args, [])
    headers = ["Image", "GT", "Pre-Mask", "Ours", "Other"]
    # --images c,a: c's row above a's, in the order named.
    _assert_cells(_cell_centres(grid, 2, 5, dpi, 0.0), ["c", "a"])
    assert titles[grid.name] == headers and titles[grid.name + ":rows"] == []
    # By IoU of the first run's maps (gray 130-170, all foreground at threshold 128, so its
    # IoU is the GT's share of the image): b (a GT frame, IoU 24/48) first, then a and c (IoU 1)
    # in split order; each row labelled with its own IoU.
    _assert_cells(_cell_centres(sheet, 3, 5, dpi, figure_grid.ROW_LABEL_IN), ["b", "a", "c"])
    assert titles[sheet.name] == headers
    assert titles[sheet.name + ":rows"] == ["IoU 0.50", "IoU 1.00", "IoU 1.00"]
