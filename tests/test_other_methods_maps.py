"""Other methods' published maps scored as a folder: what their usual shapes get.

Maps named ``<stem>_pred``, another split's maps, per-split subfolders and maps in a format
that is not read are refused saying which of these it is; maps giving each instance its own
colour are refused even when their instances cover little of the image (their mean channel
spread is below a photo's); instance label maps (1, 2, 3 per instance) warn in COS scoring,
where they would give no instance and AP 0 without a word.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from pmgsam.evaluation.instances import LabelMapWarning, evaluate_cos_folder
from pmgsam.evaluation.scoring import EvaluationInputError, evaluate_dis_folder
from tests.mask_cases import box_masks, coco_annotation, coco_dict
from tests.mask_cases import dis_refusal as _refusal

STEMS = ("a", "b")


def _gt_folder(root: Path, name: str = "gt") -> Path:
    gt = root / name
    gt.mkdir(parents=True)
    for i, stem in enumerate(STEMS):
        mask = np.zeros((40, 50), np.uint8)
        mask[5 + i : 25, 10:30] = 255
        Image.fromarray(mask).save(gt / f"{stem}.png")
    return gt


def _maps(folder: Path, names, value: int = 200) -> Path:
    return box_masks(folder, names, value=value)


def test_maps_named_stem_pred_are_refused_saying_so(tmp_path):
    gt = _gt_folder(tmp_path)
    pred = _maps(tmp_path / "pred", ["a_pred.png", "b_pred.png"])
    text = _refusal(pred, gt)
    assert "'_pred' after its name" in text and "'a_pred.png' for 'a'" in text


def test_maps_of_another_split_are_refused_saying_so(tmp_path):
    gt = _gt_folder(tmp_path)
    pred = _maps(tmp_path / "pred", ["x.png", "y.png"])
    assert "of another split or dataset" in _refusal(pred, gt)


def test_maps_in_split_subfolders_name_the_split_to_give(tmp_path):
    gt = _gt_folder(tmp_path / "DIS-TE1")
    _maps(tmp_path / "pred" / "DIS-TE1", ["a.png", "b.png"])
    _maps(tmp_path / "pred" / "DIS-TE2", ["c.png"])
    text = _refusal(tmp_path / "pred", gt)
    assert f"e.g. '{tmp_path / 'pred' / 'DIS-TE1'}'" in text


def test_maps_in_an_unread_format_are_named(tmp_path):
    gt = _gt_folder(tmp_path)
    pred = _maps(tmp_path / "pred", ["a.webp", "b.webp"])
    assert "formats that are not read (a.webp, b.webp)" in _refusal(pred, gt)


def test_maps_with_another_extension_than_the_gt_pair_by_stem(tmp_path):
    gt = _gt_folder(tmp_path)
    pred = _maps(tmp_path / "pred", ["a.jpg", "b.bmp"])
    summary, _ = evaluate_dis_folder(pred, gt, workers=1, progress=False, with_hce=False)
    assert summary["num_images"] == 2


def _coco(tmp_path: Path, labels: np.ndarray) -> Path:
    """A COCO file of one 40x50 image 'a' whose instances are ``labels``' nonzero values."""
    anns = [coco_annotation(k, 1, labels == k) for k in range(1, int(labels.max()) + 1)]
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(coco_dict((40, 50), anns)))
    return path


def _two_instances() -> np.ndarray:
    labels = np.zeros((40, 50), np.uint8)
    labels[4:8, 4:8] = 1
    labels[8:12, 4:8] = 2  # touching the first: one component once read as grey
    return labels


def test_instance_coloured_maps_with_small_instances_are_refused(tmp_path):
    labels = _two_instances()
    colours = np.array([[0, 0, 0], [255, 0, 0], [0, 255, 0]], np.uint8)
    pred = tmp_path / "pred"
    pred.mkdir()
    # 32 of 2000 pixels coloured: a mean channel spread of 4, under a photo's.
    Image.fromarray(colours[labels]).save(pred / "a.png")
    with pytest.raises(EvaluationInputError, match="each instance its own colour"):
        evaluate_cos_folder(pred, _coco(tmp_path, labels), progress=False)


def test_grey_maps_saved_as_rgb_jpeg_are_not_taken_for_colour(tmp_path):
    labels = _two_instances()
    pred = tmp_path / "pred"
    pred.mkdir()
    grey = cv2.GaussianBlur((labels > 0).astype(np.uint8) * 255, (5, 5), 1)
    Image.fromarray(np.stack([grey] * 3, -1)).save(pred / "a.jpg", quality=90)
    scores = evaluate_cos_folder(pred, _coco(tmp_path, labels), progress=False)
    assert scores["num_pred_instances"] == 1  # the two touching instances, read as one


def test_instance_label_maps_warn_in_cos_scoring(tmp_path):
    labels = _two_instances()
    labels[20:30, 20:30] = 3
    pred = tmp_path / "pred"
    pred.mkdir()
    Image.fromarray(labels).save(pred / "a.png")  # levels 1, 2, 3: probabilities 1/255...
    with pytest.warns(LabelMapWarning, match=r"1 of 1 map\(s\).*a\.png"):
        scores = evaluate_cos_folder(pred, _coco(tmp_path, labels), progress=False)
    assert scores["AP"] == 0.0


def test_faint_or_probability_maps_do_not_warn_as_label_maps(tmp_path):
    labels = _two_instances()
    pred = tmp_path / "pred"
    pred.mkdir()
    prob = cv2.GaussianBlur((labels > 0).astype(np.float32) * 230, (7, 7), 2)
    Image.fromarray(prob.astype(np.uint8)).save(pred / "a.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error", LabelMapWarning)
        evaluate_cos_folder(pred, _coco(tmp_path, labels), progress=False)
