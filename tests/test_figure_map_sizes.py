"""Figures read maps as ``evaluate.py`` scores them: a map of another size than its GT is
refused naming it unless ``--resize-pred`` (then resized bilinearly), and one turned by 90° is
refused always; both for the IoU ranking and for the drawn cells.

The maps are 2x copies of 4 x 4 GT masks (each GT pixel a 2 x 2 block): a bilinear halving
averages the two source pixels of one block, so it gives the GT's values back exactly and the
IoU after resizing is known by hand."""

from __future__ import annotations

from pathlib import Path
from typing import Dict

import numpy as np
import pytest
from PIL import Image

from pmgsam.analysis import figures
from pmgsam.analysis.inputs import SplitImages
from pmgsam.evaluation.scoring import EvaluationInputError

LEFT = np.zeros((4, 4), np.uint8)
LEFT[:, :2] = 255  # the left half
# GT of each image, and its map at twice the size: "right" predicts the other half (IoU 0).
GTS = {"left": LEFT, "right": LEFT}
MAPS = {"left": LEFT, "right": 255 - LEFT}


def _split(tmp_path: Path, maps: Dict[str, np.ndarray], gts: Dict[str, np.ndarray]):
    """A one-part split "P" of ``gts`` (images white) and a run holding ``maps`` as written."""
    for folder in ("im", "gt", "run/pred/P"):
        (tmp_path / folder).mkdir(parents=True)
    for stem, gt in gts.items():
        Image.fromarray(gt).save(tmp_path / "gt" / f"{stem}.png")
        Image.new("RGB", gt.shape[::-1], (255, 255, 255)).save(tmp_path / "im" / f"{stem}.png")
        Image.fromarray(maps[stem]).save(tmp_path / "run" / "pred" / "P" / f"{stem}.png")
    stems = list(gts)
    return SplitImages(
        names=stems,
        parts=["P"] * len(stems),
        stems=stems,
        image_paths=[tmp_path / "im" / f"{s}.png" for s in stems],
        mask_paths=[tmp_path / "gt" / f"{s}.png" for s in stems],
    )


def _doubled(maps: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    return {s: np.kron(m, np.ones((2, 2), np.uint8)) for s, m in maps.items()}


def test_iou_ranking_refuses_a_map_of_another_size_naming_it(tmp_path) -> None:
    images = _split(tmp_path, _doubled(MAPS), GTS)
    # Was numpy's "operands could not be broadcast", naming no file.
    with pytest.raises(EvaluationInputError, match=r"2 prediction\(s\) differ in size") as err:
        figures.worst_images(images, tmp_path / "run", "P", "iou", 2, progress=False)
    assert "left.png 8x8 vs GT left.png 4x4" in str(err.value)
    assert "--resize-pred" in str(err.value)


def test_iou_ranking_with_resize_pred_scores_the_resized_maps(tmp_path) -> None:
    images = _split(tmp_path, _doubled(MAPS), GTS)
    worst = figures.worst_images(
        images, tmp_path / "run", "P", "iou", 2, progress=False, resize_pred=True
    )
    assert worst == [(1, 0.0), (0, 1.0)]  # "right" predicts the other half, "left" its GT


def test_a_map_turned_by_90_degrees_is_refused_even_with_resize_pred(tmp_path) -> None:
    wide = np.zeros((4, 6), np.uint8)
    images = _split(tmp_path, {"t": wide.T.copy()}, {"t": wide})
    for resize in (False, True):
        with pytest.raises(EvaluationInputError, match=r"turned by 90°.*t.png 4x6 vs GT t.png"):
            figures.worst_images(images, tmp_path / "run", "P", "iou", 1, False, resize)
        with pytest.raises(EvaluationInputError, match=r"run/pred/P/t.png'.*turned by 90°"):
            figures._rows(images, [0], [{"P": tmp_path / "run" / "pred" / "P"}], resize)


def test_grid_cells_are_refused_or_resized_as_the_ranking(tmp_path) -> None:
    images = _split(tmp_path, _doubled(MAPS), GTS)
    folders = [{"P": tmp_path / "run" / "pred" / "P"}]
    with pytest.raises(EvaluationInputError, match=r"pred/P/right.png: size \(8, 8\) differs"):
        figures._rows(images, [1], folders)
    (row,) = figures._rows(images, [1], folders, resize_pred=True, fit=np.asarray)
    assert np.array_equal(row[2], MAPS["right"])  # at the GT's size, beside the GT
