"""Images and masks whose names differ only in case ('img_0001.jpg', 'IMG_0001.PNG'), as data
prepared on macOS or Windows often are: the pairing error says so (it listed both sides as
unpaired, with no word of why)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pmgsam.data.errors import DataError
from pmgsam.data.layouts import _pair
from pmgsam.data.stem_affixes import renaming_hint


def test_hint_names_a_pair_equal_but_for_case() -> None:
    unpaired = {
        "images": {"img_0001": "img_0001.jpg", "img_0002": "img_0002.jpg"},
        "masks": {"IMG_0001": "IMG_0001.PNG", "IMG_0002": "IMG_0002.PNG"},
    }
    assert renaming_hint(unpaired, ("images", "masks")) == (
        "2 of the images and masks are named alike but for case (e.g. 'img_0001.jpg' and "
        "'IMG_0001.PNG'): file names pair case-sensitively; rename one side to match the other"
    )


def test_no_case_hint_for_names_that_differ_otherwise() -> None:
    unpaired = {"images": {"cat": "cat.jpg"}, "masks": {"Dog": "Dog.png"}}
    assert renaming_hint(unpaired, ("images", "masks")) is None


def test_folder_pairing_error_carries_the_hint(tmp_path: Path) -> None:
    pixels = np.zeros((4, 4), np.uint8)
    for folder, name in (("images", "a.png"), ("masks", "A.png")):
        (tmp_path / folder).mkdir()
        Image.fromarray(pixels).save(tmp_path / folder / name)
    with pytest.raises(DataError) as err:
        _pair(tmp_path / "images", tmp_path / "masks", "data.root")
    assert str(err.value).endswith(
        "1 of the images and masks are named alike but for case (e.g. 'a.png' and 'A.png'): "
        "file names pair case-sensitively; rename one side to match the other"
    )
