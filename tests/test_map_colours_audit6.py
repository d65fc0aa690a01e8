"""Mutation audit 6: colour maps refused (map_checks.refuse_colour_images, refuse_photo_gt) and
instance label maps warned about (instances.looks_like_labels) only where they are.

Instance colours on black are told from a picture (no black) and from a colour-mapped map
(hundreds of colours); a grey map whose channels differ by a level or two is still grey; a
small GT photo is counted by its pixels, not its channel values. A label map is a uint8 map
of a few levels from 2 up to 64 with none above the threshold: a 0/1 map, a map of higher or
many faint levels, and a low threshold's instances are not; every label map is named.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pmgsam.evaluation.instances import LabelMapWarning, evaluate_cos_folder, looks_like_labels
from pmgsam.evaluation.map_checks import refuse_colour_images, refuse_photo_gt
from pmgsam.evaluation.scoring import EvaluationInputError
from tests.mask_cases import coco_annotation, coco_dict


def _save(path: Path, arr: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return path


def _colour_refusal(tmp_path: Path, rgb: np.ndarray) -> str:
    path = _save(tmp_path / "pred" / "a.png", rgb)
    with pytest.raises(EvaluationInputError) as err:
        refuse_colour_images([path], tmp_path / "pred")
    return str(err.value)


def test_few_flat_colours_without_black_are_a_picture_not_instance_colours(tmp_path):
    rgb = np.zeros((30, 40, 3), np.uint8)
    rgb[:] = (40, 120, 200)  # sky
    rgb[15:] = (60, 160, 60)  # grass: a flat cartoon, every pixel coloured
    assert "holds colour images, not probability maps" in _colour_refusal(tmp_path, rgb)


def test_a_colour_mapped_map_on_black_is_not_called_instance_colours(tmp_path):
    import cv2

    ramp = np.tile(np.arange(256, dtype=np.uint8), (8, 1))  # 256 levels: hundreds of colours
    rgb = cv2.applyColorMap(ramp, cv2.COLORMAP_JET)[..., ::-1].copy()
    rgb[:, :4] = 0  # black where the method saw nothing
    assert "holds colour images" in _colour_refusal(tmp_path, rgb)


def test_a_grey_map_whose_channels_differ_by_two_levels_is_grey(tmp_path):
    grey = np.tile(np.linspace(0, 250, 40).astype(np.uint8), (30, 1))
    rgb = np.stack([grey, grey + 2, grey], -1)  # a converter's rounding in one channel
    refuse_colour_images([_save(tmp_path / "pred" / "a.png", rgb)], tmp_path / "pred")


def test_a_small_gt_photo_is_counted_by_its_pixels(tmp_path):
    rng = np.random.default_rng(0)
    palette = rng.integers(0, 256, (64, 3), dtype=np.uint8)
    photo = palette[np.arange(256).reshape(16, 16) % 64]  # 64 colours on 256 pixels: > 256 / 8
    path = _save(tmp_path / "gt" / "a.png", photo)
    with pytest.raises(EvaluationInputError, match="holds colour photos, not masks"):
        refuse_photo_gt([path], tmp_path / "gt")


def test_label_map_rule_on_its_edges():
    labels = np.zeros((10, 10), np.uint8)
    labels[1:3, 1:3], labels[5:7, 5:7] = 1, 2
    assert looks_like_labels(labels, 0.5)
    assert not looks_like_labels(labels.astype(np.uint16), 0.5)  # 16-bit: not levels of 255
    assert not looks_like_labels(labels, 0.005)  # 2/255 is above it: instances, no warning
    higher = labels * 50  # levels 50 and 100 of 255: a faint map, not instance ids
    assert not looks_like_labels(higher, 0.5)
    faint = np.arange(100, dtype=np.uint8).reshape(10, 10) // 2  # 50 levels up to 49
    assert not looks_like_labels(faint, 0.5)


def _cos_gt(tmp_path: Path, stems) -> Path:
    mask = np.zeros((20, 20), bool)
    mask[2:8, 2:8] = True
    path = tmp_path / "gt.json"
    anns = [coco_annotation(i + 1, i + 1, mask) for i in range(len(stems))]
    path.write_text(json.dumps(coco_dict((20, 20), anns, [f"{s}.jpg" for s in stems])), "utf-8")
    return path


def test_every_label_map_is_named_and_a_0_1_map_is_left_to_its_own_warning(tmp_path):
    labels = np.zeros((20, 20), np.uint8)
    labels[2:5, 2:8], labels[5:8, 2:8] = 1, 2
    for stem in ("a", "b"):
        _save(tmp_path / "pred" / f"{stem}.png", labels)
    _save(tmp_path / "pred" / "c.png", (labels > 0).astype(np.uint8))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        evaluate_cos_folder(tmp_path / "pred", _cos_gt(tmp_path, "abc"), progress=False)
    label = [str(w.message) for w in caught if w.category is LabelMapWarning]
    assert len(label) == 1 and label[0].startswith("2 of 3 map(s)")
    assert "a.png, b.png" in label[0] and "c.png" not in label[0]
