"""A prediction saved as 0/1 labels (0 and 1 of 255) is read as stored, but never silently: its
thresholded scores (HCE, COS instances) see an empty map while the min-max normalised DIS
metrics see a 0/255 one, so each such file is named in a warning."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from mask_cases import coco_dict

from pmgsam.data.io import MaskValueWarning, load_mask
from pmgsam.evaluation.instances import evaluate_cos_folder
from pmgsam.evaluation.scoring import evaluate_dis_folder

H, W = 12, 16


def _labels() -> np.ndarray:
    m = np.zeros((H, W), np.uint8)
    m[2:8, 3:10] = 1
    return m


def test_a_0_1_prediction_keeps_its_values_and_is_named(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "p.png"), _labels())
    with pytest.warns(MaskValueWarning, match=r"'.*p\.png' holds only the values 0 and 1"):
        pred = load_mask(tmp_path / "p.png", "prediction", labels_01=False)
    np.testing.assert_array_equal(pred, _labels())  # as stored: a faint map stays faint


@pytest.mark.parametrize("values", [(0, 255), (0, 2), (0, 1, 2), (1,), (0,)])
def test_other_predictions_read_quietly(tmp_path: Path, values: tuple) -> None:
    # A 0/255 map, a faint 0/2 one, a soft map with 0, 1 and 2, a constant map of 1 and an
    # empty map (a prediction that found nothing holds no 1s).
    pred = np.resize(np.array(values, np.uint8), (H, W))
    cv2.imwrite(str(tmp_path / "p.png"), pred)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(load_mask(tmp_path / "p.png", "prediction", False), pred)


def _folders(tmp_path: Path) -> tuple:
    pred, gt = tmp_path / "pred", tmp_path / "gt"
    pred.mkdir()
    gt.mkdir()
    for stem in ("a", "b"):
        cv2.imwrite(str(pred / f"{stem}.png"), _labels())
        cv2.imwrite(str(gt / f"{stem}.png"), _labels() * 255)
    return pred, gt


def test_dis_scoring_names_the_label_maps_in_one_warning(tmp_path: Path) -> None:
    pred, gt = _folders(tmp_path)
    with pytest.warns(MaskValueWarning) as record:
        summary, _ = evaluate_dis_folder(pred, gt, progress=False)
    [line] = [str(w.message) for w in record if "only the values 0 and 1" in str(w.message)]
    assert line.startswith("2 files: ") and "a.png" in line and "b.png" in line
    # The map is the GT itself: the normalised metrics read it as perfect (MAE 0), while
    # HCE's raw > 128 sees no foreground: the HCE of an empty map (PySODMetrics' HCE on an
    # all-zero map, which its normalisation leaves empty).
    import py_sod_metrics

    hce = py_sod_metrics.HumanCorrectionEffortMeasure(relax=5, epsilon=2.0)
    hce.step(pred=np.zeros((H, W), np.uint8), gt=_labels() * 255)
    assert summary["MAE"] == 0.0 and summary["HCE"] == hce.get_results()["hce"] > 0


def test_cos_scoring_names_the_label_maps_in_one_warning(tmp_path: Path) -> None:
    from pmgsam.utils.rle import encode_rle

    pred, _ = _folders(tmp_path)
    anns = [
        {"id": i, "image_id": i, "category_id": 1, "segmentation": encode_rle(_labels() > 0)}
        for i in (1, 2)
    ]
    gt = coco_dict((H, W), anns, ["a.jpg", "b.jpg"])
    gt_json = tmp_path / "gt.json"
    gt_json.write_text(json.dumps(gt))
    with pytest.warns(MaskValueWarning) as record:
        scores = evaluate_cos_folder(pred, gt_json, progress=False)
    [line] = [str(w.message) for w in record if "only the values 0 and 1" in str(w.message)]
    assert line.startswith("2 files: ") and "a.png" in line and "b.png" in line
    # 1/255 is not above 0.5: no instance, so AP 0 (the warning is the only hint).
    assert scores["num_pred_instances"] == 0 and scores["AP"] == 0.0


def test_a_colour_mapped_prediction_is_named_and_grey_or_gt_colour_reads_quietly(tmp_path):
    # A jet-coloured map: scoring reads its brightest channel, which is high for low and
    # high probabilities alike (jet's 0 is dark blue 128, its 1 dark red 128).
    ramp = np.tile(np.linspace(0, 255, W).astype(np.uint8), (H, 1))
    jet = cv2.applyColorMap(ramp, cv2.COLORMAP_JET)
    cv2.imwrite(str(tmp_path / "jet.png"), jet)
    with pytest.warns(MaskValueWarning, match=r"'.*jet\.png' is a colour image"):
        read = load_mask(tmp_path / "jet.png", "prediction", labels_01=False)
    np.testing.assert_array_equal(read, jet.max(axis=2))  # still read as documented
    grey = np.repeat(ramp[:, :, None], 3, axis=2)  # a grey map saved as RGB
    cv2.imwrite(str(tmp_path / "grey.png"), grey)
    red = np.zeros((H, W, 3), np.uint8)
    red[2:8, 3:10, 2] = 255  # a GT mask drawn in red (BGR): coloured labels are fine there
    cv2.imwrite(str(tmp_path / "red.png"), red)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(load_mask(tmp_path / "grey.png", "prediction", False), ramp)
        assert load_mask(tmp_path / "red.png", "GT mask").max() == 255


def test_the_colour_warning_fires_above_a_mean_spread_of_8(tmp_path: Path) -> None:
    # The spread of a pixel is its largest channel less its smallest, averaged over the file:
    # (100, 100, 108) everywhere is 8, not above COLOUR_SPREAD (8); (100, 100, 109) is 9.
    # A grey map with one red pixel of 192 averages 255 / 192 < 2: a stray dot, no picture.
    def save(name: str, rgb: tuple) -> Path:
        cv2.imwrite(str(tmp_path / name), np.full((H, W, 3), rgb[::-1], np.uint8))
        return tmp_path / name

    tinted, dotted = save("tinted.png", (100, 100, 108)), tmp_path / "dotted.png"
    grey = np.full((H, W, 3), 90, np.uint8)
    grey[0, 0] = (0, 0, 255)
    cv2.imwrite(str(dotted), grey)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_mask(tinted, "prediction", False).max() == 108
        assert load_mask(dotted, "prediction", False)[0, 0] == 255
    with pytest.warns(MaskValueWarning, match=r"'.*c\.png' is a colour image .* by 9 of 255"):
        load_mask(save("c.png", (100, 100, 109)), "prediction", labels_01=False)
