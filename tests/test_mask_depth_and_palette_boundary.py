"""Two mask readings that named the wrong thing or nothing: a 32-bit integer mask warned about
as "16-bit", and a VOC-style palette mask (dark object colours, a bright 224 boundary) that
reads as its boundary alone without a word, while ordinary palette masks stay silent."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import List

import cv2
import numpy as np
import pytest
from PIL import Image

from pmgsam.data import io

# The PASCAL VOC colour map's first entries and its boundary ("void") colour, index 255.
VOC_COLOURS = {0: (0, 0, 0), 1: (128, 0, 0), 2: (0, 128, 0), 8: (64, 0, 0), 255: (224, 224, 192)}


def _mask_warnings(path: Path, labels_01: bool = True) -> List[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        io.load_mask(path, labels_01=labels_01)
    return [str(w.message) for w in caught if issubclass(w.category, io.MaskValueWarning)]


def _palette_png(path: Path, indices: np.ndarray, colours: dict) -> Path:
    palette = np.zeros((256, 3), np.uint8)
    for index, colour in colours.items():
        palette[index] = colour
    img = Image.fromarray(indices.astype(np.uint8), mode="P")
    img.putpalette(palette.ravel().tolist())
    img.save(path)
    return path


def _grey_palette_png(path: Path, grey: np.ndarray) -> Path:
    return _palette_png(path, grey, {v: (v, v, v) for v in range(256)})


@pytest.mark.parametrize("bits, dtype, suffix", [(32, np.int32, ".tif"), (16, np.uint16, ".png")])
def test_an_integer_mask_of_0_255_names_its_own_depth(tmp_path, bits, dtype, suffix) -> None:
    path = tmp_path / f"m{suffix}"
    values = np.zeros((8, 8), dtype)
    values[2:6, 2:6] = 255
    Image.fromarray(values).save(path)
    assert Image.open(path).mode == ("I" if bits == 32 else "I;16")
    (message,) = _mask_warnings(path)
    assert f"'{path}' is {bits}-bit but never exceeds 255" in message


def test_a_32_bit_image_of_8_bit_values_names_its_own_depth(tmp_path) -> None:
    path = tmp_path / "im.tif"
    Image.fromarray(np.full((8, 8), 200, np.int32)).save(path)
    with pytest.warns(io.MaskValueWarning, match=r"is 32-bit but never exceeds 200 \(of 65535\)"):
        io.load_image(path)


def _voc_mask(size: int = 96) -> np.ndarray:
    """Palette indices: an aeroplane (1) and a small dark object (8), each outlined by VOC's
    5-pixel boundary (255), one of them cut by the image's edge."""
    idx = np.zeros((size, size), np.uint8)
    cv2.circle(idx, (50, 50), 28, 1, -1)
    cv2.circle(idx, (50, 50), 28, 255, 5)
    cv2.rectangle(idx, (0, 0), (18, 14), 8, -1)
    cv2.rectangle(idx, (0, 0), (18, 14), 255, 4)
    return idx


def test_a_voc_class_mask_read_as_its_boundary_is_named(tmp_path) -> None:
    path = _palette_png(tmp_path / "2007_000032.png", _voc_mask(), VOC_COLOURS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mask = io.load_mask(path)  # still read by the rule (brightest channel > 128)
    assert 0 < (mask > 128).mean() < 0.25
    (message,) = _mask_warnings(path)
    assert f"'{path}' is a palette mask whose foreground" in message
    assert "only outlines" in message and "dark labels (values 64-128" in message


def _disc(size: int, radius: int, scale: int = 1) -> np.ndarray:
    big = np.zeros((size * scale, size * scale), np.uint8)
    c = size * scale // 2
    cv2.circle(big, (c, c), radius * scale, 255, -1)
    return cv2.resize(big, (size, size), interpolation=cv2.INTER_AREA) if scale > 1 else big


def _ordinary_masks() -> dict:
    thin = np.zeros((768, 768), np.uint8)
    for x in range(0, 768, 40):
        cv2.line(thin, (x, 0), (767 - x, 767), 255, 6)
    trimap = _disc(96, 20)
    trimap[(_disc(96, 44) > 0) & (trimap == 0)] = 128  # an "unknown" band around the object
    blurred = cv2.GaussianBlur(_disc(96, 24), (0, 0), 12)
    lines = cv2.resize(thin, (96, 96), interpolation=cv2.INTER_AREA)
    return {
        "0/255": _disc(96, 30),
        "antialiased disc": _disc(96, 30, scale=8),
        "antialiased thin lines": lines,
        "thin lines quantised to 4 levels": (lines // 64 * 85).astype(np.uint8),
        "trimap band": trimap,
        "blurred (soft) mask": blurred,
        "blur quantised to 4 levels": (blurred // 64 * 85).astype(np.uint8),
    }


@pytest.mark.parametrize("name", list(_ordinary_masks()))
def test_ordinary_palette_masks_are_not_taken_for_class_masks(tmp_path, name) -> None:
    path = _grey_palette_png(tmp_path / "m.png", _ordinary_masks()[name])
    assert Image.open(path).mode == "P"
    assert not [m for m in _mask_warnings(path) if "palette mask" in m]


def test_a_voc_mask_saved_as_grey_or_read_as_a_prediction_is_not_named(tmp_path) -> None:
    # The rule is for palette GT masks: a grey mask's dark values are its own business, and
    # a prediction's low values are valid probabilities.
    rgb = np.array([VOC_COLOURS.get(i, (0, 0, 0)) for i in range(256)], np.uint8)[_voc_mask()]
    grey = tmp_path / "grey.png"
    Image.fromarray(rgb.max(axis=2)).save(grey)
    voc = _palette_png(tmp_path / "voc.png", _voc_mask(), VOC_COLOURS)
    assert not [m for m in _mask_warnings(grey) if "palette mask" in m]
    assert not [m for m in _mask_warnings(voc, labels_01=False) if "palette mask" in m]
