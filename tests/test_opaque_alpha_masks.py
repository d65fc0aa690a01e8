"""An RGBA / LA mask or map of one colour is read by its alpha only when it has transparency:
an empty mask saved as opaque black shows black, so it reads as empty, not as 255 from its
opaque alpha (a NonCAM GT, an empty prediction)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pmgsam.data.io import load_mask
from pmgsam.evaluation.scoring import evaluate_dis_folder

H, W = 10, 12


def _save(path: Path, colour: int, alpha: np.ndarray, mode: str) -> Path:
    channels = 3 if mode == "RGBA" else 1
    arr = np.dstack([np.full((H, W), colour, np.uint8)] * channels + [alpha.astype(np.uint8)])
    Image.fromarray(arr, mode).save(path)
    return path


def _shape() -> np.ndarray:
    m = np.zeros((H, W), np.uint8)
    m[2:7, 3:9] = 255
    return m


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
@pytest.mark.parametrize(
    "colour, alpha, expected",
    [
        (0, np.full((H, W), 255), np.zeros((H, W))),  # opaque black: empty (was all 255)
        (255, np.full((H, W), 255), np.full((H, W), 255)),  # opaque white: full
        (255, _shape(), _shape()),  # a white shape exported as transparency
        (0, _shape(), _shape()),  # a black one: the shape is still in alpha
    ],
)
def test_one_colour_files_read_by_alpha_only_with_transparency(
    tmp_path: Path, mode: str, colour: int, alpha: np.ndarray, expected: np.ndarray
) -> None:
    path = _save(tmp_path / "m.png", colour, alpha, mode)
    np.testing.assert_array_equal(load_mask(path, "GT mask"), expected)
    np.testing.assert_array_equal(load_mask(path, "prediction", labels_01=False), expected)


def test_an_empty_gt_saved_as_opaque_black_rgba_scores_as_empty(tmp_path: Path) -> None:
    import py_sod_metrics

    (tmp_path / "pred").mkdir()
    (tmp_path / "gt").mkdir()
    pred = np.tile(np.linspace(0, 200, W).astype(np.uint8), (H, 1))
    Image.fromarray(pred).save(tmp_path / "pred" / "a.png")
    _save(tmp_path / "gt" / "a.png", 0, np.full((H, W), 255), "RGBA")
    summary, _ = evaluate_dis_folder(tmp_path / "pred", tmp_path / "gt", progress=False)
    # PySODMetrics on the arrays as meant: an empty GT (read as all 255, MAE would be about
    # 0.5 the other way round and S-measure another number).
    mae, sm = py_sod_metrics.MAE(), py_sod_metrics.Smeasure()
    for metric in (mae, sm):
        metric.step(pred=pred, gt=np.zeros((H, W), np.uint8))
    assert summary["MAE"] == pytest.approx(mae.get_results()["mae"], abs=1e-12)
    assert summary["Smeasure"] == pytest.approx(sm.get_results()["sm"], abs=1e-12)


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_a_shape_in_colour_is_read_by_colour_even_with_transparency(
    tmp_path: Path, mode: str
) -> None:
    # Only a file of one colour carries its shape in alpha: a white shape on black exported
    # with a uniform 80% opacity (alpha 204) shows the shape in its colour, not all 204.
    channels = 3 if mode == "RGBA" else 1
    arr = np.dstack([_shape()] * channels + [np.full((H, W), 204, np.uint8)])
    Image.fromarray(arr, mode).save(tmp_path / "m.png")
    np.testing.assert_array_equal(load_mask(tmp_path / "m.png", "GT mask"), _shape())


def test_a_red_mask_exported_as_transparency_reads_by_alpha_without_a_colour_warning(
    tmp_path: Path,
) -> None:
    # A layer filled with red (255, 0, 0) is one colour, so its shape is in alpha: it read as
    # all 255 (its brightest channel), a full mask, and as a prediction was named a colour
    # picture. By hand: the shape, and no warning.
    arr = np.dstack([np.full((H, W), 255, np.uint8), np.zeros((H, W, 2), np.uint8), _shape()])
    Image.fromarray(arr, "RGBA").save(tmp_path / "m.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(load_mask(tmp_path / "m.png", "GT mask"), _shape())
        read = load_mask(tmp_path / "m.png", "prediction", labels_01=False)
    np.testing.assert_array_equal(read, _shape())
