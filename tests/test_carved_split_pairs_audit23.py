"""Carved splits (a pooled dataset's train / test, any X:train / X:val) keep each image with its
own mask: the carve picks names, and the image, mask and skeleton lists must all follow the
same picks (a subset that took the first n masks would pair images with their neighbours')."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pmgsam.data import build_dataset
from pmgsam.data.layouts import list_split

S = 32
COUNT = 12


def _write_pool(folder: Path) -> None:
    """Images im1..im12 whose red value is 10 * k and masks whose row k - 1 alone is white:
    any image read with another's mask is seen by its content, not only its file name."""
    (folder / "images").mkdir(parents=True)
    (folder / "masks").mkdir()
    for k in range(1, COUNT + 1):
        image = np.zeros((COUNT, 8, 3), np.uint8)
        image[..., 0] = 10 * k
        mask = np.zeros((COUNT, 8), np.uint8)
        mask[k - 1] = 255
        Image.fromarray(image).save(folder / "images" / f"im{k}.png")
        Image.fromarray(mask).save(folder / "masks" / f"im{k}.png")


@pytest.mark.parametrize("split", ["train", "test", "all:val", "all:train", "train:val"])
def test_every_carved_split_pairs_each_image_with_its_own_mask(
    tmp_path: Path, data_config, split: str
) -> None:
    _write_pool(tmp_path / "pool")
    cfg = data_config("folder", tmp_path / "pool", test_fraction=0.5, val_fraction=0.5)
    listing = list_split(cfg, split)
    assert 0 < len(listing.names) < COUNT  # really carved: a subset, not the whole pool
    assert [p.stem for p in listing.images] == listing.names
    assert [p.stem for p in listing.masks] == listing.names
    dataset = build_dataset(cfg, split, S, train=False)
    for i, name in enumerate(dataset.names):
        image, mask = dataset.load(i)
        k = int(image[0, 0, 0]) // 10
        assert name == f"im{k}"
        expected = np.zeros((COUNT, 8), np.uint8)
        expected[k - 1] = 1
        assert np.array_equal(mask, expected), name


def test_carved_dis5k_skeletons_follow_their_images(tmp_path: Path, data_config) -> None:
    split = tmp_path / "DIS5K" / "DIS-TR"
    for sub in ("im", "gt", "ske"):
        (split / sub).mkdir(parents=True)
    for k in range(1, COUNT + 1):
        Image.fromarray(np.full((4, 4, 3), k, np.uint8)).save(split / "im" / f"d{k}.png")
        Image.fromarray(np.full((4, 4), 255, np.uint8)).save(split / "gt" / f"d{k}.png")
        if k % 3:  # some images without a skeleton: their None must stay theirs
            Image.fromarray(np.full((4, 4), 255, np.uint8)).save(split / "ske" / f"d{k}.png")
    cfg = data_config("dis5k", tmp_path / "DIS5K", val_fraction=0.5)
    listing = list_split(cfg, "DIS-TR:val")
    assert 0 < len(listing.names) < COUNT
    assert [p.stem for p in listing.masks] == listing.names
    for name, skeleton in zip(listing.names, listing.skeletons):
        k = int(name[1:])
        assert (skeleton is None) == (k % 3 == 0), name
        assert skeleton is None or skeleton.stem == name
