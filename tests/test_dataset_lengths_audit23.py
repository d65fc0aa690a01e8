"""A dataset built directly is refused when its names or skeletons are not one per image:
names name the prediction files, so a list one short would fail at the last sample, and one
too long would leave every sample silently named after the list's own order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pmgsam.data import DataError
from pmgsam.data.datasets import SegmentationDataset


def _pairs(tmp_path: Path, count: int) -> tuple:
    images, masks = [], []
    for k in range(count):
        images.append(tmp_path / f"i{k}.png")
        masks.append(tmp_path / f"m{k}.png")
        Image.fromarray(np.full((4, 4, 3), 9, np.uint8)).save(images[-1])
        Image.fromarray(np.full((4, 4), 255, np.uint8)).save(masks[-1])
    return images, masks


@pytest.mark.parametrize("count", [2, 4])
def test_names_not_one_per_image_are_refused(tmp_path: Path, count: int) -> None:
    images, masks = _pairs(tmp_path, 3)
    names = [f"n{k}" for k in range(count)]
    with pytest.raises(DataError, match=rf"{count} names for 3 images"):
        SegmentationDataset(images, masks, 16, names=names)


def test_skeletons_not_one_per_image_are_refused(tmp_path: Path) -> None:
    images, masks = _pairs(tmp_path, 3)
    with pytest.raises(DataError, match=r"2 skeleton paths for 3 images"):
        SegmentationDataset(images, masks, 16, skeleton_paths=[None, None])


def test_one_name_per_image_names_each_sample(tmp_path: Path) -> None:
    images, masks = _pairs(tmp_path, 3)
    dataset = SegmentationDataset(images, masks, 16, names=["a", "b", "c"])
    assert [dataset[k]["name"] for k in range(3)] == ["a", "b", "c"]
