"""A folder dataset whose image and mask folders are one folder (``data.mask_dir`` set to
``data.image_dir``, or a link to it) is refused naming the folder: pairing by stem would make
each file its own mask (``a.jpg`` with ``a.jpg``, ``a_mask.png`` with ``a_mask.png``), and a
photo read as a mask trains on nonsense without a word."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pmgsam.data import DataError
from pmgsam.data.layouts import list_split


def _photos(folder: Path) -> None:
    folder.mkdir(parents=True)
    for name in ("a.jpg", "a_mask.png", "b.jpg", "b_mask.png"):
        Image.fromarray(np.full((8, 8, 3), 200, np.uint8)).save(folder / name)


def test_one_folder_for_images_and_masks_is_refused(tmp_path: Path, data_config) -> None:
    _photos(tmp_path / "data" / "pics")
    cfg = data_config("folder", tmp_path / "data", image_dir="pics", mask_dir="pics")
    with pytest.raises(DataError, match=r"'.*pics' is both the image and the mask folder"):
        list_split(cfg, "all")


def test_a_mask_folder_linked_to_the_image_folder_is_refused(tmp_path: Path, data_config) -> None:
    _photos(tmp_path / "data" / "images")
    (tmp_path / "data" / "masks").symlink_to(tmp_path / "data" / "images")
    with pytest.raises(DataError, match=r"both the image and the mask folder.*data.mask_dir"):
        list_split(data_config("folder", tmp_path / "data"), "all")


def test_separate_folders_still_pair(tmp_path: Path, data_config) -> None:
    root = tmp_path / "data"
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True)
    Image.fromarray(np.full((8, 8, 3), 200, np.uint8)).save(root / "images" / "a.jpg")
    Image.fromarray(np.full((8, 8), 255, np.uint8)).save(root / "masks" / "a.png")
    listing = list_split(data_config("folder", root), "all")
    assert listing.images == [root / "images" / "a.jpg"]
    assert listing.masks == [root / "masks" / "a.png"]
