"""layouts._pair audit: the one error for unpaired images and masks. The rename rule is read
off the unpaired files alone (a paired mask whose name holds an unpaired image's is no
evidence of a rule), the sentence names images before masks as the user's folders are, and
an image found in a format that is not read names the formats images ARE read from."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import cv2
import numpy as np
import pytest

from pmgsam.data import DataError, build_dataset


def _files(folder: Path, names: Iterable[str], colour: bool) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        mask = np.zeros((12, 16), np.uint8)
        mask[3:9, 4:12] = 255
        cv2.imwrite(str(folder / name), np.dstack([mask] * 3) if colour else mask)


def _listing_error(cfg) -> str:
    with pytest.raises(DataError) as err:
        build_dataset(cfg, "all", 32, train=False)
    return str(err.value)


def test_a_paired_mask_holding_an_unpaired_name_is_no_rename_rule(tmp_path, data_config):
    # a_v2.jpg has its mask a_v2.png; a.jpg has none. 'a_v2' = 'a' + '_v2', but a_v2.png is
    # a_v2.jpg's: renaming it to a.png would take it from its own image.
    _files(tmp_path / "images", ["a.jpg", "a_v2.jpg"], colour=True)
    _files(tmp_path / "masks", ["a_v2.png"], colour=False)
    text = _listing_error(data_config("folder", tmp_path))
    assert text.startswith("1 image(s) in ") and text.endswith(
        f"have no mask in '{tmp_path / 'masks'}': a.jpg"
    ), text
    assert "named with" not in text and "rename" not in text, text


def test_the_rename_sentence_names_images_then_masks(tmp_path, data_config):
    _files(tmp_path / "images", ["a.jpg", "b.jpg"], colour=True)
    _files(tmp_path / "masks", ["a_mask.png", "b_mask.png"], colour=False)
    text = _listing_error(data_config("folder", tmp_path))
    # Both lists first, then the rule: '; images and masks pair by ...'.
    assert "; images and masks pair by the file name without its extension" in text, text
    assert text.index("2 image(s)") < text.index("2 mask(s)") < text.index("images and masks")


def test_an_image_in_a_format_not_read_names_the_image_formats(tmp_path, data_config):
    _files(tmp_path / "images", ["a.jpg"], colour=True)
    (tmp_path / "images" / "b.heic").write_bytes(b"a phone photo")
    _files(tmp_path / "masks", ["a.png", "b.png"], colour=False)
    with pytest.warns(UserWarning, match=r"b\.heic"):
        text = _listing_error(data_config("folder", tmp_path))
    # .webp is read for images (not for masks): the list is the images' own.
    assert (
        "b.heic is there, but images are read from .jpg .jpeg .png .bmp .tif .tiff .webp " in text
    )
