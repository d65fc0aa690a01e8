"""Qualitative grids and failure sheets (``python -m pmgsam.analysis figures``): cell layout,
figure size, which images are picked, and the worst images of a combined split.

Expected sizes are worked out by hand from the documented layout (cells keep the images'
median aspect, ``--width`` inches wide, one header line of 0.13 in)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Dict, List

import cv2
import numpy as np
import pytest
from mask_cases import png_size

from pmgsam.analysis import figure_grid, figures
from pmgsam.analysis.inputs import SplitImages
from pmgsam.data.io import MaskValueWarning, read_size
from pmgsam.evaluation.scoring import EvaluationInputError


def test_letterbox_keeps_the_aspect_and_centres_on_white() -> None:
    img = np.zeros((2, 4, 3), np.uint8)  # 2 rows, 4 columns: twice as wide as high
    out = figure_grid.letterbox(img, 8, 8)
    # Scaled by 2 to 8 x 4 (W x H), centred: rows 2..5 hold the image, the rest is white.
    assert out.shape == (8, 8, 3) and out.dtype == np.uint8
    assert (out[2:6] == 0).all()
    assert (out[:2] == 255).all() and (out[6:] == 255).all()
    # Grayscale 2 x 6 (W x H) into 6 x 3: scaled by 1/2 to 1 x 3, in column (6 - 1) // 2 = 2.
    tall = figure_grid.letterbox(np.zeros((6, 2), np.uint8), 6, 3)
    assert tall.shape == (3, 6)
    expected = np.full((3, 6), 255, np.uint8)
    expected[:, 2] = 0
    np.testing.assert_array_equal(tall, expected)


def _fit_rows(rows: List[List[np.ndarray]]) -> List[List[np.ndarray]]:
    """Cells fitted to the cell size of their rows' first cells, as figures' rows are."""
    size = figure_grid.cell_size([r[0].shape[:2] for r in rows])
    return [[figure_grid.fit_cell(img, size) for img in r] for r in rows]


def _grid(tmp_path: Path, shapes: List[tuple], **kwargs: Any) -> tuple:
    rows = _fit_rows([[np.zeros(s, np.uint8)] * 3 for s in shapes])
    path = figure_grid.draw_grid(rows, ["A", "B", "C"], tmp_path / "g.png", 3.0, 100, **kwargs)
    return png_size(path)


@pytest.mark.parametrize(
    "shapes, height_in",
    [
        # 3 columns in 3 in: 1 in per cell; wide cells (H/W 0.5) are 0.5 in high.
        ([(10, 20), (10, 20)], 0.13 + 2 * 0.5),
        # The median aspect (0.5) sets every cell, not the mean (1.0).
        ([(10, 20), (10, 20), (40, 20)], 0.13 + 3 * 0.5),
        # Tall cells (H/W 2) are 2 in high.
        ([(40, 20)], 0.13 + 2.0),
    ],
)
def test_grid_size_follows_the_median_cell_aspect(tmp_path, shapes, height_in) -> None:
    assert _grid(tmp_path, shapes) == (300, round(height_in * 100))


def test_row_labels_take_their_margin_from_the_cells(tmp_path) -> None:
    # 0.28 in of row labels leave (3 - 0.28) / 3 in per cell; 2 wide rows of half that.
    w, h = _grid(tmp_path, [(10, 20), (10, 20)], row_labels=["x", "y"])
    assert w == 300
    assert h == pytest.approx((0.13 + 2 * (3 - 0.28) / 3 * 0.5) * 100, abs=1)


def _images(parts: List[str], stems: List[str]) -> SplitImages:
    names = [f"{p}/{s}" for p, s in zip(parts, stems)]
    paths = [Path(f"/nowhere/{n}.png") for n in names]
    return SplitImages(names, parts, stems, paths, paths)


def test_pick_images_spreads_over_the_split_and_finds_names_and_stems() -> None:
    images = _images(["P"] * 10, [f"s{i}" for i in range(10)])
    assert figures.pick_images(images, None, 4) == [0, 3, 6, 9]  # 0, 3, 6, 9 of 0..9
    assert figures.pick_images(images, None, 1) == [0]
    assert figures.pick_images(images, None, 50) == list(range(10))
    assert figures.pick_images(images, "s7, P/s2", 4) == [7, 2]  # a stem and a full name
    with pytest.raises(EvaluationInputError, match=r"not in the split: \['s10'\]"):
        figures.pick_images(images, "s1,s10", 4)


def test_a_stem_in_two_parts_of_a_combined_split_must_be_named_with_its_part() -> None:
    images = _images(["DIS-TE1", "DIS-TE1", "DIS-TE2"], ["x", "y", "x"])
    match = r"name one as <part>/<stem>: 'x' is DIS-TE1/x and DIS-TE2/x"
    with pytest.raises(EvaluationInputError, match=match):
        figures.pick_images(images, "y,x", 4)
    assert figures.pick_images(images, "DIS-TE2/x,y", 4) == [2, 1]


def test_grid_cells_show_label_masks_as_white(tmp_path) -> None:
    # A GT saved as 0/1 labels is shown 0/255; a prediction of 1 (of 255) stays dark.
    for folder in ("im", "gt", "pred"):
        (tmp_path / folder).mkdir()
    cv2.imwrite(str(tmp_path / "im" / "a.png"), np.full((4, 6, 3), 90, np.uint8))
    labels = np.zeros((4, 6), np.uint8)
    labels[:2] = 1
    cv2.imwrite(str(tmp_path / "gt" / "a.png"), labels)
    cv2.imwrite(str(tmp_path / "pred" / "a.png"), labels)
    images = SplitImages(
        ["a"], ["P"], ["a"], [tmp_path / "im" / "a.png"], [tmp_path / "gt" / "a.png"]
    )
    with pytest.warns(MaskValueWarning, match="0/1 labels; read as 0/255"):
        [cells] = figures._rows(images, [0], [{"P": tmp_path / "pred"}], fit=np.asarray)
    assert cells[0].shape == (4, 6, 3)
    np.testing.assert_array_equal(cells[1], labels * 255)
    np.testing.assert_array_equal(cells[2], labels)


def _hce_run(tmp_path: Path, csv_name: str, rows: List[str]) -> Path:
    run = tmp_path / "run"
    (run / "metrics").mkdir(parents=True)
    (run / "metrics" / csv_name).write_text("name,HCE\n" + "\n".join(rows) + "\n")
    return run


def test_worst_by_hce_in_a_combined_split_keeps_parts_apart(tmp_path) -> None:
    # The same stem in two parts: the combined per-image file names them <part>/<stem>.
    images = _images(["DIS-TE1", "DIS-TE1", "DIS-TE2"], ["a", "b", "a"])
    rows = ["DIS-TE1/a,30", "DIS-TE1/b,70", "DIS-TE2/a,50"]
    run = _hce_run(tmp_path, "DIS-TE1+DIS-TE2.per_image.csv", rows)
    worst = figures.worst_images(images, run, "DIS-TE1+DIS-TE2", "hce", 2)
    assert worst == [(1, 70.0), (2, 50.0)]  # highest HCE first, k of them
    assert figures.worst_images(images, run, "DIS-TE1+DIS-TE2", "hce", 5) == [
        (1, 70.0), (2, 50.0), (0, 30.0)
    ]  # fmt: skip


def test_worst_by_hce_of_the_four_test_subsets_reads_their_combined_file(tmp_path) -> None:
    parts = ["DIS-TE1", "DIS-TE2", "DIS-TE3", "DIS-TE4"]
    images = _images(parts, ["x", "y", "z", "w"])
    rows = ["DIS-TE1/x,4", "DIS-TE2/y,9", "DIS-TE3/z,1", "DIS-TE4/w,6"]
    run = _hce_run(tmp_path, "DIS-TE1-4.per_image.csv", rows)
    assert figures.worst_images(images, run, "DIS-TE", "hce", 1) == [(1, 9.0)]


def test_worst_by_hce_of_parts_scored_apart_reads_each_parts_file(tmp_path) -> None:
    # No combined file: each part's own file, whose names are plain stems.
    images = _images(["DIS-TE1", "DIS-TE1", "DIS-TE2"], ["a", "b", "a"])
    run = _hce_run(tmp_path, "DIS-TE1.per_image.csv", ["a,30", "b,70"])
    (run / "metrics" / "DIS-TE2.per_image.csv").write_text("name,HCE\na,50\n")
    assert figures.worst_images(images, run, "DIS-TE1+DIS-TE2", "hce", 2) == [(1, 70.0), (2, 50.0)]
    (run / "metrics" / "DIS-TE1.per_image.csv").write_text("name,HCE\na,30\n")
    with pytest.raises(EvaluationInputError, match=r"^no HCE for 1 image\(s\), e\.g\. DIS-TE1/b$"):
        figures.worst_images(images, run, "DIS-TE1+DIS-TE2", "hce", 2)
    (run / "metrics" / "DIS-TE2.per_image.csv").unlink()
    missing = run / "metrics" / "DIS-TE2.per_image.csv"
    with pytest.raises(EvaluationInputError, match=rf"^--by hce needs {missing} \(score the"):
        figures.worst_images(images, run, "DIS-TE1+DIS-TE2", "hce", 2)


def test_worst_by_hce_of_one_part_reads_the_run_scored_as_dis_te(tmp_path) -> None:
    # README's order: evaluate.py --splits DIS-TE writes only DIS-TE1-4.per_image.csv, then
    # figures --split DIS-TE1 --by hce. Its DIS-TE1 rows hold the part's HCE; the same stem in
    # DIS-TE2 must not be taken for the DIS-TE1 image.
    images = _images(["DIS-TE1", "DIS-TE1"], ["a", "b"])
    rows = ["DIS-TE1/a,30", "DIS-TE1/b,10", "DIS-TE2/a,99", "DIS-TE3/c,1", "DIS-TE4/d,2"]
    run = _hce_run(tmp_path, "DIS-TE1-4.per_image.csv", rows)
    assert figures.worst_images(images, run, "DIS-TE1", "hce", 2) == [(0, 30.0), (1, 10.0)]
    # So is a part of an A+B file.
    (run / "metrics" / "DIS-TE1-4.per_image.csv").rename(
        run / "metrics" / "DIS-TE2+DIS-TE1.per_image.csv"
    )
    assert figures.worst_images(images, run, "DIS-TE1", "hce", 1) == [(0, 30.0)]


def test_worst_by_hce_reads_the_combined_file_that_holds_the_part(tmp_path) -> None:
    # A run scored on two sets (DIS-TE2+DIS-TE3 and DIS-TE3+DIS-TE4): the figures of DIS-TE4
    # read the second, not the first file found (whose rows are other parts' images).
    images = _images(["DIS-TE4", "DIS-TE4"], ["a", "b"])
    run = _hce_run(tmp_path, "DIS-TE2+DIS-TE3.per_image.csv", ["DIS-TE2/a,80", "DIS-TE3/b,90"])
    (run / "metrics" / "DIS-TE3+DIS-TE4.per_image.csv").write_text(
        "name,HCE\nDIS-TE3/b,90\nDIS-TE4/a,5\nDIS-TE4/b,15\n"
    )
    assert figures.worst_images(images, run, "DIS-TE4", "hce", 2) == [(1, 15.0), (0, 5.0)]


@pytest.mark.parametrize(
    "text, words",
    [
        ("name,HCE\na,3\nb,\n", r"P\.per_image\.csv has no HCE values"),
        ("name,HCE\na,3\nb,n/a\n", r"P\.per_image\.csv: row .*'n/a'.* numeric HCE"),
        ("stem,HCE\na,3\nb,4\n", r"P\.per_image\.csv: row .*'stem'.* needs a name"),
    ],
    ids=["empty", "not-a-number", "no-name-column"],
)
def test_per_image_file_without_usable_hce_is_named(tmp_path, text, words) -> None:
    images = _images(["P", "P"], ["a", "b"])
    (tmp_path / "run" / "metrics").mkdir(parents=True)
    (tmp_path / "run" / "metrics" / "P.per_image.csv").write_text(text)
    with pytest.raises(EvaluationInputError, match=words):
        figures.worst_images(images, tmp_path / "run", "P", "hce", 1)


def test_worst_by_iou_reads_thresholded_maps(tmp_path) -> None:
    # A prediction is foreground above 127, the GT above 128: a prediction of 128 on a GT of
    # 255 is right (IoU 1); read the other way round, the 128 would be empty GT (IoU 0).
    gt_dir, pred = tmp_path / "gt", tmp_path / "run" / "pred" / "P"
    gt_dir.mkdir()
    pred.mkdir(parents=True)
    maps: Dict[str, tuple] = {"a": (128, 255), "b": (255, 255), "c": (0, 255)}
    for stem, (p, g) in maps.items():
        cv2.imwrite(str(pred / f"{stem}.png"), np.full((4, 4), p, np.uint8))
        cv2.imwrite(str(gt_dir / f"{stem}.png"), np.full((4, 4), g, np.uint8))
    gts = [gt_dir / f"{s}.png" for s in maps]
    images = SplitImages(list(maps), ["P"] * 3, list(maps), gts, gts)
    worst = figures.worst_images(images, tmp_path / "run", "P", "iou", 3)
    assert worst == [(2, 0.0), (0, 1.0), (1, 1.0)]  # lowest first, ties in split order


def test_failure_sheet_of_a_combined_split(tmp_path, dis5k_root, monkeypatch) -> None:
    drawn: List[Dict[str, Any]] = []

    def draw_grid(rows, headers, path, width_in, dpi, row_labels=None):
        drawn.append({"rows": rows, "headers": headers, "path": path, "labels": row_labels})
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    monkeypatch.setattr(figures, "draw_grid", draw_grid)
    split, parts = "DIS-TE1+DIS-TE2", ["DIS-TE1", "DIS-TE2"]
    runs = []
    for method, value in (("Ours", 255), ("Other", 0)):
        for part in parts:
            folder = tmp_path / method / "pred" / part
            folder.mkdir(parents=True)
            for gt in (dis5k_root / part / "gt").glob("*.png"):
                shape = cv2.imread(str(gt), cv2.IMREAD_GRAYSCALE).shape  # maps fit their GT
                cv2.imwrite(str(folder / gt.name), np.full(shape, value, np.uint8))
        runs.append(str(tmp_path / method))
    # Pre-Mask maps of one part only: the column is left out (it would lack images).
    (tmp_path / "Ours" / "premask" / "DIS-TE1").mkdir(parents=True)
    stems = {p: sorted(g.stem for g in (dis5k_root / p / "gt").glob("*.png")) for p in parts}
    names = [f"{p}/{s}" for p in parts for s in stems[p]]
    values = [7, 3, 9, 1]
    rows = [f"{n},{v}" for n, v in zip(names, values)]
    (tmp_path / "Ours" / "metrics").mkdir()
    (tmp_path / "Ours" / "metrics" / f"{split}.per_image.csv").write_text(
        "name,HCE\n" + "\n".join(rows)
    )
    config = Path(__file__).resolve().parents[1] / "configs" / "demo.yaml"
    args = argparse.Namespace(
        config=str(config), split=split, runs=runs, out=str(tmp_path / "figs"),
        images=None, num=2, worst=1, by="hce", width=3.5, dpi=100, overwrite=False, quiet=True,
        resize_pred=False,
    )  # fmt: skip
    data = [f"data.root={dis5k_root}", f"data.split_dir={tmp_path / 'splits'}"]
    written = figures.figures_report(args, data)
    figs = tmp_path / "figs"
    safe = "DIS-TE1+DIS-TE2"
    assert written == [figs / f"qualitative_{safe}.png", figs / f"failures_{safe}_hce.png"]
    # No premask/ maps: the columns are Image, GT and one per run, by method name.
    assert drawn[0]["headers"] == ["Image", "GT", "Ours", "Other"]
    assert len(drawn[0]["rows"]) == 2 and drawn[0]["labels"] is None
    # --worst 1: a sheet of the single worst image.
    assert len(drawn[1]["rows"]) == 1 and drawn[1]["labels"] == ["HCE 9"]
    # Each run's column shows its own maps (Ours are white, Other black), letterboxed to the
    # cells: the grid shows images 0 and 3 (2 spread over 4), the sheet image 2.
    for row, name in zip(drawn[0]["rows"] + drawn[1]["rows"], [names[0], names[3], names[2]]):
        part, stem = name.split("/")
        gt_size = read_size(dis5k_root / part / "gt" / f"{stem}.png")
        cell = (row[0].shape[1], row[0].shape[0])
        for column, value in ((2, 255), (3, 0)):
            drawn_map = figure_grid.fit_cell(np.full(gt_size, value, np.uint8), cell)
            np.testing.assert_array_equal(row[column], drawn_map)
    sheet = (figs / f"failures_{safe}_hce.txt").read_text().splitlines()
    assert sheet == [f"{names[2]}\t9.0"]


def test_method_headers_stay_inside_their_columns(tmp_path, monkeypatch) -> None:
    import matplotlib.pyplot as plt

    kept: list = []
    monkeypatch.setattr(figure_grid, "save_png", lambda fig, path, dpi: kept.append(fig) or path)
    # Five columns one paper column wide: about 0.64 in each. The last header used to run
    # past the figure's right edge ("PMG-SAM (DRFM" was cut off).
    headers = ["Image", "GT", "Pre-Mask", "SAM ViT-H fine-tuned auto (union)"]
    headers += ["PMG-SAM (DRFM + Hiera high-res)"]
    cells = [np.zeros((40, 60), np.uint8)] * len(headers)
    figure_grid.draw_grid(_fit_rows([cells, cells]), headers, tmp_path / "grid.png", 3.5, 100)
    fig = kept[0]
    try:
        renderer = fig.canvas.get_renderer()
        top = fig.bbox.y1
        for ax in fig.axes[: len(headers)]:
            cell, title = ax.get_window_extent(renderer), ax.title.get_window_extent(renderer)
            assert cell.x0 - 0.5 <= title.x0 and title.x1 <= cell.x1 + 0.5, ax.title.get_text()
            assert title.y1 <= top + 0.5, ax.title.get_text()  # all lines within the figure
    finally:
        plt.close(fig)


def test_a_header_word_wider_than_its_column_is_cut_where_the_line_is_full() -> None:
    # Five W fit, six do not: "a" cannot share a line with the long word, which is cut in 8.
    width = figure_grid.text_width_pt("WWWWW", 7) + 0.01
    assert figure_grid.text_width_pt("WWWWWW", 7) > width
    assert figure_grid.wrap_to_width("a " + "W" * 40, width, 7) == "\n".join(["a"] + ["WWWWW"] * 8)


def test_a_long_method_name_breaks_after_its_hyphens_first() -> None:
    # "points-per-side" on a line as wide as "points-per-si": cut where the line was full, it
    # read "points-per-si" / "de"; after its hyphens it reads "points-per-" / "side".
    width = figure_grid.text_width_pt("points-per-si", 7) + 0.01
    assert figure_grid.text_width_pt("points-per-sid", 7) > width
    assert figure_grid.wrap_to_width("points-per-side", width, 7) == "points-per-\nside"
    # A part too wide alone is still cut where the line is full.
    narrow = figure_grid.text_width_pt("WWWWW", 7) + 0.01
    assert figure_grid.wrap_to_width("a-" + "W" * 8, narrow, 7) == "a-\nWWWWW\nWWW"
