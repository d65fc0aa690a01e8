"""The generator's image writers (:mod:`pmgsam.data.synthetic_files`): the instance palette
PNG's colours, and an image cv2 cannot encode.

Expectations: the instance colours written out by hand (black background, then the five listed
in the generator), and PIL's own reading of the palette.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from pmgsam.data import synthetic_files
from pmgsam.data.synthetic_files import write_palette_png, write_png

COLOURS = [(0, 0, 0), (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48)]


def test_a_palette_png_keeps_its_labels_and_shows_the_background_black(tmp_path) -> None:
    label = np.array([[0, 1, 2], [3, 4, 5]], np.uint8)
    path = tmp_path / "deep" / "inst.png"
    write_palette_png(path, label)
    with Image.open(path) as im:
        assert im.mode == "P"
        np.testing.assert_array_equal(np.asarray(im), label)  # the labels are the indices
        rgb = np.asarray(im.convert("RGB"))
    assert [tuple(int(c) for c in rgb[k // 3, k % 3]) for k in range(6)] == COLOURS


def test_an_image_cv2_cannot_encode_is_named_and_no_file_is_left(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(synthetic_files.cv2, "imencode", lambda *a: (False, None))
    path = tmp_path / "gt" / "a.png"
    with pytest.raises(OSError, match=re.escape(f"could not encode '{path}' as .png")):
        write_png(path, np.zeros((2, 2), np.uint8))
    assert not path.exists()
