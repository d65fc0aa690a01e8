"""One's own data as it comes: masks named ``<stem>_mask.png`` beside images of mixed formats,
images and masks unpaired on both sides at once, and instance masks drawn for the test split
only. Each case is how a researcher's first folder dataset looks, not DIS5K's layout."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import cv2
import numpy as np
import pytest
from mask_cases import box_masks, dis_refusal

from pmgsam.data import DataError, build_dataset
from pmgsam.data.stem_affixes import added_to_stems

S = 32


def _files(folder: Path, names: Iterable[str], colour: bool) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        mask = np.zeros((12, 16), np.uint8)
        mask[3:9, 4:12] = 255
        pixels = np.dstack([mask] * 3) if colour else mask
        cv2.imwrite(str(folder / name), pixels)


def _listing_error(cfg, split: str = "all") -> str:
    with pytest.raises(DataError) as err:
        build_dataset(cfg, split, S, train=False)
    return str(err.value)


def test_masks_named_with_a_suffix_are_named_with_the_rename(tmp_path, data_config) -> None:
    _files(tmp_path / "images", ["a.jpg", "b.png", "c.jpg"], colour=True)
    _files(tmp_path / "annotations", ["a_mask.png", "b_mask.png", "c_mask.png"], colour=False)
    text = _listing_error(data_config("folder", tmp_path, mask_dir="annotations"))
    assert "the masks are named with '_mask' after it (e.g. 'a_mask.png' for 'a.jpg')" in text


def test_images_named_with_a_prefix_are_named_with_the_rename(tmp_path, data_config) -> None:
    _files(tmp_path / "images", ["img_a.jpg", "img_b.jpg"], colour=True)
    _files(tmp_path / "masks", ["a.png", "b.png"], colour=False)
    text = _listing_error(data_config("folder", tmp_path))
    assert "the images are named with 'img_' before it (e.g. 'img_a.jpg' for 'a.png')" in text


def test_a_rule_only_some_masks_follow_is_not_given(tmp_path, data_config) -> None:
    _files(tmp_path / "images", ["a.jpg", "b.jpg"], colour=True)
    _files(tmp_path / "masks", ["a_mask.png", "x.png"], colour=False)
    assert "named with" not in _listing_error(data_config("folder", tmp_path))


def test_unpaired_images_and_masks_are_named_in_one_error(tmp_path, data_config) -> None:
    # One image lost its mask and one mask its image: both named, not one per run.
    _files(tmp_path / "images", ["a.jpg", "b.jpg", "c.jpg"], colour=True)
    _files(tmp_path / "masks", ["a.png", "b.png", "d.png"], colour=False)
    text = _listing_error(data_config("folder", tmp_path))
    assert "1 image(s)" in text and "c.jpg" in text
    assert "1 mask(s)" in text and "d.png" in text


def test_instances_for_the_test_split_only_do_not_stop_training(tmp_path, data_config) -> None:
    for split in ("train", "test"):
        _files(tmp_path / split / "images", ["a.jpg", "b.jpg"], colour=True)
        _files(tmp_path / split / "masks", ["a.png", "b.png"], colour=False)
    _files(tmp_path / "test" / "instances", ["a.png", "b.png"], colour=False)
    cfg = data_config("folder", tmp_path, instance_dir="instances")
    train = build_dataset(cfg, "train", S, train=True)
    assert len(train) == 2
    # Only asking for the training split's instance labels is refused, naming folder and key.
    with pytest.raises(DataError, match=r"train/instances' does not exist \(data\.instance_dir\)"):
        train.coco_gt()
    test = build_dataset(cfg, "test", S, train=False)
    assert len(test.coco_gt()["annotations"]) == 2  # one instance (label 255) per image


def test_gt_masks_named_with_a_suffix_are_named_when_scoring(tmp_path) -> None:
    gt = box_masks(
        tmp_path / "gt", ["a_mask.png", "b_mask.png"], shape=(20, 24), box=(4, 12, 5, 15)
    )
    pred = box_masks(tmp_path / "pred", ["a.png", "b.png"], shape=(20, 24), box=(4, 12, 5, 15))
    text = dis_refusal(pred, gt)
    assert "Every GT is named as a prediction with '_mask' after its name" in text
    assert "another split" not in text  # the earlier, wrong guess


@pytest.mark.parametrize(
    "short, long, added",
    [
        (["a", "b"], ["a_mask", "b_mask"], ("", "_mask")),
        (["a", "b"], ["gt_a_x", "gt_b_x"], ("gt_", "_x")),
        # 'x' occurs twice in 'x_x': the rule is found at either occurrence.
        (["x", "y"], ["x_x", "y_x"], ("", "_x")),
        (["a", "b"], ["a_mask", "b"], None),
        ([], ["a"], None),
    ],
)
def test_added_to_stems(short, long, added) -> None:
    assert added_to_stems(short, long) == added


def test_instance_maps_for_part_of_a_split_say_what_to_do(tmp_path, data_config) -> None:
    _files(tmp_path / "test" / "images", ["a.jpg", "b.jpg"], colour=True)
    _files(tmp_path / "test" / "masks", ["a.png", "b.png"], colour=False)
    _files(tmp_path / "test" / "instances", ["a.png"], colour=False)
    test = build_dataset(
        data_config("folder", tmp_path, instance_dir="instances"), "test", S, False
    )
    with pytest.raises(DataError, match=r"1 of the 2 image\(s\).*'b\.jpg'") as err:
        test.coco_gt()
    assert "all-zero map" in str(err.value) and "split folder of their own" in str(err.value)
